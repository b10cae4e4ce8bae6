"""`session-backend import` from Strands' own layouts: sessions that FileSessionManager and S3SessionManager
really wrote for real agents (text, a tool call and its result, an image, a redaction, a Swarm), imported
into a namespace and restored through the client from the service under gunicorn, equal to what Strands
restores from the files. A second import stores nothing twice."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import boto3
import pytest
from strands import Agent, tool
from strands.session.file_session_manager import FileSessionManager
from strands.session.repository_session_manager import RepositorySessionManager
from strands.session.s3_session_manager import S3SessionManager
from swarm_team import RESEARCH, SWARM_ID, TASK, team_swarm

from app.auth import fingerprint
from app.transfer_cli import import_command
from harness.database import execute
from postgresql_session_repository import SyncPostgreSQLSessionRepository
from scripted_model import ScriptedModel

IMAGE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake image bytes \x00\xff"
COUNTS = ("sessions", "agents", "messages", "multi_agents")


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def talk(manager, replies, *prompts, agent_id: str = "assistant", **kwargs) -> Agent:
    """A real agent persisted by ``manager`` that says ``prompts`` and answers with ``replies``."""
    agent = Agent(
        model=ScriptedModel(replies), agent_id=agent_id, callback_handler=None, session_manager=manager, **kwargs
    )
    for prompt in prompts:
        agent(prompt)
    return agent


def write_conversations(manager_for) -> dict[str, list[str]]:
    """The test's sessions, written by Strands through ``manager_for(session_id)``: {session: [agent ids]}."""
    talk(manager_for("text"), ["Hello, Alice."], "Hi, I am Alice.", state={"user": "alice"})
    talk(manager_for("tools"), [{"tool": "add", "input": {"a": 2, "b": 3}}, "It is 5."], "What is 2 + 3?", tools=[add])
    image = [{"text": "What is this?"}, {"image": {"format": "png", "source": {"bytes": IMAGE}}}]
    talk(manager_for("image"), ["A tiny image."], image)
    two = manager_for("redacted")
    talk(two, [{"text": "I cannot help with that.", "redact_user": "[User input redacted.]"}], "a secret")
    talk(two, ["Second agent here."], "hello", agent_id="helper")
    swarm, _, _ = team_swarm(manager_for("swarm"), RESEARCH, ["The sky is blue."])
    swarm(TASK)
    return {"text": ["assistant"], "tools": ["assistant"], "image": ["assistant"], "redacted": ["assistant", "helper"]}


def summary(output: str) -> dict[str, tuple[int, int, int]]:
    """The import's summary table: {kind: (imported, skipped, failed)}."""
    rows = re.findall(r"^(\w+)\s+(\d+)\s+(\d+)\s+(\d+)$", output, re.MULTILINE)
    return {kind: (int(a), int(b), int(c)) for kind, a, b, c in rows}


@pytest.fixture
def namespace_key(app, clean_db: str) -> tuple[str, str]:
    """A namespace of the test's own and a key for it (after `app` emptied the tables)."""
    namespace, key = f"import-{uuid.uuid4().hex[:12]}", f"sb_import_{uuid.uuid4().hex}"
    key_id, secret_hash = fingerprint(key)
    execute(
        clean_db,
        "INSERT INTO api_keys (key_id, namespace, secret_hash) VALUES (%s, %s, %s)",
        (key_id, namespace, secret_hash),
    )
    return namespace, key


def run_import(app, *args: str):
    return app.test_cli_runner().invoke(import_command, args=list(args), catch_exceptions=False)


def assert_restored_equal(backend, key, sessions, manager_for) -> None:
    """Every agent and the Swarm restored from the service equal what Strands restores from its own store."""
    with SyncPostgreSQLSessionRepository(backend.url, api_key=key, timeout=10) as repo:
        for session_id, agents in sessions.items():
            for agent_id in agents:
                expected = talk(manager_for(session_id), [], agent_id=agent_id)
                manager = RepositorySessionManager(session_id=session_id, session_repository=repo)
                restored = talk(manager, [], agent_id=agent_id)
                assert restored.messages == expected.messages and restored.messages, (session_id, agent_id)
                assert restored.state.get() == expected.state.get(), (session_id, agent_id)
        assert repo.read_multi_agent("swarm", SWARM_ID) == manager_for("swarm").session_repository.read_multi_agent(
            "swarm", SWARM_ID
        )
        restored, _, _ = team_swarm(RepositorySessionManager(session_id="swarm", session_repository=repo), [], [])
        expected, _, _ = team_swarm(manager_for("swarm"), [], [])
        assert restored.serialize_state() == expected.serialize_state()


def test_a_file_session_manager_tree_imports_and_restores_and_a_second_import_skips_it_all(
    app, backend, namespace_key, tmp_path: Path
):
    namespace, key = namespace_key
    manager_for = lambda sid: FileSessionManager(session_id=sid, storage_dir=str(tmp_path))  # noqa: E731
    sessions = write_conversations(manager_for)

    first = run_import(app, "--from-file-dir", str(tmp_path), "--namespace", namespace)

    assert first.exit_code == 0, first.output
    counts = summary(first.stdout)
    assert counts["sessions"] == (5, 0, 0)
    assert counts["agents"][0] >= 5 and counts["multi_agents"] == (1, 0, 0), counts
    assert_restored_equal(backend, key, sessions, manager_for)
    redacted = FileSessionManager(session_id="redacted", storage_dir=str(tmp_path)).read_message(
        "redacted", "assistant", 0
    )
    assert redacted.redact_message is not None  # the redaction really was in the files

    again = run_import(app, "--from-file-dir", str(tmp_path), "--namespace", namespace)

    assert again.exit_code == 0, again.output
    assert {kind: (0, sum(first_counts), 0) for kind, first_counts in counts.items()} == summary(again.stdout)
    assert_restored_equal(backend, key, sessions, manager_for)


def test_a_broken_file_is_named_and_the_rest_imported_and_a_rerun_resumes(app, namespace_key, tmp_path: Path):
    namespace, _ = namespace_key
    talk(FileSessionManager(session_id="s", storage_dir=str(tmp_path)), ["One.", "Two."], "1", "2")
    broken = tmp_path / "session_s" / "agents" / "agent_assistant" / "messages" / "message_1.json"
    saved = broken.read_text()
    broken.write_text("{not json")

    result = run_import(app, "--from-file-dir", str(tmp_path), "--namespace", namespace)

    assert result.exit_code == 1
    assert summary(result.stdout)["messages"] == (3, 0, 1)
    assert (
        "failed message s/assistant/1: session_s/agents/agent_assistant/messages/message_1.json: not JSON"
        in result.stdout
    )

    broken.write_text(saved)  # fixed: running the import again stores what is missing, and only that
    resumed = run_import(app, "--from-file-dir", str(tmp_path), "--namespace", namespace)

    assert resumed.exit_code == 0, resumed.output
    assert summary(resumed.stdout)["messages"] == (1, 3, 0)


def test_an_s3_session_manager_prefix_imports_and_restores(app, backend, namespace_key, s3_endpoint):
    namespace, key = namespace_key
    boto3.client("s3").create_bucket(Bucket="agents")
    manager_for = lambda sid: S3SessionManager(session_id=sid, bucket="agents", prefix="team/a")  # noqa: E731
    sessions = write_conversations(manager_for)

    result = run_import(app, "--from-s3", "s3://agents/team/a", "--namespace", namespace)

    assert result.exit_code == 0, result.output
    assert summary(result.stdout)["sessions"] == (5, 0, 0)
    assert_restored_equal(backend, key, sessions, manager_for)
    assert summary(run_import(app, "--from-s3", "s3://agents/team/a", "--namespace", namespace).stdout)["sessions"] == (
        0,
        5,
        0,
    )


def test_messages_of_an_agent_that_cannot_be_read_are_counted_as_failed(app, namespace_key, tmp_path: Path):
    namespace, _ = namespace_key
    talk(FileSessionManager(session_id="s", storage_dir=str(tmp_path)), ["One."], "1")
    (tmp_path / "session_s" / "agents" / "agent_assistant" / "agent.json").write_text("[]")

    result = run_import(app, "--from-file-dir", str(tmp_path), "--namespace", namespace)

    assert result.exit_code == 1
    assert summary(result.stdout)["agents"] == (0, 0, 1) and summary(result.stdout)["messages"] == (0, 0, 2)
    assert "failed message s/assistant/1: its agent failed" in result.stdout


def test_a_number_json_cannot_carry_fails_its_record(app, namespace_key, tmp_path: Path):
    namespace, _ = namespace_key
    talk(FileSessionManager(session_id="s", storage_dir=str(tmp_path)), ["One."], "1", state={"x": 1})
    agent = tmp_path / "session_s" / "agents" / "agent_assistant" / "agent.json"
    agent.write_text(agent.read_text().replace('"x": 1', '"x": NaN'))  # Python's json writes and reads it

    result = run_import(app, "--from-file-dir", str(tmp_path), "--namespace", namespace)

    assert "failed agent s/assistant: numbers must be finite" in result.stdout
    assert summary(result.stdout)["messages"] == (0, 0, 2)  # without their agent
