"""API keys and namespaces: who may read what, and what happens without keys."""

from __future__ import annotations

import dataclasses
import re
from contextlib import contextmanager
from typing import Iterator

import psycopg2.extensions
import pytest

from app import create_app, db
from app.auth import fingerprint
from helpers import (SESSIONS, UNAUTHENTICATED, agent_url, database_settings, error_summary, execute, message_url,
                     not_found, set_database_setting)
from key_helpers import bearer, create_key

STATE = {"id": "swarm", "status": "executing"}
TABLE_SNAPSHOT = """
    SELECT (SELECT json_agg(s ORDER BY session_id)::text FROM sessions AS s),
           (SELECT json_agg(a ORDER BY agent_id)::text FROM session_agents AS a),
           (SELECT json_agg(m ORDER BY message_id)::text FROM session_messages AS m),
           (SELECT json_agg(x ORDER BY multi_agent_id)::text FROM multi_agents AS x)
"""


@pytest.fixture
def keys(app):
    """Keys for namespaces team-a and team-b, created with the command line."""
    runner = app.test_cli_runner()
    return {"team-a": create_key(runner, "team-a"), "team-b": create_key(runner, "team-b")}


@pytest.fixture
def a_owns_everything(client, keys):
    """team-a's session s with agent a, message 0 and multi-agent state; returns (headers_a, headers_b)."""
    a, b = bearer(keys["team-a"][1]), bearer(keys["team-b"][1])
    assert client.post(SESSIONS, json={"session_id": "s"}, headers=a).status_code == 201
    body = {"agent_id": "a", "state": {"secret": "a's"}, "conversation_manager_state": {}}
    assert client.post(agent_url("s"), json=body, headers=a).status_code == 201
    message = {"message_id": 0, "message": {"role": "user", "content": [{"text": "a's secret"}]}}
    assert client.post(message_url("s", "a"), json=message, headers=a).status_code == 201
    assert client.post(f"{SESSIONS}/s/multi-agents", json=STATE, headers=a).status_code == 201
    return a, b


OTHER_NAMESPACE_REQUESTS = [
    ("GET", f"{SESSIONS}/s", None),
    ("PUT", f"{SESSIONS}/s", {"session_type": "AGENT"}),
    ("DELETE", f"{SESSIONS}/s", None),
    ("GET", agent_url("s"), None),
    ("POST", agent_url("s"), {"agent_id": "b", "state": {}, "conversation_manager_state": {}}),
    ("GET", agent_url("s", "a"), None),
    ("PUT", agent_url("s", "a"), {"state": {}, "conversation_manager_state": {}}),
    ("DELETE", agent_url("s", "a"), None),
    ("GET", message_url("s", "a"), None),
    ("POST", message_url("s", "a"), {"message_id": 1, "message": {"role": "user"}}),
    ("GET", message_url("s", "a", 0), None),
    ("PUT", message_url("s", "a", 0), {"message": {"role": "user"}}),
    ("DELETE", message_url("s", "a", 0), None),
    ("POST", f"{SESSIONS}/s/multi-agents", {"id": "other", "status": "x"}),
    ("GET", f"{SESSIONS}/s/multi-agents/swarm", None),
    ("PUT", f"{SESSIONS}/s/multi-agents/swarm", STATE),
    ("DELETE", f"{SESSIONS}/s/multi-agents/swarm", None),
]


@pytest.mark.parametrize("method, path, body", OTHER_NAMESPACE_REQUESTS, ids=[f"{m} {p}" for m, p, _ in OTHER_NAMESPACE_REQUESTS])
def test_another_namespace_gets_the_same_404_as_for_nothing(client, a_owns_everything, method, path, body):
    a, b = a_owns_everything
    missing_path = path.replace("/s/", "/nothing/").replace(f"{SESSIONS}/s", f"{SESSIONS}/nothing")

    response = client.open(path, method=method, json=body, headers=b)
    nothing = client.open(missing_path, method=method, json=body, headers=a)

    assert error_summary(response)[:2] == (404, "NotFoundError")
    assert error_summary(response) == error_summary(nothing)
    assert client.get(message_url("s", "a", 0), headers=a).get_json()["message"]["content"][0]["text"] == "a's secret"
    assert client.get(f"{SESSIONS}/s/multi-agents/swarm", headers=a).get_json() == STATE
    assert client.get(agent_url("s"), headers=a).get_json()["agents"][0]["state"] == {"secret": "a's"}


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


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "}, {"Authorization": "Basic dXNlcjpwYXNz"},
     {"Authorization": "Bearer sb_not-a-key-we-issued"}, {"X-API-Key": "sb_unknown"}, {"Authorization": "sb_x y"}],
    ids=["missing", "empty-bearer", "blank-bearer", "basic", "unknown", "unknown-x-api-key", "no-scheme"],
)
def test_missing_malformed_and_unknown_keys_are_401(client, keys, headers):
    response = client.get(SESSIONS, headers=headers)

    assert error_summary(response) == UNAUTHENTICATED


@pytest.mark.parametrize("method, path, body", OTHER_NAMESPACE_REQUESTS, ids=[f"{m} {p}" for m, p, _ in OTHER_NAMESPACE_REQUESTS])
@pytest.mark.parametrize("target", ["exists", "missing"])
def test_every_request_with_a_bad_key_is_401_and_changes_nothing(
    request, client, keys, clean_db, method, path, body, target
):
    # Each query checks the key itself, and a query that finds nothing may not have needed it:
    # the answer must still be 401, never 404 or 200, whether or not the target exists.
    if target == "exists":
        request.getfixturevalue("a_owns_everything")
    before = execute(clean_db, TABLE_SNAPSHOT)

    for headers in ({}, bearer("sb_not-a-key-we-issued")):
        response = client.open(path, method=method, json=body, headers=headers)

        assert error_summary(response) == UNAUTHENTICATED, headers
    assert execute(clean_db, TABLE_SNAPSHOT) == before


def test_listing_sessions_of_an_empty_database_with_a_bad_key_is_401(client, keys, clean_db):
    assert execute(clean_db, "SELECT count(*) FROM sessions") == [(0,)]

    assert error_summary(client.get(SESSIONS, headers=bearer("sb_not-a-key-we-issued"))) == UNAUTHENTICATED


INDEX_SCANS = ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan")


@contextmanager
def index_scans_off(url: str) -> Iterator[None]:
    """New connections to the database of ``url`` plan with sequential scans only, until the block ends.

    TEST_DATABASE_URL may name a database of the user's: afterwards each of these parameters is back
    to what the database had set (or unset), and no other setting is touched.
    """
    before = database_settings(url)
    for name in INDEX_SCANS:
        set_database_setting(url, name, "off")
    try:
        yield
    finally:
        for name in INDEX_SCANS:
            set_database_setting(url, name, before.get(name))


@pytest.fixture
def planner_without_indexes(clean_db):
    """New connections to the test database plan with sequential scans only."""
    with index_scans_off(clean_db):
        yield clean_db


def test_turning_index_scans_off_and_on_keeps_the_databases_other_settings(clean_db):
    before = database_settings(clean_db)
    set_database_setting(clean_db, "session_backend_tests.marker", "kept")
    try:
        with index_scans_off(clean_db):
            assert {database_settings(clean_db)[name] for name in INDEX_SCANS} == {"off"}
        assert database_settings(clean_db) == {**before, "session_backend_tests.marker": "kept"}
    finally:
        set_database_setting(clean_db, "session_backend_tests.marker", None)
    assert database_settings(clean_db) == before


def test_a_bad_key_is_401_even_when_the_query_never_needed_the_key(planner_without_indexes, keys):
    # A sequential scan of an empty table evaluates no condition, so the query's own key check
    # never runs; the view's second check must still refuse the caller.
    app = create_app({"TESTING": True, "DATABASE_URL": planner_without_indexes})
    try:
        client = app.test_client()
        assert error_summary(client.get(f"{SESSIONS}/nothing", headers=bearer(keys["team-a"][1]))) == not_found(
            "session not found")
        for headers in ({}, bearer("sb_not-a-key-we-issued")):
            assert error_summary(client.get(f"{SESSIONS}/nothing", headers=headers)) == UNAUTHENTICATED
            assert error_summary(client.get(agent_url("nothing", "a"), headers=headers)) == UNAUTHENTICATED
            assert error_summary(client.delete(message_url("nothing", "a", 0), headers=headers)) == UNAUTHENTICATED
    finally:
        db.close_pool(app)


def test_a_key_in_use_records_when_it_was_last_used(client, keys, clean_db):
    key_id, key = keys["team-a"]
    assert execute(clean_db, "SELECT last_used_at FROM api_keys WHERE key_id = %s", (key_id,)) == [(None,)]

    assert client.get(SESSIONS, headers=bearer(key)).status_code == 200

    assert execute(clean_db, "SELECT last_used_at IS NOT NULL FROM api_keys WHERE key_id = %s", (key_id,)) == [(True,)]


def test_x_api_key_header_is_accepted(client, keys):
    response = client.post(SESSIONS, json={"session_id": "s"}, headers={"X-API-Key": keys["team-a"][1]})

    assert response.status_code == 201
    assert client.get(f"{SESSIONS}/s", headers=bearer(keys["team-a"][1])).status_code == 200


def test_revoked_key_is_refused_on_the_next_request_without_restart(app, client, keys):
    key_id, key = keys["team-a"]
    assert client.get(SESSIONS, headers=bearer(key)).status_code == 200

    result = app.test_cli_runner().invoke(args=["keys", "revoke", key_id])

    assert result.exit_code == 0, result.output
    assert error_summary(client.get(SESSIONS, headers=bearer(key))) == UNAUTHENTICATED
    assert client.get(SESSIONS, headers=bearer(keys["team-b"][1])).status_code == 200


def test_key_list_shows_ids_and_namespaces_never_keys(app, keys):
    output = app.test_cli_runner().invoke(args=["keys", "list"]).output

    for namespace, (key_id, key) in keys.items():
        assert re.search(rf"{key_id}\s+{namespace}", output)
        assert key not in output and fingerprint(key)[1] not in output


def test_revoking_an_unknown_key_fails(app):
    result = app.test_cli_runner().invoke(args=["keys", "revoke", "0000000000000000"])

    assert result.exit_code != 0 and "no key" in result.output


def test_keys_are_stored_only_as_hashes(client, keys, clean_db):
    from helpers import execute

    stored = execute(clean_db, "SELECT key_id, secret_hash FROM api_keys")
    for key_id, key in keys.values():
        assert (key_id, fingerprint(key)[1]) in stored
        assert all(key not in row for row in stored)


def test_open_health_endpoints_need_no_key_and_tell_nothing(client, keys, clean_db):
    # Anyone may call these, so nothing they say may help to reach the database or tell who uses the service.
    assert client.post(SESSIONS, json={"session_id": "s-private"}, headers=bearer(keys["team-a"][1])).status_code == 201
    connection = psycopg2.extensions.parse_dsn(clean_db)
    where = [connection[part] for part in ("host", "hostaddr", "port", "user", "password", "dbname") if connection.get(part)]
    who = ["team-a", "team-b", "s-private", *(part for key_id_and_key in keys.values() for part in key_id_and_key)]
    hidden = [clean_db, execute(clean_db, "SHOW server_version")[0][0], *where, *who]

    for path in ("/health", "/health/live", "/health/db", "/health/ready"):
        response = client.get(path, headers={"X-Request-ID": "health-check"})
        said = response.get_data(as_text=True) + "".join(f"{name}: {value}" for name, value in response.headers.items())

        assert response.status_code == 200, path
        assert set(response.get_json()) <= {"status", "service", "version", "database", "schema"}, path
        assert [secret for secret in hidden if secret in said] == [], path


def test_without_any_key_the_default_namespace_is_open(client):
    assert client.post(SESSIONS, json={"session_id": "s"}).status_code == 201
    assert client.get(f"{SESSIONS}/s").status_code == 200


@pytest.mark.parametrize("headers", [bearer("sb_made-up-key-0000"), {"Authorization": "Basic dXNlcjpwYXNz"}, {"X-API-Key": ""}])
def test_without_any_key_a_sent_key_is_still_checked(client, headers):
    assert error_summary(client.get(SESSIONS, headers=headers)) == UNAUTHENTICATED


def _settings(**changes):
    from app.config import load_settings

    return dataclasses.replace(load_settings(), **changes)


def test_production_refuses_to_start_without_keys(clean_db):
    with pytest.raises(RuntimeError, match="refusing to start in production"):
        create_app({"DATABASE_URL": clean_db, "SETTINGS": _settings(environment="production")})


def test_production_starts_with_api_keys_and_requires_them(clean_db):
    key = "sb_production-key-from-env"
    app = create_app({"DATABASE_URL": clean_db, "SETTINGS": _settings(environment="production", api_keys=(("prod", key),))})
    client = app.test_client()

    assert error_summary(client.get(SESSIONS)) == UNAUTHENTICATED
    assert client.post(SESSIONS, json={"session_id": "s"}, headers=bearer(key)).status_code == 201
    db.close_pool(app)


def test_production_with_auth_disabled_explicitly_runs_open(clean_db):
    app = create_app({"DATABASE_URL": clean_db, "SETTINGS": _settings(environment="production", auth_disabled=True)})

    assert app.test_client().post(SESSIONS, json={"session_id": "s"}).status_code == 201
    db.close_pool(app)


def test_keys_can_be_created_from_the_command_line_in_production_before_any_exist(clean_db):
    app = create_app({"DATABASE_URL": clean_db, "SETTINGS": _settings(environment="production")}, serving=False)

    key_id, key = create_key(app.test_cli_runner(), "first-team")

    assert key.startswith("sb_") and len(key) > 40 and key_id == fingerprint(key)[0]


def test_no_keys_logs_a_warning_at_start(clean_db, caplog):
    app = create_app({"DATABASE_URL": clean_db})

    assert any("NOT authenticated" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    db.close_pool(app)


def test_cors_is_off_by_default(client):
    response = client.get("/health", headers={"Origin": "https://evil.example"})

    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_answers_only_listed_origins_without_credentials(clean_db, keys):
    app = create_app({"DATABASE_URL": clean_db, "SETTINGS": _settings(cors_origins=frozenset({"https://ui.example"}))})
    client = app.test_client()
    preflight = client.options(
        SESSIONS, headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "POST",
                           "Access-Control-Request-Headers": "Authorization, Content-Type"}
    )
    other = client.get(SESSIONS, headers={"Origin": "https://evil.example", **bearer(keys["team-a"][1])})

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
    db.close_pool(app)
