"""The backend stops in the middle of a conversation, then comes back."""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from requests.adapters import HTTPAdapter
from strands.types.exceptions import EventLoopException

from postgresql_session_repository import BackendUnavailableError, SyncPostgreSQLSessionRepository


class RecordingAdapter(HTTPAdapter):
    """Counts every attempt the client makes, per method and path."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: Counter[tuple[str, str]] = Counter()

    def send(self, request, **kwargs):
        self.attempts[(request.method, requests.utils.urlparse(request.url).path)] += 1
        return super().send(request, **kwargs)


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
        "I am Bob", "Hello Bob.", "Are you there?", "Hello again?", "Yes, Bob, I am here.",
    ]
    repo.close()
