"""API keys and namespaces: who may read what, and what happens without keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2.extensions
import pytest

from app import create_app, db
from app.auth import fingerprint
from app.config import load_settings
from helpers import (
    SESSIONS,
    UNAUTHENTICATED,
    agent_url,
    database_settings,
    error_summary,
    execute,
    message_url,
    not_found,
    set_database_setting,
)
from key_helpers import bearer, create_key

pytestmark = pytest.mark.over_http


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer sb_not-a-key-we-issued"},
        {"X-API-Key": "sb_unknown"},
        {"Authorization": "sb_x y"},
    ],
    ids=["missing", "empty-bearer", "blank-bearer", "basic", "unknown", "unknown-x-api-key", "no-scheme"],
)
def test_missing_malformed_and_unknown_keys_are_401(client, keys, headers):
    response = client.get(SESSIONS, headers=headers)

    assert error_summary(response) == UNAUTHENTICATED


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
    app = create_app(load_settings({"DATABASE_URL": planner_without_indexes}), testing=True)
    try:
        client = app.test_client()
        assert error_summary(client.get(f"{SESSIONS}/nothing", headers=bearer(keys["team-a"][1]))) == not_found(
            "session not found"
        )
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
    where = [
        connection[part] for part in ("host", "hostaddr", "port", "user", "password", "dbname") if connection.get(part)
    ]
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


@pytest.mark.parametrize(
    "headers", [bearer("sb_made-up-key-0000"), {"Authorization": "Basic dXNlcjpwYXNz"}, {"X-API-Key": ""}]
)
def test_without_any_key_a_sent_key_is_still_checked(client, headers):
    assert error_summary(client.get(SESSIONS, headers=headers)) == UNAUTHENTICATED


def test_production_refuses_to_start_without_keys(clean_db):
    with pytest.raises(RuntimeError, match="refusing to start in production"):
        create_app(load_settings({"DATABASE_URL": clean_db, "ENVIRONMENT": "production"}))


def test_production_starts_with_api_keys_and_requires_them(clean_db):
    key = "sb_production-key-from-env"
    app = create_app(load_settings({"DATABASE_URL": clean_db, "ENVIRONMENT": "production", "API_KEYS": f"prod:{key}"}))
    client = app.test_client()

    assert error_summary(client.get(SESSIONS)) == UNAUTHENTICATED
    assert client.post(SESSIONS, json={"session_id": "s"}, headers=bearer(key)).status_code == 201
    db.close_pool(app)


def test_production_with_auth_disabled_explicitly_runs_open(clean_db):
    app = create_app(load_settings({"DATABASE_URL": clean_db, "ENVIRONMENT": "production", "AUTH_DISABLED": "true"}))

    assert app.test_client().post(SESSIONS, json={"session_id": "s"}).status_code == 201
    db.close_pool(app)


def test_keys_can_be_created_from_the_command_line_in_production_before_any_exist(clean_db):
    app = create_app(load_settings({"DATABASE_URL": clean_db, "ENVIRONMENT": "production"}), serving=False)

    key_id, key = create_key(app.test_cli_runner(), "first-team")

    assert key.startswith("sb_") and len(key) > 40 and key_id == fingerprint(key)[0]


def test_no_keys_logs_a_warning_at_start(clean_db, caplog):
    app = create_app(load_settings({"DATABASE_URL": clean_db}))

    assert any("NOT authenticated" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    db.close_pool(app)


def test_cors_is_off_by_default(client):
    response = client.get("/health", headers={"Origin": "https://evil.example"})

    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_answers_only_listed_origins_without_credentials(clean_db, keys):
    app = create_app(load_settings({"DATABASE_URL": clean_db, "CORS_ORIGINS": "https://ui.example"}))
    client = app.test_client()
    preflight = client.options(
        SESSIONS,
        headers={
            "Origin": "https://ui.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    other = client.get(SESSIONS, headers={"Origin": "https://evil.example", **bearer(keys["team-a"][1])})

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
    db.close_pool(app)
