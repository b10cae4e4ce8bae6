"""Ids the client refuses before sending, and the reasons it passes on when the server refuses one."""

from __future__ import annotations

import pytest
import requests
from requests.adapters import HTTPAdapter
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from postgresql_session_repository import SessionRepositoryError, SyncPostgreSQLSessionRepository

# Each would leave its path segment: '/' and '\' are decoded back into separators by the server,
# '.' and '..' are resolved away by HTTP libraries, an empty id is no segment at all.
ESCAPING_IDS = ["victim/agents/a", "a\\b", "..", ".", ""]


class RecordingAdapter(HTTPAdapter):
    """A transport that records what the client sends through it."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        return super().send(request, **kwargs)


@pytest.fixture
def recorded(backend):
    """A client on the shared service, and the list of the requests it sent."""
    adapter = RecordingAdapter()
    http = requests.Session()
    http.mount("http://", adapter)
    with SyncPostgreSQLSessionRepository(backend.url, session=http, max_retries=0) as client:
        yield client, adapter.sent


class StubMultiAgent:
    """Duck-typed stand-in for a Strands MultiAgentBase: an id and a serialized state."""

    def __init__(self, id: str) -> None:
        self.id = id

    def serialize_state(self) -> dict:
        return {"type": "graph", "id": self.id}


def agent(agent_id: str = "a") -> SessionAgent:
    return SessionAgent(agent_id=agent_id, state={}, conversation_manager_state={})


def calls_with(bad: str, good: str):
    """Every repository call that puts an id in a URL, with ``bad`` in one id position."""
    message = SessionMessage(message={"role": "user", "content": [{"text": "hi"}]}, message_id=0)
    return [
        lambda r: r.create_session(Session(session_id=bad, session_type=SessionType.AGENT)),
        lambda r: r.read_session(bad),
        lambda r: r.update_session(bad, {"session_type": "AGENT"}),
        lambda r: r.delete_session(bad),
        lambda r: r.create_agent(bad, agent()),
        lambda r: r.create_agent(good, agent(bad)),
        lambda r: r.read_agent(bad, "a"),
        lambda r: r.read_agent(good, bad),
        lambda r: r.update_agent(good, agent(bad)),
        lambda r: r.delete_agent(good, bad),
        lambda r: r.list_agents(bad),
        lambda r: r.create_message(good, bad, message),
        lambda r: r.read_message(bad, "a", 0),
        lambda r: r.update_message(good, bad, message),
        lambda r: r.delete_message(bad, "a", 0),
        lambda r: r.list_messages(good, bad),
        lambda r: r.create_multi_agent(bad, StubMultiAgent("m")),
        lambda r: r.create_multi_agent(good, StubMultiAgent(bad)),
        lambda r: r.read_multi_agent(good, bad),
        lambda r: r.update_multi_agent(good, StubMultiAgent(bad)),
    ]


@pytest.mark.parametrize("bad", ESCAPING_IDS)
def test_ids_that_leave_their_segment_are_a_value_error_before_sending(recorded, sid, bad):
    client, sent = recorded
    for call in calls_with(bad, sid):
        with pytest.raises(ValueError, match="_id="):
            call(client)

    assert sent == []


def test_an_id_spelling_another_path_reaches_nothing_there(repo, sid):
    # Sent percent-encoded, this id used to be routed to the agent: read crashed, delete deleted it.
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    repo.create_agent(sid, SessionAgent(agent_id="a", state={"keep": True}, conversation_manager_state={}))

    with pytest.raises(ValueError):
        repo.read_session(f"{sid}/agents/a")
    with pytest.raises(ValueError):
        repo.delete_session(f"{sid}/agents/a")

    assert repo.read_agent(sid, "a").state == {"keep": True}


@pytest.mark.parametrize("dots", [".", ".."])
def test_a_dot_session_is_refused_as_strands_refuses_an_invalid_id(repo, dots):
    with pytest.raises(ValueError):
        RepositorySessionManager(session_id=dots, session_repository=repo)

    assert dots not in [session.session_id for session in repo.list_sessions()]


def test_a_422_carries_the_servers_reasons_in_its_text_and_fields(repo, sid):
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))

    with pytest.raises(SessionRepositoryError) as info:
        repo.create_agent(sid, agent("x" * 256))

    assert info.value.status_code == 422
    assert list(info.value.fields) == ["agent_id"]
    reason = info.value.fields["agent_id"][0]
    assert f"agent_id: {reason}" in str(info.value)


def test_other_errors_have_no_fields(repo, sid):
    with pytest.raises(SessionRepositoryError) as info:
        repo.delete_session(sid)

    assert info.value.status_code == 404 and info.value.fields == {}
