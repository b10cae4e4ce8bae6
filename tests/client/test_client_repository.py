"""Contract tests of every repository method against the live service."""

from __future__ import annotations

import ast
import inspect
import json
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter
from strands.session.session_repository import SessionRepository
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

import postgresql_session_repository as client_module
from postgresql_session_repository import (
    AgentNotFoundError,
    AuthenticationError,
    BackendUnavailableError,
    ConflictError,
    MessageNotFoundError,
    SessionNotFoundError,
    SessionRepositoryError,
    SyncPostgreSQLSessionRepository,
)


def text_message(message_id: int, text: str, role: str = "user") -> SessionMessage:
    return SessionMessage(message={"role": role, "content": [{"text": text}]}, message_id=message_id)


def new_agent(agent_id: str = "agent-1", **state) -> SessionAgent:
    return SessionAgent(
        agent_id=agent_id,
        state=state or {"counter": 1},
        conversation_manager_state={"__name__": "SlidingWindowConversationManager", "removed_message_count": 0},
        _internal_state={"interrupt_state": {"activated": False, "context": {}, "interrupts": {}}},
    )


@pytest.fixture
def agent_in_session(repo, sid):
    """A session with one agent, for the message tests."""
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    repo.create_agent(sid, new_agent())
    return sid, "agent-1"


class StubMultiAgent:
    """Duck-typed stand-in for a Strands MultiAgentBase: an id and a serialized state."""

    def __init__(self, id: str, state: dict) -> None:
        self.id = id
        self.state = state

    def serialize_state(self) -> dict:
        return {"type": "graph", "id": self.id, **self.state}


class FlakyAdapter(HTTPAdapter):
    """Transport that simulates lost responses: the first matching request reaches the server (or not),
    then the client sees a connection error, as when a network link drops mid-request."""

    def __init__(
        self, method: str, deliver_first: bool, failures: int = 1, error: type[Exception] = requests.ConnectionError
    ) -> None:
        super().__init__()
        self.method, self.deliver_first, self.failures, self.error = method, deliver_first, failures, error
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        if request.method == self.method and self.failures > 0:
            self.failures -= 1
            if self.deliver_first:
                super().send(request, **kwargs)
            raise self.error("connection reset by peer (simulated)")
        return super().send(request, **kwargs)


def flaky_client(url: str, adapter: HTTPAdapter, **kwargs) -> SyncPostgreSQLSessionRepository:
    http = requests.Session()
    http.mount("http://", adapter)
    client = SyncPostgreSQLSessionRepository(url, session=http, **kwargs)
    client.retry_backoff = client.retry_backoff_max = 0.01
    return client


def test_signatures_match_the_strands_interface():
    """Same parameter names, kinds and defaults as every SessionRepository method (what a type checker checks)."""
    names = [n for n, f in inspect.getmembers(SessionRepository, inspect.isfunction) if not n.startswith("_")]
    assert len(names) == 12
    for name in names:
        ours = inspect.signature(getattr(SyncPostgreSQLSessionRepository, name)).parameters.values()
        theirs = inspect.signature(getattr(SessionRepository, name)).parameters.values()
        assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in theirs], name
    assert not SyncPostgreSQLSessionRepository.__abstractmethods__


def test_client_depends_only_on_requests_and_strands():
    tree = ast.parse(Path(client_module.__file__).read_text())
    roots = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert roots - sys.stdlib_module_names == {"requests", "strands"}


# -- sessions -------------------------------------------------------------------------------------------


def test_session_create_read_and_duplicate(repo, sid):
    created_at = "2026-01-02T03:04:05.123456+00:00"
    stored = repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT, created_at=created_at))
    assert (stored.session_id, stored.session_type, stored.created_at) == (sid, "AGENT", created_at)
    read = repo.read_session(sid)
    assert read is not None and read.to_dict() == stored.to_dict()
    with pytest.raises(ConflictError) as info:
        repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    assert isinstance(info.value, SessionException)
    assert info.value.status_code == 409 and "exists" in info.value.message
    assert info.value.request_id and info.value.request_id in str(info.value)


def test_read_missing_session_is_none(repo, sid):
    assert repo.read_session(sid) is None


def test_update_session_keeps_created_at(repo, sid):
    created = repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    updated = repo.update_session(sid, {"session_type": "AGENT"})
    assert updated.created_at == created.created_at and updated.session_id == sid
    with pytest.raises(SessionNotFoundError):
        repo.update_session(sid + "-missing", {"session_type": "AGENT"})


def test_delete_session_cascades(repo, agent_in_session):
    sid, aid = agent_in_session
    repo.create_message(sid, aid, text_message(0, "hello"))
    repo.delete_session(sid)
    assert repo.read_session(sid) is None
    assert repo.read_agent(sid, aid) is None
    assert repo.read_message(sid, aid, 0) is None
    with pytest.raises(SessionNotFoundError):
        repo.delete_session(sid)


def test_list_sessions_newest_first_across_pages(repo, sid, monkeypatch):
    base = datetime.now(UTC)
    ids = [f"{sid}-{n}" for n in range(3)]
    for n, session_id in enumerate(ids):
        stamp = (base + timedelta(seconds=n)).isoformat()
        repo.create_session(Session(session_id=session_id, session_type=SessionType.AGENT, created_at=stamp))
    assert set(ids) <= {s.session_id for s in repo.list_sessions()}
    monkeypatch.setattr(client_module, "_PAGE_SIZE", 2)  # force several pages through the cursor
    listed = [s.session_id for s in repo.list_sessions()]
    assert [i for i in listed if i in ids] == list(reversed(ids))
    assert len(listed) == len(set(listed))
    assert len(repo.list_sessions(limit=3)) == 3


# -- agents ---------------------------------------------------------------------------------------------


def test_agent_create_read_round_trip(repo, sid):
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    agent = new_agent(nested={"list": [1, 2.5, "ü", None]})
    repo.create_agent(sid, agent)
    read = repo.read_agent(sid, agent.agent_id)
    assert read is not None
    assert read.state == agent.state
    assert read.conversation_manager_state == agent.conversation_manager_state
    assert read._internal_state == agent._internal_state
    assert read.created_at == agent.created_at


def test_agent_missing_parent_duplicate_and_missing(repo, sid):
    with pytest.raises(SessionNotFoundError):
        repo.create_agent(sid, new_agent())
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    repo.create_agent(sid, new_agent())
    with pytest.raises(ConflictError):
        repo.create_agent(sid, new_agent())
    assert repo.read_agent(sid, "nobody") is None
    assert repo.read_agent(sid + "-missing", "agent-1") is None
    with pytest.raises(AgentNotFoundError):
        repo.update_agent(sid, new_agent("nobody"))


def test_update_agent_replaces_state_keeps_created_at(repo, agent_in_session):
    sid, aid = agent_in_session
    before = repo.read_agent(sid, aid)
    changed = new_agent(aid, counter=2)
    changed._internal_state = {"model_state": {"k": "v"}}
    repo.update_agent(sid, changed)
    after = repo.read_agent(sid, aid)
    assert after.state == {"counter": 2} and after._internal_state == {"model_state": {"k": "v"}}
    assert after.created_at == before.created_at


def test_list_and_delete_agents(repo, agent_in_session):
    sid, aid = agent_in_session
    repo.create_agent(sid, new_agent("agent-2"))
    repo.create_message(sid, aid, text_message(0, "hi"))
    assert sorted(a.agent_id for a in repo.list_agents(sid)) == ["agent-1", "agent-2"]
    repo.delete_agent(sid, aid)
    assert [a.agent_id for a in repo.list_agents(sid)] == ["agent-2"]
    assert repo.read_message(sid, aid, 0) is None
    with pytest.raises(AgentNotFoundError):
        repo.delete_agent(sid, aid)
    with pytest.raises(SessionNotFoundError):
        repo.list_agents(sid + "-missing")


# -- messages -------------------------------------------------------------------------------------------


def test_message_round_trip_with_bytes(repo, agent_in_session):
    sid, aid = agent_in_session
    image = bytes(range(256)) * 4
    content = [{"text": "see"}, {"image": {"format": "png", "source": {"bytes": image}}}]
    message = SessionMessage(message={"role": "user", "content": content}, message_id=2**31 - 1)
    repo.create_message(sid, aid, message)
    read = repo.read_message(sid, aid, message.message_id)
    assert read is not None and read.to_dict() == message.to_dict()
    assert read.message["content"][1]["image"]["source"]["bytes"] == image


def test_message_missing_parent_duplicate_and_missing(repo, agent_in_session):
    sid, aid = agent_in_session
    with pytest.raises(AgentNotFoundError):
        repo.create_message(sid, "nobody", text_message(0, "x"))
    with pytest.raises(AgentNotFoundError):
        repo.create_message(sid + "-missing", aid, text_message(0, "x"))
    repo.create_message(sid, aid, text_message(0, "first"))
    with pytest.raises(ConflictError):
        repo.create_message(sid, aid, text_message(0, "second"))
    assert repo.read_message(sid, aid, 0).message["content"][0]["text"] == "first"
    assert repo.read_message(sid, aid, 1) is None
    assert repo.read_message(sid, "nobody", 0) is None
    with pytest.raises(MessageNotFoundError):
        repo.update_message(sid, aid, text_message(1, "x"))
    with pytest.raises(MessageNotFoundError):
        repo.delete_message(sid, aid, 1)


def test_update_message_redacts_and_delete(repo, agent_in_session):
    sid, aid = agent_in_session
    message = text_message(0, "my card is 4111")
    repo.create_message(sid, aid, message)
    message.redact_message = {"role": "user", "content": [{"text": "[redacted]"}]}
    repo.update_message(sid, aid, message)
    read = repo.read_message(sid, aid, 0)
    assert read.message == message.message and read.redact_message == message.redact_message
    assert read.to_message() == message.redact_message
    repo.delete_message(sid, aid, 0)
    assert repo.read_message(sid, aid, 0) is None


@pytest.mark.parametrize("limit", [None, 0, 1, 2, 3, 4, 7, 10, 15])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5, 9, 10, 12])
def test_list_messages_limit_offset_across_pages(repo, agent_in_session, monkeypatch, limit, offset):
    sid, aid = agent_in_session
    ids = [n for n in range(12) if n != 5]  # a gap: offset counts messages, not ids
    for n in ids:
        repo.create_message(sid, aid, text_message(n, f"m{n}"))
    monkeypatch.setattr(client_module, "_PAGE_SIZE", 3)  # pages of 3: offsets fall inside and beyond pages
    listed = repo.list_messages(sid, aid, limit=limit, offset=offset)
    expected = ids[offset:] if limit is None else ids[offset : offset + limit]
    assert [m.message_id for m in listed] == expected
    assert [m.message["content"][0]["text"] for m in listed] == [f"m{n}" for n in expected]


def test_list_messages_of_missing_agent_raises(repo, agent_in_session):
    sid, _ = agent_in_session
    with pytest.raises(AgentNotFoundError):
        repo.list_messages(sid, "nobody")


# -- identifiers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("odd_id", ["user@example.com", "a b", "50%?x=1#frag", "ünïcødé+&;"])
def test_ids_are_quoted(repo, sid, odd_id):
    session_id = f"{odd_id}-{sid}"
    repo.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))
    repo.create_agent(session_id, new_agent(odd_id))
    repo.create_message(session_id, odd_id, text_message(0, "hi"))
    assert repo.read_session(session_id).session_id == session_id
    assert repo.read_agent(session_id, odd_id).agent_id == odd_id
    assert [m.message_id for m in repo.list_messages(session_id, odd_id)] == [0]
    assert [a.agent_id for a in repo.list_agents(session_id)] == [odd_id]
    repo.delete_session(session_id)
    assert repo.read_session(session_id) is None


def test_invalid_id_is_a_client_error_not_retried(backend, sid):
    adapter = FlakyAdapter("NONE", deliver_first=False)
    with flaky_client(backend.url, adapter) as client:
        with pytest.raises(SessionRepositoryError) as info:
            # A control character: the server refuses it (a '/' the client refuses before sending).
            client.create_session(Session(session_id=f"tab\t{sid}", session_type=SessionType.AGENT))
    assert info.value.status_code == 422 and len(adapter.sent) == 1


# -- multi-agent state ----------------------------------------------------------------------------------


def test_multi_agent_state_round_trip(repo, sid):
    graph = StubMultiAgent("graph-1", {"status": "executing", "completed_nodes": ["a"], "deep": {"x": [1, {"y": 2}]}})
    with pytest.raises(SessionNotFoundError):
        repo.create_multi_agent(sid, graph)
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    assert repo.read_multi_agent(sid, graph.id) is None
    repo.create_multi_agent(sid, graph)
    assert repo.read_multi_agent(sid, graph.id) == graph.serialize_state()
    with pytest.raises(ConflictError):
        repo.create_multi_agent(sid, graph)
    graph.state["status"] = "completed"
    repo.update_multi_agent(sid, graph)
    assert repo.read_multi_agent(sid, graph.id)["status"] == "completed"
    with pytest.raises(SessionRepositoryError) as info:
        repo.update_multi_agent(sid, StubMultiAgent("graph-2", {}))
    assert info.value.status_code == 404


# -- health, configuration, transport -------------------------------------------------------------------


def test_health_checks(repo):
    assert repo.health_check()["status"] == "healthy"
    assert repo.database_health_check() == {"status": "healthy", "database": "connected", "schema": "up to date"}


def test_unreachable_backend_raises_after_retries():
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = FlakyAdapter("NONE", deliver_first=False)
    with flaky_client(f"http://127.0.0.1:{port}", adapter, max_retries=2, timeout=2) as client:
        with pytest.raises(BackendUnavailableError) as info:
            client.read_session("anything")
    assert isinstance(info.value, SessionException)
    assert len(adapter.sent) == 3  # the first attempt and two retries


def test_defaults_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SESSION_BACKEND_URL", "http://backend.invalid:9/")
    monkeypatch.setenv("SESSION_BACKEND_API_KEY", "k-123")
    with SyncPostgreSQLSessionRepository() as client:
        assert client.base_url == "http://backend.invalid:9"
        assert client._headers["Authorization"] == "Bearer k-123"
    monkeypatch.delenv("SESSION_BACKEND_URL")
    monkeypatch.delenv("SESSION_BACKEND_API_KEY")
    with SyncPostgreSQLSessionRepository() as client:
        assert client.base_url == "http://localhost:8001"
        assert "Authorization" not in client._headers


def test_a_netrc_entry_for_the_backend_does_not_replace_the_api_key(backend, repo, sid, tmp_path, monkeypatch):
    # With requests' trust_env, ~/.netrc credentials for the host would overwrite the Bearer header.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password something\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with SyncPostgreSQLSessionRepository(backend.url, timeout=10) as client:
        client.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
        assert client.read_session(sid).session_id == sid


def test_proxy_variables_are_read_when_the_client_is_made(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with SyncPostgreSQLSessionRepository("http://backend.invalid:9") as client:
        assert client._http.proxies.get("http") == "http://proxy.invalid:3128"
    monkeypatch.setenv("NO_PROXY", "backend.invalid")
    with SyncPostgreSQLSessionRepository("http://backend.invalid:9") as client:
        assert client._http.proxies == {}


class CannedAdapter(HTTPAdapter):
    """Answers the first ``times`` requests with a canned error response, then lets requests through."""

    def __init__(self, status: int, message: str, times: int) -> None:
        super().__init__()
        self.status, self.message, self.times = status, message, times
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        if len(self.sent) > self.times:
            return super().send(request, **kwargs)
        response = requests.Response()
        response.status_code, response.url, response.request = self.status, request.url, request
        response.headers.update({"X-Request-ID": request.headers["X-Request-ID"], "Retry-After": "1"})
        response._content = f'{{"detail": {{"error": "Error", "message": "{self.message}"}}}}'.encode()
        return response


def test_api_key_is_sent_and_401_raises_authentication_error(backend):
    adapter = CannedAdapter(401, "bad key", times=1)
    with flaky_client(backend.url, adapter, api_key="wrong") as client:
        with pytest.raises(AuthenticationError) as info:
            client.read_session("s")
    assert [r.headers["Authorization"] for r in adapter.sent] == ["Bearer wrong"]  # a 401 is not retried
    assert info.value.message.startswith("bad key") and "SESSION_BACKEND_API_KEY" in info.value.message
    assert info.value.request_id == adapter.sent[0].headers["X-Request-ID"]
    assert isinstance(info.value, SessionException)


def test_503_is_retried_with_the_same_request_id_then_succeeds(backend, repo, sid):
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    adapter = CannedAdapter(503, "database unavailable", times=2)
    with flaky_client(backend.url, adapter, max_retries=2) as client:
        assert client.read_session(sid).session_id == sid
    assert len(adapter.sent) == 3 and len({r.headers["X-Request-ID"] for r in adapter.sent}) == 1


def test_503_through_every_retry_raises_backend_unavailable(backend, sid):
    adapter = CannedAdapter(503, "database unavailable", times=99)
    with flaky_client(backend.url, adapter, max_retries=2) as client:
        with pytest.raises(BackendUnavailableError) as info:
            client.read_session(sid)
    assert len(adapter.sent) == 3
    assert info.value.status_code == 503 and info.value.message == "database unavailable"


def test_caller_owned_http_session_survives_close(backend):
    http = requests.Session()
    with SyncPostgreSQLSessionRepository(backend.url, session=http, api_key="k") as client:
        assert client.health_check()["status"] == "healthy"
    assert "Authorization" not in http.headers
    assert http.get(f"{backend.url}/health/live", timeout=5).json() == {"status": "alive"}


# -- retries that meet their own earlier write ----------------------------------------------------------


def test_response_cut_off_mid_body_is_retried_and_the_stored_write_counts(backend, repo, agent_in_session):
    sid, aid = agent_in_session
    adapter = FlakyAdapter("POST", deliver_first=True, error=requests.exceptions.ChunkedEncodingError)
    message = SessionMessage(message={"role": "user", "content": [{"text": "cut off"}]}, message_id=0)
    with flaky_client(backend.url, adapter) as client:
        client.create_message(sid, aid, message)
    assert len([r for r in adapter.sent if r.method == "POST"]) == 2
    assert [m.message for m in repo.list_messages(sid, aid)] == [message.message]


def test_retried_create_meeting_its_own_write_succeeds(backend, repo, agent_in_session):
    sid, aid = agent_in_session
    adapter = FlakyAdapter("POST", deliver_first=True)
    with flaky_client(backend.url, adapter) as client:
        client.create_message(sid, aid, text_message(0, "once"))
    assert [r.method for r in adapter.sent] == ["POST", "POST", "GET"]  # lost reply, 409, read back
    assert adapter.sent[0].headers["X-Request-ID"] == adapter.sent[1].headers["X-Request-ID"]
    assert [m.message["content"][0]["text"] for m in repo.list_messages(sid, aid)] == ["once"]


def test_retried_session_and_agent_creates_succeed(backend, repo, sid):
    with flaky_client(backend.url, FlakyAdapter("POST", deliver_first=True, failures=2)) as client:
        client.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
        client.create_agent(sid, new_agent())
    assert repo.read_agent(sid, "agent-1").state == {"counter": 1}


def test_retried_create_meeting_different_record_conflicts(backend, repo, agent_in_session):
    sid, aid = agent_in_session
    repo.create_message(sid, aid, text_message(0, "someone else's"))
    adapter = FlakyAdapter("POST", deliver_first=False)
    with flaky_client(backend.url, adapter) as client:
        with pytest.raises(ConflictError):
            client.create_message(sid, aid, text_message(0, "mine"))
    assert repo.read_message(sid, aid, 0).message["content"][0]["text"] == "someone else's"


def test_retried_delete_meeting_404_succeeds(backend, repo, agent_in_session):
    sid, aid = agent_in_session
    repo.create_message(sid, aid, text_message(0, "bye"))
    adapter = FlakyAdapter("DELETE", deliver_first=True)
    with flaky_client(backend.url, adapter) as client:
        client.delete_message(sid, aid, 0)
    assert [r.method for r in adapter.sent] == ["DELETE", "DELETE"]
    assert repo.read_message(sid, aid, 0) is None


def test_message_decoding_matches_strands_from_dict():
    # The client decodes bytes while parsing the response; the result must be what from_dict makes.
    from postgresql_session_repository import _decode_bytes, _message_from

    image = SessionMessage(
        message={
            "role": "user",
            "content": [
                {"image": {"format": "png", "source": {"bytes": b"\x89PNG\x00\xff"}}},
                {"document": {"name": "d", "source": {"bytes": b""}}},
            ],
        },
        message_id=7,
        redact_message={"role": "user", "content": [{"text": "[image removed]"}]},
    ).to_dict()
    minimal = {"message": {"role": "user", "content": []}, "message_id": 0, "created_at": "x", "updated_at": "y"}
    look_alike = {
        **minimal,
        "message": {
            "role": "user",
            "content": [{"json": {"__bytes_encoded__": False, "data": "AA=="}}, {"json": {"__bytes_encoded__": True}}],
        },
    }
    for data in (image, {**image, "unknown_field": 1}, minimal, look_alike):
        parsed = json.loads(json.dumps(data), object_hook=_decode_bytes)
        assert _message_from(parsed) == SessionMessage.from_dict(data)
    parsed = json.loads(json.dumps(image), object_hook=_decode_bytes)
    assert _message_from(parsed).message["content"][0]["image"]["source"]["bytes"] == b"\x89PNG\x00\xff"
