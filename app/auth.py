"""API keys: who is calling, and so which namespace every query of the request is scoped to.

Clients send ``Authorization: Bearer <key>`` (or ``X-API-Key``). Only a SHA-256 of a key is stored;
its first 16 hex digits are the key id, shown by ``keys list`` and written to logs instead of the key.
Until the first key is created (and not in production) the service runs unauthenticated in the
``default`` namespace. From then on requests without a key are refused, even after every key is
revoked, until ``session-backend keys allow-keyless --yes``; AUTH_DISABLED=true forces the open mode.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time

import psycopg2
from flask import Flask, Response, current_app, g, request
from psycopg2 import errors as pg_errors

from . import metrics
from .config import Settings, settings_of
from .db import get_db, queries
from .errors import APIError, error_response
from .migrations import SCHEMA_OUT_OF_DATE, schema_is_current

logger = logging.getLogger(__name__)

KEY_PREFIX = "sb_"


class AuthenticationError(APIError):
    """The request carries no valid API key (401); says nothing about which part was wrong."""

    status_code, error = 401, "AuthenticationError"


def fingerprint(key: str) -> tuple[str, str]:
    """Return ``(key_id, secret_hash)`` for ``key``: the hash's first 16 hex digits, and the hash."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return digest[:16], digest


def new_key() -> str:
    """A new high-entropy key (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _presented_key() -> str | None:
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, key = authorization.partition(" ")
        return key.strip() if scheme.lower() == "bearer" else ""
    return request.headers.get("X-API-Key")


def keyless_mode(settings: Settings) -> str:
    """How ``caller_namespace`` treats a request without a key under ``settings`` (functions.sql):
    ``open`` (AUTH_DISABLED), ``refused`` (production) or ``until-first-key``."""
    if settings.auth_disabled:
        return "open"
    return "refused" if settings.production else "until-first-key"


def caller_for(key_hash: str | None) -> dict[str, str | None]:
    """The query parameters naming a caller who presented the key hashed to ``key_hash`` (None: no key),
    seeding the configured keys first so that they are known to the query."""
    settings: Settings = settings_of(current_app)
    if settings.auth_disabled:
        return {"key_hash": None, "keyless": "open"}
    _seed_configured_keys(current_app)
    return {"key_hash": key_hash, "keyless": keyless_mode(settings)}


def authenticate() -> None:
    """Set ``g.caller``, the query parameters that name the caller of an API request.

    The key is not looked up here: every resource query checks it itself with
    ``caller_namespace(key_hash, keyless)`` (sql/migrations/functions.sql), which fails with
    SQLSTATE 28000, answered 401. That saves a round trip on every request.
    """
    if not request.path.startswith("/api/") or request.method == "OPTIONS":
        return
    key = _presented_key()
    # A key that was sent is checked even when the service runs open: a typo must not pass.
    g.caller = caller_for(None if key is None else fingerprint(key)[1])
    if g.caller["key_hash"] is not None:
        g.key_id = g.caller["key_hash"][:16]


def verify_caller() -> str:
    """Check the caller's key with a query of its own and return its namespace.

    For answers that found nothing: their query may have finished without needing the key, and
    a caller without a valid key must get 401, not 404.

    Raises:
        psycopg2.errors.InvalidAuthorizationSpecification: the key is missing, unknown or revoked.
    """
    namespace: str = queries.caller_namespace(get_db(), **g.caller)
    return namespace


# key hash -> monotonic time this process last recorded its use; only accepted keys, at most 10,000.
_last_recorded: dict[str, float] = {}
_RECORD_USE_EVERY_SECONDS = 60.0


def _record_use(response: Response) -> Response:
    """After a request its key was accepted for, update the key's last_used_at, at most once a
    minute per key and process. Best effort: the request's own work is done and answered."""
    key_hash = g.get("caller", {}).get("key_hash")
    # A success or a 404 means the key was checked and accepted; a 422, say, may not have reached it.
    if key_hash is None or not (response.status_code < 300 or response.status_code == 404):
        return response
    now = time.monotonic()
    if now - _last_recorded.get(key_hash, -_RECORD_USE_EVERY_SECONDS) < _RECORD_USE_EVERY_SECONDS:
        return response
    try:
        queries.record_api_key_use(get_db(), key_hash=key_hash)
    except psycopg2.Error as exc:
        logger.warning("could not record an API key's use: %s", type(exc).__name__)
        return response
    if len(_last_recorded) < 10_000:
        _last_recorded[key_hash] = now
    return response


def _rejected(exc: psycopg2.Error) -> Response:
    """The answer when ``caller_namespace`` refused the request's key."""
    logger.info("rejected API key", extra={"key_id": g.get("key_id")})
    metrics.AUTH_FAILURES.labels(endpoint="api").inc()
    return error_response(AuthenticationError("missing or invalid API key"))


def _seed_configured_keys(app: Flask) -> None:
    """Insert the keys from API_KEYS/API_KEYS_FILE, once per process."""
    if app.extensions.get("api_keys_seeded"):
        return
    for namespace, key in settings_of(app).api_keys:
        key_id, secret_hash = fingerprint(key)
        queries.seed_api_key(get_db(), key_id=key_id, namespace=namespace, secret_hash=secret_hash)
    app.extensions["api_keys_seeded"] = True


def check_at_start(app: Flask) -> None:
    """Seed configured keys and say, at start, whether requests will be authenticated.

    Raises:
        RuntimeError: in production with no usable key and AUTH_DISABLED unset.
    """
    settings: Settings = settings_of(app)
    if settings.auth_disabled:
        logger.warning("AUTH_DISABLED=true: API requests are not authenticated; all share the 'default' namespace")
        return
    try:
        with app.app_context():
            if not schema_is_current(get_db()):
                logger.error(f"database {SCHEMA_OUT_OF_DATE}; until then /health/ready and API requests answer 503")
                return
            _seed_configured_keys(app)
            active = queries.any_active_api_key(get_db())
            required = queries.keys_required(get_db())
    except psycopg2.Error:
        logger.warning("could not check API keys at start (database unreachable); checking on each request")
        return
    if active:
        return
    if settings.production:
        raise RuntimeError(
            "refusing to start in production without API keys: create one with "
            "`session-backend keys create --namespace NAME`, set API_KEYS, or set AUTH_DISABLED=true"
        )
    if required:
        logger.warning(
            "no active API key: every API request is refused (401) until a key is created with "
            "`session-backend keys create --namespace NAME`; `session-backend keys allow-keyless --yes` "
            "serves requests without a key again"
        )
        return
    logger.warning(
        "no API keys configured: API requests are NOT authenticated and all share the 'default' namespace; "
        "create a key with `session-backend keys create --namespace NAME` to require keys"
    )


def init_app(app: Flask) -> None:
    """Name the caller of every API request of ``app``, and answer a refused key with 401."""
    app.before_request(authenticate)
    app.after_request(_record_use)
    app.register_error_handler(pg_errors.InvalidAuthorizationSpecification, _rejected)
