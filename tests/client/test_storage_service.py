"""SessionBackendStorage on the real service, beyond Strands' contract: namespaces, errors, conditional
writes, search, and faults (a lost response, the service restarted between turns)."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import pytest
import requests
from requests.adapters import HTTPAdapter
from strands import Agent
from strands.session.snapshot_session_manager import SnapshotSessionManager
from strands.types.exceptions import SessionException, StorageError
from strands.vended_memory_stores.file_memory_store import FileMemoryStore

from postgresql_session_repository import (
    AuthenticationError,
    PreconditionFailedError,
    SessionBackendStorage,
    StorageAuthenticationError,
    StorageBackendError,
)
from scripted_model import ScriptedModel


def run(coroutine):
    """Run one storage call to completion."""
    return asyncio.run(coroutine)


class LosingAdapter(HTTPAdapter):
    """Delivers the first ``losses`` requests of ``method`` to the server, then drops their answers (the client
    sees a connection error, as when a link breaks after the server committed)."""

    def __init__(self, method: str, losses: int = 1) -> None:
        super().__init__()
        self.method, self.losses = method, losses
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        response = super().send(request, **kwargs)
        if request.method == self.method and self.losses > 0:
            self.losses -= 1
            raise requests.ConnectionError("connection reset by peer (simulated)")
        return response


def losing_storage(url: str, api_key: str, adapter: LosingAdapter) -> SessionBackendStorage:
    http = requests.Session()
    http.mount("http://", adapter)
    storage = SessionBackendStorage(url, api_key=api_key, timeout=10, session=http)
    storage.retry_backoff = storage.retry_backoff_max = 0.01
    return storage


def agent_on(storage, replies=()) -> Agent:
    return Agent(
        model=ScriptedModel(replies),
        agent_id="assistant",
        callback_handler=None,
        session_manager=SnapshotSessionManager("user-123", storage=storage),
        storage=storage,
    )


def texts(messages) -> list[str]:
    return [block["text"] for message in messages for block in message["content"] if "text" in block]


def test_two_namespaces_never_see_each_others_snapshots(backend, make_api_key):
    with (
        SessionBackendStorage(backend.url, api_key=make_api_key()) as alice,
        SessionBackendStorage(backend.url, api_key=make_api_key()) as bob,
    ):
        agent_on(alice, ["Hello Alice."])("I am Alice")
        alices_keys = run(alice.list(""))
        assert alices_keys == ["session/user-123/scopes/agent/assistant/snapshots/snapshot_latest.json"]

        assert agent_on(bob).messages == []  # same session and agent ids, other namespace: nothing restored
        assert run(bob.list("")) == [] and run(bob.read(alices_keys[0])) is None
        run(bob.delete(alices_keys[0]))
        assert run(bob.search("Alice")) == []
        assert texts(agent_on(alice).messages) == ["I am Alice", "Hello Alice."]


def test_a_key_over_1024_bytes_is_refused_before_any_request(service_storage):
    service_storage.base_url = "http://127.0.0.1:9"  # nothing listens: a request would be unavailable, not refused
    for key in ("k" * 1025, "ü" * 513):
        with pytest.raises(StorageError, match="1024 bytes"):
            run(service_storage.write(key, b"v"))


def test_a_refused_api_key_is_a_storage_error_and_a_session_exception_with_the_servers_request_id(backend):
    with SessionBackendStorage(backend.url, api_key="sb_wrong-key-0123456789abcdef") as storage:
        with pytest.raises(StorageAuthenticationError) as info:
            run(storage.read("a"))
    error = info.value
    assert isinstance(error, StorageError) and isinstance(error, SessionException)
    assert isinstance(error, AuthenticationError) and isinstance(error, StorageBackendError)
    assert error.status_code == 401 and error.request_id and "SESSION_BACKEND_API_KEY" in error.message


def test_conditional_writes_refuse_a_stale_or_existing_object(service_storage):
    run(service_storage.write("doc", b"v1", if_none_match=True))
    with pytest.raises(PreconditionFailedError) as info:
        run(service_storage.write("doc", b"again", if_none_match=True))
    assert info.value.status_code == 412 and isinstance(info.value, StorageError)
    v1 = hashlib.sha256(b"v1").hexdigest()
    run(service_storage.write("doc", b"v2", if_match=v1))
    with pytest.raises(PreconditionFailedError):
        run(service_storage.write("doc", b"v3", if_match=v1))  # another writer got there first
    with pytest.raises(PreconditionFailedError):
        run(service_storage.write("missing", b"v", if_match=v1))
    assert run(service_storage.read("doc")) == b"v2" and run(service_storage.read("missing")) is None


def test_a_write_whose_answer_was_lost_is_retried_with_the_same_request_id(backend, make_api_key):
    api_key = make_api_key()
    adapter = LosingAdapter("PUT")
    with losing_storage(backend.url, api_key, adapter) as storage:
        run(storage.write("doc", b"once"))
        assert [r.method for r in adapter.sent] == ["PUT", "PUT"]
        assert adapter.sent[0].headers["X-Request-ID"] == adapter.sent[1].headers["X-Request-ID"]
        assert adapter.sent[1].body == b"once"
        assert run(storage.read("doc")) == b"once" and run(storage.list("")) == ["doc"]


def test_a_conditional_write_whose_answer_was_lost_succeeds_on_its_retry(backend, make_api_key):
    adapter = LosingAdapter("PUT")
    with losing_storage(backend.url, make_api_key(), adapter) as storage:
        run(storage.write("doc", b"mine", if_none_match=True))  # the retry meets its own write: 412, read back
        assert [r.method for r in adapter.sent] == ["PUT", "PUT", "GET"]
        assert run(storage.read("doc")) == b"mine"
        adapter.losses = 1
        run(storage.write("doc", b"next", if_match=hashlib.sha256(b"mine").hexdigest()))
        assert run(storage.read("doc")) == b"next"
        with pytest.raises(PreconditionFailedError):  # a real conflict is still one, retry or not
            run(storage.write("doc", b"late", if_none_match=True))


def test_a_delete_whose_answer_was_lost_is_retried_and_succeeds(backend, make_api_key):
    adapter = LosingAdapter("DELETE")
    with losing_storage(backend.url, make_api_key(), adapter) as storage:
        run(storage.write("doc", b"v"))
        run(storage.delete("doc"))
        assert [r.method for r in adapter.sent] == ["PUT", "DELETE", "DELETE"]
        assert run(storage.read("doc")) is None


def test_search_answers_ranked_results_with_their_bytes_in_one_request(backend, make_api_key):
    adapter = LosingAdapter("none")
    with losing_storage(backend.url, make_api_key(), adapter) as storage:
        run(storage.write("notes/a.txt", b"the quick brown fox jumps over the lazy dog"))
        run(storage.write("notes/b.txt", b"fox fox fox: a den of foxes"))
        run(storage.write("other/c.txt", b"a fox elsewhere"))
        run(storage.write("notes/bin", bytes(range(256))))
        adapter.sent.clear()
        results = run(storage.search("fox", prefix="notes/"))
        assert [r.method for r in adapter.sent] == ["POST"]
        assert sorted(r.key for r in results) == ["notes/a.txt", "notes/b.txt"]
        assert results[0].score >= results[1].score > 0
        assert {r.key: r.data for r in results}["notes/a.txt"] == b"the quick brown fox jumps over the lazy dog"
        assert {r.key for r in run(storage.search("fox"))} == {"notes/a.txt", "notes/b.txt", "other/c.txt"}
        assert all(r.data is None for r in run(storage.search("fox", include_data=False)))
        assert run(storage.search("zebra")) == []


def test_the_service_restarted_between_turns_loses_nothing(own_backend, make_api_key):
    api_key = make_api_key()
    storage = SessionBackendStorage(own_backend.url, api_key=api_key, timeout=10)
    agent = agent_on(storage, ["Hello Bob.", "Yes, Bob."])
    agent("I am Bob")
    own_backend.stop()
    own_backend.start()
    agent("Still there?")  # the same storage object, its pooled connections dead: it reconnects
    with SessionBackendStorage(own_backend.url, api_key=api_key) as fresh:
        assert texts(agent_on(fresh).messages) == ["I am Bob", "Hello Bob.", "Still there?", "Yes, Bob."]
    storage.close()


def test_strands_file_memory_store_searches_its_own_namespace_on_the_service(service_storage):
    # Better matches outside the store's namespace than inside it: a search of the whole storage cut to the
    # best few, then filtered to the namespace, would return nothing of the store's.
    for i in range(20):
        run(service_storage.write(f"elsewhere/{i}.md", b"fox fox fox fox fox fox"))
    store = FileMemoryStore(name="notes", storage=service_storage)
    key = run(store.add("# Foxes\nThe red fox lives in the forest."))
    run(store.add("# Weather\nIt rains in April."))
    assert key == "foxes.md"
    assert run(service_storage.list("memory/")) == ["memory/notes/foxes.md", "memory/notes/weather.md"]

    entries = run(store.search("fox"))
    assert [entry.metadata["path"] for entry in entries] == ["foxes.md"]
    assert entries[0].content == "# Foxes\nThe red fox lives in the forest."


def test_a_request_the_service_refuses_is_a_storage_backend_error_with_its_fields(service_storage):
    with pytest.raises(StorageBackendError) as info:
        run(service_storage.search("fox", limit=5000))
    error = info.value
    assert isinstance(error, StorageError) and isinstance(error, SessionException)
    assert error.status_code == 422 and "limit" in error.fields and error.request_id
    assert "limit:" in str(error)


class GatedAdapter(HTTPAdapter):
    """Holds every request until ``gate`` opens (at most ``GATE_DEADLINE`` seconds); records whether it opened."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.opened: list[bool] = []

    def send(self, request, **kwargs):
        self.opened.append(self.gate.wait(GATE_DEADLINE))
        return super().send(request, **kwargs)


GATE_DEADLINE = 10.0


def test_requests_run_off_the_event_loop(backend, make_api_key):
    adapter = GatedAdapter()
    http = requests.Session()
    http.mount("http://", adapter)

    async def read_while_the_loop_opens_the_gate() -> bytes | None:
        async def open_gate() -> None:
            adapter.gate.set()  # runs only if the read left the event loop free

        read, _ = await asyncio.gather(storage.read("k"), open_gate())
        return read

    with SessionBackendStorage(backend.url, api_key=make_api_key(), session=http) as storage:
        assert run(read_while_the_loop_opens_the_gate()) is None
    assert adapter.opened == [True]
