"""The API's error hierarchy and the one place that turns every failure into a JSON response."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import psycopg2
from flask import Flask, Response, g
from marshmallow import ValidationError
from psycopg2 import errors as pg_errors
from psycopg2.pool import PoolError
from werkzeug.exceptions import HTTPException

from . import metrics

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "1"

_SHARD_SUFFIX = re.compile(r"_\d+$")
# How Citus reports, as an internal error, a worker it cannot reach (e.g. its cached connection to a
# worker that restarted): transient, so a 503 the client retries, not a 500.
_CITUS_WORKER_UNREACHABLE = re.compile(r"^(failure on connection marked as essential|connection to the remote node)")
_NAMED_CONSTRAINT = re.compile(r'constraint "([^"]+)"')
# What a violated constraint means to the client. The database decides conflicts and missing
# parents; this table only names them.
_CONSTRAINT_MESSAGES = {
    "sessions_pkey": "session already exists",
    "session_agents_pkey": "agent already exists in this session",
    "session_messages_pkey": "message already exists for this agent",
    "multi_agents_pkey": "multi-agent state already exists in this session",
    "session_agents_session_fkey": "session not found",
    "multi_agents_session_fkey": "session not found",
    "session_messages_agent_fkey": "agent not found in this session",
    # Writes name it in ON CONFLICT, so a request never violates it; listed for completeness.
    "storage_objects_pkey": "object already exists",
    # The acquire names it in ON CONFLICT too.
    "session_leases_pkey": "lease already exists",
    # A rewind's id is new each time, and its archive follows its agent; listed for completeness.
    "agent_rewinds_pkey": "rewind already exists",
    "archived_messages_pkey": "message already archived",
    "agent_rewinds_agent_fkey": "agent not found in this session",
    "archived_messages_rewind_fkey": "rewind not found",
}
# Raised by fenced() (sql/migrations/functions.sql) when a write's fencing token is not the current one.
FENCE_REFUSED = "SB409"
# Raised by unleased() when another process holds the lease of a session whose history a request changes.
LEASE_HELD = "SB423"
# Raised by refuse_if_held() (functions.sql) when a DELETE meets a session on legal hold.
LEGAL_HOLD_REFUSED = "SBHLD"


class APIError(Exception):
    """An error with an HTTP status, answered as ``{"detail": {"error", "message", ...}}``."""

    status_code = 500
    error = "InternalServerError"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra
        self.headers: list[tuple[str, str]] = []


class BadRequestError(APIError):
    """The request body is not JSON (400)."""

    status_code, error = 400, "BadRequestError"


class NotFoundError(APIError):
    """The resource, or its parent, does not exist (404)."""

    status_code, error = 404, "NotFoundError"


class ConflictError(APIError):
    """The resource already exists (409)."""

    status_code, error = 409, "ConflictError"


class SessionBusyError(ConflictError):
    """Another holder has the session's lease and kept it for as long as the caller would wait (409)."""

    error = "SessionBusyError"


class LeaseLostError(ConflictError):
    """The caller's lease or fencing token is no longer the session's current one (409); nothing changed."""

    error = "LeaseLostError"


class LegalHoldError(ConflictError):
    """The session is on legal hold, which keeps it from deletion until released (409); nothing changed."""

    error = "LegalHoldError"


class PreconditionFailedError(APIError):
    """An If-Match or If-None-Match condition does not hold for the stored object (412)."""

    status_code, error = 412, "PreconditionFailedError"


class PayloadTooLargeError(APIError):
    """The body exceeds MAX_CONTENT_LENGTH (413)."""

    status_code, error = 413, "PayloadTooLargeError"


class RequestValidationError(APIError):
    """The body, query or path fails its schema (422); ``fields`` names what is wrong."""

    status_code, error = 422, "ValidationError"


class ServiceUnavailableError(APIError):
    """The database cannot be reached (503); the client should retry."""

    status_code, error = 503, "ServiceUnavailableError"


def error_response(err: APIError) -> Response:
    """Render ``err`` in the standard envelope, with the request id."""
    detail = {"error": err.error, "message": err.message, "request_id": g.get("request_id"), **err.extra}
    response = Response(json.dumps({"detail": detail}), err.status_code, mimetype="application/json")
    response.headers.extend(err.headers)
    if err.status_code == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    elif err.status_code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _from_http(exc: HTTPException) -> APIError:
    if exc.code == 413:
        return PayloadTooLargeError("request body is larger than the configured MAX_CONTENT_LENGTH")
    err = APIError(exc.description or exc.name)
    err.status_code = exc.code or 500
    err.error = exc.name.replace(" ", "") + ("" if exc.name.endswith("Error") else "Error")
    # Headers the status requires travel with it, e.g. 405's Allow (RFC 9110); the body is ours.
    err.headers = [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]
    return err


def _constraint_in_message(exc: psycopg2.Error) -> str:
    """The constraint an error's message names, for errors without the field: Citus relays a shard's
    error with its message and SQLSTATE but not its constraint name."""
    named = _NAMED_CONSTRAINT.search(getattr(exc.diag, "message_primary", None) or "")
    return named.group(1) if named else ""


def _from_integrity(exc: psycopg2.IntegrityError) -> APIError:
    constraint = getattr(exc.diag, "constraint_name", None) or _constraint_in_message(exc)
    # On Citus the error comes from a shard, whose constraints carry the shard's id: sessions_pkey_102008.
    message = _CONSTRAINT_MESSAGES.get(constraint) or _CONSTRAINT_MESSAGES.get(_SHARD_SUFFIX.sub("", constraint))
    if isinstance(exc, pg_errors.UniqueViolation) and message:
        return ConflictError(message)
    if isinstance(exc, pg_errors.ForeignKeyViolation) and message:
        return NotFoundError(message)
    return RequestValidationError("the request violates a database constraint")


def database_refusal(exc: psycopg2.Error) -> APIError | None:
    """The API error a check in the database raised (fenced, unleased, refuse_if_held), or None for any other."""
    if exc.pgcode == LEGAL_HOLD_REFUSED:
        return LegalHoldError("the session is on legal hold: release the hold (legal_hold false) before deleting it")
    if exc.pgcode == FENCE_REFUSED:
        current = getattr(exc.diag, "message_detail", None) or "0"
        return LeaseLostError(
            "the session's lease has changed hands: this write's X-Session-Fence is not the current token",
            fence=int(current),
        )
    if exc.pgcode == LEASE_HELD:
        return SessionBusyError("another process holds the session's lease: send its X-Session-Fence, or wait")
    return None


def integrity_error(exc: psycopg2.IntegrityError) -> APIError:
    """What a violated constraint means to the client: 409, 404 or 422 (see _CONSTRAINT_MESSAGES)."""
    return _from_integrity(exc)


def _from_database(exc: psycopg2.DatabaseError) -> Response:
    """A database error without a handler of its own: a refusal by a check in the database, a Citus
    worker out of reach, or unexpected."""
    refused = database_refusal(exc)
    if refused is not None:
        return error_response(refused)
    if _CITUS_WORKER_UNREACHABLE.search(getattr(exc.diag, "message_primary", None) or ""):
        return _unavailable(exc)
    return _unexpected(exc)


def _unavailable(exc: Exception) -> Response:
    logger.warning("database unavailable: %s", type(exc).__name__)
    return error_response(ServiceUnavailableError("database unavailable, retry later"))


def _schema_behind(exc: Exception) -> Response:
    # A deployment error, not the client's: the database lacks a table or function this version
    # queries, so every request would fail until `init-db` runs. Retrying later is right.
    logger.error("database schema is older than this version (%s): run `session-backend init-db`", type(exc).__name__)
    return error_response(ServiceUnavailableError("database schema is not up to date, retry later"))


def _unexpected(exc: Exception) -> Response:
    logger.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return error_response(APIError("internal server error"))


def _counted(handler: Callable[[Any], Response]) -> Callable[[Any], Response]:
    """``handler`` of database errors, counting each one in the metrics first."""

    def handle(exc: Exception) -> Response:
        metrics.count_database_error(exc)
        return handler(exc)

    return handle


def _handlers() -> dict[type[Exception], Callable[[Any], Response]]:
    """Each exception class the service answers, and how (the most specific class of an error wins)."""
    handlers: dict[type[Exception], Callable[[Any], Response]] = {
        APIError: error_response,
        ValidationError: lambda exc: error_response(
            RequestValidationError("request failed validation", fields=exc.messages)
        ),
        HTTPException: lambda exc: error_response(_from_http(exc)),
        psycopg2.IntegrityError: _counted(lambda exc: error_response(_from_integrity(exc))),
        # Values the schemas let through but PostgreSQL refuses (e.g. invalid escapes in JSON text).
        psycopg2.DataError: _counted(
            lambda exc: error_response(RequestValidationError("the database rejected a value"))
        ),
        psycopg2.DatabaseError: _counted(_from_database),
        Exception: _unexpected,
    }
    # PoolError included: the pool metrics count its timeouts too, this counter says what requests met.
    for database_down in (psycopg2.OperationalError, psycopg2.InterfaceError, PoolError):
        handlers[database_down] = _counted(_unavailable)
    for missing in (pg_errors.UndefinedFunction, pg_errors.UndefinedTable, pg_errors.UndefinedColumn):
        handlers[missing] = _counted(_schema_behind)
    return handlers


_HANDLERS = _handlers()


def response_for(exc: Exception) -> Response:
    """The JSON error response the API gives for ``exc``, for pages that render it their own way."""
    for cls in type(exc).__mro__:
        handler = _HANDLERS.get(cls)
        if handler is not None:
            return handler(exc)
    return _unexpected(exc)


def register_error_handlers(app: Flask) -> None:
    """Install the handlers that map every exception to the JSON error envelope."""
    for cls, handler in _HANDLERS.items():
        app.register_error_handler(cls, handler)
