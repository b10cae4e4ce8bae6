"""The README's Strands snippet and the example demo run against the live service, so they cannot rot."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
from pathlib import Path

from agent_factory import offline_reply
from strands.session.snapshot_session_manager import SnapshotSessionManager

from postgresql_session_repository import SessionBackendStorage, SyncPostgreSQLSessionRepository
from scripted_model import ScriptedModel

ROOT = Path(__file__).resolve().parents[2]


def strands_section() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- strands:start -->(.*?)<!-- strands:end -->", readme, re.DOTALL)
    assert match, "README.md has no <!-- strands:start --> ... <!-- strands:end --> section"
    return match.group(1)


def test_readme_snippet_runs(backend, monkeypatch, capsys):
    snippets = re.findall(r"```python\n(.*?)```", strands_section(), re.DOTALL)
    assert snippets, "the Strands section has no python snippet"
    # The snippet uses Strands' default model provider; offline, the scripted model stands in for it.
    monkeypatch.setattr("strands.agent.agent.BedrockModel", lambda **_: ScriptedModel(itertools.repeat(offline_reply)))
    monkeypatch.setenv("SESSION_BACKEND_URL", backend.url)
    with SyncPostgreSQLSessionRepository(backend.url) as repo:
        session_ids = re.findall(r'create_agent\(\s*(?:session_id=)?"([^"]+)"', snippets[0])
        assert session_ids, "the snippet creates no agent with a literal session id"
        for session_id in set(session_ids):
            if repo.read_session(session_id) is not None:
                repo.delete_session(session_id)

        exec(compile(snippets[0], "README.md", "exec"), {"__name__": "readme_snippet"})

        assert "Your name is Alice." in capsys.readouterr().out
        stored = repo.list_messages(session_ids[0], "my-agent")
        assert [m.message["role"] for m in stored] == ["user", "assistant", "user", "assistant"]


def test_readme_snapshot_snippet_runs(backend, monkeypatch, capsys):
    snippets = [s for s in re.findall(r"```python\n(.*?)```", strands_section(), re.DOTALL) if "SnapshotSession" in s]
    assert snippets, "the Strands section has no snippet with a SnapshotSessionManager"
    monkeypatch.setattr("strands.agent.agent.BedrockModel", lambda **_: ScriptedModel(itertools.repeat(offline_reply)))
    monkeypatch.setenv("SESSION_BACKEND_URL", backend.url)
    session_ids = re.findall(r'create_snapshot_agent\("([^"]+)"\)', snippets[0])
    assert session_ids, "the snippet creates no agent with a literal session id"
    with SessionBackendStorage(backend.url) as storage:
        for session_id in set(session_ids):
            asyncio.run(SnapshotSessionManager(session_id, storage=storage).delete_session())

        exec(compile(snippets[0], "README.md", "exec"), {"__name__": "readme_snippet"})

        assert "Your name is Alice." in capsys.readouterr().out
        latest = f"session/{session_ids[0]}/scopes/agent/my-agent/snapshots/snapshot_latest.json"
        assert asyncio.run(storage.list(f"session/{session_ids[0]}/")) == [latest]
        snapshot = json.loads(asyncio.run(storage.read(latest)))
        assert [m["role"] for m in snapshot["data"]["messages"]] == ["user", "assistant", "user", "assistant"]


def test_readme_lease_snippet_runs(backend, monkeypatch):
    snippets = [s for s in re.findall(r"```python\n(.*?)```", strands_section(), re.DOTALL) if "SessionLease" in s]
    assert snippets, "the Strands section has no snippet with SessionLease"
    monkeypatch.setattr("strands.agent.agent.BedrockModel", lambda **_: ScriptedModel(itertools.repeat(offline_reply)))
    monkeypatch.setenv("SESSION_BACKEND_URL", backend.url)
    [session_id] = set(re.findall(r'create_exclusive_agent\("([^"]+)"\)', snippets[0]))
    with SyncPostgreSQLSessionRepository(backend.url) as repo:
        if repo.read_session(session_id) is not None:
            repo.delete_session(session_id)
        before = repo.lease_state(session_id)["fence"]

        exec(compile(snippets[0], "README.md", "exec"), {"__name__": "readme_snippet"})

        stored = repo.list_messages(session_id, "my-agent")
        assert [m.message["role"] for m in stored] == ["user", "assistant"]
        # The invocation held the lease (the token moved on once) and gave it back.
        after = repo.lease_state(session_id)
        assert after["fence"] == before + 1 and after["held"] is False


def run_readme_command(script: str, backend) -> str:
    """Run the Strands section's (last) command for ``script`` against the live service; its output."""
    commands = [
        line.strip()
        for line in strands_section().splitlines()
        if line.startswith("PYTHONPATH=") and f"examples/session_agent/{script}" in line
    ]
    assert commands, f"the Strands section does not say how to run {script}"
    env = {k: v for k, v in os.environ.items() if k not in ("SESSION_AGENT_MODEL", "PYTHONPATH")}
    env["SESSION_BACKEND_URL"] = backend.url
    result = subprocess.run(commands[-1], shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_readme_demo_command_runs(backend):
    output = run_readme_command("demo.py", backend)
    assert "restart: ok, concurrent: ok, continuity: ok" in output
    assert "agent: Your name is Alice." in output
    for name in ("Bob", "Carol", "Dave", "Erin"):
        assert f"-> Your name is {name}." in output


def test_readme_snapshot_demo_command_runs(backend):
    output = run_readme_command("snapshot_demo.py", backend)
    assert "snapshot demo: ok" in output
    assert "checkpoints: 2; going back to the first" in output
    assert "agent: Your name is Alice." in output
