"""Rewinding an agent, undoing and purging a rewind, forking a session, and the lease around them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import SESSIONS, agent_url, create_agent, create_session, error_of, error_summary, execute, message_url

pytestmark = pytest.mark.over_http


def say(text: str, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": [{"text": text}]}


TOOL_USE = {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "clock", "input": {}}}]}
TOOL_RESULT = {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "status": "success", "content": []}}]}
# A turn with a tool call: messages 0-3, then a plain turn: 4-5.
CONVERSATION = [
    say("what time is it?"),
    TOOL_USE,
    TOOL_RESULT,
    say("noon", "assistant"),
    say("thanks"),
    say("bye", "assistant"),
]


def seed(client: Any, session_id: str = "s", agent_id: str = "a", state: dict | None = None) -> None:
    create_session(client, session_id)
    create_agent(client, session_id, agent_id, conversation_manager_state=state or {"removed_message_count": 0})
    for i, message in enumerate(CONVERSATION):
        response = client.post(message_url(session_id, agent_id), json={"message_id": i, "message": message})
        assert response.status_code == 201


def ids(client: Any, session_id: str = "s", agent_id: str = "a") -> list[int]:
    page = client.get(message_url(session_id, agent_id), query_string={"limit": 1000}).get_json()
    return [m["message_id"] for m in page["messages"]]


def rewind(client: Any, message_id: int, headers: dict | None = None) -> Any:
    return client.post(f"{agent_url('s', 'a')}/rewind", json={"message_id": message_id}, headers=headers or {})


def test_a_rewind_keeps_the_messages_before_the_cut_and_archives_the_rest(client):
    seed(client)

    response = rewind(client, 4)

    assert response.status_code == 201
    assert response.get_json()["archived_messages"] == 2 and response.get_json()["message_id"] == 4
    assert ids(client) == [0, 1, 2, 3]
    [listed] = client.get(f"{agent_url('s', 'a')}/rewinds").get_json()["rewinds"]
    assert listed["rewind_id"] == response.get_json()["rewind_id"] and listed["archived_messages"] == 2
    # The next turn appends where the cut was.
    assert client.post(message_url("s", "a"), json={"message_id": 4, "message": say("again")}).status_code == 201


@pytest.mark.parametrize("cut", [2])
def test_a_rewind_never_separates_a_tool_use_from_its_result(client, clean_db, cut):
    seed(client)

    response = rewind(client, cut)

    assert response.status_code == 422 and "message_id" in error_of(response)["fields"]
    assert ids(client) == list(range(6))
    assert execute(clean_db, "SELECT count(*) FROM agent_rewinds") == [(0,)]


@pytest.mark.parametrize("cut", [0, 1, 3, 6, 100])
def test_a_rewind_may_cut_at_any_turn_boundary(client, cut):
    seed(client)

    assert rewind(client, cut).status_code == 201
    assert ids(client) == list(range(min(cut, 6)))


def test_a_cut_inside_what_the_conversation_manager_removed_restores_from_the_first_message(client):
    seed(client, state={"removed_message_count": 4, "summary_message": say("summary"), "model_call_count": 3})

    rewind(client, 2 + 1)  # message 3 is after the tool result: a boundary inside the removed four

    state = client.get(agent_url("s", "a")).get_json()["conversation_manager_state"]
    assert state == {"removed_message_count": 0, "summary_message": None, "model_call_count": 3}


def test_a_cut_after_what_was_removed_keeps_the_conversation_manager_state(client):
    kept = {"removed_message_count": 2, "model_call_count": 3}
    seed(client, state=kept)

    rewind(client, 4)

    assert client.get(agent_url("s", "a")).get_json()["conversation_manager_state"] == kept


def test_undo_puts_the_messages_and_the_state_back(client, clean_db):
    seed(client, state={"removed_message_count": 4})
    before = client.get(message_url("s", "a"), query_string={"limit": 1000}).get_json()["messages"]
    rewind_id = rewind(client, 4).get_json()["rewind_id"]

    undone = client.post(f"{agent_url('s', 'a')}/rewinds/{rewind_id}/undo")

    assert undone.status_code == 200
    assert client.get(message_url("s", "a"), query_string={"limit": 1000}).get_json()["messages"] == before
    assert client.get(agent_url("s", "a")).get_json()["conversation_manager_state"] == {"removed_message_count": 4}
    assert execute(clean_db, "SELECT count(*) FROM agent_rewinds") == [(0,)]
    assert execute(clean_db, "SELECT count(*) FROM archived_messages") == [(0,)]


def test_undo_after_the_conversation_continued_is_409_and_changes_nothing(client):
    seed(client)
    rewind_id = rewind(client, 4).get_json()["rewind_id"]
    client.post(message_url("s", "a"), json={"message_id": 4, "message": say("a new turn")})

    response = client.post(f"{agent_url('s', 'a')}/rewinds/{rewind_id}/undo")

    assert error_summary(response)[:2] == (409, "ConflictError")
    assert ids(client) == [0, 1, 2, 3, 4]
    assert len(client.get(f"{agent_url('s', 'a')}/rewinds").get_json()["rewinds"]) == 1


def test_purge_deletes_the_archive_for_good(client, clean_db):
    seed(client)
    rewind_id = rewind(client, 4).get_json()["rewind_id"]

    assert client.delete(f"{agent_url('s', 'a')}/rewinds/{rewind_id}").status_code == 204
    assert client.post(f"{agent_url('s', 'a')}/rewinds/{rewind_id}/undo").status_code == 404
    assert client.delete(f"{agent_url('s', 'a')}/rewinds/{rewind_id}").status_code == 404
    assert execute(clean_db, "SELECT count(*) FROM archived_messages") == [(0,)]


def test_a_rewind_of_a_missing_agent_is_404(client):
    create_session(client, "s")

    assert error_summary(rewind(client, 0))[:2] == (404, "NotFoundError")


def test_a_held_lease_stops_a_rewind_without_its_token_and_allows_it_with_it(client):
    seed(client)
    lease = client.post(f"{SESSIONS}/s/lease", json={"holder": "worker"}).get_json()

    busy = rewind(client, 4)
    stale = rewind(client, 4, {"X-Session-Fence": str(lease["fence"] + 1)})
    allowed = rewind(client, 4, {"X-Session-Fence": str(lease["fence"])})

    assert error_summary(busy)[:2] == (409, "SessionBusyError")
    assert error_summary(stale)[:2] == (409, "LeaseLostError")
    assert allowed.status_code == 201 and ids(client) == [0, 1, 2, 3]


def test_a_fork_copies_the_whole_session_with_its_snapshots(client):
    seed(client)
    client.post(f"{SESSIONS}/s/multi-agents", json={"id": "swarm", "status": "executing"})
    key = "session/s/scopes/agent/a/snapshots/snapshot_latest.json"
    client.put("/api/v1/storage/object", query_string={"key": key}, data=b'{"messages": []}')
    client.put("/api/v1/storage/object", query_string={"key": "context/s/stash"}, data=b"stash")
    client.put("/api/v1/storage/object", query_string={"key": "session/other/x"}, data=b"not ours")

    response = client.post(f"{SESSIONS}/s/fork", json={"session_id": "s2"})

    assert response.status_code == 201 and response.get_json()["session_id"] == "s2"
    assert ids(client, "s2") == list(range(6))
    assert client.get(f"{SESSIONS}/s2/multi-agents/swarm").get_json() == {"id": "swarm", "status": "executing"}
    copied = client.get("/api/v1/storage/object", query_string={"key": key.replace("session/s/", "session/s2/")})
    assert copied.status_code == 200 and copied.data == b'{"messages": []}'
    stash = client.get("/api/v1/storage/object", query_string={"key": "context/s2/stash"})
    assert stash.status_code == 200 and stash.data == b"stash"
    listed = client.get("/api/v1/storage/keys", query_string={"prefix": "session/s2/"})
    assert listed.status_code == 200, listed.get_json()
    assert listed.get_json()["keys"] == [key.replace("session/s/", "session/s2/")]
    assert ids(client, "s") == list(range(6))  # the source is left as it was


def test_a_fork_up_to_a_message_copies_one_agent_cut_there(client):
    seed(client)
    create_agent(client, "s", "other")

    response = client.post(f"{SESSIONS}/s/fork", json={"session_id": "s2", "agent_id": "a", "message_id": 4})

    assert response.status_code == 201
    assert ids(client, "s2") == [0, 1, 2, 3]
    assert [a["agent_id"] for a in client.get(agent_url("s2")).get_json()["agents"]] == ["a"]


def test_a_fork_that_would_split_a_tool_call_or_reuse_an_id_changes_nothing(client, clean_db):
    seed(client)
    create_session(client, "taken")

    split = client.post(f"{SESSIONS}/s/fork", json={"session_id": "s2", "agent_id": "a", "message_id": 2})
    taken = client.post(f"{SESSIONS}/s/fork", json={"session_id": "taken"})

    assert split.status_code == 422
    assert error_summary(taken)[:2] == (409, "ConflictError")
    assert execute(clean_db, "SELECT session_id FROM sessions ORDER BY 1") == [("s",), ("taken",)]


def test_a_fork_of_a_missing_session_is_404(client):
    response = client.post(f"{SESSIONS}/nobody/fork", json={"session_id": "s2"})

    assert error_summary(response)[:2] == (404, "NotFoundError")


# --- the same through the command line, in a namespace of its own choosing ---


def test_the_command_line_rewinds_undoes_and_forks_in_the_namespace_it_names(app, keys):
    from key_helpers import bearer

    client = app.test_client()
    team_a = bearer(keys["team-a"][1])
    assert client.post(SESSIONS, json={"session_id": "s"}, headers=team_a).status_code == 201
    body = {"agent_id": "a", "state": {}, "conversation_manager_state": {"removed_message_count": 0}}
    assert client.post(agent_url("s"), json=body, headers=team_a).status_code == 201
    for i, message in enumerate(CONVERSATION):
        client.post(message_url("s", "a"), json={"message_id": i, "message": message}, headers=team_a)
    runner = app.test_cli_runner()

    elsewhere = runner.invoke(args=["history", "rewind", "s", "a", "--message-id", "4"])
    rewound = runner.invoke(args=["history", "rewind", "s", "a", "--message-id", "4", "--namespace", "team-a"])
    rewind_id = json.loads(rewound.output)["rewind_id"]
    undone = runner.invoke(args=["history", "undo", "s", "a", rewind_id, "--namespace", "team-a"])
    forked = runner.invoke(args=["history", "fork", "s", "s2", "--namespace", "team-a"])

    assert elsewhere.exit_code == 1 and "NotFoundError: agent not found" in elsewhere.output
    assert rewound.exit_code == 0 and json.loads(rewound.output)["archived_messages"] == 2
    assert undone.exit_code == 0, undone.output
    assert forked.exit_code == 0 and json.loads(forked.output)["session_id"] == "s2"
    assert ids(client_with(client, team_a), "s2") == list(range(6))


def test_the_command_line_respects_a_held_lease(app):
    client = app.test_client()
    seed(client)
    lease = client.post(f"{SESSIONS}/s/lease", json={"holder": "worker"}).get_json()
    runner = app.test_cli_runner()

    busy = runner.invoke(args=["history", "rewind", "s", "a", "--message-id", "4"])
    with_token = runner.invoke(
        args=["history", "rewind", "s", "a", "--message-id", "4", "--fence", str(lease["fence"])]
    )
    taken = runner.invoke(args=["history", "fork", "s", "s", "--fence", str(lease["fence"])])

    assert busy.exit_code == 1 and "SessionBusyError" in busy.output
    assert with_token.exit_code == 0 and ids(client) == [0, 1, 2, 3]
    assert taken.exit_code == 1 and "ConflictError: session already exists" in taken.output


def client_with(client: Any, headers: dict[str, str]) -> Any:
    """``client`` sending ``headers`` with every GET (what ids() needs)."""

    class _WithHeaders:
        def get(self, url: str, **kwargs: Any) -> Any:
            return client.get(url, headers=headers, **kwargs)

    return _WithHeaders()
