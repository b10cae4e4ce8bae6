"""Leases on sessions: one writer per session at a time, with a fencing token for its writes.

A holder acquires the lease for ``ttl_seconds``, renews it while it works, and releases it. Each
acquire moves the session's fencing token on by one; a write that carries an older token in
``X-Session-Fence`` is refused (sql/migrations/functions.sql, ``fenced``), so a holder that lost the
lease (it stalled past its TTL, or was killed and its requests replayed) cannot change what the next
holder works on. A session needs no row to be leased: snapshot sessions live only in the byte store.
"""

from __future__ import annotations

import json
import time
import uuid

from flask import Blueprint, Response, current_app, g

from . import lease_schemas
from .auth import verify_caller
from .config import settings_of
from .db import get_db, queries
from .errors import LeaseLostError, SessionBusyError
from .http import json_response, load_json, no_content

bp = Blueprint("leases", __name__, url_prefix="/api/v1/sessions/<session_id>/lease")
# Built once: constructing a marshmallow schema costs more than loading a small body.
ACQUIRE_SCHEMA = lease_schemas.LeaseAcquire()
RENEW_SCHEMA = lease_schemas.LeaseRenew()
# How often a waiting acquire asks again: a released lease is taken within this, at 20 queries a second.
WAIT_POLL_SECONDS = 0.05


@bp.post("")
def acquire_lease(session_id: str) -> Response:
    """Acquire a session's lease.

    Takes the lease when nobody holds it or its holder's time is up (by the database's clock), and
    answers its `lease_id` and fencing token (`fence`), which goes up by one every time the lease
    changes hands and never goes back. Send the token as `X-Session-Fence` with every write to the
    session: once another holder has acquired the lease, a write with an older token gets 409
    `LeaseLostError` and changes nothing. While someone else holds the lease, the call waits up to
    `wait_seconds` for it (at most the service's LEASE_WAIT_MAX_SECONDS), then answers 409
    `SessionBusyError` with the holder and when its lease ends. The session need not exist yet.
    ---
    post:
      operationId: acquireLease
      tags: [leases]
      requestBody:
        required: true
        content:
          application/json:
            schema: LeaseAcquire
            example: {holder: worker-7, ttl_seconds: 30, wait_seconds: 5}
      responses:
        201: {description: The lease, content: {application/json: {schema: Lease}}}
        409: {$ref: '#/components/responses/Conflict'}
    """
    data = load_json(ACQUIRE_SCHEMA)
    wait = min(data["wait_seconds"], settings_of(current_app).lease_wait_max_seconds)
    deadline = time.monotonic() + wait
    lease_id = str(uuid.uuid4())
    conn = get_db()
    while True:
        body = queries.acquire_lease(
            conn,
            **g.caller,
            session_id=session_id,
            lease_id=lease_id,
            holder=data["holder"],
            ttl_seconds=data["ttl_seconds"],
        )
        if body is not None:
            return json_response(body, 201)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(WAIT_POLL_SECONDS, remaining))
    state = json.loads(queries.get_lease(conn, **g.caller, session_id=session_id)[0])
    raise SessionBusyError(
        "another holder has the session's lease", holder=state["holder"], expires_at=state["expires_at"]
    )


@bp.get("")
def get_lease(session_id: str) -> Response:
    """Read who holds a session's lease.

    Whether the lease is held, by whom and until when, and the session's current fencing token (0 if it
    was never leased). Never the `lease_id`: that is its holder's alone.
    ---
    get:
      operationId: getLease
      tags: [leases]
      responses:
        200: {description: The lease's state, content: {application/json: {schema: LeaseState}}}
    """
    body, fence = queries.get_lease(get_db(), **g.caller, session_id=session_id)
    if fence == 0:
        # No lease row in the namespace: the query may not have needed the key to find that.
        verify_caller()
    return json_response(body)


@bp.put("/<lease_id>")
def renew_lease(session_id: str, lease_id: str) -> Response:
    """Renew a lease.

    Moves the lease's end to `ttl_seconds` from now; the fencing token stays. 409 `LeaseLostError` when
    `lease_id` is no longer the session's lease: it was released, or it ran out and another holder took
    it. A lease that ran out but that nobody took is still renewed.
    ---
    put:
      operationId: renewLease
      tags: [leases]
      requestBody:
        required: true
        content:
          application/json:
            schema: LeaseRenew
            example: {ttl_seconds: 30}
      responses:
        200: {description: The renewed lease, content: {application/json: {schema: Lease}}}
        409: {$ref: '#/components/responses/Conflict'}
    """
    data = load_json(RENEW_SCHEMA)
    body = queries.renew_lease(get_db(), **g.caller, session_id=session_id, lease_id=lease_id, **data)
    if body is None:
        verify_caller()
        raise LeaseLostError("this lease is no longer the session's: it was released or another holder took it")
    return json_response(body)


@bp.delete("/<lease_id>")
def release_lease(session_id: str, lease_id: str) -> Response:
    """Release a lease.

    Frees the lease for the next holder at once; the fencing token stays, and the next acquire moves it
    on. 409 `LeaseLostError` when `lease_id` is no longer the session's lease.
    ---
    delete:
      operationId: releaseLease
      tags: [leases]
      responses:
        204: {description: Released}
        409: {$ref: '#/components/responses/Conflict'}
    """
    if queries.release_lease(get_db(), **g.caller, session_id=session_id, lease_id=lease_id) is None:
        verify_caller()
        raise LeaseLostError("this lease is no longer the session's: it was released or another holder took it")
    return no_content()
