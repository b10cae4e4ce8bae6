"""`init-db --distributed` on a Citus cluster: a database in use on one node is distributed in place,
its data stays readable through the API, and running the command again changes nothing.

Needs the cluster `make test-citus` starts (CITUS_CLUSTER_DIR names its directory: the test creates a
database of its own on every node, as the README's steps do).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import create_app, db
from app.config import load_settings
from app.migrations import apply_schema
from helpers import create_agent, create_message, create_session, execute, message_url

NODES = ("coordinator", "worker1", "worker2")


def _node_url(cluster: Path, node: str, database: str) -> str:
    port = (cluster / f"{node}.port").read_text().strip()
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


@pytest.fixture
def single_node_database() -> Iterator[tuple[str, Path]]:
    """A new database on every node of the cluster; only the coordinator's is used until distributed."""
    directory = os.environ.get("CITUS_CLUSTER_DIR")
    if not directory:
        pytest.skip("needs the Citus cluster of `make test-citus` (CITUS_CLUSTER_DIR)")
    cluster = Path(directory)
    name = f"inplace_{uuid.uuid4().hex[:10]}"
    for node in NODES:
        execute(_node_url(cluster, node, "postgres"), f'CREATE DATABASE "{name}"')
    try:
        yield _node_url(cluster, "coordinator", name), cluster
    finally:
        for node in reversed(NODES):
            execute(_node_url(cluster, node, "postgres"), f'DROP DATABASE "{name}" WITH (FORCE)')


def test_a_database_in_use_on_one_node_is_distributed_in_place(single_node_database: tuple[str, Path]) -> None:
    url, cluster = single_node_database
    name = url.rsplit("/", 1)[1]
    # In use on a single PostgreSQL: the schema without Citus, and a session with its data.
    apply_schema(url)
    app = create_app(load_settings({"DATABASE_URL": url}), testing=True, serving=False)
    client = app.test_client()
    create_session(client, "kept")
    create_agent(client, "kept", "a1")
    create_message(client, "kept", "a1", 0, "before")
    db.close_pool(app)
    # The README's steps: the extension on every node, the nodes registered, then init-db --distributed.
    for node in NODES:
        execute(_node_url(cluster, node, name), "CREATE EXTENSION citus")
    coordinator_port = (cluster / "coordinator.port").read_text().strip()
    execute(url, f"SELECT citus_set_coordinator_host('127.0.0.1', {coordinator_port})")
    for worker in ("worker1", "worker2"):
        execute(url, f"SELECT citus_add_node('127.0.0.1', {(cluster / f'{worker}.port').read_text().strip()})")
    runner = app.test_cli_runner()

    first = runner.invoke(args=["init-db", "--distributed"])
    again = runner.invoke(args=["init-db", "--distributed"])

    assert first.exit_code == 0, first.output
    assert "sessions (by session_id)" in first.output and "api_keys (reference)" in first.output
    assert again.exit_code == 0 and "already distributed" in again.output
    tables = dict(execute(url, "SELECT table_name::text, citus_table_type FROM citus_tables"))
    assert tables == {
        "sessions": "distributed",
        "session_agents": "distributed",
        "session_messages": "distributed",
        "session_leases": "distributed",
        "agent_rewinds": "distributed",
        "archived_messages": "distributed",
        "multi_agents": "distributed",
        "storage_objects": "distributed",
        "api_keys": "reference",
        "namespace_settings": "reference",
    }
    # A session's lease sits on the shard of its rows: the fence check and the lease move together.
    groups = dict(execute(url, "SELECT table_name::text, colocation_id FROM citus_tables"))
    assert groups["session_leases"] == groups["sessions"] == groups["session_messages"] == groups["archived_messages"]
    # Every shard, with the rows copied into it, is on a worker, none on the coordinator.
    ports = {
        port
        for (port,) in execute(url, "SELECT DISTINCT nodeport FROM citus_shards WHERE citus_table_type = 'distributed'")
    }
    assert ports == {int((cluster / f"{worker}.port").read_text()) for worker in ("worker1", "worker2")}
    client = app.test_client()
    listed = client.get(message_url("kept", "a1"))
    assert listed.status_code == 200
    assert [m["message"]["content"][0]["text"] for m in listed.get_json()["messages"]] == ["before"]
    assert create_message(client, "kept", "a1", 1, "after")["message_id"] == 1
    # The message search index (migration 0009) moved with the rows, and each shard's writes keep it.
    for word in ("before", "after"):
        searched = client.get("/api/v1/sessions", query_string={"q": word})
        assert [s["session_id"] for s in searched.get_json()["sessions"]] == ["kept"], searched.get_data(as_text=True)
    db.close_pool(app)


def test_distributing_a_database_without_citus_fails_with_what_to_do(database_url: str) -> None:
    if execute(database_url, "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")[0][0]:
        pytest.skip("the test database is a Citus coordinator")
    app = create_app(load_settings({"DATABASE_URL": database_url}), testing=True, serving=False)

    result = app.test_cli_runner().invoke(args=["init-db", "--distributed"])

    assert result.exit_code == 1
    assert "no citus extension: run CREATE EXTENSION citus first" in result.output
    assert execute(database_url, "SELECT to_regclass('pg_dist_partition')") == [(None,)]
