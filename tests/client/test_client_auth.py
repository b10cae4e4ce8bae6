"""A client without a key the service accepts, against the real service: AuthenticationError, at once."""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from requests.adapters import HTTPAdapter
from strands.types.session import Session, SessionType

from postgresql_session_repository import AuthenticationError, SyncPostgreSQLSessionRepository

SERVER_MESSAGE = "missing or invalid API key"


class RecordingAdapter(HTTPAdapter):
    """Counts the client's attempts and keeps the last response it got."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: Counter[str] = Counter()
        self.last_response: requests.Response | None = None

    def send(self, request, **kwargs):
        self.attempts[request.method] += 1
        self.last_response = super().send(request, **kwargs)
        return self.last_response


def recorded_client(url: str, **kwargs) -> tuple[SyncPostgreSQLSessionRepository, RecordingAdapter]:
    """A client whose every attempt goes through a RecordingAdapter."""
    adapter = RecordingAdapter()
    http = requests.Session()
    http.mount("http://", adapter)
    return SyncPostgreSQLSessionRepository(url, timeout=10, session=http, **kwargs), adapter


@pytest.mark.parametrize("api_key", ["sb_wrong-key-0123456789abcdef", None], ids=["wrong-key", "no-key"])
def test_a_refused_key_is_authentication_error_with_the_servers_message_and_request_id(
    backend, repo, sid, monkeypatch, api_key
):
    monkeypatch.delenv("SESSION_BACKEND_API_KEY")
    client, adapter = recorded_client(backend.url, api_key=api_key)

    with pytest.raises(AuthenticationError) as info:
        client.create_session(Session(session_id=sid, session_type=SessionType.AGENT))

    answer = adapter.last_response
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    error = info.value
    assert error.status_code == 401 and error.message.startswith(f"{SERVER_MESSAGE}: pass api_key=")
    assert error.request_id == answer.json()["detail"]["request_id"] == answer.headers["X-Request-ID"]
    assert str(error).startswith(f"POST {backend.url}/api/v1/sessions: {SERVER_MESSAGE}")
    assert adapter.attempts == {"POST": 1}  # a refusal is not retried
    assert repo.read_session(sid) is None  # the accepted key sees that nothing was stored


def test_an_agent_with_a_wrong_key_fails_to_start_and_stores_nothing(backend, repo, sid, make_agent):
    client, _ = recorded_client(backend.url, api_key="sb_wrong-key-0123456789abcdef")

    with pytest.raises(AuthenticationError, match=SERVER_MESSAGE):
        make_agent(client, sid)

    assert repo.read_session(sid) is None
    assert sid not in [session.session_id for session in repo.list_sessions()]
