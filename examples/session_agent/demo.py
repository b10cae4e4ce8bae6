"""Demo: an agent's conversation survives restarts, many sessions run at once, history stays continuous.

Run against a running backend (``make run``), from the repository root:

    PYTHONPATH=client:examples/session_agent .venv/bin/python examples/session_agent/demo.py
"""

from __future__ import annotations

import argparse
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

from agent_factory import create_agent

from postgresql_session_repository import SyncPostgreSQLSessionRepository


def restart_demo(session_id: str, url: str | None) -> bool:
    """Talk to an agent, drop it, and ask a new agent with the same session id what was said."""
    print(f"\n== Persistence across restarts (session {session_id})")
    agent = create_agent(session_id, url)
    print("user:  Hello, my name is Alice")
    print("agent:", str(agent("Hello, my name is Alice")).strip())
    before = len(agent.messages)
    del agent  # the process could exit here: nothing lives only in memory

    agent = create_agent(session_id, url)
    print(f"(new agent restored {len(agent.messages)} messages)")
    print("user:  What is my name?")
    print("agent:", str(agent("What is my name?")).strip())
    return before == 2 and len(agent.messages) == 4


def concurrent_demo(prefix: str, url: str | None) -> bool:
    """Several users talk to their own sessions at the same time; each agent only knows its own user."""
    print("\n== Concurrent sessions")
    names = ["Bob", "Carol", "Dave", "Erin"]

    def conversation(name: str) -> tuple[str, str]:
        session_id = f"{prefix}-{name.lower()}"
        create_agent(session_id, url)(f"My name is {name}")
        return name, str(create_agent(session_id, url)("What is my name?")).strip()

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        answers = list(pool.map(conversation, names))
    for name, answer in answers:
        print(f"{name:>6} asked 'What is my name?' -> {answer}")
    return all(len(history(f"{prefix}-{name.lower()}", url)) == 4 for name in names)


def continuity_demo(session_id: str, url: str | None) -> bool:
    """The stored history is the whole conversation, in order, with no gaps."""
    print(f"\n== Conversation continuity (session {session_id})")
    create_agent(session_id, url)("How many messages have I sent?")
    stored = history(session_id, url)
    for message in stored:
        text = " ".join(block.get("text", "<non-text>") for block in message.to_message()["content"])
        print(f"  #{message.message_id} {message.message['role']:>9}: {text}")
    return [m.message_id for m in stored] == list(range(len(stored))) and len(stored) == 6


def history(session_id: str, url: str | None) -> list:
    """All stored messages of the session's agent."""
    with SyncPostgreSQLSessionRepository(url) as repository:
        return repository.list_messages(session_id, "assistant")


def main(argv: list[str] | None = None) -> int:
    """Run the three demos; exit status 0 when every check holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="session backend URL (default: $SESSION_BACKEND_URL or http://localhost:8001)")
    parser.add_argument("--session-prefix", default=f"demo-{uuid.uuid4().hex[:8]}", help="prefix of session ids")
    args = parser.parse_args(argv)

    alice = f"{args.session_prefix}-alice"
    checks = {
        "restart": restart_demo(alice, args.url),
        "concurrent": concurrent_demo(args.session_prefix, args.url),
        "continuity": continuity_demo(alice, args.url),
    }
    print("\n" + ", ".join(f"{name}: {'ok' if ok else 'FAILED'}" for name, ok in checks.items()))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
