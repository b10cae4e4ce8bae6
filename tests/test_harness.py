"""The harness the tests and the benchmark share keeps up with the schema it sets up."""

from __future__ import annotations

from harness.database import MIGRATIONS_TABLE, TABLES, execute


def test_the_list_of_tables_is_every_table_the_schema_creates(database_url: str) -> None:
    # A table a migration adds but TABLES lacks would survive between tests and between bench runs.
    created = {name for (name,) in execute(database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}

    assert created == {*TABLES, MIGRATIONS_TABLE}
    assert len(TABLES) == len(set(TABLES))
