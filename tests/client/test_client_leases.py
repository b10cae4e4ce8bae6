"""Leases and fencing through the client (issue 14): the lease context manager, fenced repository and
byte-store writes, If-Match on agent state, and the SessionLease hook on both session managers."""

from __future__ import annotations

import asyncio
import logging
import os
import time

import pytest
import requests
from strands import Agent, tool
from strands.session.snapshot_session_manager import SnapshotSessionManager
from strands.types.exceptions import SessionException, StorageError
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from postgresql_session_repository import (
    ConflictError,
    LeaseLostError,
    SessionBackendStorage,
    SessionBusyError,
    SessionLease,
    StorageLeaseLostError,
    SyncPostgreSQLSessionRepository,
)
from scripted_model import ScriptedModel

RENEW_DEADLINE = 10.0  # seconds for the background renewal of a 1 s lease to be seen


def unwrap(error: BaseException) -> BaseException:
    """The error a failed invocation raised, unwrapped from Strands' EventLoopException."""
    return getattr(error, "original_exception", None) or error


def http(backend, key: str, method: str, path: str, **kwargs) -> requests.Response:
    """One raw request to the service, as another program would send it."""
    headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{backend.url}{path}", headers=headers, timeout=10, **kwargs)


def texts(messages) -> list[str]:
    return [block["text"] for message in messages for block in message["content"] if "text" in block]


def stored(repo, sid: str) -> list[dict]:
    return [m.to_message() for m in repo.list_messages(sid, "assistant")]


@pytest.fixture
def other(backend):
    """A second client of the same namespace: another process, as far as the service can tell."""
    with SyncPostgreSQLSessionRepository(backend.url, timeout=10) as client:
        yield client


# -- the lease itself ------------------------------------------------------------------------------------


def test_a_lease_is_exclusive_its_token_grows_and_it_shows_on_the_session(repo, other, sid):
    assert repo.lease_state(sid)["held"] is False and repo.lease_state(sid)["fence"] == 0
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))

    with repo.lease(sid, holder="host-1:42", ttl=30) as lease:
        assert lease.fence == 1
        state = other.lease_state(sid)
        assert (state["held"], state["holder"], state["fence"]) == (True, "host-1:42", 1)
        assert "lease_id" not in state
        session = other._request("GET", f"/api/v1/sessions/{sid}")
        assert session["lease"]["holder"] == "host-1:42" and session["lease"]["fence"] == 1
        with pytest.raises(SessionBusyError) as busy:
            other.lease(sid).acquire()
        assert isinstance(busy.value, ConflictError) and isinstance(busy.value, SessionException)
        assert busy.value.holder == "host-1:42" and busy.value.expires_at

    assert other.lease_state(sid)["held"] is False
    assert other._request("GET", f"/api/v1/sessions/{sid}")["lease"] is None
    with other.lease(sid) as again:
        assert again.fence == 2
        assert again.holder.endswith(f":{os.getpid()}")  # hostname:pid by default


def test_a_held_lease_is_renewed_in_the_background(repo, sid):
    with repo.lease(sid, ttl=1) as lease:
        first_expiry = repo.lease_state(sid)["expires_at"]
        deadline = time.monotonic() + RENEW_DEADLINE
        while repo.lease_state(sid)["expires_at"] == first_expiry:
            assert time.monotonic() < deadline, "the lease was not renewed"
            time.sleep(0.05)  # polling interval
        assert repo.lease_state(sid)["held"] is True and not lease.lost


def test_a_waiting_acquire_gets_the_lease_once_the_holder_stops_renewing(repo, other, sid):
    stale = repo.lease(sid, ttl=1)
    stale.acquire()
    stale._stop.set()  # the holder froze: no more renewals
    with other.lease(sid, ttl=5, wait=10) as lease:
        assert lease.fence == stale.fence + 1
    stale.release()  # only logs that it was lost


# -- fenced writes ---------------------------------------------------------------------------------------


def test_a_lost_lease_refuses_every_repository_write_and_changes_nothing(
    repo, other, sid, backend, caplog, api_key_in_environment
):
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    repo.create_agent(sid, SessionAgent(agent_id="assistant", state={"v": 0}, conversation_manager_state={}))
    message = SessionMessage.from_message({"role": "user", "content": [{"text": "first"}]}, 0)
    repo.create_message(sid, "assistant", message)

    with caplog.at_level(logging.WARNING), repo.lease(sid) as lease:
        repo.update_agent(sid, SessionAgent(agent_id="assistant", state={"v": 1}, conversation_manager_state={}))
        # Another process takes the session over: the lease is released behind this holder's back.
        gone = http(backend, api_key_in_environment, "DELETE", f"/api/v1/sessions/{sid}/lease/{lease.lease_id}")
        assert gone.status_code == 204
        with other.lease(sid) as taken:
            assert taken.fence == lease.fence + 1
            writes = {
                "update_agent": lambda: repo.update_agent(
                    sid, SessionAgent(agent_id="assistant", state={"v": 2}, conversation_manager_state={})
                ),
                "create_message": lambda: repo.create_message(
                    sid, "assistant", SessionMessage.from_message({"role": "assistant", "content": [{"text": "x"}]}, 1)
                ),
                "update_message": lambda: repo.update_message(sid, "assistant", message),
                "delete_message": lambda: repo.delete_message(sid, "assistant", 0),
                "update_session": lambda: repo.update_session(sid, {"session_type": "AGENT"}),
                "delete_agent": lambda: repo.delete_agent(sid, "assistant"),
                "delete_session": lambda: repo.delete_session(sid),
            }
            for name, write in writes.items():
                with pytest.raises(LeaseLostError) as lost:
                    write()
                assert lost.value.fence == taken.fence, name
            # A client without a lease keeps today's behaviour: its writes carry no token.
            other_client = SyncPostgreSQLSessionRepository(backend.url, timeout=10)
            other_client.update_agent(
                sid, SessionAgent(agent_id="assistant", state={"v": 3}, conversation_manager_state={})
            )
            other_client.close()
    assert "lease release failed" in caplog.text  # the holder's exit only warned
    assert repo.read_agent(sid, "assistant").state == {"v": 3}
    assert texts(stored(repo, sid)) == ["first"]


def test_a_lost_lease_refuses_the_byte_store_writes_of_its_session_only(backend, make_api_key):
    key = make_api_key()
    mine = SessionBackendStorage(backend.url, api_key=key, timeout=10)
    theirs = SessionBackendStorage(backend.url, api_key=key, timeout=10)

    async def scenario() -> None:
        with mine.lease("s1") as lease:
            await mine.write("session/s1/a", b"1")  # carries the token: accepted
            assert http(backend, key, "DELETE", f"/api/v1/sessions/s1/lease/{lease.lease_id}").status_code == 204
            with theirs.lease("s1"):
                # Keys whose scope is s1: the second segment, or the only one.
                for write in (
                    lambda: mine.write("session/s1/a", b"2"),
                    lambda: mine.delete("//session/s1/a/"),
                    lambda: mine.write("s1", b"3"),
                ):
                    with pytest.raises(LeaseLostError) as lost:
                        await write()
                    assert isinstance(lost.value, StorageLeaseLostError) and isinstance(lost.value, StorageError)
                await mine.write("session/s2/a", b"another session: not fenced")
        assert await theirs.read("session/s1/a") == b"1"
        assert await theirs.read("s1") is None
        assert await theirs.read("session/s2/a") == b"another session: not fenced"

    asyncio.run(scenario())
    mine.close()
    theirs.close()


# -- conditional updates -----------------------------------------------------------------------------------


def test_if_match_on_agent_state_refuses_the_lost_update(repo, sid, backend, api_key_in_environment):
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    repo.create_agent(sid, SessionAgent(agent_id="assistant", state={"n": 0}, conversation_manager_state={}))
    path = f"/api/v1/sessions/{sid}/agents/assistant"

    readers = [http(backend, api_key_in_environment, "GET", path) for _ in range(2)]
    assert [r.headers["ETag"] for r in readers] == ['"1"', '"1"']
    assert readers[0].json()["version"] == 1

    def put(state: dict, etag: str) -> requests.Response:
        body = {"state": state, "conversation_manager_state": {}, "internal_state": {}}
        return http(backend, api_key_in_environment, "PUT", path, json=body, headers={"If-Match": etag})

    first = put({"n": 1}, readers[0].headers["ETag"])
    assert first.status_code == 200 and first.headers["ETag"] == '"2"' and first.json()["version"] == 2
    second = put({"n": 2}, readers[1].headers["ETag"])
    assert second.status_code == 412
    assert second.json()["detail"]["error"] == "PreconditionFailedError"
    assert repo.read_agent(sid, "assistant").state == {"n": 1}
    # The Strands client's update_agent is unconditional, as the SessionRepository contract has it.
    repo.update_agent(sid, SessionAgent(agent_id="assistant", state={"n": 3}, conversation_manager_state={}))
    assert http(backend, api_key_in_environment, "GET", path).headers["ETag"] == '"3"'


# -- the SessionLease hook ---------------------------------------------------------------------------------


def test_the_hook_holds_the_lease_for_the_invocation_only(repo, other, sid, make_agent):
    seen = []

    def reply(messages):
        seen.append(other.lease_state(sid))
        return "leased reply"

    agent = make_agent(repo, sid, [reply, "second"], hooks=[SessionLease(repo, holder="worker-1")])
    agent("hello")
    assert seen[0]["held"] is True and seen[0]["holder"] == "worker-1" and seen[0]["fence"] == 1
    assert other.lease_state(sid)["held"] is False
    agent("again")
    assert other.lease_state(sid)["fence"] == 2
    assert texts(stored(repo, sid)) == ["hello", "leased reply", "again", "second"]


def test_a_second_invocation_is_refused_before_it_stores_anything(repo, other, sid, make_agent):
    make_agent(repo, sid, ["one"])("first")
    agent = make_agent(repo, sid, ["never"], hooks=[SessionLease(repo, wait=0)])
    with other.lease(sid, holder="the other replica"):
        with pytest.raises(SessionBusyError) as busy:
            agent("second")
    assert busy.value.holder == "the other replica"
    assert texts(stored(repo, sid)) == ["first", "one"]


def test_an_agent_that_went_stale_is_reloaded_once_it_holds_the_lease(repo, other, sid, make_agent):
    make_agent(repo, sid, ["one"])("first")
    late = make_agent(repo, sid, ["three"], hooks=[SessionLease(repo)])  # loaded now, invoked later
    make_agent(other, sid, ["two"], hooks=[SessionLease(other)])("second")  # another replica's turn
    late("third")
    assert texts(late.messages) == ["first", "one", "second", "two", "third", "three"]
    messages = repo.list_messages(sid, "assistant")
    assert [m.message_id for m in messages] == list(range(6))
    assert texts(m.to_message() for m in messages) == texts(late.messages)


def store_orphaned_tool_use(repo, sid: str, make_agent) -> str:
    """A session whose last turn crashed after its toolUse was stored; returns the toolUse id."""
    make_agent(repo, sid)  # creates the session and the agent, as Strands stores them
    repo.create_message(sid, "assistant", SessionMessage.from_message({"role": "user", "content": [{"text": "go"}]}, 0))
    call = {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t-1", "name": "note", "input": {}}}]}
    repo.create_message(sid, "assistant", SessionMessage.from_message(call, 1))
    return "t-1"


def test_the_repair_tool_result_strands_adds_before_the_invocation_is_written_under_the_lease(
    repo, other, sid, make_agent
):
    tool_use_id = store_orphaned_tool_use(repo, sid, make_agent)
    agent = make_agent(repo, sid, ["never"], hooks=[SessionLease(repo, wait=0)])
    with other.lease(sid):
        with pytest.raises(SessionBusyError):
            agent("next")  # the repair write itself asked for the lease
        assert len(stored(repo, sid)) == 2  # the repair was not stored

    seen = []

    def reply(messages):
        seen.append(other.lease_state(sid)["held"])
        return "recovered"

    fresh = make_agent(repo, sid, [reply], hooks=[SessionLease(repo, wait=0)])
    fresh("next")
    conversation = stored(repo, sid)
    assert conversation[2]["content"][0]["toolResult"]["toolUseId"] == tool_use_id
    assert texts(conversation[3:]) == ["next", "recovered"]
    assert [m.message_id for m in repo.list_messages(sid, "assistant")] == [0, 1, 2, 3, 4]
    assert seen == [True]
    assert other.lease_state(sid)["fence"] == 2  # the other's lease, then one for the repair and the turn


# -- the snapshot path -------------------------------------------------------------------------------------


@tool
def note(who: str) -> str:
    """Note who called.

    Args:
        who: The caller.
    """
    return f"noted {who}"


def snapshot_agent(storage, sid: str, replies, lease: SessionLease) -> Agent:
    return Agent(
        model=ScriptedModel(replies),
        tools=[note],
        callback_handler=None,
        session_manager=SnapshotSessionManager(sid, storage=storage),
        hooks=[lease],
    )


def test_the_hook_leases_snapshot_sessions_and_fences_their_writes(backend, make_api_key, sid):
    key = make_api_key()
    service_storage = SessionBackendStorage(backend.url, api_key=key, timeout=10)
    theirs = SessionBackendStorage(backend.url, api_key=key, timeout=10)
    snapshot_key = f"session/{sid}/scopes/agent/default/snapshots/snapshot_latest.json"
    seen = []

    def reply(messages):
        seen.append(theirs.lease_state(sid))
        return "done"

    lease = SessionLease(service_storage, holder="snapshot-worker")
    agent = snapshot_agent(service_storage, sid, [{"tool": "note", "input": {"who": "me"}}, reply], lease)
    agent("hello")
    assert seen[0]["held"] is True and seen[0]["holder"] == "snapshot-worker"
    assert theirs.lease_state(sid)["held"] is False
    saved = asyncio.run(theirs.read(snapshot_key))
    assert saved is not None and b"noted me" in saved

    # Refused before anything is written while another process holds the session.
    with theirs.lease(sid):
        with pytest.raises(SessionBusyError):
            snapshot_agent(service_storage, sid, ["never"], SessionLease(service_storage))("blocked")
    assert asyncio.run(theirs.read(snapshot_key)) == saved

    # The lease is taken over mid-invocation: the final snapshot write is refused and changes nothing.
    def taken_over(messages):
        assert http(backend, key, "DELETE", f"/api/v1/sessions/{sid}/lease/{late.lease.lease_id}").status_code == 204
        takeover.acquire()
        return "too late"

    takeover = theirs.lease(sid)
    late = SessionLease(service_storage)
    with pytest.raises(Exception) as refused:
        snapshot_agent(service_storage, sid, [taken_over], late)("overwrite")
    assert isinstance(unwrap(refused.value), LeaseLostError)
    assert asyncio.run(theirs.read(snapshot_key)) == saved
    late.release()  # its last save failed, so the hook's own release did not run
    takeover.release()
    theirs.close()
    service_storage.close()


def test_a_stale_repair_is_refused_and_the_agent_reloaded(repo, other, sid, make_agent):
    store_orphaned_tool_use(repo, sid, make_agent)
    stale = make_agent(repo, sid, ["never"], hooks=[SessionLease(repo)])
    make_agent(other, sid, ["fixed"], hooks=[SessionLease(other)])("meanwhile")  # repairs and answers
    with pytest.raises(ConflictError, match="changed since this agent was loaded"):
        stale("next")
    assert texts(stored(repo, sid)) == ["go", "meanwhile", "fixed"]
    assert texts(stale.messages) == ["go", "meanwhile", "fixed"]
    assert other.lease_state(sid)["held"] is False
