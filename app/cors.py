"""CORS: off unless CORS_ORIGINS lists the browser origins allowed to call the API."""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from .config import settings_of

# What a browser may send: the key, the request id, conditional writes and the lease's fencing token.
_ALLOWED_HEADERS = "Authorization, Content-Type, X-API-Key, X-Request-ID, If-Match, If-None-Match, X-Session-Fence"
# What a browser may read: the request id, and the ETag that If-Match sends back.
_EXPOSED_HEADERS = "X-Request-ID, ETag"
_ALLOWED_METHODS = "GET, POST, PUT, DELETE"
_PREFLIGHT_MAX_AGE = "600"


def _allow_listed_origin(response: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin is None or origin.rstrip("/") not in settings_of(current_app).cors_origins:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = _EXPOSED_HEADERS
    response.vary.add("Origin")
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = _ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = _PREFLIGHT_MAX_AGE
    return response


def init_app(app: Flask) -> None:
    """Answer CORS requests from the configured origins; no credentials are ever allowed."""
    app.after_request(_allow_listed_origin)
