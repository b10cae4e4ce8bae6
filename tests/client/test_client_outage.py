"""The backend, or the database behind it, stops in the middle of a conversation, then comes back."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import requests
from own_service import wait_until_ready
from requests.adapters import HTTPAdapter
from strands.types.exceptions import EventLoopException

from postgresql_session_repository import BackendUnavailableError, SyncPostgreSQLSessionRepository

ROOT = Path(__file__).resolve().parents[2]


class RecordingAdapter(HTTPAdapter):
    """Counts every attempt the client makes, per method and path, and keeps the last response."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.last_response: requests.Response | None = None

    def send(self, request, **kwargs):
        self.attempts[(request.method, requests.utils.urlparse(request.url).path)] += 1
        self.last_response = super().send(request, **kwargs)
        return self.last_response


def texts(messages) -> list[str]:
    return [block["text"] for message in messages for block in message["content"] if "text" in block]


def test_outage_mid_conversation_then_recovery(own_backend, sid, make_agent):
    adapter = RecordingAdapter()
    http = requests.Session()
    http.mount("http://", adapter)
    repo = SyncPostgreSQLSessionRepository(own_backend.url, timeout=5, max_retries=2, session=http)
    repo.retry_backoff = repo.retry_backoff_max = 0.01

    def reply_then_crash_backend(messages):
        own_backend.stop()  # the user's message is stored; the reply will not be
        return "Yes, I am here."

    agent = make_agent(repo, sid, ["Hello Bob.", reply_then_crash_backend])
    agent("I am Bob")
    with pytest.raises(EventLoopException) as info:  # Strands wraps what fails while the agent runs
        agent("Are you there?")
    assert isinstance(info.value.original_exception, BackendUnavailableError)
    messages_path = f"/api/v1/sessions/{sid}/agents/assistant/messages"
    assert adapter.attempts[("POST", messages_path)] == 3 + 3  # three stored messages, then the reply: 1 + 2 retries
    with pytest.raises(BackendUnavailableError):
        repo.read_session(sid)

    own_backend.start()
    resumed = make_agent(repo, sid, ["Yes, Bob, I am here."])
    assert texts(resumed.messages) == ["I am Bob", "Hello Bob.", "Are you there?"]
    resumed("Hello again?")
    stored = repo.list_messages(sid, "assistant")
    assert [m.message_id for m in stored] == [0, 1, 2, 3, 4]
    assert texts(m.to_message() for m in stored) == [
        "I am Bob",
        "Hello Bob.",
        "Are you there?",
        "Hello again?",
        "Yes, Bob, I am here.",
    ]
    repo.close()


def test_database_down_is_backend_unavailable_after_the_retries_then_the_agent_carries_on(
    own_postgres, backend_on_own_postgres, sid, make_agent
):
    adapter = RecordingAdapter()
    http = requests.Session()
    http.mount("http://", adapter)
    repo = SyncPostgreSQLSessionRepository(backend_on_own_postgres.url, timeout=5, max_retries=2, session=http)
    repo.retry_backoff = repo.retry_backoff_max = 0.01  # the server's Retry-After is capped by this too
    make_agent(repo, sid, ["Hello Bob."])("I am Bob")
    session_path = f"/api/v1/sessions/{sid}"

    own_postgres.stop()
    try:
        with pytest.raises(BackendUnavailableError) as info:
            repo.read_session(sid)
        answer = adapter.last_response
        with pytest.raises(BackendUnavailableError):
            make_agent(repo, sid)  # an agent cannot start without its session
    finally:
        own_postgres.start()

    # The first agent's read of its session, then two reads of 1 + 2 retries each.
    assert adapter.attempts[("GET", session_path)] == 1 + 3 + 3
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert info.value.status_code == 503 and info.value.message == "database unavailable, retry later"
    assert info.value.request_id == answer.json()["detail"]["request_id"] == answer.headers["X-Request-ID"]

    wait_until_ready(backend_on_own_postgres.url)
    resumed = make_agent(repo, sid, ["Yes, Bob."])
    assert texts(resumed.messages) == ["I am Bob", "Hello Bob."]
    resumed("Still there?")
    assert texts(m.to_message() for m in repo.list_messages(sid, "assistant")) == [
        "I am Bob",
        "Hello Bob.",
        "Still there?",
        "Yes, Bob.",
    ]
    repo.close()
