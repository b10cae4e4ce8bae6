"""`session-backend purge`: expired sessions go, in bounded batches, each exactly once, from many purgers at once."""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg2
import pytest

from app import retention
from app.db import queries
from helpers import PROJECT_ROOT, execute

COMMAND = str(Path(sys.executable).parent / "session-backend")
PAST, FUTURE = "now() - interval '1 day'", "now() + interval '1 day'"


def seed(url: str, namespace: str, prefix: str, count: int, *, expires: str | None, held: bool = False) -> None:
    """``count`` sessions named PREFIX-0... in ``namespace``, each with an agent and two messages."""
    execute(
        url,
        f"INSERT INTO sessions (namespace, session_id, expires_at, legal_hold)"
        f" SELECT %s, %s || '-' || i, {expires or 'NULL'}, %s FROM generate_series(0, %s - 1) AS i",
        (namespace, prefix, held, count),
    )
    execute(
        url,
        "INSERT INTO session_agents (namespace, session_id, agent_id, state, conversation_manager_state)"
        " SELECT namespace, session_id, 'a', '{}', '{}' FROM sessions WHERE session_id LIKE %s || '-%%'",
        (prefix,),
    )
    execute(
        url,
        "INSERT INTO session_messages (namespace, session_id, agent_id, message_id, message)"
        " SELECT namespace, session_id, 'a', m, '{}' FROM session_agents, generate_series(0, 1) AS m"
        " WHERE session_id LIKE %s || '-%%'",
        (prefix,),
    )


def on_citus(url: str) -> bool:
    """Whether ``url`` is a Citus coordinator (`make test-citus`), where only the routed purge runs."""
    return execute(url, "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")[0][0]


def skip_single_node_on_citus(url: str, strategy: str) -> None:
    """Skip a test of the single-node purge on Citus, which refuses its FOR UPDATE over every shard."""
    if strategy == retention.SINGLE_NODE and on_citus(url):
        pytest.skip("purge_batch is the single-node purge; Citus runs the routed one")


def remaining(url: str) -> Counter:
    """How many sessions of each prefix are left."""
    return Counter(dict(execute(url, "SELECT split_part(session_id, '-', 1), count(*) FROM sessions GROUP BY 1")))


@pytest.fixture
def mixed(clean_db: str) -> str:
    """Due sessions in two namespaces, and sessions that must stay: held, not yet due, never due."""
    seed(clean_db, "default", "due", 5, expires=PAST)
    seed(clean_db, "team-a", "teamdue", 3, expires=PAST)
    seed(clean_db, "default", "held", 2, expires=PAST, held=True)
    seed(clean_db, "default", "later", 2, expires=FUTURE)
    seed(clean_db, "default", "never", 2, expires=None)
    return clean_db


KEPT = {"held": 2, "later": 2, "never": 2}


@pytest.fixture
def runner(app):
    """The command line, on the test database."""
    return app.test_cli_runner()


def printed(result) -> str:
    """The summary a command printed: its last line. In-process the JSON log shares stdout with it; the
    `session-backend` command logs to stderr (the process test below reads both)."""
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[-1]


@pytest.mark.parametrize("strategy", [retention.SINGLE_NODE, retention.ROUTED])
def test_purge_deletes_due_sessions_with_their_records_and_keeps_the_rest(mixed, runner, caplog, strategy):
    skip_single_node_on_citus(mixed, strategy)
    caplog.set_level(logging.INFO, logger="app.retention")

    result = runner.invoke(args=["purge", "--json", "--batch-size", "3", "--strategy", strategy])

    summary = json.loads(printed(result))
    assert summary["sessions_deleted"] == 8 and summary["by_namespace"] == {"default": 5, "team-a": 3}
    assert remaining(mixed) == KEPT
    # Their agents and messages went with them.
    assert execute(mixed, "SELECT count(*) FROM session_messages") == [(2 * sum(KEPT.values()),)]
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "purge"]
    assert (record.sessions_deleted, record.by_namespace, record.strategy) == (8, summary["by_namespace"], strategy)


def test_dry_run_counts_what_would_go_and_deletes_nothing(mixed, runner):
    result = runner.invoke(args=["purge", "--dry-run", "--json"])

    assert json.loads(printed(result)) == {
        "dry_run": True,
        "sessions_due": 8,
        "by_namespace": {"default": 5, "team-a": 3},
        "held_expired": 2,
    }
    assert remaining(mixed) == {"due": 5, "teamdue": 3, **KEPT}


def test_the_summary_for_people(mixed, runner):
    dry = printed(runner.invoke(args=["purge", "--dry-run"]))
    done = printed(runner.invoke(args=["purge", "--batch-size", "5"]))

    assert dry == "Would delete 8 expired sessions (default 5, team-a 3); 2 expired sessions are kept by a legal hold."
    assert done == "Deleted 8 expired sessions (default 5, team-a 3) in 2 batches of up to 5."


@pytest.mark.parametrize("strategy", [retention.SINGLE_NODE, retention.ROUTED])
def test_max_batches_bounds_a_run_and_the_next_run_goes_on(mixed, runner, strategy):
    skip_single_node_on_citus(mixed, strategy)
    args = ["purge", "--json", "--batch-size", "3", "--max-batches", "2", "--strategy", strategy]

    first = json.loads(printed(runner.invoke(args=args)))
    second = json.loads(printed(runner.invoke(args=args)))

    assert (first["sessions_deleted"], first["batches"]) == (6, 2)
    assert (second["sessions_deleted"], second["batches"]) == (2, 1)
    assert remaining(mixed) == KEPT


def test_a_hold_set_after_expiry_keeps_the_session(mixed, runner):
    execute(mixed, "UPDATE sessions SET legal_hold = true WHERE session_id = 'due-0'")

    assert json.loads(printed(runner.invoke(args=["purge", "--json"])))["sessions_deleted"] == 7
    assert remaining(mixed)["due"] == 1


def _connection(url: str) -> psycopg2.extensions.connection:
    """A connection that fails instead of waiting for a lock: a purger that waits for another would show here."""
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("SET lock_timeout = '10s'")
    return conn


def test_two_purgers_at_once_take_disjoint_batches_without_waiting(mixed):
    skip_single_node_on_citus(mixed, retention.SINGLE_NODE)
    first, second = _connection(mixed), _connection(mixed)
    try:
        # The first purger's batch is deleted but not committed: its rows stay locked.
        taken = Counter(json.loads(queries.purge_batch(first, batch_size=4)))
        # The second skips them instead of waiting (lock_timeout would fail it) and takes the rest.
        also = Counter(json.loads(queries.purge_batch(second, batch_size=100)))
        first.commit()
        second.commit()
    finally:
        first.close()
        second.close()

    assert sum(taken.values()) == 4 and sum(also.values()) == 4
    assert taken + also == Counter({"default": 5, "team-a": 3})
    assert remaining(mixed) == KEPT


def test_a_routed_purger_skips_a_session_another_holds_and_the_next_run_takes_it(mixed):
    holder, purger = _connection(mixed), _connection(mixed)
    try:
        assert queries.lock_expired_session(holder, namespace="default", session_id="due-0") == "due-0"
        result = retention.purge(purger, batch_size=100, max_batches=None, strategy=retention.ROUTED)
        holder.rollback()
        again = retention.purge(purger, batch_size=100, max_batches=None, strategy=retention.ROUTED)
    finally:
        holder.close()
        purger.close()

    assert result.deleted == Counter({"default": 4, "team-a": 3})
    assert again.deleted == Counter({"default": 1})
    assert remaining(mixed) == KEPT


def _purge_process(url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen(
        [COMMAND, "purge", "--json", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("strategy", [retention.SINGLE_NODE, retention.ROUTED])
def test_two_purge_processes_delete_each_due_session_exactly_once(clean_db, strategy):
    skip_single_node_on_citus(clean_db, strategy)
    seed(clean_db, "default", "due", 400, expires=PAST)
    seed(clean_db, "team-a", "teamdue", 200, expires=PAST)
    seed(clean_db, "default", "held", 20, expires=PAST, held=True)
    seed(clean_db, "default", "later", 20, expires=FUTURE)

    processes = [_purge_process(clean_db, "--batch-size", "10", "--strategy", strategy) for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]

    assert [process.returncode for process in processes] == [0, 0], outputs
    summaries = [json.loads(stdout) for stdout, _ in outputs]
    totals = sum((Counter(summary["by_namespace"]) for summary in summaries), Counter())
    assert totals == Counter({"default": 400, "team-a": 200})
    assert remaining(clean_db) == {"held": 20, "later": 20}
    # Each process logged its counts as one JSON line (the command line logs to stderr).
    for summary, (_, stderr) in zip(summaries, outputs, strict=True):
        lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        (logged,) = [line for line in lines if line.get("event") == "purge"]
        assert logged["sessions_deleted"] == summary["sessions_deleted"] and logged["strategy"] == strategy


def test_set_default_needs_exactly_one_ttl_and_show_lists_them(runner):
    both = runner.invoke(args=["retention", "set-default", "--namespace", "team-a", "--ttl-days", "1", "--none"])
    bad_namespace = runner.invoke(args=["retention", "set-default", "--namespace", "a b", "--ttl-days", "1"])
    runner.invoke(args=["retention", "set-default", "--namespace", "team-a", "--ttl-days", "30"])
    runner.invoke(args=["retention", "set-default", "--namespace", "team-b", "--ttl-seconds", "90"])

    shown = runner.invoke(args=["retention", "show"])
    as_json = json.loads(runner.invoke(args=["retention", "show", "--json"]).stdout)

    assert both.exit_code == 2 and "exactly one of" in both.output
    assert bad_namespace.exit_code == 2
    assert shown.stdout == "team-a  2592000 seconds (30 days)\nteam-b  90 seconds\n"
    assert [(s["namespace"], s["default_ttl_seconds"]) for s in as_json] == [("team-a", 2592000), ("team-b", 90)]


def _readme_retention_block() -> list[str]:
    """The lines of the first bash block of the README's Retention section, continuations joined."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Retention\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return block.replace("\\\n", " ").splitlines()


def test_the_readmes_retention_commands_run_as_written(clean_db, keyless_server):
    lines = _readme_retention_block()
    curls = [line.split(" # ")[0] for line in lines if line.startswith("curl ")]
    commands = [shlex.split(line.split(" # ")[0]) for line in lines if line.startswith("session-backend ")]
    env = {**os.environ, "B": f"{keyless_server.url}/api/v1"}

    statuses = [
        subprocess.run(
            ["bash", "-c", f"{curl} -s -o /dev/null -w '%{{http_code}}'"], env=env, capture_output=True, text=True
        ).stdout
        for curl in curls
    ]
    execute(clean_db, "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE session_id = 'user-123'")
    results = [
        subprocess.run([COMMAND, *command[1:]], env={**env, "DATABASE_URL": clean_db}, capture_output=True, text=True)
        for command in commands
    ]

    assert statuses == ["201", "201", "201", "200", "409", "200", "200", "200"]
    assert [command[1:3] for command in commands] == [["retention", "set-default"]] * 2 + [
        ["retention", "show"],
        ["purge", "--dry-run"],
        ["purge"],
        ["purge", "--batch-size"],
    ]
    assert all(result.returncode == 0 for result in results), [result.stderr for result in results]
    # The due session went with the second purge; the README's other sessions are not due.
    assert results[3].stdout.startswith("Would delete 1 expired sessions (default 1)")
    assert results[4].stdout.startswith("Deleted 1 expired sessions (default 1)")
    assert remaining(clean_db) == {"user": 2}


def test_a_purge_cut_off_from_the_database_logs_what_it_had_deleted_and_fails(mixed, caplog):
    conn = psycopg2.connect(mixed)
    # Its server connection gone, as when the database restarts. Closed here, not by pg_terminate_backend:
    # through PgBouncer a client's backend pid is not the server's, and a transaction-mode client holds
    # no server connection between its transactions.
    conn.close()
    try:
        with pytest.raises(psycopg2.Error):
            retention.purge(conn, batch_size=3, max_batches=None, strategy=retention.ROUTED)
    finally:
        conn.close()

    (record,) = [r for r in caplog.records if r.getMessage() == "purge stopped by a database error"]
    assert (record.levelname, record.sessions_deleted) == ("ERROR", 0)
    assert remaining(mixed) == {"due": 5, "teamdue": 3, **KEPT}
