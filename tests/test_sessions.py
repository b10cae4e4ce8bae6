"""Sessions: create, read, update, delete, list, and the errors around them."""

from __future__ import annotations

from datetime import datetime

import pytest

from helpers import (
    SESSIONS,
    create_agent,
    create_message,
    create_session,
    error_of,
    error_summary,
    execute,
    message_url,
    not_found,
)

pytestmark = pytest.mark.over_http


def test_create_returns_the_session_with_utc_timestamps(client):
    response = client.post(SESSIONS, json={"session_id": "user-123", "session_type": "AGENT"})

    assert response.status_code == 201
    body = response.get_json()
    assert body["session_id"] == "user-123"
    assert body["session_type"] == "AGENT"
    for stamp in ("created_at", "updated_at"):
        assert datetime.fromisoformat(body[stamp]).utcoffset().total_seconds() == 0


def test_session_type_defaults_to_agent(client):
    assert client.post(SESSIONS, json={"session_id": "s"}).get_json()["session_type"] == "AGENT"


def test_created_at_sent_on_create_is_kept(client):
    sent = "2025-01-02T03:04:05.678901+00:00"
    body = client.post(SESSIONS, json={"session_id": "s", "created_at": sent, "updated_at": sent}).get_json()

    assert body["created_at"] == sent
    assert client.get(f"{SESSIONS}/s").get_json()["created_at"] == sent


def test_timestamp_with_other_offset_is_stored_as_the_same_instant_in_utc(client):
    body = client.post(SESSIONS, json={"session_id": "s", "created_at": "2025-01-02T05:04:05+02:00"}).get_json()

    assert body["created_at"] == "2025-01-02T03:04:05.000000+00:00"


def test_duplicate_session_is_409_and_keeps_the_original(client):
    original = create_session(client, "dup")

    response = client.post(SESSIONS, json={"session_id": "dup", "session_type": "MULTI_AGENT"})

    assert response.status_code == 409
    assert error_of(response)["error"] == "ConflictError"
    assert client.get(f"{SESSIONS}/dup").get_json() == {**original, "lease": None}


def test_get_missing_session_is_404_with_envelope(client):
    response = client.get(f"{SESSIONS}/nope")

    assert error_summary(response) == not_found("session not found")


def test_update_sets_updated_at_and_never_created_at(client):
    sent = "2020-01-01T00:00:00.000000+00:00"
    client.post(SESSIONS, json={"session_id": "s", "created_at": sent, "updated_at": sent})

    body = client.put(f"{SESSIONS}/s", json={"session_type": "MULTI_AGENT", "created_at": "2030-01-01T00:00:00Z"})

    assert body.status_code == 200
    updated = body.get_json()
    assert updated["session_type"] == "MULTI_AGENT"
    assert updated["created_at"] == sent
    assert updated["updated_at"] > sent


def test_update_missing_session_is_404(client):
    response = client.put(f"{SESSIONS}/nope", json={"session_type": "AGENT"})

    assert error_summary(response) == not_found("session not found")


def test_update_with_unknown_session_type_is_422_and_changes_nothing(client):
    before = create_session(client, "s")

    response = client.put(f"{SESSIONS}/s", json={"session_type": "ROBOT"})

    assert response.status_code == 422
    assert "session_type" in error_of(response)["fields"]
    assert client.get(f"{SESSIONS}/s").get_json() == {**before, "lease": None}


def test_delete_cascades_to_agents_messages_and_multi_agent_state(client, clean_db):

    create_session(client, "s")
    create_agent(client, "s", "a")
    create_message(client, "s", "a", 0)
    client.post(f"{SESSIONS}/s/multi-agents", json={"id": "swarm", "status": "completed"})

    assert client.delete(f"{SESSIONS}/s").status_code == 204

    assert error_summary(client.get(f"{SESSIONS}/s")) == not_found("session not found")
    assert error_summary(client.get(message_url("s", "a", 0))) == not_found("message not found")
    counts = execute(
        clean_db,
        "SELECT (SELECT count(*) FROM session_agents), (SELECT count(*) FROM session_messages),"
        " (SELECT count(*) FROM multi_agents)",
    )
    assert counts == [(0, 0, 0)]


def test_delete_missing_session_is_404(client):
    assert error_summary(client.delete(f"{SESSIONS}/nope")) == not_found("session not found")


def test_list_is_newest_first_and_cursor_pages_through_everything(client):
    for i in range(7):
        client.post(SESSIONS, json={"session_id": f"s{i}", "created_at": f"2025-01-0{i + 1}T00:00:00Z"})

    seen, cursor = [], None
    for _ in range(10):
        query = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        body = client.get(SESSIONS, query_string=query).get_json()
        seen += [s["session_id"] for s in body["sessions"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == [f"s{i}" for i in reversed(range(7))]


def test_list_accepts_the_seeds_page_and_page_size(client):
    for i in range(5):
        client.post(SESSIONS, json={"session_id": f"s{i}", "created_at": f"2025-01-0{i + 1}T00:00:00Z"})

    body = client.get(SESSIONS, query_string={"page": 2, "page_size": 2}).get_json()

    assert [s["session_id"] for s in body["sessions"]] == ["s2", "s1"]
    assert (body["page"], body["page_size"]) == (2, 2)


def test_list_rejects_a_forged_cursor(client):
    response = client.get(SESSIONS, query_string={"cursor": "not-hex"})

    assert response.status_code == 422
    assert "cursor" in error_of(response)["fields"]


def test_list_refuses_unknown_and_disagreeing_parameters(client):
    misspelled = client.get(SESSIONS, query_string={"limt": 1})
    disagreeing = client.get(SESSIONS, query_string={"limit": 1, "page_size": 2})

    assert misspelled.status_code == 422
    assert error_of(misspelled)["fields"] == {"limt": ["unknown query parameter"]}
    assert disagreeing.status_code == 422
    assert set(error_of(disagreeing)["fields"]) == {"limit", "page_size"}
