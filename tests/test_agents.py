"""Agents of a session: create, read, update, delete, list, and the errors around them."""

from __future__ import annotations

from datetime import datetime

import pytest

from helpers import (
    agent_url,
    create_agent,
    create_message,
    create_session,
    error_of,
    error_summary,
    message_url,
    not_found,
)

pytestmark = pytest.mark.over_http


def test_create_and_read_agent_round_trips_all_state(client):
    create_session(client, "s")
    body = {
        "agent_id": "a",
        "state": {"name": "Alice", "n": 12345678901234567890, "nested": {"deep": [1, 2.5, None, True]}},
        "conversation_manager_state": {"removed_message_count": 3},
        "internal_state": {"interrupt_state": {"activated": False}},
    }

    created = client.post(agent_url("s"), json=body)

    assert created.status_code == 201
    stored = client.get(agent_url("s", "a")).get_json()
    for field in ("agent_id", "state", "conversation_manager_state", "internal_state"):
        assert stored[field] == body[field]
    assert stored == created.get_json()


def test_strands_field_name_internal_state_is_accepted(client):
    create_session(client, "s")

    agent = create_agent(client, "s", "a", _internal_state={"model_state": {"k": "v"}})

    assert agent["internal_state"] == {"model_state": {"k": "v"}}


def test_agent_under_missing_session_is_404_and_stores_nothing(client):
    response = client.post(agent_url("nope"), json={"agent_id": "a", "state": {}, "conversation_manager_state": {}})

    assert error_summary(response) == not_found("session not found")
    assert error_summary(client.get(agent_url("nope", "a"))) == not_found("agent not found")


def test_duplicate_agent_is_409(client):
    create_session(client, "s")
    create_agent(client, "s", "a", state={"v": 1})

    response = client.post(agent_url("s"), json={"agent_id": "a", "state": {"v": 2}, "conversation_manager_state": {}})

    assert response.status_code == 409
    assert client.get(agent_url("s", "a")).get_json()["state"] == {"v": 1}


def test_update_replaces_state_and_keeps_created_at(client):
    create_session(client, "s")
    created = create_agent(client, "s", "a", internal_state={"keep": True})

    response = client.put(agent_url("s", "a"), json={"state": {"v": 2}, "conversation_manager_state": {"c": 1}})

    assert response.status_code == 200
    updated = response.get_json()
    assert updated["state"] == {"v": 2}
    assert updated["conversation_manager_state"] == {"c": 1}
    assert updated["internal_state"] == {"keep": True}
    assert updated["created_at"] == created["created_at"]
    # The update is its own transaction, later than the create's: the server moves updated_at on.
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(created["updated_at"])


def test_update_missing_agent_is_404(client):
    create_session(client, "s")

    response = client.put(agent_url("s", "ghost"), json={"state": {}, "conversation_manager_state": {}})

    assert error_summary(response) == not_found("agent not found")


def test_update_without_required_state_is_422_naming_the_field(client):
    create_session(client, "s")
    create_agent(client, "s", "a", state={"v": 1})

    response = client.put(agent_url("s", "a"), json={"conversation_manager_state": {}})

    assert response.status_code == 422
    assert "state" in error_of(response)["fields"]
    assert client.get(agent_url("s", "a")).get_json()["state"] == {"v": 1}


def test_state_must_be_an_object(client):
    create_session(client, "s")

    response = client.post(agent_url("s"), json={"agent_id": "a", "state": [1], "conversation_manager_state": {}})

    assert response.status_code == 422
    assert "state" in error_of(response)["fields"]


def test_list_agents_in_id_order_and_404_for_missing_session(client):
    create_session(client, "s")
    for agent_id in ("b", "a", "c"):
        create_agent(client, "s", agent_id)

    body = client.get(agent_url("s")).get_json()

    assert [a["agent_id"] for a in body["agents"]] == ["a", "b", "c"]
    assert error_summary(client.get(agent_url("nope"))) == not_found("session not found")


def test_list_agents_of_empty_session_is_empty(client):
    create_session(client, "s")

    assert client.get(agent_url("s")).get_json() == {"agents": []}


def test_delete_agent_cascades_to_its_messages_only(client):
    create_session(client, "s")
    create_agent(client, "s", "a")
    create_agent(client, "s", "b")
    create_message(client, "s", "a", 0)
    create_message(client, "s", "b", 0)

    assert client.delete(agent_url("s", "a")).status_code == 204

    assert error_summary(client.get(agent_url("s", "a"))) == not_found("agent not found")
    assert error_summary(client.get(message_url("s", "a", 0))) == not_found("message not found")
    assert client.get(message_url("s", "b", 0)).status_code == 200
    assert error_summary(client.delete(agent_url("s", "a"))) == not_found("agent not found")
