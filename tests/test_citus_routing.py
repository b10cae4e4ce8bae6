"""Every named query a request runs for one session is routed by Citus to one shard (a router plan).

EXPLAIN each query on the coordinator with a sample session's parameters: a plan of one task and no
distributed subplan means the coordinator sent one statement to one worker. The few queries that must
read every shard or that serve the service itself are listed, each with why. Runs only when
TEST_DATABASE_URL is a Citus coordinator with the schema distributed (`make test-citus`).
"""

from __future__ import annotations

import re

import psycopg2
import pytest

from app.db import queries
from app.storage_keys import normalize_key, scope_of

# A request of a namespace, not of a session: they read every shard of their table.
FAN_OUT = {
    "list_sessions": "the sessions of a namespace, newest first, from every shard",
    "search_sessions": "full-text search over the messages of a namespace's sessions, on every shard",
    "list_keys": "the byte store's keys of a namespace, across every scope",
    "search_objects": "full-text search over a namespace's byte store",
    "count_default_sessions": "`keys create` counts what requests without a key wrote",
    # `session-backend purge` (sql/retention.sql): a service command over every namespace, not a request.
    "pick_expired_sessions": "the purge picks the oldest due sessions of every shard, without locks",
    "count_expired_sessions": "`purge --dry-run` counts the due sessions of every shard",
    "count_held_expired_sessions": "`purge --dry-run` counts the expired sessions a legal hold keeps",
}
# Never run on Citus: the single-node purge locks a batch picked over the whole table (FOR UPDATE SKIP
# LOCKED), which Citus runs only in a query routed to one shard. There the purge picks with
# pick_expired_sessions and locks and deletes each session on its shard (lock_expired_session,
# delete_expired_session, both routed: the test below plans them).
SINGLE_NODE_ONLY = {"purge_batch": "FOR UPDATE SKIP LOCKED over every shard: app/retention.py picks ROUTED on Citus"}
# Routed to one shard, but through the coordinator: the value is bound once, in a CTE, and Citus runs
# an INSERT ... SELECT from a CTE by pulling the row to the coordinator and copying it to the shard.
# Still one statement and one client round trip; one more step between the nodes (see the README).
PULLED = {"write_object": "the byte store's write binds the value once, in a CTE"}
# A fork copies a session's rows under another session id, which lives on another shard: Citus runs such
# an INSERT ... SELECT through the coordinator. One statement per table, in one transaction.
FORK = {
    "fork_session": "the session's row, copied under the new id",
    "fork_agents": "its agents",
    "fork_messages": "their messages",
    "fork_multi_agents": "its multi-agent state",
    "fork_storage_objects": "its snapshots and stash, under the new id's scope",
}
# `session-backend import` and `export` (sql/transfer.sql), which move a namespace, not serve a request:
# an import inserts a batch of records of many sessions at once (INSERT ... SELECT through the
# coordinator), and the namespace's pages of sessions and of byte-store objects read every shard.
TRANSFER = {
    "export_sessions": "a namespace's sessions, a page at a time, from every shard",
    "export_objects": "a namespace's byte-store objects, a page at a time, across every scope",
    "import_sessions": "a batch of sessions, pulled through the coordinator",
    "import_agents": "a batch of agents, pulled through the coordinator",
    "import_messages": "a batch of messages, pulled through the coordinator",
    "import_multi_agents": "a batch of multi-agent states, pulled through the coordinator",
    "import_objects": "a batch of byte-store objects, pulled through the coordinator",
}
# Key management, health, migrations and the namespaces' default TTLs: api_keys and namespace_settings are
# reference tables (a read is one task on one
# node; a write goes to every node), schema_migrations a table on the coordinator.
SERVICE = {
    "allow_keyless",
    "any_active_api_key",
    "applied_migrations",
    "caller_namespace",
    "count_active_api_keys",
    "create_api_key",
    "find_api_key",
    "keys_required",
    "latest_migration",
    "list_api_keys",
    "list_namespace_settings",
    "migrations_table_exists",
    "record_api_key_use",
    "revoke_api_key",
    "schema_catalog",
    "seed_api_key",
    "set_default_ttl",
}

# init-db --distributed (sql/distribution.sql): the catalogs and Citus' own functions, on the coordinator
# only, once per deployment; no request runs them.
DISTRIBUTION = {
    "citus_tables",
    "create_distributed_table",
    "create_reference_table",
    "distribute_function",
    "has_active_workers",
    "has_citus",
    "session_scoped_tables",
    "undistributed_functions",
}

SESSION = "routing-sample-session"
_STORAGE_KEY = normalize_key(f"session/{SESSION}/scopes/agent/a1/snapshot.json")
SAMPLE = {
    "key_hash": None,
    "keyless": "open",
    "session_id": SESSION,
    "agent_id": "agent-1",
    "multi_agent_id": "multi-1",
    "message_id": 0,
    "session_type": "AGENT",
    "state": "{}",
    "conversation_manager_state": "{}",
    "internal_state": None,
    "message": "{}",
    "redact_message": None,
    "created_at": None,
    "updated_at": None,
    "after": -1,
    "limit": 10,
    "offset": 0,
    "page": 1,
    "include_total": True,
    "cursor_seconds": None,
    "cursor_micros": None,
    "cursor_session_id": None,
    "scope": scope_of(_STORAGE_KEY),
    "key": _STORAGE_KEY.encode(),
    "data": b"{}",
    "body": None,
    "as_text": True,
    "overwrite": True,
    "any_tag": True,
    "tags": [],
    "prefix": b"",
    "prefix_end": None,
    "start_after": None,
    "query": "word",
    "q": "word",
    "updated_since": None,
    "include_data": False,
    "functions": ["caller_namespace"],
    "key_id": "0" * 16,
    "namespace": "default",
    "secret_hash": "0" * 64,
    # Leases (issue 14): no token, as most writes are sent; the lease's own queries.
    "fence": None,
    "if_versions": None,
    "lease_id": "00000000-0000-4000-8000-000000000000",
    "holder": "routing-sample-holder",
    "ttl_seconds": 30,
    # History (issue 15): a rewind, a fork.
    "rewind_id": "00000000-0000-4000-8000-000000000001",
    "new_session_id": "routing-sample-fork",
    "new_scope": b"routing-sample-fork",
    "prefixes": [b"session/" + SESSION.encode() + b"/"],
    "new_prefixes": [b"session/routing-sample-fork/"],
    # Retention (issue 15): a create that takes its namespace's default TTL, an update that keeps the expiry.
    "expires_at": None,
    "use_default_ttl": True,
    "keep_expiry": True,
    "legal_hold": False,
    "batch_size": 100,
}

# Where a query names a parameter as another does, but of another type: the export's keyset positions
# are ids (text), the message lists' are message ids.
SAMPLE_FOR = {
    "export_agents": {"after": None},
    "export_multi_agents": {"after": None},
    # The session lists' prefix is an id's start (text), the byte store's a key's (bytes).
    "list_sessions": {"prefix": None},
    "search_sessions": {"prefix": None},
}

_TASKS = re.compile(r"Task Count: (\d+)")


def _session_queries() -> list[str]:
    return sorted(name for name in queries.available_queries if not name.endswith("_cursor"))


@pytest.fixture(scope="module")
def coordinator(database_url: str) -> str:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"
                " AND to_regclass('pg_dist_partition') IS NOT NULL"
            )
            citus = cur.fetchone()[0]
            distributed = False
            if citus:
                cur.execute("SELECT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'sessions'::regclass)")
                distributed = cur.fetchone()[0]
    finally:
        conn.close()
    if not distributed:
        pytest.skip("TEST_DATABASE_URL is not a Citus coordinator with the schema distributed (see `make test-citus`)")
    return database_url


def _plan(url: str, name: str) -> str:
    query = getattr(queries, name)
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            # EXPLAIN plans a write without running it; the transaction is rolled back all the same.
            sample = {**SAMPLE, **SAMPLE_FOR.get(name, {})}
            cur.execute("EXPLAIN " + query.sql, {p: sample[p] for p in query.parameters or ()})
            return "\n".join(row[0] for row in cur.fetchall())
    finally:
        conn.rollback()
        conn.close()


def test_the_lists_name_only_queries_that_exist() -> None:
    assert (
        set(FAN_OUT) | set(PULLED) | set(FORK) | SERVICE | DISTRIBUTION | set(TRANSFER) | set(SINGLE_NODE_ONLY)
    ) - set(_session_queries()) == set()


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in _session_queries()
        if n not in {*FAN_OUT, *PULLED, *FORK, *SERVICE, *DISTRIBUTION, *TRANSFER, *SINGLE_NODE_ONLY}
    ],
)
def test_a_session_query_is_routed_to_one_shard(coordinator: str, name: str) -> None:
    plan = _plan(coordinator, name)

    assert "Distributed Subplan" not in plan, f"{name} is planned in steps:\n{plan}"
    assert "INSERT ... SELECT" not in plan, f"{name} pulls rows through the coordinator:\n{plan}"
    assert _TASKS.findall(plan) == ["1"], f"{name} is not a single-task router plan:\n{plan}"


@pytest.mark.parametrize("name", sorted(FAN_OUT))
def test_a_listed_query_fans_out_and_still_plans(coordinator: str, name: str) -> None:
    plan = _plan(coordinator, name)

    assert [int(n) for n in _TASKS.findall(plan)] != [1], f"{name} no longer fans out: move it out of FAN_OUT"


@pytest.mark.parametrize("name", sorted(PULLED))
def test_a_pulled_write_is_still_one_insert_through_the_coordinator(coordinator: str, name: str) -> None:
    plan = _plan(coordinator, name)

    assert "INSERT/SELECT method: pull to coordinator" in plan, f"{name} changed plan: update PULLED\n{plan}"
