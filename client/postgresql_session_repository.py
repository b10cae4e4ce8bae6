"""Strands session repository that stores sessions in the session-backend REST service.

Copy this one file into an agent project. It needs only ``requests`` and ``strands-agents``::

    repo = SyncPostgreSQLSessionRepository("http://localhost:8001")
    agent = Agent(session_manager=RepositorySessionManager(session_id="user-1", session_repository=repo))

When several processes may invoke the same session, add ``hooks=[SessionLease(repo)]`` to the agent:
each invocation then holds the session's lease, and a process that lost it can no longer write.

The contract is the one of Strands' ``SessionRepository``: reads of something missing return ``None``;
creating something that exists, or under a missing parent, and updating something missing raise a
``SessionException`` (every error class below derives from it).
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import copy
import dataclasses
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from strands.hooks import (
    AfterInvocationEvent,
    AgentInitializedEvent,
    BeforeInvocationEvent,
    HookOrder,
    HookProvider,
    HookRegistry,
    MessageAddedEvent,
)
from strands.session.repository_session_manager import RepositorySessionManager
from strands.session.session_repository import SessionRepository
from strands.session.snapshot_session_manager import SnapshotSessionManager
from strands.storage.storage import StorageSearchResult
from strands.types.content import ContentBlock, Message
from strands.types.exceptions import SessionException, StorageError
from strands.types.session import Session, SessionAgent, SessionMessage

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://localhost:8001"
_TRANSIENT_STATUSES = frozenset({502, 503, 504})
# A connection that broke while the answer was read (a worker killed mid-response) is transient too.
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_PAGE_SIZE = 1000  # the server's largest page
_PAGE_QUERY = {"order": "asc", "include_total": "false"}  # counting the whole conversation is not needed


class SessionRepositoryError(SessionException):
    """A request to the session backend failed; carries the server's message and request id.

    ``fields`` holds the server's reason for each refused field of a 422 (``{}`` otherwise); they are
    also part of the exception's text.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        request: str = "",
        fields: dict[str, Any] | None = None,
    ) -> None:
        """Keep the server's message, HTTP status, request id, field errors (and which request failed)."""
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.fields = fields or {}
        self.detail: dict[str, Any] = {}  # the server's whole error object (e.g. a lease's holder, fence)
        self.after_retry = False  # set when the request was sent again after a transient failure
        prefix = f"{request}: " if request else ""
        reasons = f": {_describe(self.fields)}" if self.fields else ""
        super().__init__(f"{prefix}{message}{reasons} (status={status_code}, request_id={request_id})")


class SessionNotFoundError(SessionRepositoryError):
    """The session does not exist."""


class AgentNotFoundError(SessionRepositoryError):
    """The agent (or its session) does not exist."""


class MessageNotFoundError(SessionRepositoryError):
    """The message (or its agent or session) does not exist."""


class ConflictError(SessionRepositoryError):
    """The record already exists with different content."""


class SessionBusyError(ConflictError):
    """Another holder has the session's lease (after waiting ``wait`` seconds, if asked to).

    ``holder`` and ``expires_at`` name the current holder and when its lease runs out, as the server
    reported them (``None`` when it did not).
    """

    @property
    def holder(self) -> str | None:
        """The current holder's name."""
        holder = self.detail.get("holder")
        return None if holder is None else str(holder)

    @property
    def expires_at(self) -> str | None:
        """When the current holder's lease runs out (ISO 8601, the database's clock)."""
        expires_at = self.detail.get("expires_at")
        return None if expires_at is None else str(expires_at)


class LeaseLostError(ConflictError):
    """A write carried a fencing token that is no longer the session's current one (the lease expired
    and was taken, or was released), or a renew/release named a lease the session no longer has.

    The server changed nothing. ``fence`` is the session's current token, as the server reported it.
    """

    @property
    def fence(self) -> int | None:
        """The session's current fencing token (0 when it was never leased), if the server said."""
        fence = self.detail.get("fence")
        return fence if isinstance(fence, int) else None


class BackendUnavailableError(SessionRepositoryError):
    """The backend could not be reached, or stayed unavailable through every retry."""


class AuthenticationError(SessionRepositoryError):
    """The backend rejected the API key (HTTP 401/403)."""


def _describe(fields: Any) -> str:
    """The server's ``fields`` of a 422 as one line: ``agent_id: must be ...; limit: ...``."""
    if isinstance(fields, dict):
        return "; ".join(f"{name}: {_describe(reasons)}" for name, reasons in fields.items())
    if isinstance(fields, list):
        return ", ".join(_describe(reason) for reason in fields)
    return str(fields)


def _segment(value: str, kind: str) -> str:
    """Quote one ``kind`` id (session, agent, multi_agent) as one path segment, so ids like 'a b' or
    'user@example.com' stay one segment; refuse, as Strands does, the ids no path segment can carry.

    Raises:
        ValueError: for an id containing '/' or '\\' (the server decodes an encoded one back into a
            separator), an empty id, or '.' or '..' (HTTP libraries resolve them as dot segments).
    """
    if "/" in value or "\\" in value:
        raise ValueError(f"{kind}_id={value} | id cannot contain path separators")
    if value in ("", ".", ".."):
        raise ValueError(f"{kind}_id={value!r} | id cannot be empty, '.' or '..'")
    return quote(value, safe="")


# The paths are built in layers, as Strands' FileSessionManager builds its directories: each layer
# extends its parent's path and checks only its own id. Without its last id, a layer gives the
# collection that id would be in (what a list reads).


def _session_path(session_id: str | None = None) -> str:
    """The sessions, or one session (ValueError for an id no path segment can carry)."""
    base = "/api/v1/sessions"
    return base if session_id is None else f"{base}/{_segment(session_id, 'session')}"


def _agent_path(session_id: str, agent_id: str | None = None) -> str:
    """The agents of a session, or one agent in it (ValueError for an id no path segment can carry)."""
    base = f"{_session_path(session_id)}/agents"
    return base if agent_id is None else f"{base}/{_segment(agent_id, 'agent')}"


def _message_path(session_id: str, agent_id: str, message_id: int | None = None) -> str:
    """The messages of an agent, or one message (ValueError for an id no path segment can carry, or a
    message id that is not an integer)."""
    base = f"{_agent_path(session_id, agent_id)}/messages"
    return base if message_id is None else f"{base}/{int(message_id)}"


def _multi_agent_path(session_id: str, multi_agent_id: str | None = None) -> str:
    """The multi-agent states of a session, or one of them (ValueError for an id no path segment can carry)."""
    base = f"{_session_path(session_id)}/multi-agents"
    return base if multi_agent_id is None else f"{base}/{_segment(multi_agent_id, 'multi_agent')}"


def _canonical(value: Any) -> Any:
    """The value as it looks after a JSON round trip, to compare what was sent with what is stored."""
    return json.loads(json.dumps(value))


_MESSAGE_FIELDS = frozenset(field.name for field in dataclasses.fields(SessionMessage))


def _decode_bytes(obj: dict[str, Any]) -> Any:
    """``json.loads`` object hook: the bytes ``decode_bytes_values`` would make of an encoded value.

    Decoding while parsing costs a call per JSON object; ``decode_bytes_values`` afterwards copied
    every dict and list of every message again, half the client's time in a long restore.
    """
    if obj.get("__bytes_encoded__") is True and "data" in obj:
        return base64.b64decode(obj["data"])
    return obj


def _message_from(data: dict[str, Any]) -> SessionMessage:
    """``SessionMessage.from_dict`` for a record parsed with :func:`_decode_bytes`, without its
    per-call ``inspect.signature`` (a third of a millisecond per message): same fields kept."""
    return SessionMessage(**{k: v for k, v in data.items() if k in _MESSAGE_FIELDS})


def _agent_body(agent: SessionAgent) -> dict[str, Any]:
    data = agent.to_dict()
    data["internal_state"] = data.pop("_internal_state")
    return data


def _agent_from(data: dict[str, Any]) -> SessionAgent:
    data = dict(data)
    if "internal_state" in data:
        data["_internal_state"] = data.pop("internal_state")
    return SessionAgent.from_dict(data)


def _session_for(base_url: str) -> requests.Session:
    """A ``requests.Session`` with the environment's proxy, CA-bundle and certificate settings for
    ``base_url`` read once. With ``trust_env`` on, requests re-reads them on every request, and
    also ~/.netrc, whose Basic credentials for the backend's host would replace the API key."""
    http = requests.Session()
    settings = http.merge_environment_settings(base_url, {}, None, None, None)
    http.trust_env = False
    http.proxies = settings["proxies"]
    http.verify = settings["verify"]
    http.cert = settings["cert"]
    return http


_LEASE_ERRORS = frozenset({"SessionBusyError", "LeaseLostError"})


def _default_holder() -> str:
    """``hostname:pid``: what an operator reading a session's lease needs to find the process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _lease_path(session_id: str, lease_id: str | None = None) -> str:
    """A session's lease, or one grant of it (ValueError for a session id no path segment can carry)."""
    base = f"{_session_path(session_id)}/lease"
    return base if lease_id is None else f"{base}/{quote(lease_id, safe='')}"


class Lease:
    """The lease of one session, taken through a client: ``with client.lease(session_id) as lease: ...``.

    While it is held, a background daemon thread renews it about every ``ttl / 3`` seconds, and every
    write the client sends for the session carries ``X-Session-Fence: <fence>``, so a holder whose lease
    expired and was taken over cannot change the session any more (``LeaseLostError``). A renewal the
    server refuses marks the lease ``lost``; the token stays on the writes, so they are refused too.
    """

    def __init__(self, client: _BackendClient, session_id: str, holder: str | None, ttl: int, wait: float) -> None:
        """Prepare (not yet take) the lease; ``holder`` defaults to ``hostname:pid``."""
        self.client = client
        self.session_id = session_id
        self.holder = holder or _default_holder()
        self.ttl = int(ttl)
        self.wait = float(wait)
        self.lease_id: str | None = None
        self.fence: int | None = None
        self.expires_at: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def held(self) -> bool:
        """Whether this lease was acquired and not released yet (it may have been ``lost`` meanwhile)."""
        return self.lease_id is not None

    def acquire(self) -> Lease:
        """Take the lease, waiting up to ``wait`` seconds for the current holder to let go.

        Raises:
            SessionBusyError: Another holder still has it after the wait.
            RuntimeError: This lease is held already.
        """
        if self.lease_id is not None:
            raise RuntimeError(f"the lease of session {self.session_id} is held already")
        body = {"holder": self.holder, "ttl_seconds": self.ttl, "wait_seconds": self.wait}
        # Not retried: an attempt that was granted but whose answer was lost would make the retry wait
        # for our own lease. A lease granted that way expires after its TTL.
        answer = self.client._request(
            "POST",
            _lease_path(self.session_id),
            json=body,
            retry=False,
            missing=SessionRepositoryError,
            timeout=self.client.timeout + self.wait,  # the server holds the request for up to ``wait``
        )
        self.lease_id = str(answer["lease_id"])
        self.fence = int(answer["fence"])
        self.expires_at = answer.get("expires_at")
        self.lost = False
        self.client._fences[self.session_id] = self.fence
        self._stop.clear()
        self._renewer = threading.Thread(
            target=self._renew_until_released, name=f"session-lease-{self.session_id}", daemon=True
        )
        self._renewer.start()
        return self

    def renew(self) -> None:
        """Move the expiry to now + ``ttl`` (the background thread does this; ``LeaseLostError`` if lost)."""
        if self.lease_id is None:
            raise RuntimeError("renew() of a lease that is not held")
        answer = self.client._request(
            "PUT", _lease_path(self.session_id, self.lease_id), json={"ttl_seconds": self.ttl}, missing=LeaseLostError
        )
        self.expires_at = answer.get("expires_at")

    def release(self) -> None:
        """Stop renewing, stop fencing the client's writes, and give the lease back.

        A release that fails only logs a warning: the lease then simply expires after its TTL.
        """
        lease_id, self.lease_id = self.lease_id, None
        if lease_id is None:
            return
        self._stop.set()
        if self.client._fences.get(self.session_id) == self.fence:
            del self.client._fences[self.session_id]
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=self.client.timeout)
        try:
            self.client._request("DELETE", _lease_path(self.session_id, lease_id), missing=LeaseLostError)
        except SessionException as exc:
            logger.warning("session_id=<%s>, fence=<%s> | lease release failed: %s", self.session_id, self.fence, exc)

    def _renew_until_released(self) -> None:
        """Renew every ``ttl / 3`` seconds until released; stop once the server says the lease is lost."""
        interval = max(self.ttl / 3.0, 0.1)
        while not self._stop.wait(interval):
            try:
                self.renew()
            except LeaseLostError as exc:
                self.lost = True
                logger.warning("session_id=<%s>, fence=<%s> | lease lost: %s", self.session_id, self.fence, exc)
                return
            except SessionException as exc:  # transient: the next renewal may get through before expiry
                logger.warning("session_id=<%s> | lease renewal failed, will retry: %s", self.session_id, exc)
            except RuntimeError:  # released between the wait and the renewal
                return

    def __enter__(self) -> Lease:
        """Acquire the lease."""
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        """Release the lease."""
        self.release()


class _BackendClient:
    """The HTTP machinery both clients share: base URL, API key, retries, request ids and error mapping."""

    retry_backoff = 0.25  # seconds before the first retry; doubles on each further retry
    retry_backoff_max = 4.0  # cap for one wait, also applied to the server's Retry-After
    _unavailable: type[SessionRepositoryError] = BackendUnavailableError  # raised when no attempt got through

    def __init__(
        self,
        base_url: str | None,
        *,
        timeout: float,
        api_key: str | None,
        max_retries: int,
        session: requests.Session | None,
    ) -> None:
        """Resolve the environment defaults once and set up (or adopt) the ``requests.Session``."""
        self.base_url = (base_url or os.environ.get("SESSION_BACKEND_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self._owns_http = session is None
        self._http = session if session is not None else _session_for(self.base_url)
        self._headers = {"Accept": "application/json"}  # per request, so a caller's session is left unchanged
        api_key = api_key if api_key is not None else os.environ.get("SESSION_BACKEND_API_KEY")
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        # The fencing token of each session this client holds the lease of: its writes to that
        # session carry it. Shared by namespace views (a shallow copy), as the leases are.
        self._fences: dict[str, int] = {}

    def close(self) -> None:
        """Close the HTTP connection pool, unless the caller passed its own ``requests.Session``."""
        if self._owns_http:
            self._http.close()

    def lease(self, session_id: str, holder: str | None = None, ttl: int = 30, wait: float = 0) -> Lease:
        """The lease of ``session_id``, as a context manager: acquired on enter, released on exit.

        While it is held, this client's writes to the session carry its fencing token::

            with repo.lease("user-1", wait=10) as lease:
                ...  # only this process writes to user-1 now

        Args:
            session_id: The session (it need not exist: a snapshot session has no session record).
            holder: Shown to others as the holder; defaults to ``hostname:pid``.
            ttl: Seconds the lease lasts without a renewal; it is renewed every ``ttl / 3`` while held.
            wait: Seconds to wait for another holder to let go before ``SessionBusyError``.
        """
        return Lease(self, session_id, holder, ttl, wait)

    def lease_state(self, session_id: str) -> dict[str, Any]:
        """Who holds the session's lease: ``{"held", "holder", "fence", "acquired_at", "expires_at", ...}``."""
        state: dict[str, Any] = self._request("GET", _lease_path(session_id))
        return state

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        missing: type[SessionRepositoryError] | None = SessionRepositoryError,
        retry: bool = True,
        accept: tuple[int, ...] = (200, 201, 204),
        object_hook: Callable[[dict[str, Any]], Any] | None = None,
        raw: bool = False,
        fence_for: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request, retrying transient failures, and map the status to a result or an exception.

        A 404 returns ``None`` when ``missing`` is None, else raises ``missing``. A 204 returns ``None``.
        A JSON body is parsed with ``object_hook`` (see ``json.loads``); with ``raw`` the accepted
        ``requests.Response`` itself is returned. ``data`` is sent as the body as is, ``headers`` are
        added to the client's own. A write to session ``fence_for`` carries the fencing token of the
        lease this client holds on it, if any. ``timeout`` replaces the client's for this request.
        """
        url = self.base_url + path
        # One request id for all attempts of this call.
        headers = {**self._headers, **(headers or {}), "X-Request-ID": uuid.uuid4().hex}
        if fence_for is not None:
            fence = self._fences.get(fence_for)
            if fence is not None:
                headers["X-Session-Fence"] = str(fence)
        attempts = 1 + (self.max_retries if retry else 0)
        for attempt in range(attempts):
            retried = attempt > 0
            wait = min(self.retry_backoff_max, self.retry_backoff * 2**attempt)
            try:
                response = self._http.request(
                    method,
                    url,
                    json=json,
                    data=data,
                    params=params,
                    headers=headers,
                    timeout=self.timeout if timeout is None else timeout,
                )
            except _TRANSIENT_ERRORS as exc:
                failure: SessionRepositoryError = self._unavailable(
                    f"backend unreachable: {exc}", request=f"{method} {url}"
                )
            else:
                status = response.status_code
                if status in accept:
                    if raw:
                        return response
                    return None if status == 204 or not response.content else response.json(object_hook=object_hook)
                failure = self._error(response, method, missing)
                if status == 404 and (missing is None or (method == "DELETE" and retried)):
                    return None  # a retried DELETE meeting 404 was applied by the earlier attempt
                if status not in _TRANSIENT_STATUSES:
                    failure.after_retry = retried
                    raise failure
                header = response.headers.get("Retry-After", "")
                wait = min(self.retry_backoff_max, max(wait, float(header))) if header.isdigit() else wait
            if attempt + 1 < attempts:
                logger.warning(
                    "method=<%s>, url=<%s>, attempt=<%d> | %s; retrying in %.2fs",
                    method,
                    url,
                    attempt + 1,
                    failure.message,
                    wait,
                )
                time.sleep(wait)
        raise failure  # a transport failure or transient status: only those are retried

    def _error(
        self, response: requests.Response, method: str, missing: type[SessionRepositoryError] | None
    ) -> SessionRepositoryError:
        """Build the exception for an error response from the server's error envelope."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:  # e.g. an HTML page from a proxy
            body = None
        detail = body.get("detail") if isinstance(body, dict) else None
        if not isinstance(detail, dict):
            detail = {"message": str(detail)} if detail else {}
        message = detail.get("message") or response.text[:200] or response.reason
        request_id = detail.get("request_id") or response.headers.get("X-Request-ID")
        if status in (401, 403):
            message = f"{message}: pass api_key= or set SESSION_BACKEND_API_KEY to a key the backend accepts"
        cls = self._error_class(status, missing)
        if status == 409 and detail.get("error") in _LEASE_ERRORS:
            cls = self._lease_error_class(detail["error"])
        fields = detail.get("fields")
        error = cls(
            message,
            status_code=status,
            request_id=request_id,
            request=f"{method} {response.url}",
            fields=fields if isinstance(fields, dict) else None,
        )
        error.detail = detail
        return error

    def _lease_error_class(self, name: str) -> type[SessionRepositoryError]:
        """The class for the server's lease errors (``SessionBusyError``, ``LeaseLostError``)."""
        return SessionBusyError if name == "SessionBusyError" else LeaseLostError

    def _error_class(self, status: int, missing: type[SessionRepositoryError] | None) -> type[SessionRepositoryError]:
        """The exception class for an error status; ``missing`` is the one for a 404."""
        if status in (401, 403):
            return AuthenticationError
        if status == 404:
            return missing or SessionRepositoryError
        if status == 409:
            return ConflictError
        if status in _TRANSIENT_STATUSES:
            return BackendUnavailableError
        return SessionRepositoryError


class SyncPostgreSQLSessionRepository(_BackendClient, SessionRepository):
    """Synchronous HTTP client for the session backend, usable as a Strands ``SessionRepository``."""

    def __init__(
        self,
        base_url: str | None = None,
        timeout: float = 30.0,
        *,
        api_key: str | None = None,
        max_retries: int = 3,
        session: requests.Session | None = None,
    ) -> None:
        """Create the client.

        Args:
            base_url: Service URL; defaults to env ``SESSION_BACKEND_URL``, else ``http://localhost:8001``.
            timeout: Seconds to wait for each HTTP request (connect and read).
            api_key: Sent as ``Authorization: Bearer <key>``; defaults to env ``SESSION_BACKEND_API_KEY``.
            max_retries: How often a transient failure (connection error, timeout, 502/503/504) is retried.
            session: A ``requests.Session`` to use, as it is configured; by default the client creates
                and owns one, which reads proxy and CA-bundle variables from the environment once, here.
        """
        super().__init__(base_url, timeout=timeout, api_key=api_key, max_retries=max_retries, session=session)

    def __enter__(self) -> SyncPostgreSQLSessionRepository:
        """Use the client as a context manager; the connection pool is closed on exit."""
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """Close the client."""
        self.close()

    # -- sessions -------------------------------------------------------------------------------------

    def create_session(self, session: Session, **kwargs: Any) -> Session:
        """Create a session; raises ``ConflictError`` if it exists."""
        body = _canonical(session.to_dict())
        # Not fenced: the contract fences writes to an existing session, and this one has none yet.
        stored = self._create(_session_path(session.session_id), body, ("session_type",), SessionNotFoundError, None)
        return Session.from_dict(stored)

    def read_session(self, session_id: str, **kwargs: Any) -> Session | None:
        """Read a session, or ``None`` if it does not exist."""
        data = self._request("GET", _session_path(session_id), missing=None)
        return None if data is None else Session.from_dict(data)

    def update_session(self, session_id: str, data: dict[str, Any], **kwargs: Any) -> Session:
        """Update a session's fields (e.g. ``session_type``); raises ``SessionNotFoundError`` if missing."""
        stored = self._request(
            "PUT", _session_path(session_id), json=data, missing=SessionNotFoundError, fence_for=session_id
        )
        return Session.from_dict(stored)

    def delete_session(self, session_id: str, **kwargs: Any) -> None:
        """Delete a session with its agents, messages and multi-agent state; ``SessionNotFoundError`` if missing."""
        self._request("DELETE", _session_path(session_id), missing=SessionNotFoundError, fence_for=session_id)

    def list_sessions(self, limit: int | None = None, **kwargs: Any) -> list[Session]:
        """List sessions, newest first: all of them, or at most ``limit``."""
        sessions: list[Session] = []
        cursor: str | None = None
        while limit is None or len(sessions) < limit:
            params: dict[str, Any] = {"limit": _PAGE_SIZE if limit is None else min(_PAGE_SIZE, limit - len(sessions))}
            if cursor:
                params["cursor"] = cursor
            page = self._request("GET", _session_path(), params=params)
            sessions.extend(Session.from_dict(item) for item in page["sessions"])
            cursor = page.get("next_cursor")
            if not cursor or not page["sessions"]:
                break
        return sessions

    # -- agents ---------------------------------------------------------------------------------------

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Create an agent; ``SessionNotFoundError`` without its session, ``ConflictError`` if it exists."""
        self._create(
            _agent_path(session_id, session_agent.agent_id),
            _canonical(_agent_body(session_agent)),
            ("state", "conversation_manager_state", "internal_state"),
            SessionNotFoundError,
            session_id,
        )

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        """Read an agent, or ``None`` if it (or its session) does not exist."""
        data = self._request("GET", _agent_path(session_id, agent_id), missing=None)
        return None if data is None else _agent_from(data)

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Replace an agent's state; raises ``AgentNotFoundError`` if it does not exist."""
        body = _agent_body(session_agent)
        update = {key: body[key] for key in ("state", "conversation_manager_state", "internal_state")}
        path = _agent_path(session_id, session_agent.agent_id)
        self._request("PUT", path, json=update, missing=AgentNotFoundError, fence_for=session_id)

    def delete_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> None:
        """Delete an agent and its messages; raises ``AgentNotFoundError`` if it does not exist."""
        self._request("DELETE", _agent_path(session_id, agent_id), missing=AgentNotFoundError, fence_for=session_id)

    def list_agents(self, session_id: str, **kwargs: Any) -> list[SessionAgent]:
        """List the agents of a session; raises ``SessionNotFoundError`` if the session does not exist."""
        data = self._request("GET", _agent_path(session_id), missing=SessionNotFoundError)
        return [_agent_from(item) for item in data["agents"]]

    # -- messages -------------------------------------------------------------------------------------

    def create_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        """Create a message; ``AgentNotFoundError`` without its agent, ``ConflictError`` if the id is taken."""
        path = _message_path(session_id, agent_id, session_message.message_id)
        body = _canonical(session_message.to_dict())
        self._create(path, body, ("message", "redact_message"), AgentNotFoundError, session_id)

    def read_message(self, session_id: str, agent_id: str, message_id: int, **kwargs: Any) -> SessionMessage | None:
        """Read a message, or ``None`` if it does not exist."""
        data = self._request(
            "GET", _message_path(session_id, agent_id, message_id), missing=None, object_hook=_decode_bytes
        )
        return None if data is None else _message_from(data)

    def update_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        """Replace a message's content and redaction; raises ``MessageNotFoundError`` if it does not exist."""
        data = session_message.to_dict()
        path = _message_path(session_id, agent_id, session_message.message_id)
        body = {"message": data["message"], "redact_message": data["redact_message"]}
        self._request("PUT", path, json=body, missing=MessageNotFoundError, fence_for=session_id)

    def delete_message(self, session_id: str, agent_id: str, message_id: int, **kwargs: Any) -> None:
        """Delete a message; raises ``MessageNotFoundError`` if it does not exist."""
        path = _message_path(session_id, agent_id, message_id)
        self._request("DELETE", path, missing=MessageNotFoundError, fence_for=session_id)

    def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]:
        """List an agent's messages in ``message_id`` order: skip ``offset``, return at most ``limit`` (or all).

        The first page is fetched by offset, the following ones by keyset (``after``), so conversations
        of any length come back complete. Raises ``AgentNotFoundError`` if the agent does not exist.
        """
        path = _message_path(session_id, agent_id)
        messages: list[SessionMessage] = []
        params: dict[str, Any] = {**_PAGE_QUERY, "offset": offset}
        while limit is None or len(messages) < limit:
            params["limit"] = _PAGE_SIZE if limit is None else min(_PAGE_SIZE, limit - len(messages))
            page = self._request("GET", path, params=params, missing=AgentNotFoundError, object_hook=_decode_bytes)
            messages.extend(_message_from(item) for item in page["messages"])
            if page.get("next_after") is None or not page["messages"]:
                break
            params = {**_PAGE_QUERY, "after": page["next_after"]}
        return messages

    def convert_to_snapshot(self, session_id: str, agent_id: str, *, overwrite: bool = False) -> dict[str, Any]:
        """Write the ``snapshot_latest`` Strands' ``SnapshotSessionManager`` would have written for a message-log
        agent, from its stored log (not part of Strands' ``SessionRepository``); the log stays as it is.

        Answers ``{"key", "size", "sha256", "updated_at", "messages", "removed_message_count"}``. Raises
        ``AgentNotFoundError`` without the agent, and ``ConflictError`` when it has a snapshot already (unless
        ``overwrite``) or a stored state Strands could not restore.
        """
        path = f"{_agent_path(session_id, agent_id)}/snapshot"
        body = {"overwrite": overwrite}
        result: dict[str, Any] = self._request(
            "POST", path, json=body, missing=AgentNotFoundError, fence_for=session_id
        )
        return result

    # -- multi-agent state ----------------------------------------------------------------------------

    def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """Store ``multi_agent.serialize_state()``; ``SessionNotFoundError`` without the session, else conflict."""
        state = _canonical(multi_agent.serialize_state())
        self._create(_multi_agent_path(session_id, multi_agent.id), state, None, SessionNotFoundError, session_id)

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """Read a stored multi-agent state dict, or ``None`` if there is none."""
        path = _multi_agent_path(session_id, multi_agent_id)
        state: dict[str, Any] | None = self._request("GET", path, missing=None)
        return state

    def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """Replace the stored multi-agent state; raises ``SessionRepositoryError`` if none is stored."""
        path = _multi_agent_path(session_id, multi_agent.id)
        state = multi_agent.serialize_state()
        self._request("PUT", path, json=state, missing=SessionRepositoryError, fence_for=session_id)

    # -- health ---------------------------------------------------------------------------------------

    def health_check(self) -> dict[str, Any]:
        """Return the service's ``/health`` body; raises ``BackendUnavailableError`` if unreachable."""
        body: dict[str, Any] = self._request("GET", "/health", retry=False, accept=(200, 503))
        return body

    def database_health_check(self) -> dict[str, Any]:
        """Return the ``/health/db`` body: ``status`` is ``healthy`` or ``unhealthy``."""
        body: dict[str, Any] = self._request("GET", "/health/db", retry=False, accept=(200, 503))
        return body

    # -- HTTP -----------------------------------------------------------------------------------------

    def _create(
        self,
        path: str,
        body: dict[str, Any],
        compare: tuple[str, ...] | None,
        missing: type[SessionRepositoryError],
        session_id: str | None,
    ) -> dict[str, Any]:
        """POST the record whose path will be ``path`` to its collection (fenced for ``session_id``); a
        409 met only after a retry is success when the record stored at ``path`` is what we sent."""
        collection = path.rpartition("/")[0]
        try:
            created: dict[str, Any] = self._request(
                "POST", collection, json=body, missing=missing, fence_for=session_id
            )
            return created
        except ConflictError as exc:
            # A lost lease is never success: whatever the first attempt did, this writer is fenced off now.
            if not exc.after_retry or isinstance(exc, LeaseLostError):
                raise
            stored: dict[str, Any] | None = self._request("GET", path, missing=None)
            pick = (lambda d: d) if compare is None else (lambda d: {k: d.get(k) for k in compare})
            if stored is None or _canonical(pick(stored)) != pick(body):
                raise
            logger.debug("path=<%s> | create was applied before the retry, stored record matches", path)
            return stored


# -- snapshot sessions: a Strands ``Storage`` on the service's byte store ---------------------------------

_MAX_KEY_BYTES = 1024  # the service's limit for a key, in UTF-8 bytes after normalisation
_SLASH_RUNS = re.compile(r"/+")


class StorageBackendError(SessionRepositoryError, StorageError):
    """A request to the byte store failed: a Strands ``StorageError`` and a ``SessionException`` at once,
    with the server's status, request id and field errors like every error of this file."""


class StorageUnavailableError(StorageBackendError, BackendUnavailableError):
    """The byte store could not be reached, or stayed unavailable through every retry."""


class StorageAuthenticationError(StorageBackendError, AuthenticationError):
    """The backend rejected the API key (HTTP 401/403)."""


class StorageLeaseLostError(StorageBackendError, LeaseLostError):
    """A byte-store write carried a fencing token that is no longer its session's: refused, nothing changed."""


class PreconditionFailedError(StorageBackendError):
    """A conditional write was refused (HTTP 412): the stored object is not the one ``if_match`` named,
    or ``if_none_match`` was asked and the key exists."""


def _storage_key(key: str) -> str:
    """The key as Strands' path-based backends store it: runs of '/' collapse, leading and trailing
    '/' go; refused (``StorageError``) when empty, with a backslash or a '..' segment."""
    if "\\" in key:
        raise StorageError(f"Invalid storage key '{key}': backslashes are not allowed")
    normalized = _SLASH_RUNS.sub("/", key).strip("/")
    if not normalized:
        raise StorageError("Storage key must not be empty")
    if ".." in normalized.split("/"):
        raise StorageError(f"Invalid storage key '{key}': '..' path segments are not allowed")
    return normalized


def _storage_prefix(prefix: str) -> str:
    """A list prefix as Strands normalises it: like a key, but empty is allowed and a trailing '/' stays."""
    if "\\" in prefix:
        raise StorageError(f"Invalid storage prefix '{prefix}': backslashes are not allowed")
    normalized = _SLASH_RUNS.sub("/", prefix).lstrip("/")
    if ".." in normalized.split("/"):
        raise StorageError(f"Invalid storage prefix '{prefix}': '..' path segments are not allowed")
    return normalized


def _key_scope(key: str) -> str:
    """The session a normalised key belongs to, as the service fences it: the key's second segment when
    it has two or more (Strands' snapshot keys are ``session/<id>/...``), else its first."""
    segments = key.split("/")
    return segments[1] if len(segments) >= 2 else segments[0]


def _sha256(data: bytes) -> str:
    """The object's ETag as the service computes it: the hex sha256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


class SessionBackendStorage(_BackendClient):
    """A Strands ``Storage`` (``strands.storage.Storage``) on the service: bytes under keys, per API key.

    Back a ``SnapshotSessionManager`` and the agent's own storage with it::

        storage = SessionBackendStorage()
        agent = Agent(session_manager=SnapshotSessionManager("user-123", storage=storage), storage=storage)

    Keys follow Strands' path-based backends (``InMemoryStorage``, ``LocalFileStorage``): runs of '/'
    collapse, leading and trailing '/' are dropped; an empty key, a backslash or a '..' segment raise
    ``StorageError`` before any request, as does a key over 1,024 UTF-8 bytes (the service's limit).
    Every failure of the service is a ``StorageBackendError``. The blocking HTTP calls run in a worker
    thread (``asyncio.to_thread``), so the event loop is never held up.
    """

    _unavailable = StorageUnavailableError

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        session: requests.Session | None = None,
    ) -> None:
        """Create the storage; the arguments and their environment defaults are the repository's.

        Args:
            base_url: Service URL; defaults to env ``SESSION_BACKEND_URL``, else ``http://localhost:8001``.
            api_key: Sent as ``Authorization: Bearer <key>``; defaults to env ``SESSION_BACKEND_API_KEY``.
            timeout: Seconds to wait for each HTTP request (connect and read).
            max_retries: How often a transient failure (connection error, timeout, 502/503/504) is retried.
            session: A ``requests.Session`` to use, as it is configured; by default the storage owns one.
        """
        super().__init__(base_url, timeout=timeout, api_key=api_key, max_retries=max_retries, session=session)
        self._prefix = ""  # what namespace() views put before every key

    def namespace(self, prefix: str) -> SessionBackendStorage:
        """A view of this storage whose keys all live under ``prefix``, as Strands' own backends give.

        The view shares the connection pool; its ``list`` and ``search`` return keys without the prefix, and
        its ``search`` asks the service for that prefix only. Strands' ``FileMemoryStore`` scopes its
        storage through this method; views nest.
        """
        normalized = _storage_prefix(prefix).rstrip("/")
        scoped = copy.copy(self)
        scoped._owns_http = False  # closing a view leaves the pool to its parent
        scoped._prefix = f"{self._prefix}{normalized}/" if normalized else self._prefix
        return scoped

    def _key(self, key: str) -> str:
        """The full key the service stores ``key`` of this view under (``StorageError`` if refused)."""
        full = self._prefix + _storage_key(key)
        if len(full.encode("utf-8")) > _MAX_KEY_BYTES:
            raise StorageError(f"Invalid storage key '{full[:40]}...': longer than {_MAX_KEY_BYTES} bytes in UTF-8")
        return full

    async def write(self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False) -> None:
        """Store ``data`` under ``key``, replacing what is there (a PUT: safe to retry).

        Args:
            key: The key (normalised as Strands' path-based backends do).
            data: The bytes, stored unchanged.
            if_match: Write only if the stored object's sha256 (hex, as ``hashlib.sha256(old).hexdigest()``)
                is this one; else ``PreconditionFailedError``.
            if_none_match: Write only if the key does not exist yet; else ``PreconditionFailedError``.

        Raises:
            StorageError: For a key Strands refuses; ``StorageBackendError`` when the service fails.
        """
        await asyncio.to_thread(self._write, self._key(key), bytes(data), if_match, if_none_match)

    async def read(self, key: str) -> bytes | None:
        """The exact bytes stored under ``key``, or ``None`` when there are none."""
        return await asyncio.to_thread(self._read, self._key(key))

    async def delete(self, key: str) -> None:
        """Delete what is stored under ``key``; a no-op when nothing is (idempotent, safe to retry)."""
        full = self._key(key)
        await asyncio.to_thread(self._request, "DELETE", _OBJECT_PATH, params={"key": full}, fence_for=_key_scope(full))

    async def list(self, query: str = "") -> builtins.list[str]:
        """Every key starting with the prefix ``query`` (all keys for ``""``), full and sorted.

        The keys come in pages of 1,000 from the service, which sorts them in byte order (the order of
        Python's ``sorted`` for keys); all pages are read.
        """
        keys = await asyncio.to_thread(self._list, self._prefix + _storage_prefix(query))
        return [key[len(self._prefix) :] for key in keys]

    async def search(
        self, query: str, *, prefix: str = "", limit: int = 10, include_data: bool = True
    ) -> builtins.list[StorageSearchResult]:
        """Full-text search over the objects whose bytes are UTF-8 text, ranked best first, in one request.

        The service indexes the first 16,384 characters of each text; a word past them is not found.

        Args:
            query: Words to look for.
            prefix: Only keys starting with it (normalised like a ``list`` prefix).
            limit: At most this many results (1 to 1,000).
            include_data: Return each object's bytes too, as Strands' keyword search does.
        """
        full_prefix = self._prefix + _storage_prefix(prefix)
        body = {"query": query, "prefix": full_prefix, "limit": limit, "include_data": include_data}
        answer = await asyncio.to_thread(self._request, "POST", _SEARCH_PATH, json=body)
        return [
            StorageSearchResult(
                key=item["key"][len(self._prefix) :],
                score=float(item["score"]),
                data=base64.b64decode(item["data"]) if item.get("data") is not None else None,
            )
            for item in answer["results"]
        ]

    def __enter__(self) -> SessionBackendStorage:
        """Use the storage as a context manager; the connection pool is closed on exit."""
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """Close the storage."""
        self.close()

    # -- blocking halves, run in a worker thread ---------------------------------------------------------

    def _write(self, key: str, data: bytes, if_match: str | None, if_none_match: bool) -> None:
        """PUT the bytes; a 412 met only after a retry is success when the stored bytes are ours."""
        headers = {"Content-Type": "application/octet-stream"}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match.strip(chr(34))}"'
        if if_none_match:
            headers["If-None-Match"] = "*"
        try:
            self._request(
                "PUT", _OBJECT_PATH, params={"key": key}, data=data, headers=headers, fence_for=_key_scope(key)
            )
        except PreconditionFailedError as exc:
            # The first attempt may have been applied and its answer lost: then the condition now
            # fails on our own write.
            if not exc.after_retry or self._stored_sha256(key) != _sha256(data):
                raise
            logger.debug("key=<%s> | conditional write was applied before the retry", key)

    def _read(self, key: str) -> bytes | None:
        """GET the bytes, or ``None`` on a 404."""
        response = self._request(
            "GET", _OBJECT_PATH, params={"key": key}, missing=None, raw=True, headers=_BYTES_ACCEPT
        )
        return None if response is None else response.content

    def _stored_sha256(self, key: str) -> str | None:
        """The sha256 of what is stored under ``key`` now (``None`` when nothing is)."""
        data = self._read(key)
        return None if data is None else _sha256(data)

    def _list(self, prefix: str) -> builtins.list[str]:
        """Read every page of keys under ``prefix``."""
        keys: builtins.list[str] = []
        params: dict[str, Any] = {"prefix": prefix, "limit": _PAGE_SIZE}
        while True:
            page = self._request("GET", _KEYS_PATH, params=params)
            keys.extend(page["keys"])
            if page.get("next_start_after") is None or not page["keys"]:
                return keys
            params["start_after"] = page["next_start_after"]

    def _lease_error_class(self, name: str) -> type[SessionRepositoryError]:
        """A fenced-off write is a ``StorageError`` too, as every failure of the byte store is."""
        return SessionBusyError if name == "SessionBusyError" else StorageLeaseLostError

    def _error_class(self, status: int, missing: type[SessionRepositoryError] | None) -> type[SessionRepositoryError]:
        """Every failure of the byte store is a ``StorageBackendError`` (so a Strands ``StorageError``)."""
        if status in (401, 403):
            return StorageAuthenticationError
        if status == 412:
            return PreconditionFailedError
        if status in _TRANSIENT_STATUSES:
            return StorageUnavailableError
        return StorageBackendError


# -- one writer per session: a Strands hook that leases the session for each invocation ------------------


def _session_manager_of(agent: Any) -> Any:
    """The agent's session manager (Strands keeps it as ``Agent._session_manager``)."""
    manager = getattr(agent, "_session_manager", None)
    if manager is None or not getattr(manager, "session_id", None):
        raise ValueError(
            "SessionLease needs an agent with a session manager (RepositorySessionManager or SnapshotSessionManager)"
        )
    return manager


def _tool_use_ids(message: Any) -> list[str]:
    """The ``toolUseId`` of each toolUse block of a message."""
    return [block["toolUse"]["toolUseId"] for block in message.get("content", []) if "toolUse" in block]


def _tool_result_ids(message: Any) -> list[str]:
    """The ``toolUseId`` of each toolResult block of a message."""
    return [block["toolResult"]["toolUseId"] for block in message.get("content", []) if "toolResult" in block]


def _missing_tool_results(tool_use_ids: list[str]) -> Message:
    """The user message Strands adds after a toolUse left without results (a crash mid-turn), built
    as its ``generate_missing_tool_result_content`` builds it (that helper is private to Strands)."""
    content: list[ContentBlock] = [
        {"toolResult": {"toolUseId": tool_use_id, "status": "error", "content": [{"text": "Tool was interrupted."}]}}
        for tool_use_id in tool_use_ids
    ]
    return {"role": "user", "content": content}


class SessionLease(HookProvider):
    """Makes every invocation of an agent exclusive on its session, across processes and machines::

        agent = Agent(session_manager=RepositorySessionManager("user-1", repo), hooks=[SessionLease(repo)])

    The lease is taken when the invocation starts (``BeforeInvocationEvent``) and given back when it
    ends (``AfterInvocationEvent``, after the session manager's last save); while it is held, every write
    ``client`` sends for the session carries the fencing token. A second invocation of the session waits
    up to ``wait`` seconds, then raises ``SessionBusyError`` before it stores anything. For a
    ``SnapshotSessionManager``, pass the ``SessionBackendStorage`` the manager writes through.

    Strands may store a message before ``BeforeInvocationEvent``: the toolResult it adds when the stored
    conversation ends with a toolUse (a turn that crashed). That write takes the lease too, first.

    An agent loaded while someone else held the session, or before another holder's turn, is stale:
    after taking the lease, the hook reloads it from the session (one read of the agent and its
    messages, or of the snapshot) unless the fencing token shows nobody else held the session since
    the agent was loaded. Use one ``SessionLease`` per agent.

    Cost: two requests per invocation (acquire, release), one when the agent is built (the session's
    token), and a renewal every ``ttl / 3`` seconds of a long invocation.
    """

    def __init__(self, client: _BackendClient, wait: float = 0, ttl: int = 30, holder: str | None = None) -> None:
        """Lease through ``client`` (the repository or storage the agent's session manager uses).

        Args:
            client: A ``SyncPostgreSQLSessionRepository`` or ``SessionBackendStorage``.
            wait: Seconds an invocation waits for another holder before ``SessionBusyError``.
            ttl: Seconds the lease outlives a process that died holding it.
            holder: The name others see as the holder; defaults to ``hostname:pid``.
        """
        self.client = client
        self.wait = wait
        self.ttl = ttl
        self.holder = holder
        self.lease: Lease | None = None  # held from the invocation's first write (or start) to its end
        # The fence this agent's next lease gets if nobody else leases the session first; None when
        # unknown (then the agent is reloaded after the lease is taken).
        self._next_fence: int | None = None

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        """Register the lease's callbacks, ordered around the session manager's (which run at DEFAULT)."""
        # Before the manager restores the agent: the token then tells later whether it went stale.
        registry.add_callback(AgentInitializedEvent, self._on_initialized, order=HookOrder.SDK_FIRST)
        # Before the manager stores a message: Strands' repair toolResult is added before the invocation starts.
        registry.add_callback(MessageAddedEvent, self._on_message_added, order=HookOrder.SDK_FIRST)
        registry.add_callback(BeforeInvocationEvent, self._on_before_invocation, order=HookOrder.SDK_FIRST)
        # After the manager's last save of the invocation (it syncs the agent on this event).
        registry.add_callback(AfterInvocationEvent, self._on_after_invocation, order=HookOrder.SDK_LAST)

    def _on_initialized(self, event: AgentInitializedEvent) -> None:
        """Note the session's token before the agent is restored from it."""
        state = self.client.lease_state(_session_manager_of(event.agent).session_id)
        self._next_fence = None if state.get("held") else int(state.get("fence") or 0) + 1

    def release(self) -> None:
        """Give the lease back now. The hook does this when an invocation ends; call it yourself when an
        invocation failed in the session manager's last save (the hook's release, after it, did not run)."""
        lease, self.lease = self.lease, None
        if lease is not None:
            lease.release()
            self._next_fence = None if lease.lost or lease.fence is None else lease.fence + 1

    def _holding(self) -> bool:
        """Whether a lease is held and still good; one the server took away (its renewal was refused) is dropped."""
        if self.lease is not None and self.lease.lost:
            self.release()
            self._next_fence = None
        return self.lease is not None

    async def _on_message_added(self, event: MessageAddedEvent) -> None:
        """Take the lease before a message added outside an invocation (the repair toolResult) is stored."""
        if self._holding():
            return
        agent = event.agent
        if not await self._acquire(agent):
            return
        # Someone else held the session since this agent was loaded: reload it. The repair still
        # stands when the stored conversation ends with the same toolUse; else refuse before storing it.
        await self._reload(agent)
        if agent.messages and _tool_use_ids(agent.messages[-1]) == _tool_result_ids(event.message):
            agent.messages.append(event.message)  # the manager stores it next, after the reloaded messages
            return
        await self._release()
        self._next_fence = None
        raise ConflictError(
            f"session {_session_manager_of(agent).session_id} changed since this agent was loaded; "
            "the agent was reloaded from it, invoke it again"
        )

    async def _on_before_invocation(self, event: BeforeInvocationEvent) -> None:
        """Take the lease (unless a repair write took it already); reload the agent if it went stale."""
        if self._holding():
            return
        agent = event.agent
        if not await self._acquire(agent):
            return
        await self._reload(agent)
        # The stored conversation may end with another holder's unanswered toolUse (it crashed): give
        # it its results, as Strands does, before this invocation's input follows it.
        if event.messages and agent.messages and _tool_use_ids(agent.messages[-1]):
            await agent._append_messages(_missing_tool_results(_tool_use_ids(agent.messages[-1])))

    async def _on_after_invocation(self, event: AfterInvocationEvent) -> None:
        """Give the lease back once the invocation's writes are done."""
        await self._release()

    async def _acquire(self, agent: Any) -> bool:
        """Take the lease (waiting up to ``wait``); whether the agent may be stale and needs a reload."""
        lease = self.client.lease(_session_manager_of(agent).session_id, self.holder, self.ttl, self.wait)
        try:
            await asyncio.to_thread(lease.acquire)
        except SessionBusyError:
            self._next_fence = None  # the holder may be changing the session right now
            raise
        self.lease = lease
        return self._next_fence is None or lease.fence != self._next_fence

    async def _release(self) -> None:
        """Release the lease, if held, off the event loop."""
        await asyncio.to_thread(self.release)

    async def _reload(self, agent: Any) -> None:
        """Load the agent again from its session, as its session manager restores it."""
        manager = _session_manager_of(agent)
        if isinstance(manager, RepositorySessionManager):
            # initialize() refuses an agent id it already tracks; forgetting it makes it restore again.
            manager._latest_agent_message.pop(agent.agent_id, None)
            await asyncio.to_thread(manager.initialize, agent)
        elif isinstance(manager, SnapshotSessionManager):
            await manager.restore_snapshot(agent)
        else:
            raise ValueError(f"SessionLease cannot reload an agent of {type(manager).__name__}")


_OBJECT_PATH = "/api/v1/storage/object"
_KEYS_PATH = "/api/v1/storage/keys"
_SEARCH_PATH = "/api/v1/storage/search"
_BYTES_ACCEPT = {"Accept": "application/octet-stream, application/json"}  # bytes, or a JSON error
