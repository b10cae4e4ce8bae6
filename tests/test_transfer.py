"""`session-backend export` and `import --from-ndjson`, and GET /api/v1/sessions/{id}/export.

A namespace exported, imported into an empty database and exported again gives the same bytes; the
endpoint streams the lines the command writes for one session; an import run twice stores nothing twice.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from app import exporter, exports, migrations
from app.transfer_cli import export_command, import_command
from helpers import SESSIONS, agent_url, execute, message_url, scratch_database
from key_helpers import bearer

# The endpoint streams: through gunicorn too, where the response is sent while the pages are read.
pytestmark = pytest.mark.over_http

COMMAND = str(Path(sys.executable).parent / "session-backend")
OBJECT = "/api/v1/storage/object"
KINDS = ["session", "agent", "message", "message", "message", "multi_agent", "session", "agent", "message"]


TOTALS = {"sessions": 2, "agents": 2, "messages": 4, "multi_agents": 1, "storage_objects": 3}


def counts(summary: bytes) -> dict[str, tuple[int, ...]]:
    """The summary table of an import: {kind: (imported, skipped, failed)}."""
    rows = re.findall(rb"^(\w+)\s+(\d+)\s+(\d+)\s+(\d+)$", summary, re.MULTILINE)
    return {kind.decode(): tuple(int(n) for n in numbers) for kind, *numbers in rows}


def session_backend(*args: str, database_url: str) -> subprocess.CompletedProcess[bytes]:
    """The installed command, as an operator runs it, on ``database_url``."""
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([COMMAND, *args], env=env, capture_output=True, timeout=120, check=False)


@pytest.fixture
def team(client, keys) -> dict[str, str]:
    """team-a's records of every kind, written through the API; returns its headers."""
    a = bearer(keys["team-a"][1])
    for session_id in ("s1", "s2"):
        assert client.post(SESSIONS, json={"session_id": session_id}, headers=a).status_code == 201
        body = {"agent_id": "a", "state": {"name": "Zoë 🌍"}, "conversation_manager_state": {"removed": 0}}
        assert client.post(agent_url(session_id), json=body, headers=a).status_code == 201
    for message_id, text in enumerate(["héllo\nthere", "second", "third"]):
        message = {"message_id": message_id, "message": {"role": "user", "content": [{"text": text}]}}
        assert client.post(message_url("s1", "a"), json=message, headers=a).status_code == 201
    redacted = {"message": {"role": "user", "content": [{"text": "x"}]}, "redact_message": {"role": "user"}}
    assert client.put(message_url("s1", "a", 1), json=redacted, headers=a).status_code == 200
    message = {"message_id": 0, "message": {"role": "user", "content": [{"text": "in s2"}]}}
    assert client.post(message_url("s2", "a"), json=message, headers=a).status_code == 201
    state = {"state": {"n": 2}, "conversation_manager_state": {}}
    assert client.put(agent_url("s1", "a"), json=state, headers=a).status_code == 200  # now at version 2
    swarm = {"type": "swarm", "id": "team", "status": "completed"}
    assert client.post(f"{SESSIONS}/s1/multi-agents", json=swarm, headers=a).status_code == 201
    for key, data in {"session/s1/snapshot": b"\x00\xffbinary", "session/s1/notes": b"text", "memory/x": b"m"}.items():
        assert client.put(OBJECT, query_string={"key": key}, data=data, headers=a).status_code == 201
    return a


def export(app, *args: str) -> bytes:
    result = app.test_cli_runner().invoke(export_command, args=["--namespace", "team-a", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_every_kind_is_exported_in_a_fixed_order(app, team):
    lines = export(app).splitlines()
    records = [json.loads(line) for line in lines]

    assert [r["kind"] for r in records] == KINDS + ["storage_object"] * 3
    assert records[1]["version"] == 2 and records[1]["state"] == {"n": 2}
    assert (
        records[3]["redact_message"] == {"role": "user"}
        and records[2]["message"]["content"][0]["text"] == "héllo\nthere"
    )
    assert all(r["created_at"].endswith("+00:00") for r in records if r["kind"] != "storage_object")


class CountingQueries:
    """The app's queries, recording how many rows each call of a query returned."""

    def __init__(self, queries) -> None:
        self.queries, self.rows = queries, []

    def __getattr__(self, name: str):
        def call(*args, **kwargs):
            rows = list(getattr(self.queries, name)(*args, **kwargs))
            self.rows.append(len(rows))
            return rows

        return call


def test_the_export_reads_pages_and_paging_does_not_change_it(app, team, monkeypatch):
    whole = export(app)
    counting = CountingQueries(exporter.queries)
    monkeypatch.setattr(exporter, "queries", counting)
    monkeypatch.setattr(exporter, "PAGE", 2)

    assert export(app) == whole
    assert max(counting.rows) == 2 and sum(counting.rows) == len(whole.splitlines())


def test_export_then_import_into_an_empty_database_then_export_is_byte_identical(app, clean_db, team, tmp_path):
    first = tmp_path / "first.ndjson"
    assert (
        session_backend("export", "--namespace", "team-a", "--output", str(first), database_url=clean_db).returncode
        == 0
    )
    with scratch_database(clean_db, "transfer") as empty:
        migrations.apply_schema(empty)

        imported = session_backend("import", "--from-ndjson", str(first), "--namespace", "team-a", database_url=empty)
        again = session_backend("import", "--from-ndjson", str(first), "--namespace", "team-a", database_url=empty)
        second = session_backend("export", "--namespace", "team-a", database_url=empty)

        assert execute(empty, "SELECT count(*) FROM session_messages") == [(4,)]
    assert imported.returncode == 0, imported.stderr
    assert b"Importing records" in imported.stderr  # the progress bar's label (a bar on a terminal)
    assert counts(imported.stdout)["messages"] == (4, 0, 0)
    assert counts(again.stdout) == {**{kind: (0, n, 0) for kind, n in TOTALS.items()}}
    assert second.stdout == first.read_bytes()


def test_an_export_imports_into_another_namespace(app, client, team, keys, tmp_path):
    path = tmp_path / "a.ndjson"
    path.write_bytes(export(app))

    result = app.test_cli_runner().invoke(import_command, ["--from-ndjson", str(path), "--namespace", "team-b"])

    assert result.exit_code == 0, result.output
    b = bearer(keys["team-b"][1])
    assert (
        client.get(message_url("s1", "a", 0), headers=b).get_json()["message"]["content"][0]["text"] == "héllo\nthere"
    )
    assert client.get(OBJECT, query_string={"key": "session/s1/snapshot"}, headers=b).data == b"\x00\xffbinary"


def test_a_record_changed_since_it_was_imported_is_skipped_not_overwritten(app, client, team, tmp_path):
    path = tmp_path / "a.ndjson"
    path.write_bytes(export(app).replace(b"third", b"changed"))

    result = app.test_cli_runner().invoke(import_command, ["--from-ndjson", str(path), "--namespace", "team-a"])

    assert counts(result.stdout_bytes)["messages"] == (0, 4, 0)
    assert client.get(message_url("s1", "a", 2), headers=team).get_json()["message"]["content"][0]["text"] == "third"
    assert b"changed" not in export(app)


def test_a_record_without_its_parent_fails_by_name_and_the_others_are_imported(app, clean_db, keys, tmp_path):
    lines = [
        {"kind": "session", "session_id": "s"},
        {"kind": "agent", "session_id": "s", "agent_id": "a", "state": {}, "conversation_manager_state": {}},
        {"kind": "message", "session_id": "s", "agent_id": "gone", "message_id": 0, "message": {}},
        {"kind": "message", "session_id": "s", "agent_id": "a", "message_id": 0, "message": {"role": "user"}},
        {"kind": "session", "session_id": "bad/id"},
    ]
    path = tmp_path / "in.ndjson"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")

    result = app.test_cli_runner().invoke(import_command, ["--from-ndjson", str(path)])

    assert result.exit_code == 1
    assert "failed message s/gone/0: " in result.stdout and "session_messages_agent_fkey" in result.stdout
    assert "failed session bad/id: session_id 'bad/id' is not a valid id" in result.stdout
    assert "failed line 6: not JSON" in result.stdout
    assert execute(clean_db, "SELECT agent_id, message_id FROM session_messages") == [("a", 0)]


def test_the_endpoint_streams_what_the_command_writes_for_one_session(app, client, team):
    response = client.get(f"{SESSIONS}/s1/export", headers=team)

    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert response.data == export(app, "--session", "s1")
    assert [json.loads(line)["kind"] for line in response.data.splitlines()] == KINDS[:6] + ["storage_object"] * 2


def test_the_endpoint_answers_404_for_a_missing_session(client, team):
    assert client.get(f"{SESSIONS}/nope/export", headers=team).status_code == 404


def test_a_snapshot_session_which_lives_only_in_the_byte_store_exports_as_its_objects(app, client, team):
    assert (
        client.put(OBJECT, query_string={"key": "session/snap/scopes/a"}, data=b"{}", headers=team).status_code == 201
    )

    response = client.get(f"{SESSIONS}/snap/export", headers=team)

    assert response.status_code == 200
    assert [json.loads(line)["kind"] for line in response.data.splitlines()] == ["storage_object"]
    assert response.data == export(app, "--session", "snap")


def test_exporting_a_missing_session_is_an_error(app, team):
    result = app.test_cli_runner().invoke(export_command, ["--namespace", "team-a", "--session", "nope"])

    assert result.exit_code == 1
    assert "namespace 'team-a' holds no session 'nope'" in result.output


@pytest.mark.in_process("reads the app's connection pool")
def test_a_stream_stopped_half_way_gives_its_connection_back_in_autocommit(app, client, team, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_BYTES", 1)  # a chunk a line
    response = client.get(f"{SESSIONS}/s1/export", headers=team, buffered=False)
    chunks = iter(response.response)

    assert json.loads(next(chunks))["kind"] == "session"
    pool = app.extensions["db_pool"]
    (streaming,) = pool._used.values()  # the stream's connection, in its snapshot
    assert not streaming.autocommit and streaming.info.transaction_status != TRANSACTION_STATUS_IDLE
    response.close()  # the client went away

    assert pool._used == {} and streaming in pool._pool
    assert streaming.autocommit and streaming.info.transaction_status == TRANSACTION_STATUS_IDLE
