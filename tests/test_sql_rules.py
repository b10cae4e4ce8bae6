"""Rules every named query must follow, checked on the SQL files themselves so a new query cannot forget them.

The namespace check lives in SQL, where no view shows it: every query over the caller's records
takes the caller's key (``key_hash``, ``keyless``) and calls ``caller_namespace(`` with them. And the
database decides conflicts and missing parents: each key it enforces needs a message for the caller.
"""

from __future__ import annotations

import re

import pytest

from app.db import SQL_DIR

# Files whose queries serve the service itself (its keys, its health, its migrations), not a caller's records.
# The service's commands that act on a session's records (history, convert-to-snapshots) run the
# requests' own queries, as the caller keyless mode 'command:<namespace>' names (functions.sql).
# transfer.sql moves a whole namespace in and out for `session-backend import` and `export`, which run with
# the database's credentials and no API key; the export endpoint runs its queries only for the namespace
# that exports.sql's key-checked query returned (tests/test_isolation.py holds that endpoint to the rule).
# retention.sql: the operator's `session-backend purge` and `retention` commands, which act on every
# namespace at once and are run by the service's own jobs (CronJob, compose), never by a request.
# distribution.sql: `init-db --distributed`, which reads the catalogs and calls Citus' functions.
SERVICE_FILES = {
    "api_keys.sql",
    "health.sql",
    "schema_migrations.sql",
    "retention.sql",
    "transfer.sql",
    "distribution.sql",
}
_NAMED = re.compile(r"^-- name: (\w+)\(([^)]*)\)[$!^#<*]*\s*$", re.MULTILINE)


def named_queries(path) -> list[tuple[str, list[str], str]]:
    """``(name, parameters, body)`` of every ``-- name:`` query in ``path``."""
    text = path.read_text(encoding="utf-8")
    heads = list(_NAMED.finditer(text))
    queries = []
    for head, following in zip(heads, [*heads[1:], None], strict=True):
        body = text[head.end() : following.start() if following else len(text)]
        parameters = [p.strip() for p in head.group(2).split(",") if p.strip()]
        queries.append((head.group(1), parameters, body))
    return queries


RESOURCE_QUERIES = [
    pytest.param(name, parameters, body, id=f"{path.name}:{name}")
    for path in sorted(SQL_DIR.glob("*.sql"))
    if path.name not in SERVICE_FILES | {"schema.sql"}
    for name, parameters, body in named_queries(path)
]


def test_the_rule_sees_every_resource_file() -> None:
    files = {param.id.split(":")[0] for param in RESOURCE_QUERIES}
    assert {"sessions.sql", "agents.sql", "messages.sql", "multi_agents.sql"} <= files


# The two forms of the check (functions.sql): writes call the function that reads api_keys; reads, whose
# functions Citus runs on a worker, pass it the key's namespace and whether keys are optional, read by
# subqueries of their own on api_keys. Whitespace aside, a read's check must be exactly this.
WRITE_CHECK = "caller_namespace(:key_hash, :keyless)"
_READ_CHECK_TEXT = """caller_namespace(:key_hash, :keyless,
    (SELECT k.namespace FROM api_keys AS k WHERE k.key_id = left(:key_hash, 16) AND k.secret_hash = :key_hash
     AND k.revoked_at IS NULL),
    NOT EXISTS (SELECT 1 FROM api_keys AS r WHERE r.released_at IS NULL))"""
READ_CHECK = " ".join(_READ_CHECK_TEXT.split())


@pytest.mark.parametrize(("name", "parameters", "body"), RESOURCE_QUERIES)
def test_every_resource_query_checks_the_callers_namespace(name: str, parameters: list[str], body: str) -> None:
    assert {"key_hash", "keyless"} <= set(parameters), f"{name} does not take the caller's key"
    assert WRITE_CHECK in body or READ_CHECK in " ".join(body.split()), (
        f"{name} does not call caller_namespace with the key (in one of the two forms)"
    )


def test_a_read_that_forgets_part_of_the_check_is_caught() -> None:
    # The read form without the revocation condition must not pass for a check.
    forgetful = READ_CHECK.replace(" AND k.revoked_at IS NULL", "")
    assert READ_CHECK not in forgetful and WRITE_CHECK not in forgetful


# Tables the service keeps for itself; a request never writes them (namespace_settings: the operator's
# `session-backend retention set-default` does, with ON CONFLICT).
SERVICE_TABLES = {"api_keys", "schema_migrations", "namespace_settings"}


def test_every_key_a_request_can_violate_has_a_message(database_url: str) -> None:
    # Without one, a duplicate or a missing parent is answered as a generic 422, not 409 or 404.
    from app.errors import _CONSTRAINT_MESSAGES
    from helpers import execute

    rows = execute(
        database_url,
        """SELECT c.conname, t.relname FROM pg_constraint AS c JOIN pg_class AS t ON t.oid = c.conrelid
           WHERE c.contype IN ('p', 'u', 'f') AND t.relnamespace = current_schema()::regnamespace""",
    )
    constraints = {name for name, table in rows if table not in SERVICE_TABLES}

    assert {"sessions_pkey", "session_messages_agent_fkey"} <= constraints
    unnamed = constraints - set(_CONSTRAINT_MESSAGES)
    assert unnamed == set(), "add a message for each to _CONSTRAINT_MESSAGES in app/errors.py"


# Every write to a session's records checks the fencing token the client may send (X-Session-Fence):
# the namespace it writes to comes from fenced(), which refuses a token that is not the session's
# current one. The lease's own queries change the lease, not the session, and take no token.
FENCE_CHECK = "fenced(caller_namespace(:key_hash, :keyless), :session_id, :fence)"
# history.sql changes a conversation in a transaction whose first statement checks the lease with
# unleased(), stricter than fenced() (app/history.py); its other statements run under that check.
UNFENCED_FILES = {"leases.sql", "history.sql"}
_WRITE = re.compile(r"\b(INSERT\s+INTO|UPDATE\s+\w+(\s+AS\s+\w+)?\s+SET|DELETE\s+FROM)\b", re.IGNORECASE)


def _without_comments(body: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in body.splitlines())


@pytest.mark.parametrize(("name", "parameters", "body"), RESOURCE_QUERIES)
def test_every_write_to_a_session_checks_the_fencing_token(
    request, name: str, parameters: list[str], body: str
) -> None:
    file = request.node.callspec.id.split(":")[0]
    if file in UNFENCED_FILES or not _WRITE.search(_without_comments(body)):
        return
    assert {"session_id", "fence"} <= set(parameters), f"{name} does not take the session and the fencing token"
    assert FENCE_CHECK in body, f"{name} does not check the fencing token with fenced(...)"


def test_the_fence_rule_sees_the_writes() -> None:
    writes = {name for name, _, body in (p.values for p in RESOURCE_QUERIES) if _WRITE.search(_without_comments(body))}
    assert {"create_message", "update_agent", "write_object", "delete_object", "acquire_lease"} <= writes
