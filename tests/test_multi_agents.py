"""Multi-agent (Swarm/Graph) state: stored and returned whole."""

from __future__ import annotations

import pytest

from helpers import SESSIONS, create_session, error_of, error_summary, not_found

pytestmark = pytest.mark.over_http

STATE = {
    "type": "swarm",
    "id": "research-swarm",
    "status": "executing",
    "completed_nodes": ["planner"],
    "node_results": {"planner": {"result": {"text": "plan \u0000 ✓"}}},
    "next_nodes_to_execute": ["writer"],
    "current_task": "write a report",
    "execution_order": ["planner"],
    "_internal_state": {"interrupt_state": {"activated": False}},
}


def _url(session_id="s", multi_agent_id=None):
    base = f"{SESSIONS}/{session_id}/multi-agents"
    return base if multi_agent_id is None else f"{base}/{multi_agent_id}"


def test_create_read_update_delete_round_trip_whole_state(client):
    create_session(client, "s")

    created = client.post(_url(), json=STATE)
    assert created.status_code == 201
    assert created.get_json() == STATE
    assert client.get(_url(multi_agent_id="research-swarm")).get_json() == STATE

    newer = {**STATE, "status": "completed", "completed_nodes": ["planner", "writer"]}
    updated = client.put(_url(multi_agent_id="research-swarm"), json=newer)
    assert updated.status_code == 200
    assert client.get(_url(multi_agent_id="research-swarm")).get_json() == newer

    assert client.delete(_url(multi_agent_id="research-swarm")).status_code == 204
    assert error_summary(client.get(_url(multi_agent_id="research-swarm"))) == not_found("multi-agent state not found")


def test_missing_session_duplicate_and_missing_state(client):
    assert error_summary(client.post(_url("nope"), json=STATE)) == not_found("session not found")
    create_session(client, "s")
    client.post(_url(), json=STATE)

    duplicate = client.post(_url(), json={**STATE, "status": "other"})

    assert duplicate.status_code == 409
    assert error_of(duplicate)["error"] == "ConflictError"
    assert client.get(_url(multi_agent_id="research-swarm")).get_json() == STATE
    missing = not_found("multi-agent state not found")
    assert error_summary(client.put(_url(multi_agent_id="ghost"), json={**STATE, "id": "ghost"})) == missing
    assert error_summary(client.delete(_url(multi_agent_id="ghost"))) == missing


def test_state_needs_a_valid_id_matching_the_path(client):
    create_session(client, "s")
    client.post(_url(), json=STATE)

    no_id = client.post(_url(), json={"status": "x"})
    bad_id = client.post(_url(), json={**STATE, "id": "a/b"})
    mismatch = client.put(_url(multi_agent_id="research-swarm"), json={**STATE, "id": "other"})

    assert [r.status_code for r in (no_id, bad_id, mismatch)] == [422, 422, 422]
    assert "id" in error_of(mismatch)["fields"]
    assert client.get(_url(multi_agent_id="research-swarm")).get_json() == STATE
