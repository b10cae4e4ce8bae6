"""Namespaces on every endpoint of the API: another namespace's records cannot be seen or touched,
and a bad key is refused.

The requests are built from the application's URL map, so an endpoint is covered the day it is
added; BODIES gives each one a valid body, and an endpoint without an entry there fails the tests.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from helpers import SESSIONS, UNAUTHENTICATED, agent_url, error_summary, execute, message_url
from key_helpers import bearer

pytestmark = pytest.mark.over_http

STATE = {"id": "swarm", "status": "executing"}
OBJECT = "/api/v1/storage/object"
# team-a's records (see a_owns_everything) that fill the path of every request.
# The lease id is pinned (a_owns_everything sets it), so a path can name team-a's lease.
LEASE_ID = "0b0e5f0e-4a1c-4c4e-9d5e-6f1a2b3c4d5e"
# Likewise team-a's rewind of agent a (a_owns_everything makes one).
REWIND_ID = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
PATH_ARGUMENTS = {
    "session_id": "s",
    "agent_id": "a",
    "message_id": "0",
    "multi_agent_id": "swarm",
    "lease_id": LEASE_ID,
    "rewind_id": REWIND_ID,
}
# A valid body for each API endpoint, None for one that takes none. Creating reuses team-a's ids:
# a 409 where an empty store answers 404 would tell team-b that team-a holds the id.
BODIES: dict[str, dict[str, Any] | None] = {
    "sessions.create_session": {"session_id": "s"},
    "sessions.list_sessions": None,
    "sessions.get_session": None,
    "sessions.update_session": {"session_type": "MULTI_AGENT"},
    "sessions.delete_session": None,
    "exports.export_session": None,
    "leases.acquire_lease": {"holder": "team-b"},
    "leases.get_lease": None,
    "leases.renew_lease": {"ttl_seconds": 60},
    "leases.release_lease": None,
    "history.rewind_agent": {"message_id": 0},
    "history.list_rewinds": None,
    "history.undo_rewind": None,
    "history.purge_rewind": None,
    "history.fork_session": {"session_id": "s-fork"},
    "agents.create_agent": {"agent_id": "a", "state": {}, "conversation_manager_state": {}},
    "agents.list_agents": None,
    "agents.get_agent": None,
    "agents.update_agent": {"state": {"b": 1}, "conversation_manager_state": {}},
    "agents.delete_agent": None,
    "messages.create_message": {"message_id": 0, "message": {"role": "user", "content": [{"text": "b's"}]}},
    "messages.list_messages": None,
    "messages.get_message": None,
    "messages.update_message": {"message": {"role": "user", "content": [{"text": "b's"}]}},
    "messages.delete_message": None,
    "snapshots.convert_to_snapshot": {"overwrite": True},
    "multi_agents.create_multi_agent": {"id": "swarm", "status": "completed"},
    "multi_agents.get_multi_agent": None,
    "multi_agents.update_multi_agent": {"id": "swarm", "status": "completed"},
    "multi_agents.delete_multi_agent": None,
    "storage.write_object": {"b": "b's"},
    "storage.read_object": None,
    "storage.delete_object": None,
    "storage.list_keys": None,
    "storage.search": {"query": "secret", "include_data": True},
}
# The query string of each endpoint that names its target there: team-a's object (see a_owns_everything).
# The session list is asked a search (q) that team-a's message matches: the plain list's isolation has
# its own test below (test_listing_sessions_shows_only_your_own).
QUERIES: dict[str, dict[str, str]] = {
    "sessions.list_sessions": {"q": "secret", "prefix": "s", "updated_since": "2000-01-01T00:00:00Z"},
    "storage.write_object": {"key": "session/s/scopes/a"},
    "storage.read_object": {"key": "session/s/scopes/a"},
    "storage.delete_object": {"key": "session/s/scopes/a"},
    "storage.list_keys": {"prefix": "session/"},
}
RESOURCE_TABLES = {
    "sessions": "session_id",
    "session_agents": "agent_id",
    "session_messages": "message_id",
    "multi_agents": "multi_agent_id",
    "storage_objects": "key",
    "session_leases": "session_id",
    "agent_rewinds": "rewind_id",
    "archived_messages": "message_id",
}
# What differs between two equal answers: the request's id and the clock.
_NOISE = {"request_id", "created_at", "updated_at", "lease_id", "acquired_at", "expires_at", "rewind_id", "rewound_at"}


def api_requests() -> list[tuple[str, str, str]]:
    """``(endpoint, method, rule)`` of every route under /api/, from the application's URL map."""
    app = create_app(serving=False)
    return sorted(
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    )


API_REQUESTS = [pytest.param(*request, id=f"{request[1]} {request[2]}") for request in api_requests()]


def request_for(endpoint: str, rule: str) -> tuple[str, dict[str, Any] | None]:
    """The path of ``rule`` on team-a's records, and the endpoint's body from BODIES."""
    assert endpoint in BODIES, f"add a valid body for {endpoint} to BODIES in {__name__} (None if it takes none)"
    arguments = re.findall(r"<(?:\w+:)?(\w+)>", rule)
    unknown = set(arguments) - set(PATH_ARGUMENTS)
    assert not unknown, f"add a value of team-a's records for {unknown} to PATH_ARGUMENTS in {__name__}"
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: PATH_ARGUMENTS[m.group(1)], rule), BODIES[endpoint]


def records(url: str, namespace: str | None = None) -> list[tuple]:
    """Every stored record as JSON text per table; only ``namespace``'s when given."""
    where = "" if namespace is None else "WHERE namespace = %(namespace)s"
    tables = ", ".join(
        f"(SELECT json_agg(t ORDER BY namespace, {key})::text FROM {table} AS t {where})"
        for table, key in RESOURCE_TABLES.items()
    )
    return execute(url, f"SELECT {tables}", {"namespace": namespace})


def answer(response: TestResponse) -> tuple[int, Any]:
    """What a response tells its caller: status and body, without the request id and the clock."""
    return response.status_code, _without_noise(response.get_json(silent=True))


def _without_noise(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_noise(item) for key, item in value.items() if key not in _NOISE}
    if isinstance(value, list):
        return [_without_noise(item) for item in value]
    return value


@pytest.fixture
def a_owns_everything(client: FlaskClient, keys, database_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """team-a's session s with agent a, message 0, multi-agent state and a lease; returns (headers_a, headers_b)."""
    a, b = bearer(keys["team-a"][1]), bearer(keys["team-b"][1])
    assert client.post(SESSIONS, json={"session_id": "s"}, headers=a).status_code == 201
    body = {"agent_id": "a", "state": {"secret": "a's"}, "conversation_manager_state": {}}
    assert client.post(agent_url("s"), json=body, headers=a).status_code == 201
    message = {"message_id": 0, "message": {"role": "user", "content": [{"text": "a's secret"}]}}
    assert client.post(message_url("s", "a"), json=message, headers=a).status_code == 201
    assert client.post(f"{SESSIONS}/s/multi-agents", json=STATE, headers=a).status_code == 201
    stored = client.put(OBJECT, query_string=QUERIES["storage.read_object"], data=b"a's secret", headers=a)
    assert stored.status_code == 201
    # A rewind that archived message 1 (put there for it), its id pinned as the lease's is.
    message = {"message_id": 1, "message": {"role": "assistant", "content": [{"text": "a's answer"}]}}
    assert client.post(message_url("s", "a"), json=message, headers=a).status_code == 201
    assert client.post(f"{agent_url('s', 'a')}/rewind", json={"message_id": 1}, headers=a).status_code == 201
    execute(
        database_url,
        "INSERT INTO agent_rewinds SELECT namespace, session_id, agent_id, %(id)s, message_id,"
        " conversation_manager_state, rewound_at FROM agent_rewinds;"
        " UPDATE archived_messages SET rewind_id = %(id)s; DELETE FROM agent_rewinds WHERE rewind_id <> %(id)s",
        {"id": REWIND_ID},
    )
    assert client.post(f"{SESSIONS}/s/lease", json={"holder": "team-a"}, headers=a).status_code == 201
    execute(database_url, "UPDATE session_leases SET lease_id = %s", (LEASE_ID,))
    return a, b


def test_every_api_endpoint_has_a_body_in_the_table() -> None:
    endpoints = {endpoint for endpoint, _, _ in api_requests()}

    assert endpoints - set(BODIES) == set(), "add a valid body for each (None if it takes none) to BODIES"
    assert set(BODIES) - endpoints == set(), "these endpoints are gone: remove them from BODIES"


@pytest.mark.parametrize(("endpoint", "method", "rule"), API_REQUESTS)
def test_another_namespace_gets_the_answer_of_an_empty_store_and_changes_nothing(
    client, clean_db, a_owns_everything, endpoint, method, rule
):
    _, b = a_owns_everything
    path, body = request_for(endpoint, rule)
    team_a_before = records(clean_db, "team-a")

    query = QUERIES.get(endpoint)

    response = client.open(path, method=method, json=body, headers=b, query_string=query)

    assert records(clean_db, "team-a") == team_a_before
    execute(clean_db, f"TRUNCATE {', '.join(RESOURCE_TABLES)}")  # the keys stay
    nothing = client.open(path, method=method, json=body, headers=b, query_string=query)
    # A body the endpoint refused would make both answers the same 4xx and prove nothing. Renewing or
    # releasing a lease the namespace does not hold is a LeaseLostError, as for one that changed hands.
    lease_lost = nothing.status_code == 409 and error_summary(nothing)[1] == "LeaseLostError"
    assert nothing.status_code in (200, 201, 204, 404) or lease_lost, (
        nothing.status_code,
        nothing.get_json(silent=True),
    )
    assert answer(response) == answer(nothing)


@pytest.mark.parametrize(("endpoint", "method", "rule"), API_REQUESTS)
@pytest.mark.parametrize("target", ["exists", "missing"])
def test_every_request_with_a_bad_key_is_401_and_changes_nothing(
    request, client, keys, clean_db, endpoint, method, rule, target
):
    # Each query checks the key itself, and a query that finds nothing may not have needed it:
    # the answer must still be 401, never 404 or 200, whether or not the target exists.
    if target == "exists":
        request.getfixturevalue("a_owns_everything")
    path, body = request_for(endpoint, rule)
    before = records(clean_db)

    for headers in ({}, bearer("sb_not-a-key-we-issued")):
        response = client.open(path, method=method, json=body, headers=headers, query_string=QUERIES.get(endpoint))

        assert error_summary(response) == UNAUTHENTICATED, headers
    assert records(clean_db) == before


def test_same_session_id_in_two_namespaces_is_two_sessions(client, a_owns_everything):
    a, b = a_owns_everything

    assert client.post(SESSIONS, json={"session_id": "s", "session_type": "MULTI_AGENT"}, headers=b).status_code == 201

    assert client.get(f"{SESSIONS}/s", headers=a).get_json()["session_type"] == "AGENT"
    assert client.get(f"{SESSIONS}/s", headers=b).get_json()["session_type"] == "MULTI_AGENT"
    assert client.get(agent_url("s"), headers=b).get_json() == {"agents": []}


def test_listing_sessions_shows_only_your_own(client, a_owns_everything):
    a, b = a_owns_everything
    client.post(SESSIONS, json={"session_id": "b-only"}, headers=b)

    assert [s["session_id"] for s in client.get(SESSIONS, headers=a).get_json()["sessions"]] == ["s"]
    assert [s["session_id"] for s in client.get(SESSIONS, headers=b).get_json()["sessions"]] == ["b-only"]
