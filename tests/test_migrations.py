"""Schema migrations: a database made by the first schema is upgraded in place and keeps every record."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg2
import pytest

from app import create_app, db, migrations
from app.config import load_settings
from helpers import PROJECT_ROOT, SESSIONS, agent_url, execute, message_url, scratch_database

SQL = PROJECT_ROOT / "sql"


@pytest.fixture
def first_schema_database(database_url):
    """A new database with the schema as the first release created it: no namespaces, no migration records."""
    with scratch_database(database_url, "migration") as url:
        execute(
            url,
            (SQL / "migrations" / "0001_initial.sql").read_text() + (SQL / "migrations" / "functions.sql").read_text(),
        )
        execute(url, "DROP TABLE schema_migrations")
        yield url


def test_upgrade_keeps_every_record_in_the_default_namespace(first_schema_database):
    url = first_schema_database
    execute(url, "INSERT INTO sessions (session_id) VALUES ('old-session'), ('user@example.com')")
    execute(
        url,
        "INSERT INTO session_agents (session_id, agent_id, state, conversation_manager_state, internal_state)"
        " VALUES ('old-session', 'a', '{\"name\": \"Alice\"}', '{}', '{\"k\": \"\\u0000\"}')",
    )
    execute(
        url,
        "INSERT INTO session_messages (session_id, agent_id, message_id, message)"
        " SELECT 'old-session', 'a', i, json_build_object('role', 'user', 'n', i) FROM generate_series(0, 149) i",
    )
    execute(
        url,
        "INSERT INTO multi_agents (session_id, multi_agent_id, state)"
        ' VALUES (\'old-session\', \'swarm\', \'{"id": "swarm", "status": "completed"}\')',
    )

    assert migrations.apply_schema(url) == ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009"]
    assert migrations.apply_schema(url) == []

    app = create_app(load_settings({"DATABASE_URL": url}), testing=True)
    client = app.test_client()
    assert {s["session_id"] for s in client.get(SESSIONS).get_json()["sessions"]} == {"old-session", "user@example.com"}
    agent = client.get(agent_url("old-session", "a")).get_json()
    assert agent["state"] == {"name": "Alice"} and agent["internal_state"] == {"k": "\u0000"}
    assert agent["version"] == 1  # migration 0006: agents stored before it start at version 1
    page = client.get(message_url("old-session", "a"), query_string={"limit": 1000}).get_json()
    assert [m["message"]["n"] for m in page["messages"]] == list(range(150))
    assert client.get(f"{SESSIONS}/old-session/multi-agents/swarm").get_json() == {"id": "swarm", "status": "completed"}
    assert (
        client.post(message_url("old-session", "a"), json={"message_id": 150, "message": {"role": "user"}}).status_code
        == 201
    )
    assert execute(url, "SELECT DISTINCT namespace FROM session_messages") == [("default",)]
    db.close_pool(app)


def test_init_db_command_reports_what_it_applied(first_schema_database):
    app = create_app(load_settings({"DATABASE_URL": first_schema_database}), testing=True, serving=False)
    runner = app.test_cli_runner()

    first = runner.invoke(args=["init-db"])
    again = runner.invoke(args=["init-db"])

    assert first.exit_code == 0 and "0002" in first.output
    assert again.exit_code == 0 and "up to date" in again.output
    assert execute(first_schema_database, "SELECT version FROM schema_migrations ORDER BY 1") == [
        ("0001",),
        ("0002",),
        ("0003",),
        ("0004",),
        ("0005",),
        ("0006",),
        ("0007",),
        ("0008",),
        ("0009",),
    ]


def test_schema_sql_lists_every_migration_in_order():
    listed = [
        line.split("/")[-1]
        for line in (SQL / "schema.sql").read_text().splitlines()
        if line.startswith("\\ir migrations/")
    ]

    assert listed == [*sorted(path.name for path in (SQL / "migrations").glob("[0-9]*.sql")), "functions.sql"]


def _todays_schema_but(database_url: str, undo: str) -> Iterator[str]:
    """A new database with today's schema, then ``undo`` run on it to make an older release's; dropped after."""
    with scratch_database(database_url, "older") as url:
        migrations.apply_schema(url)
        execute(url, undo)
        yield url


@pytest.fixture
def previous_release_database(database_url):
    """A database of the release before caller_namespace(): today's tables, without that function."""
    yield from _todays_schema_but(database_url, "DROP FUNCTION caller_namespace(text, text)")


def test_a_database_behind_the_code_answers_503_until_init_db(previous_release_database, caplog):
    app = create_app(load_settings({"DATABASE_URL": previous_release_database}), testing=True)
    client = app.test_client()
    try:
        response = client.post(SESSIONS, json={"session_id": "s"})

        assert response.status_code == 503 and response.headers["Retry-After"]
        assert response.get_json()["detail"]["message"] == "database schema is not up to date, retry later"
        assert "session-backend init-db" in caplog.text

        assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
        assert client.post(SESSIONS, json={"session_id": "s"}).status_code == 201
    finally:
        db.close_pool(app)


@pytest.fixture
def namespaces_release_database(database_url):
    """A database of the release before 0003, whose API keys could not be released."""
    yield from _todays_schema_but(
        database_url,
        "ALTER TABLE api_keys DROP COLUMN released_at; DELETE FROM schema_migrations WHERE version = '0003'",
    )


@pytest.mark.parametrize("stored_keys, keyless_status", [("none", 201), ("all revoked", 401)])
def test_upgrade_keeps_requests_without_a_key_refused_once_a_key_was_created(
    namespaces_release_database, stored_keys, keyless_status
):
    url = namespaces_release_database
    if stored_keys == "all revoked":
        execute(
            url,
            "INSERT INTO api_keys (key_id, namespace, secret_hash, revoked_at)"
            " VALUES ('0123456789abcdef', 'team-a', repeat('0', 64), now())",
        )

    assert migrations.apply_schema(url) == ["0003"]

    app = create_app(load_settings({"DATABASE_URL": url}), testing=True)
    try:
        assert app.test_client().post(SESSIONS, json={"session_id": "s"}).status_code == keyless_status
    finally:
        db.close_pool(app)


@pytest.fixture
def keys_release_database(database_url):
    """A database of the release before 0004, which had no byte store."""
    yield from _todays_schema_but(
        database_url, "DROP TABLE storage_objects; DELETE FROM schema_migrations WHERE version IN ('0004', '0005')"
    )


def test_upgrade_adds_the_byte_store(keys_release_database):
    url = keys_release_database

    assert migrations.apply_schema(url) == ["0004", "0005"]

    app = create_app(load_settings({"DATABASE_URL": url}), testing=True)
    try:
        client = app.test_client()
        assert client.put("/api/v1/storage/object", query_string={"key": "a/b"}, data=b"\x00\xff").status_code == 201
        assert client.get("/api/v1/storage/object", query_string={"key": "a/b"}).data == b"\x00\xff"
    finally:
        db.close_pool(app)


def _server_has_lz4(url: str) -> bool:
    """Whether the server was built with lz4: only then does default_toast_compression accept it."""
    try:
        execute(url, "SET default_toast_compression = 'lz4'")
    except psycopg2.Error:
        return False
    return True


@pytest.fixture
def byte_store_release_database(database_url):
    """A database of the release before 0005, whose byte-store values were compressed with pglz."""
    yield from _todays_schema_but(
        database_url,
        "ALTER TABLE storage_objects ALTER COLUMN data SET COMPRESSION pglz;"
        " DELETE FROM schema_migrations WHERE version = '0005'",
    )


def test_upgrade_compresses_byte_store_values_with_lz4_where_the_server_has_it(byte_store_release_database):
    url = byte_store_release_database

    assert migrations.apply_schema(url) == ["0005"]

    (compression,) = execute(
        url, "SELECT attcompression FROM pg_attribute WHERE attrelid = 'storage_objects'::regclass AND attname = 'data'"
    )[0]
    assert compression == ("l" if _server_has_lz4(url) else "p")


@pytest.fixture
def leases_release_database(database_url):
    """A database of the release before 0007: sessions without an expiry or a legal hold, no namespace settings."""
    yield from _todays_schema_but(
        database_url,
        "DROP TABLE namespace_settings; ALTER TABLE sessions DROP COLUMN expires_at, DROP COLUMN legal_hold;"
        " DELETE FROM schema_migrations WHERE version = '0007'",
    )


def test_upgrade_adds_retention_and_keeps_sessions_forever_and_unheld(leases_release_database):
    url = leases_release_database
    execute(url, "INSERT INTO sessions (namespace, session_id) VALUES ('default', 'old')")

    assert migrations.apply_schema(url) == ["0007"]

    app = create_app(load_settings({"DATABASE_URL": url}), testing=True)
    try:
        client = app.test_client()
        old = client.get(f"{SESSIONS}/old").get_json()
        assert (old["expires_at"], old["legal_hold"]) == (None, False)
        assert client.put(f"{SESSIONS}/old", json={"legal_hold": True}).get_json()["legal_hold"] is True
        assert client.delete(f"{SESSIONS}/old").status_code == 409
    finally:
        db.close_pool(app)


def test_the_release_before_0007_still_serves_sessions_after_this_init_db(clean_db):
    # During a rolling upgrade the old replicas keep answering once the new init-db ran: their session
    # queries (as that release wrote them) call the JSON functions without the retention fields.
    old_create = (
        "INSERT INTO sessions AS s (namespace, session_id, session_type, created_at, updated_at)"
        " VALUES ('default', 'old-replica', 'AGENT', now(), now())"
        " RETURNING session_json(s.session_id, s.session_type, s.created_at, s.updated_at)::text"
    )
    old_read = (
        "SELECT session_detail_json(s.session_id, s.session_type, s.created_at, s.updated_at, NULL)::text"
        " FROM sessions AS s WHERE s.session_id = 'old-replica'"
    )

    created = json.loads(execute(clean_db, old_create)[0][0])
    read = json.loads(execute(clean_db, old_read)[0][0])

    assert set(created) == {"session_id", "session_type", "created_at", "updated_at"}
    assert read == {**created, "lease": None}


@pytest.fixture
def rewind_release_database(database_url):
    """A database of the release before message search (0009): today's tables, without its index and functions."""
    yield from _todays_schema_but(
        database_url,
        "DROP INDEX session_messages_search_idx;"
        " DROP FUNCTION message_search_vector(json, json), message_search_text(json), message_search_json(json);"
        " DELETE FROM schema_migrations WHERE version = '0009'",
    )


def test_upgrade_indexes_the_messages_already_stored(rewind_release_database):
    url = rewind_release_database
    execute(
        url,
        "INSERT INTO sessions (namespace, session_id) VALUES ('default', 'old');"
        " INSERT INTO session_agents (namespace, session_id, agent_id, state, conversation_manager_state)"
        " VALUES ('default', 'old', 'a', '{}', '{}');"
        " INSERT INTO session_messages (namespace, session_id, agent_id, message_id, message, redact_message)"
        " VALUES ('default', 'old', 'a', 0, %(before)s, NULL), ('default', 'old', 'a', 1, %(hidden)s, %(shown)s)",
        {
            "before": '{"role": "user", "content": [{"text": "stored before \\u0000 \\ud800"}]}',
            "hidden": '{"content": [{"text": "hidden"}]}',
            "shown": '{"content": [{"text": "shown"}]}',
        },
    )

    assert migrations.apply_schema(url) == ["0009"]

    app = create_app(load_settings({"DATABASE_URL": url}), testing=True)
    try:
        client = app.test_client()
        for q, expected in (("before", ["old"]), ("shown", ["old"]), ("hidden", [])):
            assert [
                s["session_id"] for s in client.get(SESSIONS, query_string={"q": q}).get_json()["sessions"]
            ] == expected
        assert execute(url, "SELECT count(*) FROM pg_indexes WHERE indexname = 'session_messages_search_idx'") == [(1,)]
    finally:
        db.close_pool(app)
