"""Strands' SnapshotSessionManager on SessionBackendStorage, end to end: real Agents (scripted model) on the real
service. A "restart" is a new Agent, a new manager and a new storage object, as in a new process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from strands import Agent
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.experimental.context_manager import ContextManager
from strands.session.snapshot_session_manager import SnapshotSessionManager
from strands.storage import InMemoryStorage

from postgresql_session_repository import SessionBackendStorage
from scripted_model import ScriptedModel

SESSION = "user-123"
LATEST = f"session/{SESSION}/scopes/agent/assistant/snapshots/snapshot_latest.json"


def texts(messages) -> list[str]:
    return [block["text"] for message in messages for block in message["content"] if "text" in block]


@pytest.fixture(params=["service", "in-memory"])
def new_storage(request) -> Callable[[], object]:
    """Makes the storage of one "process": on the service, a new SessionBackendStorage each time, all on one
    key of the test's own; Strands' InMemoryStorage (one object, as nothing else survives) for reference."""
    if request.param == "in-memory":
        shared = InMemoryStorage()
        yield lambda: shared
        return
    backend = request.getfixturevalue("backend")
    api_key = request.getfixturevalue("make_api_key")()
    made: list[SessionBackendStorage] = []

    def make() -> SessionBackendStorage:
        made.append(SessionBackendStorage(backend.url, api_key=api_key, timeout=10))
        return made[-1]

    yield make
    for storage in made:
        storage.close()


def snapshot_agent(storage, replies=(), *, system_prompt=None, **manager_kwargs) -> Agent:
    """An agent persisted by a SnapshotSessionManager on ``storage``, which is also the agent's storage."""
    return Agent(
        model=ScriptedModel(replies),
        agent_id="assistant",
        callback_handler=None,
        system_prompt=system_prompt,
        conversation_manager=SlidingWindowConversationManager(window_size=4),
        session_manager=SnapshotSessionManager(SESSION, storage=storage, **manager_kwargs),
        storage=storage,
    )


def read_now(storage, key: str) -> bytes | None:
    """Read from a thread of its own: the scripted model calls this while the agent's event loop runs."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, storage.read(key)).result()


def test_a_new_process_restores_conversation_state_conversation_manager_and_system_prompt(new_storage):
    agent = snapshot_agent(new_storage(), ["Hello Bob.", "Noted.", "Blue."], system_prompt="You are terse.")
    agent("I am Bob")
    agent.state.set("favourite", {"colour": "blue", "n": 3})
    agent("Remember blue")
    agent("What colour?")
    removed = agent.conversation_manager.removed_message_count
    assert removed == 2  # the window of 4 dropped the first turn, so there is conversation-manager state

    restored = snapshot_agent(new_storage(), ["Still Bob."])
    assert restored.messages == agent.messages
    assert texts(restored.messages) == ["Remember blue", "Noted.", "What colour?", "Blue."]
    assert restored.state.get("favourite") == {"colour": "blue", "n": 3}
    assert restored.conversation_manager.removed_message_count == removed
    assert restored.system_prompt == "You are terse."
    restored("Who am I?")
    # The model was shown the restored history.
    assert texts(restored.model.calls[0]) == ["Remember blue", "Noted.", "What colour?", "Blue.", "Who am I?"]


@pytest.mark.parametrize("save_latest_on, seen_mid_turn", [("message", 3), ("invocation", 2)])
def test_save_latest_on_message_saves_before_the_reply_and_invocation_after_it(
    new_storage, save_latest_on, seen_mid_turn
):
    storage = new_storage()
    observed: list[int] = []

    def reply_and_look(messages):
        observed.append(len(json.loads(read_now(storage, LATEST))["data"]["messages"]))
        return "Second answer."

    agent = snapshot_agent(storage, ["First answer.", reply_and_look], save_latest_on=save_latest_on)
    agent("one")
    agent("two")
    assert observed == [seen_mid_turn]  # "message": the question is stored before the model answers it
    assert texts(snapshot_agent(new_storage()).messages) == ["one", "First answer.", "two", "Second answer."]


def test_a_snapshot_trigger_writes_immutable_snapshots_that_page_and_restore_back_in_time(new_storage):
    storage = new_storage()
    agent = snapshot_agent(storage, ["A1", "A2", "A3"], snapshot_trigger=lambda *, agent_data, **_: True)
    for question in ("Q1", "Q2", "Q3"):
        agent(question)
    manager = agent._session_manager
    ids = asyncio.run(manager.list_snapshot_ids(agent))
    assert len(ids) == 3 and ids == sorted(ids)
    first_page = asyncio.run(manager.list_snapshot_ids(agent, limit=2))
    rest = asyncio.run(manager.list_snapshot_ids(agent, limit=2, start_after=first_page[-1]))
    assert first_page + rest == ids and len(rest) == 1
    history = [key for key in asyncio.run(storage.list("session/")) if "/immutable_history/" in key]
    assert len(history) == 3

    later = snapshot_agent(new_storage())  # a new process goes back to the first turn
    assert texts(later.messages) == ["Q2", "A2", "Q3", "A3"]
    assert asyncio.run(later._session_manager.restore_snapshot(later, snapshot_id=ids[0])) is True
    assert texts(later.messages) == ["Q1", "A1"]
    assert asyncio.run(later._session_manager.restore_snapshot(later, snapshot_id=ids[1])) is True
    assert texts(later.messages) == ["Q1", "A1", "Q2", "A2"]
    # Going back rewrote nothing: the checkpoints and the latest snapshot are as the first agent left them.
    assert asyncio.run(later._session_manager.list_snapshot_ids(later)) == ids
    assert texts(snapshot_agent(new_storage()).messages) == ["Q2", "A2", "Q3", "A3"]


def test_delete_session_removes_every_snapshot_of_the_session_and_only_those(new_storage):
    storage = new_storage()
    asyncio.run(storage.write("unrelated/keep.txt", b"kept"))
    agent = snapshot_agent(storage, ["A1", "A2"], snapshot_trigger=lambda *, agent_data, **_: True)
    agent("Q1")
    agent("Q2")
    assert len(asyncio.run(storage.list(f"session/{SESSION}/"))) == 3  # latest and two checkpoints

    asyncio.run(SnapshotSessionManager(SESSION, storage=new_storage()).delete_session())

    assert asyncio.run(storage.list("")) == ["unrelated/keep.txt"]
    assert snapshot_agent(new_storage()).messages == []


def test_the_context_offloading_stash_survives_a_restart_and_is_deleted_with_the_session(new_storage):
    def stashing_agent(storage, replies=()) -> Agent:
        model = ScriptedModel(replies)
        model.update_config(context_window_limit=200_000)  # the context manager measures use against it
        return Agent(
            model=model,
            agent_id="assistant",
            callback_handler=None,
            context_manager=ContextManager(),
            session_manager=SnapshotSessionManager(SESSION, storage=storage),
            storage=storage,
        )

    agent = stashing_agent(new_storage(), ["Hello Bob.", "Noted."])
    agent("I am Bob")
    agent("Remember the code 4711")
    stash = agent.context_manager.stash
    refs = asyncio.run(stash.list())
    assert len(refs) == 4  # every message's text block is stashed as it is added
    stashed = {ref: asyncio.run(stash.retrieve(ref)) for ref in refs}

    restored = stashing_agent(new_storage())
    assert texts(restored.messages) == ["I am Bob", "Hello Bob.", "Remember the code 4711", "Noted."]
    restored_stash = restored.context_manager.stash
    assert asyncio.run(restored_stash.list()) == refs
    assert {ref: asyncio.run(restored_stash.retrieve(ref)) for ref in refs} == stashed
    assert "Remember the code 4711" in json.dumps(stashed)

    asyncio.run(restored._session_manager.delete_session())
    assert asyncio.run(stashing_agent(new_storage()).context_manager.stash.list()) == []
