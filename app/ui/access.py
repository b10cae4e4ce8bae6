"""Who is looking: the viewer's sign-in, its cookie, and the CSRF token of its forms.

Signing in with an API key stores the key's SHA-256 (what the database keeps, never the key) in Flask's
signed cookie session; every page then passes it to the same ``caller_namespace`` check the API's queries
make, so a revoked key stops working at the next page. With authentication off, or before the first key
is created, pages need no sign-in and show the ``default`` namespace, as the API does.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import Flask, g, request, session
from psycopg2 import errors as pg_errors

from .. import auth, metrics
from ..config import settings_of
from ..db import get_db, queries
from ..errors import APIError

COOKIE_NAME = "session_backend_viewer"
SIGNED_IN_FOR = timedelta(hours=8)
_CSRF_FIELD = "csrf_token"


class FormExpiredError(APIError):
    """A form came back without the CSRF token of this browser's sign-in (400)."""

    status_code, error = 400, "FormExpiredError"


class SignInRequiredError(Exception):
    """The page needs a valid key and the browser has none (or its key was revoked)."""


def configure_cookie(app: Flask) -> None:
    """Sign the viewer's cookie with UI_SECRET_KEY, keep it from scripts and from other sites' requests."""
    settings = settings_of(app)
    app.secret_key = settings.ui_secret_key
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_PATH="/ui",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        # Behind TLS in production; a laptop's http://127.0.0.1 must still get its cookie.
        SESSION_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=SIGNED_IN_FOR,
    )


def csrf_token() -> str:
    """This browser's CSRF token, made on first use; every form of the viewer sends it back."""
    token = session.get(_CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[_CSRF_FIELD] = token
    return token


def check_csrf() -> None:
    """Refuse a POST whose form does not carry this browser's CSRF token.

    Raises:
        FormExpiredError: the token is missing or is another browser's.
    """
    sent = request.form.get(_CSRF_FIELD, "")
    expected = session.get(_CSRF_FIELD)
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise FormExpiredError("this form has expired or did not come from this viewer: reload the page and retry")


def identify_viewer() -> None:
    """Set ``g.caller`` and ``g.namespace`` for a page, from the browser's sign-in (if any).

    Raises:
        SignInRequiredError: the service needs a key and the cookie holds none, or one no longer valid.
    """
    key_hash = session.get("key_hash")
    g.caller = auth.caller_for(key_hash if isinstance(key_hash, str) else None)
    try:
        g.namespace = queries.caller_namespace(get_db(), **g.caller)
    except pg_errors.InvalidAuthorizationSpecification:
        raise SignInRequiredError() from None
    g.signed_in = g.caller["key_hash"] is not None


def sign_in(key: str) -> bool:
    """Check ``key`` and, when valid, start a new signed-in cookie session for its namespace."""
    key_hash = auth.fingerprint(key.strip())[1]
    try:
        queries.caller_namespace(get_db(), **auth.caller_for(key_hash))
    except pg_errors.InvalidAuthorizationSpecification:
        metrics.AUTH_FAILURES.labels(endpoint="viewer").inc()
        return False
    # A new session: nothing from before the sign-in (a planted CSRF token, say) survives it.
    session.clear()
    session.permanent = True
    session["key_hash"] = key_hash
    csrf_token()
    return True


def sign_out() -> None:
    """Forget the browser's key: the cookie is cleared."""
    session.clear()
