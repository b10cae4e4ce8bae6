"""API keys: who is calling, and so which namespace every query of the request is scoped to.

Clients send ``Authorization: Bearer <key>`` (or ``X-API-Key``). Only a SHA-256 of a key is stored;
its first 16 hex digits are the key id, shown by ``keys list`` and written to logs instead of the key.
With no active key at all (and not in production) the service runs unauthenticated in the
``default`` namespace; AUTH_DISABLED=true forces that mode.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

import psycopg2
from flask import Flask, current_app, g, request

from .config import Settings
from .db import get_db, queries
from .errors import APIError

logger = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "default"
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


def _namespace_of(key: str) -> str:
    key_id, secret_hash = fingerprint(key)
    row = queries.authenticate_api_key(get_db(), key_id=key_id)
    stored_hash = row[1] if row else "0" * 64
    # Compare even when nothing was found, so the answer takes the same time either way.
    if not hmac.compare_digest(stored_hash, secret_hash) or row is None or row[2]:
        logger.info("rejected API key", extra={"key_id": key_id})
        raise AuthenticationError("missing or invalid API key")
    g.key_id = key_id
    return row[0]


def authenticate() -> None:
    """Set ``g.namespace`` for an API request, or raise :class:`AuthenticationError`."""
    if not request.path.startswith("/api/") or request.method == "OPTIONS":
        return
    settings: Settings = current_app.config["SETTINGS"]
    if settings.auth_disabled:
        g.namespace = DEFAULT_NAMESPACE
        return
    _seed_configured_keys(current_app)
    key = _presented_key()
    if key is not None:
        # A key that was sent is checked even when the service runs open: a typo must not pass.
        g.namespace = _namespace_of(key)
    elif not settings.production and not queries.any_active_api_key(get_db()):
        g.namespace = DEFAULT_NAMESPACE
    else:
        raise AuthenticationError("missing or invalid API key")


def _seed_configured_keys(app: Flask) -> None:
    """Insert the keys from API_KEYS/API_KEYS_FILE, once per process."""
    if app.extensions.get("api_keys_seeded"):
        return
    for namespace, key in app.config["SETTINGS"].api_keys:
        key_id, secret_hash = fingerprint(key)
        queries.seed_api_key(get_db(), key_id=key_id, namespace=namespace, secret_hash=secret_hash)
    app.extensions["api_keys_seeded"] = True


def check_at_start(app: Flask) -> None:
    """Seed configured keys and say, at start, whether requests will be authenticated.

    Raises:
        RuntimeError: in production with no usable key and AUTH_DISABLED unset.
    """
    settings: Settings = app.config["SETTINGS"]
    if settings.auth_disabled:
        logger.warning("AUTH_DISABLED=true: API requests are not authenticated; all share the 'default' namespace")
        return
    try:
        with app.app_context():
            _seed_configured_keys(app)
            active = queries.any_active_api_key(get_db())
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
    logger.warning(
        "no API keys configured: API requests are NOT authenticated and all share the 'default' namespace; "
        "create a key with `session-backend keys create --namespace NAME` to require keys"
    )


def init_app(app: Flask) -> None:
    """Authenticate every API request of ``app`` before its view runs."""
    app.before_request(authenticate)
