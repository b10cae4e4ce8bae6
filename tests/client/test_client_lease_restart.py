"""Fencing across restarts (issue 14): the service, then PostgreSQL, stop and come back while a holder
that stopped renewing still has the lease; the next lease's token is strictly greater, and the old
token is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from own_service import wait_until_ready
from strands.types.session import Session, SessionAgent, SessionType

from postgresql_session_repository import LeaseLostError, SyncPostgreSQLSessionRepository

ROOT = Path(__file__).resolve().parents[2]
TTL = 1  # seconds: the frozen holder's lease must run out during the test


def frozen_holder(repo: SyncPostgreSQLSessionRepository, session_id: str):
    """A lease whose holder stopped renewing it (its process hangs), with the session's state written under it."""
    lease = repo.lease(session_id, ttl=TTL)
    lease.acquire()
    lease._stop.set()  # no more renewals, as if the process had frozen
    repo.update_agent(session_id, _agent({"by": "old holder"}))
    return lease


def _agent(state: dict) -> SessionAgent:
    return SessionAgent(agent_id="assistant", state=state, conversation_manager_state={})


def setup_session(repo: SyncPostgreSQLSessionRepository, session_id: str) -> None:
    repo.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))
    repo.create_agent(session_id, _agent({"by": "nobody"}))


def check_fencing_after(restart, url: str, session_id: str) -> None:
    """Lease through the service at ``url``, run ``restart``, then check the token grew and the old one is refused."""
    with (
        SyncPostgreSQLSessionRepository(url, timeout=10, max_retries=0) as old,
        SyncPostgreSQLSessionRepository(url, timeout=10) as new,
    ):
        setup_session(old, session_id)
        stale = frozen_holder(old, session_id)
        restart()
        with new.lease(session_id, ttl=30, wait=TTL + 10) as lease:
            assert lease.fence > stale.fence
            assert lease.fence == stale.fence + 1
            with pytest.raises(LeaseLostError) as lost:
                old.update_agent(session_id, _agent({"by": "old holder, late"}))
            assert lost.value.fence == lease.fence
            new.update_agent(session_id, _agent({"by": "new holder"}))
        assert new.read_agent(session_id, "assistant").state == {"by": "new holder"}
        assert new.lease_state(session_id)["fence"] == lease.fence
        stale.release()  # only warns: the lease is gone


def test_the_fencing_token_survives_a_service_restart(own_backend, sid):
    def restart() -> None:
        own_backend.stop()
        own_backend.start()

    check_fencing_after(restart, own_backend.url, sid)


def test_the_fencing_token_survives_a_postgresql_restart(own_postgres, backend_on_own_postgres, sid):
    def restart() -> None:
        own_postgres.restart()
        wait_until_ready(backend_on_own_postgres.url)

    check_fencing_after(restart, backend_on_own_postgres.url, sid)
