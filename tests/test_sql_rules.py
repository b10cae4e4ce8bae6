"""Rules every named query must follow, checked on the SQL files themselves so a new query cannot forget them.

The namespace check lives in SQL, where no view shows it: every query over the caller's records
takes the caller's key (``key_hash``, ``keyless``) and calls ``caller_namespace(`` with them.
"""

from __future__ import annotations

import re

import pytest

from app.db import SQL_DIR

# Files whose queries serve the service itself (its keys, its health, its migrations), not a caller's records.
SERVICE_FILES = {"api_keys.sql", "health.sql", "schema_migrations.sql"}
_NAMED = re.compile(r"^-- name: (\w+)\(([^)]*)\)[$!^#<*]*\s*$", re.MULTILINE)


def named_queries(path) -> list[tuple[str, list[str], str]]:
    """``(name, parameters, body)`` of every ``-- name:`` query in ``path``."""
    text = path.read_text(encoding="utf-8")
    heads = list(_NAMED.finditer(text))
    queries = []
    for head, following in zip(heads, heads[1:] + [None]):
        body = text[head.end(): following.start() if following else len(text)]
        parameters = [p.strip() for p in head.group(2).split(",") if p.strip()]
        queries.append((head.group(1), parameters, body))
    return queries


RESOURCE_QUERIES = [
    pytest.param(name, parameters, body, id=f"{path.name}:{name}")
    for path in sorted(SQL_DIR.glob("*.sql")) if path.name not in SERVICE_FILES | {"schema.sql"}
    for name, parameters, body in named_queries(path)
]


def test_the_rule_sees_every_resource_file() -> None:
    files = {param.id.split(":")[0] for param in RESOURCE_QUERIES}
    assert {"sessions.sql", "agents.sql", "messages.sql", "multi_agents.sql"} <= files


@pytest.mark.parametrize(("name", "parameters", "body"), RESOURCE_QUERIES)
def test_every_resource_query_checks_the_callers_namespace(name: str, parameters: list[str], body: str) -> None:
    assert {"key_hash", "keyless"} <= set(parameters), f"{name} does not take the caller's key"
    assert "caller_namespace(:key_hash, :keyless)" in body, f"{name} does not call caller_namespace with the key"
