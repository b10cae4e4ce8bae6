"""Demo: snapshot sessions on the backend. An agent is saved whole after every call, comes back in a "new
process", checkpoints can be listed and restored, and deleting the session removes every snapshot.

Run against a running backend (``make run``), from the repository root:

    PYTHONPATH=client:examples/session_agent .venv/bin/python examples/session_agent/snapshot_demo.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from typing import Any

from agent_factory import default_model
from strands import Agent
from strands.session.snapshot_session_manager import SnapshotSessionManager

from postgresql_session_repository import SessionBackendStorage


def every_call(*, agent_data: Any, **kwargs: Any) -> bool:
    """A snapshot_trigger: keep an immutable checkpoint after every call."""
    return True


def create_agent(session_id: str, storage: SessionBackendStorage) -> Agent:
    """An agent restored from the session's latest snapshot, checkpointed after every call."""
    manager = SnapshotSessionManager(session_id, storage=storage, snapshot_trigger=every_call)
    return Agent(model=default_model(), agent_id="assistant", session_manager=manager, storage=storage)


def main() -> int:
    """Run the demo; exit status 0 when every step did what it should."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="backend URL (default: $SESSION_BACKEND_URL, else http://localhost:8001)")
    args = parser.parse_args()
    session_id = f"snapshot-demo-{uuid.uuid4().hex[:8]}"

    with SessionBackendStorage(args.url) as storage:
        agent = create_agent(session_id, storage)
        print("user:  Hello, my name is Alice")
        print("agent:", str(agent("Hello, my name is Alice")).strip())
        agent.state.set("plan", "premium")
        print("user:  Actually, my name is Bob")
        print("agent:", str(agent("Actually, my name is Bob")).strip())
        del agent  # the process could exit here: the whole agent is in its latest snapshot

        agent = create_agent(session_id, storage)
        restored = len(agent.messages) == 4 and agent.state.get("plan") == "premium"
        print(f"(new agent restored {len(agent.messages)} messages and state {agent.state.get()})")
        manager = agent._session_manager
        assert isinstance(manager, SnapshotSessionManager)
        checkpoints = asyncio.run(manager.list_snapshot_ids(agent))
        print(f"checkpoints: {len(checkpoints)}; going back to the first")
        asyncio.run(manager.restore_snapshot(agent, snapshot_id=checkpoints[0]))
        print("user:  What is my name?")
        answer = str(agent("What is my name?")).strip()
        print("agent:", answer)

        asyncio.run(manager.delete_session())
        left = asyncio.run(storage.list(f"session/{session_id}/"))
        print(f"after delete_session: {len(left)} keys left")

    ok = restored and len(checkpoints) == 2 and answer == "Your name is Alice." and not left
    print("snapshot demo:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
