"""SQL-injection-shaped input in every id and query parameter is stored or refused as data, never run."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from helpers import SESSIONS, agent_url, execute, message_url

pytestmark = pytest.mark.over_http

SHAPES = [
    "'; DROP TABLE sessions; --",
    '" OR 1=1 --',
    "a') OR ('1'='1",
    "1; SELECT pg_sleep(10)",
    "$$; DELETE FROM api_keys; $$",
    "x' UNION SELECT key_id FROM api_keys --",
    "%27 OR %271%27=%271",
]


def _q(value: str) -> str:
    return quote(value, safe="")


@pytest.mark.parametrize("shape", SHAPES)
def test_injection_shaped_ids_are_stored_as_plain_data(client, clean_db, shape):
    assert client.post(SESSIONS, json={"session_id": shape}).status_code == 201
    body = {"agent_id": shape, "state": {"v": shape}, "conversation_manager_state": {}}
    assert client.post(agent_url(_q(shape)), json=body).status_code == 201
    assert (
        client.post(message_url(_q(shape), _q(shape)), json={"message_id": 0, "message": {"t": shape}}).status_code
        == 201
    )
    assert client.post(f"{SESSIONS}/{_q(shape)}/multi-agents", json={"id": shape}).status_code == 201

    assert client.get(f"{SESSIONS}/{_q(shape)}").get_json()["session_id"] == shape
    assert client.get(agent_url(_q(shape), _q(shape))).get_json()["state"] == {"v": shape}
    assert client.get(message_url(_q(shape), _q(shape), 0)).get_json()["message"] == {"t": shape}
    assert client.get(f"{SESSIONS}/{_q(shape)}/multi-agents/{_q(shape)}").get_json() == {"id": shape}
    counts = execute(clean_db, "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM session_messages)")
    assert counts == [(1, 1)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "parameter", ["limit", "offset", "page", "page_size", "after", "order", "include_total", "cursor"]
)
def test_injection_shaped_query_parameters_are_refused(client, clean_db, shape, parameter):
    client.post(SESSIONS, json={"session_id": "s"})
    client.post(agent_url("s"), json={"agent_id": "a", "state": {}, "conversation_manager_state": {}})
    path = SESSIONS if parameter == "cursor" else message_url("s", "a")

    response = client.get(path, query_string={parameter: shape})

    assert response.status_code == 422
    assert parameter in response.get_json()["detail"]["fields"]
    assert execute(clean_db, "SELECT count(*) FROM sessions") == [(1,)]
