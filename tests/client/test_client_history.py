"""Real agents through a rewind and a fork: after either, the agent restores the cut conversation and
goes on talking, its next messages numbered from the cut."""

from __future__ import annotations

import requests
from strands import tool

from postgresql_session_repository import SyncPostgreSQLSessionRepository


@tool
def clock() -> str:
    """The time of day."""
    return "noon"


def texts(agent) -> list[str]:
    """Each message of the agent's conversation as one string: its texts, or the kind of its blocks."""
    return [
        " ".join(block.get("text") or next(iter(block)) for block in message["content"]) for message in agent.messages
    ]


def stored_ids(repo: SyncPostgreSQLSessionRepository, sid: str) -> list[int]:
    return [m.message_id for m in repo.list_messages(sid, "assistant")]


def three_turns(repo, sid: str, make_agent) -> None:
    """Turn 1 calls a tool (messages 0-3), turns 2 and 3 are plain (4-5 and 6-7)."""
    replies = [{"tool": "clock", "input": {}}, "It is noon.", "Nice to meet you, Alice.", "Goodbye."]
    agent = make_agent(repo, sid, replies, tools=[clock])
    agent("What time is it?")
    agent("I am Alice.")
    agent("Bye.")
    assert stored_ids(repo, sid) == list(range(8))


def test_an_agent_rewound_to_a_turn_restores_the_turns_before_it_and_continues_from_there(
    backend, repo, sid, make_agent
):
    three_turns(repo, sid, make_agent)
    url = f"{backend.url}/api/v1/sessions/{sid}/agents/assistant/rewind"
    headers = {"Authorization": f"Bearer {repo_key()}"}

    response = requests.post(url, json={"message_id": 4}, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    agent = make_agent(repo, sid, ["Hello again, Bob."], tools=[clock])

    assert texts(agent) == ["What time is it?", "toolUse", "toolResult", "It is noon."]
    agent("I am Bob.")
    assert stored_ids(repo, sid) == list(range(6))
    assert texts(make_agent(repo, sid, [], tools=[clock]))[4:] == ["I am Bob.", "Hello again, Bob."]

    # The rewind can no longer be undone once the conversation went on; its archive stays until purged.
    rewind_id = response.json()["rewind_id"]
    undo = requests.post(f"{url}s/{rewind_id}/undo", headers=headers, timeout=30)
    assert undo.status_code == 409 and undo.json()["detail"]["error"] == "ConflictError"


def test_an_undone_rewind_gives_the_agent_its_whole_conversation_back(backend, repo, sid, make_agent):
    three_turns(repo, sid, make_agent)
    url = f"{backend.url}/api/v1/sessions/{sid}/agents/assistant/rewind"
    headers = {"Authorization": f"Bearer {repo_key()}"}
    before = texts(make_agent(repo, sid, [], tools=[clock]))
    rewind_id = requests.post(url, json={"message_id": 6}, headers=headers, timeout=30).json()["rewind_id"]

    assert requests.post(f"{url}s/{rewind_id}/undo", headers=headers, timeout=30).status_code == 200

    agent = make_agent(repo, sid, ["Still here."], tools=[clock])
    assert texts(agent) == before
    agent("Are you there?")
    assert stored_ids(repo, sid) == list(range(10))


def test_a_fork_goes_its_own_way_and_leaves_the_source_as_it_was(backend, repo, sid, make_agent):
    three_turns(repo, sid, make_agent)
    branch = f"{sid}-branch"
    headers = {"Authorization": f"Bearer {repo_key()}"}

    response = requests.post(
        f"{backend.url}/api/v1/sessions/{sid}/fork",
        json={"session_id": branch, "agent_id": "assistant", "message_id": 6},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    forked = make_agent(repo, branch, ["Hi Carol."], tools=[clock])
    forked("Actually, I am Carol.")

    assert texts(forked)[4:] == ["I am Alice.", "Nice to meet you, Alice.", "Actually, I am Carol.", "Hi Carol."]
    assert stored_ids(repo, branch) == list(range(8))
    assert texts(make_agent(repo, sid, [], tools=[clock]))[6:] == ["Bye.", "Goodbye."]


def repo_key() -> str:
    """The key the client tests send (the conftest puts it in the environment)."""
    import os

    return os.environ["SESSION_BACKEND_API_KEY"]
