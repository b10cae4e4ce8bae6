"""Real Strands agents, persisted through the client to the live service."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from strands import Agent
from strands.agent.conversation_manager import NullConversationManager, SlidingWindowConversationManager
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from scripted_model import ScriptedModel

# The 8-byte PNG signature plus bytes that are not valid UTF-8: they only survive as real bytes.
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def texts(messages) -> list[str]:
    """The text blocks of a conversation, in order."""
    return [block["text"] for message in messages for block in message["content"] if "text" in block]


def stored_texts(repo, session_id: str, agent_id: str = "assistant") -> list[str]:
    return texts(m.to_message() for m in repo.list_messages(session_id, agent_id))


def test_restart_restores_conversation_and_state_then_continues(repo, sid, make_agent):
    first = make_agent(repo, sid, ["Nice to meet you, Alice.", "Noted."])
    first("My name is Alice")
    first.state.set("favourite_colour", "blue")
    first("My favourite colour is blue")

    second = make_agent(repo, sid, ["Your name is Alice."])
    assert second.messages == first.messages
    assert second.state.get("favourite_colour") == "blue"
    assert str(second("What is my name?")).strip() == "Your name is Alice."
    # the restored history is what the model was given
    assert texts(second.model.calls[0]) == [
        "My name is Alice",
        "Nice to meet you, Alice.",
        "My favourite colour is blue",
        "Noted.",
        "What is my name?",
    ]
    assert [m.message_id for m in repo.list_messages(sid, "assistant")] == list(range(6))
    assert stored_texts(repo, sid)[-2:] == ["What is my name?", "Your name is Alice."]


def test_parallel_sessions_do_not_interfere(repo, sid, make_agent):
    def converse(n: int) -> list[str]:
        agent = make_agent(repo, f"{sid}-{n}", [f"reply {n}.{k}" for k in range(3)])
        for k in range(3):
            agent(f"prompt {n}.{k}")
        return texts(agent.messages)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(converse, range(6)))

    for n, conversation in enumerate(results):
        expected = [text for k in range(3) for text in (f"prompt {n}.{k}", f"reply {n}.{k}")]
        assert conversation == expected
        assert stored_texts(repo, f"{sid}-{n}") == expected
        assert texts(make_agent(repo, f"{sid}-{n}").messages) == expected


def test_several_agents_in_one_session(repo, sid):
    def pair(replies_planner, replies_writer):
        manager = RepositorySessionManager(session_id=sid, session_repository=repo)
        planner = Agent(
            model=ScriptedModel(replies_planner), agent_id="planner", callback_handler=None, session_manager=manager
        )
        writer = Agent(
            model=ScriptedModel(replies_writer), agent_id="writer", callback_handler=None, session_manager=manager
        )
        return planner, writer

    planner, writer = pair(["Plan: three steps."], ["Draft written."])
    planner.state.set("steps", 3)
    planner("Plan the essay")
    writer("Write the essay")

    assert sorted(a.agent_id for a in repo.list_agents(sid)) == ["planner", "writer"]
    restored_planner, restored_writer = pair([], [])
    assert texts(restored_planner.messages) == ["Plan the essay", "Plan: three steps."]
    assert texts(restored_writer.messages) == ["Write the essay", "Draft written."]
    assert restored_planner.state.get("steps") == 3 and restored_writer.state.get("steps") is None


def test_sliding_window_trim_then_restore_from_offset(repo, sid, make_agent):
    def window():
        return SlidingWindowConversationManager(window_size=4, should_truncate_results=False)

    first = make_agent(repo, sid, [f"a{k}" for k in range(4)], conversation_manager=window())
    for k in range(4):
        first(f"q{k}")
    assert first.conversation_manager.removed_message_count == 4
    assert texts(first.messages) == ["q2", "a2", "q3", "a3"]
    assert len(repo.list_messages(sid, "assistant")) == 8  # the repository keeps the whole conversation

    second = make_agent(repo, sid, ["a4"], conversation_manager=window())
    assert second.conversation_manager.removed_message_count == 4
    assert second.messages == first.messages
    second("q4")
    assert texts(second.model.calls[0]) == ["q2", "a2", "q3", "a3", "q4"]
    assert [m.message_id for m in repo.list_messages(sid, "assistant")] == list(range(10))


def test_guardrail_redaction_is_persisted_and_restored(repo, sid, make_agent):
    agent = make_agent(repo, sid, [{"text": "I cannot help with that.", "redact_user": "[User input redacted.]"}])
    agent("my password is hunter2")
    assert agent.messages[0]["content"] == [{"text": "[User input redacted.]"}]

    stored = repo.read_message(sid, "assistant", 0)
    assert stored.redact_message["content"] == [{"text": "[User input redacted.]"}]
    assert "hunter2" not in json.dumps(stored.to_dict())  # the stored original was overwritten by the update

    restored = make_agent(repo, sid)
    assert restored.messages == agent.messages
    assert "hunter2" not in json.dumps(restored.messages)


def test_image_message_round_trips_as_bytes(repo, sid, make_agent):
    agent = make_agent(repo, sid, ["A tiny image.", "Still the same image."])
    agent([{"text": "What is this?"}, {"image": {"format": "png", "source": {"bytes": IMAGE}}}])

    restored = make_agent(repo, sid, ["Still the same image."])
    image = restored.messages[0]["content"][1]["image"]
    assert image == {"format": "png", "source": {"bytes": IMAGE}} and isinstance(image["source"]["bytes"], bytes)
    assert restored.messages == agent.messages
    restored("And now?")
    assert [m.message_id for m in repo.list_messages(sid, "assistant")] == [0, 1, 2, 3]


def test_long_conversation_restored_completely_and_in_order(repo, sid, make_agent):
    total = 2500
    template = Agent(
        model=ScriptedModel([]),
        agent_id="assistant",
        callback_handler=None,
        conversation_manager=NullConversationManager(),
    )
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    repo.create_agent(sid, SessionAgent.from_agent(template))

    def create(n: int) -> None:
        role = "user" if n % 2 == 0 else "assistant"
        repo.create_message(sid, "assistant", SessionMessage({"role": role, "content": [{"text": f"m{n}"}]}, n))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(total)))

    restored = make_agent(repo, sid, ["the end"], conversation_manager=NullConversationManager())
    assert texts(restored.messages) == [f"m{n}" for n in range(total)]
    assert [m["role"] for m in restored.messages[:2]] == ["user", "assistant"]

    middle = repo.list_messages(sid, "assistant", limit=1500, offset=700)
    assert [m.message_id for m in middle] == list(range(700, 2200))

    restored("one more")  # continues with the next ids: nothing was cut at a page boundary
    tail = repo.list_messages(sid, "assistant", offset=total)
    assert [(m.message_id, texts([m.message])) for m in tail] == [(2500, ["one more"]), (2501, ["the end"])]
