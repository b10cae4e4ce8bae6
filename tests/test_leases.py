"""Leases, fencing tokens and conditional updates: one writer per session, and no lost update.

The lease's clock is the database's: a test that needs a lease to run out moves its end into the past
in the database rather than waiting for it, except the one that shows an acquire waits.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import psycopg2
import pytest
from test_isolation import BODIES, OBJECT, PATH_ARGUMENTS, QUERIES, STATE, records

from app import create_app, db
from app.config import load_settings
from helpers import SESSIONS, agent_url, create_agent, create_session, error_of, error_summary, execute, message_url

pytestmark = pytest.mark.over_http

FENCE = "X-Session-Fence"


def lease_url(session_id: str, lease_id: str | None = None) -> str:
    return f"{SESSIONS}/{session_id}/lease" + (f"/{lease_id}" if lease_id else "")


def acquire(client: Any, session_id: str = "s", holder: str = "worker-1", **body: Any) -> dict[str, Any]:
    response = client.post(lease_url(session_id), json={"holder": holder, **body})
    assert response.status_code == 201, response.get_json()
    lease: dict[str, Any] = response.get_json()
    return lease


def expire(database_url: str, session_id: str = "s") -> None:
    """End the session's lease now, by the database's clock, as if its TTL had passed unrenewed."""
    execute(database_url, "UPDATE session_leases SET expires_at = now() WHERE session_id = %s", (session_id,))


def test_acquire_answers_a_token_that_goes_up_each_time_the_lease_changes_hands(client):
    first = acquire(client, holder="worker-1", ttl_seconds=30)

    busy = client.post(lease_url("s"), json={"holder": "worker-2"})
    assert error_summary(busy)[:2] == (409, "SessionBusyError")
    assert error_of(busy)["holder"] == "worker-1" and error_of(busy)["expires_at"] == first["expires_at"]
    assert client.delete(lease_url("s", first["lease_id"])).status_code == 204
    second = acquire(client, holder="worker-2")

    assert first["fence"] == 1 and second["fence"] == 2
    assert first["holder"] == "worker-1" and first["session_id"] == "s"
    assert second["lease_id"] != first["lease_id"]


def test_a_session_needs_no_row_to_be_leased(client):
    # Snapshot sessions live in the byte store only.
    assert acquire(client, "only-snapshots")["fence"] == 1
    assert client.get(f"{SESSIONS}/only-snapshots").status_code == 404


def test_renew_keeps_the_token_and_moves_the_end(client, clean_db):
    lease = acquire(client, ttl_seconds=5)

    renewed = client.put(lease_url("s", lease["lease_id"]), json={"ttl_seconds": 600})

    assert renewed.status_code == 200
    assert renewed.get_json()["fence"] == lease["fence"] and renewed.get_json()["lease_id"] == lease["lease_id"]
    assert renewed.get_json()["expires_at"] > lease["expires_at"]
    [(seconds,)] = execute(clean_db, "SELECT extract(epoch FROM expires_at - now())::int FROM session_leases")
    assert 590 <= seconds <= 600


def test_a_lease_that_ran_out_goes_to_the_next_holder_and_the_old_one_can_neither_renew_nor_release(client, clean_db):
    old = acquire(client, holder="stalled")
    expire(clean_db)

    new = acquire(client, holder="next")

    assert new["fence"] == old["fence"] + 1
    for response in (
        client.put(lease_url("s", old["lease_id"]), json={"ttl_seconds": 30}),
        client.delete(lease_url("s", old["lease_id"])),
    ):
        assert error_summary(response)[:2] == (409, "LeaseLostError")
    assert client.get(lease_url("s")).get_json()["holder"] == "next"


def test_a_lease_that_ran_out_but_nobody_took_can_still_be_renewed(client, clean_db):
    lease = acquire(client)
    expire(clean_db)

    renewed = client.put(lease_url("s", lease["lease_id"]), json={"ttl_seconds": 30})

    assert renewed.status_code == 200 and renewed.get_json()["fence"] == lease["fence"]


def test_the_lease_is_visible_on_the_session_and_on_its_own(client, clean_db):
    create_session(client, "s")
    assert client.get(f"{SESSIONS}/s").get_json()["lease"] is None
    assert client.get(lease_url("s")).get_json() == {
        "session_id": "s",
        "held": False,
        "holder": None,
        "fence": 0,
        "acquired_at": None,
        "expires_at": None,
    }
    lease = acquire(client, holder="host-1:4242")

    shown = client.get(f"{SESSIONS}/s").get_json()["lease"]
    state = client.get(lease_url("s")).get_json()

    expected = {k: lease[k] for k in ("holder", "fence", "acquired_at", "expires_at")}
    assert shown == expected
    assert state == {"session_id": "s", "held": True, **expected}
    assert "lease_id" not in state
    expire(clean_db)
    assert client.get(f"{SESSIONS}/s").get_json()["lease"] is None
    assert client.get(lease_url("s")).get_json()["held"] is False
    assert client.get(lease_url("s")).get_json()["fence"] == lease["fence"]


def test_an_acquire_waits_for_a_busy_lease_when_asked(client):
    acquire(client, holder="short", ttl_seconds=1)

    waited = client.post(lease_url("s"), json={"holder": "patient", "wait_seconds": 30})

    assert waited.status_code == 201
    assert waited.get_json()["holder"] == "patient" and waited.get_json()["fence"] == 2


def test_the_service_caps_how_long_an_acquire_waits(clean_db):
    app = create_app(load_settings({"DATABASE_URL": clean_db, "LEASE_WAIT_MAX_SECONDS": "0"}), testing=True)
    client = app.test_client()
    acquire(client, holder="holder", ttl_seconds=3600)

    response = client.post(lease_url("s"), json={"holder": "waiter", "wait_seconds": 60})

    assert error_summary(response)[:2] == (409, "SessionBusyError")
    db.close_pool(app)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"holder": ""},
        {"holder": "h", "ttl_seconds": 0},
        {"holder": "h", "ttl_seconds": 3601},
        {"holder": "h", "ttl_seconds": 1.5},
        {"holder": "h", "wait_seconds": -1},
        {"holder": "h", "wait_seconds": 61},
        {"holder": ["h"]},
    ],
)
def test_bad_acquire_bodies_are_422_and_take_nothing(client, clean_db, body):
    response = client.post(lease_url("s"), json=body)

    assert response.status_code == 422
    assert execute(clean_db, "SELECT count(*) FROM session_leases") == [(0,)]


def test_a_lease_id_that_is_no_uuid_is_422(client):
    response = client.put(lease_url("s", "not-a-uuid"), json={"ttl_seconds": 30})

    assert response.status_code == 422 and "lease_id" in error_of(response)["fields"]


# --- fencing: every write to a session, built from the URL map like the isolation matrix ---


def session_writes() -> list[tuple[str, str, str]]:
    """``(endpoint, method, rule)`` of every write that takes X-Session-Fence."""
    app = create_app(serving=False)
    writes = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "DELETE"}):
            # History changes (rewind, undo, fork) check the lease more strictly: tests/test_history.py.
            if rule.endpoint.startswith("history."):
                continue
            if (rule.rule.startswith(SESSIONS) and "/lease" not in rule.rule) or rule.rule == OBJECT:
                writes.append((rule.endpoint, method, rule.rule))
    return sorted(writes)


SESSION_WRITES = [pytest.param(*write, id=f"{write[1]} {write[2]}") for write in session_writes()]


def test_the_fenced_writes_are_every_write_to_a_session():
    endpoints = {endpoint for endpoint, _, _ in session_writes()}
    assert {"sessions.create_session", "messages.create_message", "storage.write_object"} <= endpoints
    assert "snapshots.convert_to_snapshot" in endpoints
    assert len(endpoints) == 15


def _own_everything(client: Any) -> None:
    """Session s with agent a, message 0, multi-agent state and an object under session/s/, without a token."""
    assert client.post(SESSIONS, json={"session_id": "s"}).status_code == 201
    create_agent(client, "s", "a")
    message = {"message_id": 0, "message": {"role": "user", "content": [{"text": "hello"}]}}
    assert client.post(message_url("s", "a"), json=message).status_code == 201
    assert client.post(f"{SESSIONS}/s/multi-agents", json=STATE).status_code == 201
    assert client.put(OBJECT, query_string=QUERIES["storage.read_object"], data=b"stored").status_code == 201


def _leased_session(endpoint: str) -> str:
    """The session a write of ``endpoint`` by _send goes to: a new one when it creates a session."""
    return "s2" if endpoint == "sessions.create_session" else "s"


def _send(client: Any, endpoint: str, method: str, rule: str, fence: str) -> Any:
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: PATH_ARGUMENTS[m.group(1)], rule)
    body = BODIES[endpoint]
    if endpoint == "sessions.create_session":
        body = {"session_id": "s2"}  # s exists; a new one shows the write goes through
    if endpoint == "agents.create_agent":
        body = {**body, "agent_id": "a2"}
    if endpoint == "messages.create_message":
        body = {**body, "message_id": 1}
    if endpoint == "multi_agents.create_multi_agent":
        body = {"id": "swarm2"}
    query = QUERIES.get(endpoint)
    if endpoint == "storage.write_object":
        return client.open(path, method=method, data=b"new", headers={FENCE: fence}, query_string=query)
    return client.open(path, method=method, json=body, headers={FENCE: fence}, query_string=query)


@pytest.mark.parametrize(("endpoint", "method", "rule"), SESSION_WRITES)
def test_a_write_with_an_old_token_is_refused_and_changes_nothing(client, clean_db, endpoint, method, rule):
    _own_everything(client)
    leased = _leased_session(endpoint)
    old = acquire(client, leased)
    expire(clean_db, leased)
    current = acquire(client, leased, holder="next")
    before = records(clean_db)

    response = _send(client, endpoint, method, rule, str(old["fence"]))

    assert error_summary(response)[:2] == (409, "LeaseLostError")
    assert error_of(response)["fence"] == current["fence"]
    assert records(clean_db) == before


@pytest.mark.parametrize(("endpoint", "method", "rule"), SESSION_WRITES)
def test_a_write_with_the_current_token_goes_through(client, clean_db, endpoint, method, rule):
    _own_everything(client)
    lease = acquire(client, _leased_session(endpoint))

    response = _send(client, endpoint, method, rule, str(lease["fence"]))

    assert response.status_code in (200, 201, 204), response.get_json(silent=True)


@pytest.mark.parametrize("fence", ["0", "2", "99"])
def test_a_token_that_was_never_issued_is_refused(client, clean_db, fence):
    create_session(client, "s")
    acquire(client)
    before = records(clean_db)

    response = client.post(agent_url("s"), json=BODIES["agents.create_agent"], headers={FENCE: fence})

    assert error_summary(response)[:2] == (409, "LeaseLostError")
    assert records(clean_db) == before


@pytest.mark.parametrize("fence", ["", "-1", "+1", "1.0", "0x1", "1234567890123456789"])
def test_a_malformed_token_is_422_and_changes_nothing(client, clean_db, fence):
    create_session(client, "s")
    before = records(clean_db)

    response = client.post(agent_url("s"), json=BODIES["agents.create_agent"], headers={FENCE: fence})

    assert response.status_code == 422 and FENCE in error_of(response)["fields"]
    assert records(clean_db) == before


def test_writes_without_a_token_keep_todays_behaviour_while_a_lease_is_held(client):
    create_session(client, "s")
    acquire(client)

    assert client.post(agent_url("s"), json=BODIES["agents.create_agent"]).status_code == 201


def test_the_token_guards_a_storage_key_by_its_session_segment(client, clean_db):
    old = acquire(client, "snap")
    expire(clean_db, "snap")
    acquire(client, "snap", holder="next")

    stale = client.put(
        OBJECT,
        query_string={"key": "session/snap/scopes/agent/a/snapshot_latest"},
        data=b"x",
        headers={FENCE: str(old["fence"])},
    )
    other_session = client.put(
        OBJECT, query_string={"key": "session/other/x"}, data=b"x", headers={FENCE: str(old["fence"])}
    )

    assert error_summary(stale)[:2] == (409, "LeaseLostError")
    # Another session's key is checked against that session's token, which was never issued.
    assert error_summary(other_session)[:2] == (409, "LeaseLostError")


# --- the lock that orders fenced writes against a change of holder ---


# A write to session s checked against token 1, as the service's writes check theirs.
FENCED_AGENT_INSERT = (
    "INSERT INTO session_agents (namespace, session_id, agent_id, state, conversation_manager_state)"
    " VALUES (fenced('default', 's', 1), 's', 'a', '{}', '{}')"
)


def _wait_until_blocked(url: str) -> None:
    """Return once a transaction waits for a session's lock (an advisory lock not granted); bounded at 2,000
    looks at pg_locks. Not by backend pid: through PgBouncer a client's pid is not its server's."""
    for _ in range(2000):
        [(waiting,)] = execute(url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        if waiting:
            return
    raise AssertionError("no transaction ever waited for the session's lock")


def test_an_acquire_waits_for_a_write_already_checked_against_the_old_token(clean_db):
    # The write checked the token, then the acquire came: the write must land under the old holder,
    # before the token moves, never after it.
    execute(clean_db, "INSERT INTO sessions (namespace, session_id) VALUES ('default', 's')")
    execute(clean_db, "INSERT INTO session_leases (namespace, session_id, fence) VALUES ('default', 's', 1)")
    writer = psycopg2.connect(clean_db)
    acquirer = psycopg2.connect(clean_db)
    acquirer.autocommit = True
    try:
        with writer.cursor() as cur:
            cur.execute(FENCED_AGENT_INSERT)
        result: dict[str, Any] = {}

        def take() -> None:
            with acquirer.cursor() as cur:
                cur.execute("SELECT lease_changing('default', 's')")
                cur.execute("UPDATE session_leases SET fence = fence + 1 RETURNING fence")
                result["fence"] = cur.fetchone()[0]

        thread = threading.Thread(target=take)
        thread.start()
        _wait_until_blocked(clean_db)
        writer.commit()
        thread.join(timeout=30)
    finally:
        writer.close()
        acquirer.close()

    assert result == {"fence": 2}
    assert execute(clean_db, "SELECT agent_id FROM session_agents") == [("a",)]


def test_a_write_that_waited_for_an_acquire_checks_the_new_token(clean_db):
    execute(clean_db, "INSERT INTO sessions (namespace, session_id) VALUES ('default', 's')")
    execute(clean_db, "INSERT INTO session_leases (namespace, session_id, fence) VALUES ('default', 's', 1)")
    acquirer = psycopg2.connect(clean_db)
    writer = psycopg2.connect(clean_db)
    writer.autocommit = True
    try:
        with acquirer.cursor() as cur:
            cur.execute("SELECT lease_changing('default', 's')")
            cur.execute("UPDATE session_leases SET fence = fence + 1")
        outcome: dict[str, Any] = {}

        def write() -> None:
            try:
                with writer.cursor() as cur:
                    cur.execute(FENCED_AGENT_INSERT)
                outcome["written"] = True
            except psycopg2.Error as exc:
                outcome["refused"] = (exc.pgcode, exc.diag.message_detail)

        thread = threading.Thread(target=write)
        thread.start()
        _wait_until_blocked(clean_db)
        acquirer.commit()
        thread.join(timeout=30)
    finally:
        writer.close()
        acquirer.close()

    assert outcome == {"refused": ("SB409", "2")}
    assert execute(clean_db, "SELECT count(*) FROM session_agents") == [(0,)]


# --- conditional updates ---


def test_if_match_refuses_a_lost_update_of_an_agent(client, clean_db):
    create_session(client, "s")
    created = client.post(agent_url("s"), json={"agent_id": "a", "state": {"n": 0}, "conversation_manager_state": {}})
    assert created.get_json()["version"] == 1 and created.headers["ETag"] == '"1"'
    # Two processes read version 1, each to add to the state.
    first_read = client.get(agent_url("s", "a"))
    second_read = client.get(agent_url("s", "a"))
    assert first_read.headers["ETag"] == second_read.headers["ETag"] == '"1"'

    first = client.put(
        agent_url("s", "a"),
        json={"state": {"n": 1, "by": "first"}, "conversation_manager_state": {}},
        headers={"If-Match": first_read.headers["ETag"]},
    )
    before = records(clean_db)
    second = client.put(
        agent_url("s", "a"),
        json={"state": {"n": 1, "by": "second"}, "conversation_manager_state": {}},
        headers={"If-Match": second_read.headers["ETag"]},
    )

    assert first.status_code == 200 and first.get_json()["version"] == 2 and first.headers["ETag"] == '"2"'
    assert error_summary(second)[:2] == (412, "PreconditionFailedError")
    assert records(clean_db) == before
    assert client.get(agent_url("s", "a")).get_json()["state"] == {"n": 1, "by": "first"}


@pytest.mark.parametrize(("if_match", "status"), [('"1"', 200), ("*", 200), ('"2"', 412), ('"x"', 412), ('W/"1"', 412)])
def test_if_match_on_an_agent(client, if_match, status):
    create_session(client, "s")
    create_agent(client, "s", "a")

    response = client.put(
        agent_url("s", "a"), json={"state": {}, "conversation_manager_state": {}}, headers={"If-Match": if_match}
    )

    assert response.status_code == status


def test_if_match_on_a_missing_agent_is_404(client):
    create_session(client, "s")

    response = client.put(
        agent_url("s", "nobody"), json={"state": {}, "conversation_manager_state": {}}, headers={"If-Match": '"1"'}
    )

    assert response.status_code == 404


def test_if_match_refuses_a_lost_update_of_multi_agent_state(client, clean_db):
    create_session(client, "s")
    url = f"{SESSIONS}/s/multi-agents"
    created = client.post(url, json={"id": "swarm", "status": "executing"})
    assert created.headers["ETag"] == '"1"' and created.get_json() == {"id": "swarm", "status": "executing"}

    first = client.put(f"{url}/swarm", json={"id": "swarm", "status": "completed"}, headers={"If-Match": '"1"'})
    before = records(clean_db)
    second = client.put(f"{url}/swarm", json={"id": "swarm", "status": "failed"}, headers={"If-Match": '"1"'})

    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    assert error_summary(second)[:2] == (412, "PreconditionFailedError")
    assert records(clean_db) == before
    assert client.get(f"{url}/swarm").headers["ETag"] == '"2"'
