"""Converting a message-log agent to a snapshot, end to end: real Agents (scripted model) on the real service.

The same conversation is restored through RepositorySessionManager (the log) and, after the conversion,
through SnapshotSessionManager on SessionBackendStorage (the snapshot): the two agents must agree, and the
converted one must go on talking. The snapshot's JSON is held to what Strands' own SnapshotSessionManager
writes for the agent RepositorySessionManager restores.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from strands import Agent, tool
from strands.agent.conversation_manager import (
    NullConversationManager,
    SlidingWindowConversationManager,
    SummarizingConversationManager,
)
from strands.session.repository_session_manager import RepositorySessionManager
from strands.session.snapshot_session_manager import SnapshotSessionManager
from strands.storage import InMemoryStorage
from strands.types.exceptions import ContextWindowOverflowException
from strands.types.session import SessionMessage

from app.auth import fingerprint
from harness.database import execute
from postgresql_session_repository import (
    AgentNotFoundError,
    ConflictError,
    SessionBackendStorage,
    SyncPostgreSQLSessionRepository,
)
from scripted_model import ScriptedModel

AGENT = "assistant"


@tool
def weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city.
    """
    return f"sunny in {city}"


def latest_key(sid: str, agent_id: str = AGENT) -> str:
    return f"session/{sid}/scopes/agent/{agent_id}/snapshots/snapshot_latest.json"


def texts(messages) -> list[str]:
    return [block["text"] for message in messages for block in message["content"] if "text" in block]


@pytest.fixture
def api_key(make_api_key) -> str:
    """A namespace of the test's own."""
    return make_api_key()


@pytest.fixture
def repo(backend, api_key):
    with SyncPostgreSQLSessionRepository(backend.url, api_key=api_key, timeout=10) as client:
        yield client


@pytest.fixture
def storage(backend, api_key):
    with SessionBackendStorage(backend.url, api_key=api_key, timeout=10) as store:
        yield store


def log_agent(repo, sid: str, replies=(), manager=None, **kwargs) -> Agent:
    """An agent kept as a message log (RepositorySessionManager) on the service."""
    return Agent(
        model=ScriptedModel(replies),
        agent_id=AGENT,
        tools=[weather],
        callback_handler=None,
        conversation_manager=manager or SlidingWindowConversationManager(window_size=4),
        session_manager=RepositorySessionManager(session_id=sid, session_repository=repo),
        **kwargs,
    )


def snapshot_agent(storage, sid: str, replies=(), manager=None, **kwargs) -> Agent:
    """The same agent kept as snapshots (SnapshotSessionManager) on the service's byte store."""
    return Agent(
        model=ScriptedModel(replies),
        agent_id=AGENT,
        tools=[weather],
        callback_handler=None,
        conversation_manager=manager or SlidingWindowConversationManager(window_size=4),
        session_manager=SnapshotSessionManager(sid, storage=storage),
        **kwargs,
    )


def windowed_conversation(repo, sid: str) -> Agent:
    """Two turns, one with a tool call, and agent.state; the window of 4 has removed the first turn."""
    agent = log_agent(repo, sid, [{"tool": "weather", "input": {"city": "Oslo"}}, "Sunny in Oslo.", "Bob, you said."])
    agent("What is the weather in Oslo?")
    agent.state.set("user", {"name": "Bob", "visits": 2})
    agent("What is my name? I am Bob.")
    assert agent.conversation_manager.removed_message_count > 0  # so the offset matters
    return agent


def test_the_converted_agent_restores_as_the_log_does_and_goes_on_talking(repo, storage, sid):
    original = windowed_conversation(repo, sid)
    from_log = log_agent(repo, sid)

    result = repo.convert_to_snapshot(sid, AGENT)
    from_snapshot = snapshot_agent(storage, sid, ["Still Bob."], system_prompt="You are terse.")

    assert from_snapshot.messages == from_log.messages == original.messages
    assert from_snapshot.state.get() == from_log.state.get() == {"user": {"name": "Bob", "visits": 2}}
    removed = from_log.conversation_manager.removed_message_count
    assert from_snapshot.conversation_manager.removed_message_count == removed
    assert result["key"] == latest_key(sid)
    assert (result["messages"], result["removed_message_count"]) == (len(from_log.messages), removed)
    # The log stored no system prompt, so the snapshot leaves the agent's own in place.
    assert from_snapshot.system_prompt == "You are terse."

    from_snapshot("And now?")
    assert texts(from_snapshot.model.calls[0])[-1] == "And now?"
    # The model was shown the restored history (Strands strips tracking ids and metadata), then the prompt.
    shown = [{"role": m["role"], "content": m["content"]} for m in from_log.messages]
    assert from_snapshot.model.calls[0][:-1] == shown
    later = snapshot_agent(storage, sid)
    assert later.messages == from_snapshot.messages and texts(later.messages)[-1] == "Still Bob."
    assert later.state.get() == {"user": {"name": "Bob", "visits": 2}}


def test_an_existing_snapshot_is_kept_unless_overwrite_is_asked(repo, storage, sid):
    windowed_conversation(repo, sid)
    first = repo.convert_to_snapshot(sid, AGENT)
    stored = asyncio.run(storage.read(latest_key(sid)))

    with pytest.raises(ConflictError) as refused:
        repo.convert_to_snapshot(sid, AGENT)
    assert refused.value.status_code == 409 and "overwrite" in refused.value.message
    assert asyncio.run(storage.read(latest_key(sid))) == stored

    replaced = repo.convert_to_snapshot(sid, AGENT, overwrite=True)
    assert replaced["size"] == first["size"] and replaced["key"] == first["key"]


def test_a_missing_agent_or_session_is_404_and_writes_nothing(repo, storage, sid):
    windowed_conversation(repo, sid)

    with pytest.raises(AgentNotFoundError):
        repo.convert_to_snapshot(sid, "nobody")
    with pytest.raises(AgentNotFoundError):
        repo.convert_to_snapshot(f"{sid}-missing", AGENT)
    assert asyncio.run(storage.list(f"session/{sid}/")) == []


def test_the_write_carries_the_sessions_fencing_token(backend, api_key, repo, storage, sid):
    windowed_conversation(repo, sid)
    path = f"{backend.url}/api/v1/sessions/{sid}/agents/{AGENT}/snapshot"
    with repo.lease(sid):
        fence = repo.lease_state(sid)["fence"]
        stale = {"Authorization": f"Bearer {api_key}", "X-Session-Fence": str(fence - 1)}

        refused = requests.post(path, json={}, headers=stale, timeout=10)
        assert refused.status_code == 409 and refused.json()["detail"]["error"] == "LeaseLostError"
        assert asyncio.run(storage.read(latest_key(sid))) is None
        # The lease's holder sends the current token (the client adds it to every write to the session).
        assert repo.convert_to_snapshot(sid, AGENT)["key"] == latest_key(sid)


def test_an_agent_strands_could_not_restore_is_409(repo, storage, sid):
    windowed_conversation(repo, sid)
    agent = repo.read_agent(sid, AGENT)
    agent.conversation_manager_state["removed_message_count"] = "two"
    repo.update_agent(sid, agent)

    with pytest.raises(ConflictError) as refused:
        repo.convert_to_snapshot(sid, AGENT)
    assert refused.value.detail["error"] == "UnrestorableAgentError"
    assert asyncio.run(storage.read(latest_key(sid))) is None


# -- the snapshot is the one Strands writes --------------------------------------------------------------


def summarized(repo, sid: str) -> tuple[type, str]:
    """A SummarizingConversationManager that summarized on an overflow: a summary before the kept messages."""
    manager = SummarizingConversationManager(summary_ratio=0.5, preserve_recent_messages=2)
    overflow = ContextWindowOverflowException("too long")
    replies = ["a1", "a2", "a3", overflow, "Summary: Bob asked three things.", "a4"]
    agent = log_agent(repo, sid, replies, manager)
    for prompt in ("q1", "q2", "q3", "q4"):
        agent(prompt)
    assert agent.conversation_manager.removed_message_count > 0
    return SummarizingConversationManager, "Summary: Bob asked three things."


def windowed(repo, sid: str) -> tuple[type, str]:
    windowed_conversation(repo, sid)
    return SlidingWindowConversationManager, "Bob, you said."


def redacted(repo, sid: str) -> tuple[type, str]:
    agent = log_agent(repo, sid, [{"text": "I cannot.", "redact_user": "[redacted]"}], NullConversationManager())
    agent("my password is hunter2")
    return NullConversationManager, "[redacted]"


def with_image(repo, sid: str) -> tuple[type, str]:
    """Bytes in a message: the log and the snapshot both carry them base64-encoded."""
    agent = log_agent(repo, sid, ["A tiny image."], NullConversationManager())
    agent([{"text": "What is this?"}, {"image": {"format": "png", "source": {"bytes": b"\x89PNG\r\n\x1a\n"}}}])
    return NullConversationManager, '"__bytes_encoded__": true'


def orphaned_tool_use(repo, sid: str) -> tuple[type, str]:
    """A toolUse whose result was never stored (the process died), then another turn: the restore repairs it."""
    agent = log_agent(repo, sid, ["hi"], NullConversationManager())
    agent("hello")
    tool_use = {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "weather", "input": {}}}]}
    prompt = {"role": "user", "content": [{"text": "are you there?"}]}
    for index, message in enumerate((tool_use, prompt, {"role": "assistant", "content": [{"text": "yes"}]}), 2):
        repo.create_message(sid, AGENT, SessionMessage(message=message, message_id=index))
    return NullConversationManager, "Tool was interrupted."


def interrupted_state(repo, sid: str) -> tuple[type, str]:
    """Internal state the agent keeps: a pending interrupt and model state."""
    windowed_conversation(repo, sid)
    agent = repo.read_agent(sid, AGENT)
    agent._internal_state = {
        "interrupt_state": {"interrupts": {}, "context": {"step": 2}, "activated": True},
        "model_state": {"response_id": "r-1"},
    }
    repo.update_agent(sid, agent)
    return SlidingWindowConversationManager, '"response_id": "r-1"'


def strands_snapshot(repo, sid: str, manager: type) -> dict:
    """What SnapshotSessionManager writes for the agent RepositorySessionManager restores from the log."""
    restored = log_agent(repo, sid, manager=manager())
    memory = InMemoryStorage()
    asyncio.run(SnapshotSessionManager(sid, storage=memory).save_snapshot(restored, is_latest=True))
    return json.loads(asyncio.run(memory.read(latest_key(sid))))


@pytest.mark.parametrize(
    "conversation", [windowed, summarized, redacted, with_image, orphaned_tool_use, interrupted_state]
)
def test_the_snapshot_is_what_strands_writes_for_the_restored_agent(repo, storage, sid, conversation):
    manager, expected = conversation(repo, sid)
    theirs = strands_snapshot(repo, sid, manager)

    repo.convert_to_snapshot(sid, AGENT)
    ours = json.loads(asyncio.run(storage.read(latest_key(sid))))
    assert expected in json.dumps(ours) and "hunter2" not in json.dumps(ours)

    assert theirs["data"].pop("system_prompt") is None  # the one field left out: see app/snapshot_builder.py
    for snapshot in (ours, theirs):
        assert snapshot.pop("created_at").endswith("Z")
        for message in snapshot["data"]["messages"]:
            # Strands gives a message it inserts a fresh random id; the log's own ids are kept as they are.
            if message["content"] and "Tool was interrupted." in json.dumps(message["content"]):
                message.pop("tracking_id", None)
    assert ours == theirs
    assert list(ours["data"]) == list(theirs["data"])  # and in the same order


# -- the command line ---------------------------------------------------------------------------------------


def convert_command(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``session-backend convert-to-snapshots ARGS`` as an operator runs it, on the test database."""
    command = str(Path(sys.executable).parent / "session-backend")
    env = {name: value for name, value in os.environ.items() if name not in ("EMBEDDED_PGDATA", "API_KEYS")}
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [command, "convert-to-snapshots", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_command_converts_every_agent_of_a_session_in_a_namespace(database_url, api_key, repo, storage, sid):
    namespace = execute(database_url, "SELECT namespace FROM api_keys WHERE key_id = %s", (fingerprint(api_key)[0],))
    namespace = namespace[0][0]
    windowed_conversation(repo, sid)
    helper = Agent(
        model=ScriptedModel(["helping"]),
        agent_id="helper",
        callback_handler=None,
        session_manager=RepositorySessionManager(session_id=sid, session_repository=repo),
    )
    helper("help me")
    args = ("--session", sid, "--namespace", namespace)

    converted = convert_command(database_url, *args)

    assert converted.returncode == 0, converted.stderr
    lines = converted.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["created", latest_key(sid)],
        ["created", latest_key(sid, "helper")],
    ]
    assert snapshot_agent(storage, sid).messages == log_agent(repo, sid).messages
    stored = asyncio.run(storage.read(latest_key(sid)))

    again = convert_command(database_url, *args, "--agent", AGENT)
    assert again.returncode == 1 and again.stdout == ""
    assert "refused assistant" in again.stderr and "--overwrite" in again.stderr
    assert asyncio.run(storage.read(latest_key(sid))) == stored

    replaced = convert_command(database_url, *args, "--agent", AGENT, "--overwrite")
    assert replaced.returncode == 0 and replaced.stdout.startswith(f"replaced {latest_key(sid)}")

    # Another namespace holds no such session: nothing is written there or here.
    elsewhere = convert_command(database_url, "--session", sid, "--namespace", "default")
    assert elsewhere.returncode == 1 and "not found" in elsewhere.stderr
    missing_agent = convert_command(database_url, *args, "--agent", "nobody")
    assert missing_agent.returncode == 1 and "'nobody' not found" in missing_agent.stderr
    not_an_id = convert_command(database_url, *args, "--agent", "../x")
    assert not_an_id.returncode == 2 and "no `/`" in not_an_id.stderr
