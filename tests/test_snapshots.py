"""POST .../agents/{agent_id}/snapshot: the HTTP contract of the conversion to a snapshot.

Real agents restoring from both sides, and the snapshot held to what Strands writes, are in
tests/client/test_snapshot_conversion.py.
"""

from __future__ import annotations

import json

import pytest

from helpers import agent_url, create_agent, create_message, create_session, error_of, message_url, text_message

pytestmark = pytest.mark.over_http

KEY = "session/s1/scopes/agent/a1/snapshots/snapshot_latest.json"
OBJECT = "/api/v1/storage/object"


def snapshot_url(session_id: str = "s1", agent_id: str = "a1") -> str:
    return f"{agent_url(session_id, agent_id)}/snapshot"


@pytest.fixture
def log(client):
    """Agent a1 of s1: four messages, the first two removed by its conversation manager, the last redacted."""
    create_session(client)
    manager = {"__name__": "SlidingWindowConversationManager", "removed_message_count": 2}
    create_agent(client, conversation_manager_state=manager, state={"name": "Bob"})
    for message_id, text in enumerate(["q1", "a1", "q2", "a2"]):
        create_message(client, "s1", "a1", message_id, text)
    redacted = {"message": text_message("a2"), "redact_message": text_message("[redacted]")}
    assert client.put(message_url("s1", "a1", 3), json=redacted).status_code == 200


def test_the_snapshot_holds_what_a_restore_of_the_log_gives(client, log):
    response = client.post(snapshot_url(), json={})

    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["key"], body["messages"], body["removed_message_count"]) == (KEY, 2, 2)
    stored = client.get(OBJECT, query_string={"key": KEY})
    assert stored.headers["ETag"] == response.headers["ETag"] == f'"{body["sha256"]}"'
    snapshot = json.loads(stored.data)
    assert snapshot["data"]["messages"] == [text_message("q2"), text_message("[redacted]")]
    assert snapshot["data"]["state"] == {"name": "Bob"}
    assert snapshot["data"]["conversation_manager_state"]["removed_message_count"] == 2
    # The log is left as it was.
    assert len(client.get(message_url("s1", "a1")).get_json()["messages"]) == 4


def test_an_existing_snapshot_is_409_unless_overwrite(client, log):
    assert client.post(snapshot_url(), json={"overwrite": False}).status_code == 201
    client.put(OBJECT, query_string={"key": KEY}, data=b"mine")

    refused = client.post(snapshot_url(), json={})
    assert refused.status_code == 409 and "overwrite" in error_of(refused)["message"]
    assert client.get(OBJECT, query_string={"key": KEY}).data == b"mine"

    replaced = client.post(snapshot_url(), json={"overwrite": True})
    assert replaced.status_code == 200
    assert json.loads(client.get(OBJECT, query_string={"key": KEY}).data)["scope"] == "agent"


def test_a_missing_agent_or_session_is_404(client, log):
    for url in (snapshot_url(agent_id="nobody"), snapshot_url(session_id="nowhere")):
        response = client.post(url, json={})
        assert (response.status_code, error_of(response)["message"]) == (404, "agent not found")
    assert client.get("/api/v1/storage/keys", query_string={"prefix": "session/"}).get_json()["keys"] == []


def test_a_state_strands_could_not_restore_is_409_and_writes_nothing(client, log):
    bad = {"state": {}, "conversation_manager_state": {"removed_message_count": -1}}
    assert client.put(agent_url("s1", "a1"), json=bad).status_code == 200

    response = client.post(snapshot_url(), json={})

    assert (response.status_code, error_of(response)["error"]) == (409, "UnrestorableAgentError")
    assert client.get(OBJECT, query_string={"key": KEY}).status_code == 404
