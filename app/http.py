"""Request and response plumbing shared by the blueprints: request ids, bodies, path ids."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any, NoReturn
from urllib.parse import parse_qsl, unquote, urlsplit

from flask import Flask, Response, current_app, g, request
from marshmallow import Schema
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import auth
from .errors import BadRequestError, NotFoundError, PreconditionFailedError, RequestValidationError
from .schemas import UNKNOWN_PARAMETER, PathParams, is_identifier, is_message_id, is_uuid

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A fencing token as a client sends it: a decimal integer that fits PostgreSQL's bigint.
FENCE_HEADER = "X-Session-Fence"
FENCE_PATTERN = r"^[0-9]{1,18}$"
_FENCE = re.compile(FENCE_PATTERN)
_path_params = PathParams()
_PATH_RULES = {
    "session_id": is_identifier,
    "agent_id": is_identifier,
    "multi_agent_id": is_identifier,
    "message_id": is_message_id,
    "lease_id": is_uuid,
    "rewind_id": is_uuid,
}
# A percent-encoded '/' or '\' in the raw request line: the WSGI server decodes it before routing.
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
_ENCODED_SEPARATOR_MESSAGE = "must not contain '/' or '\\', percent-encoded or not"
# The API's endpoints that read a query string (with load_query); every other API endpoint refuses one.
# Health probes and the documentation pages ignore query strings: cache-busting parameters are usual.
QUERY_ENDPOINTS = frozenset(
    {
        "sessions.list_sessions",
        "messages.list_messages",
        "storage.write_object",
        "storage.read_object",
        "storage.delete_object",
        "storage.list_keys",
    }
)


def json_response(body: str, status: int = 200) -> Response:
    """Wrap JSON text (built by PostgreSQL) in a response without re-encoding it."""
    return Response(body, status, mimetype="application/json")


def no_content() -> Response:
    """The empty 204 answer to a successful DELETE."""
    return Response(status=204)


def found(body: str | None, what: str) -> str:
    """Return ``body``, or raise NotFoundError naming ``what`` when the query found nothing.

    Raises:
        NotFoundError: for a caller whose key is valid.
        psycopg2.errors.InvalidAuthorizationSpecification: for any other (answered 401).
    """
    if body is None:
        not_found(what)
    return body


def not_found(what: str) -> NoReturn:
    """Raise NotFoundError naming ``what``, after checking the caller's key (a bad key is a 401, not a 404)."""
    auth.verify_caller()
    raise NotFoundError(f"{what} not found")


def session_writer() -> dict[str, Any]:
    """The query parameters of a write to a session: the caller, and the request's fencing token (or None).

    Raises:
        RequestValidationError: when X-Session-Fence is not a decimal integer of at most 18 digits.
    """
    header = request.headers.get(FENCE_HEADER)
    if header is not None and not _FENCE.fullmatch(header):
        raise RequestValidationError(
            "request failed validation", fields={FENCE_HEADER: ["must be a fencing token: 1-18 decimal digits"]}
        )
    return {**g.caller, "fence": None if header is None else int(header)}


def if_match_versions() -> list[int] | None:
    """The versions an If-Match header accepts (ETags are quoted versions); None without one or with ``*``.

    A tag that is no version can match nothing, so it is dropped: a header of only such tags refuses
    every write with 412, as HTTP wants for an ETag that does not match.
    """
    if "If-Match" not in request.headers or request.if_match.star_tag:
        return None
    tags = request.if_match.as_set()
    return [int(tag) for tag in tags if tag and tag.isascii() and tag.isdigit() and len(tag) <= 18]


def with_etag(response: Response, version: int) -> Response:
    """Set ``response``'s ETag to the quoted ``version`` (what If-Match compares)."""
    response.headers["ETag"] = f'"{version}"'
    return response


def found_version(row: tuple[str, int] | None, what: str) -> Response:
    """The JSON and version a query returned, as a response with the version as ETag; 404 for no row."""
    if row is None:
        found(None, what)
    assert row is not None
    return with_etag(json_response(row[0]), row[1])


def updated_version(
    row: tuple[str, int] | None, versions: list[int] | None, exists: Callable[[], object], what: str
) -> Response:
    """The outcome of a conditional update: the row, else 412 when If-Match named versions and the record
    is there (``exists`` reads it, only on this path), else 404."""
    if row is None and versions is not None and exists() is not None:
        raise PreconditionFailedError(f"the {what} has changed: its version is not one If-Match names")
    return found_version(row, what)


def load_json(schema: Schema) -> dict[str, Any]:
    """Parse the request body as JSON and load it with ``schema``.

    Raises:
        BadRequestError: when the body is not JSON.
        marshmallow.ValidationError: when it does not fit the schema (answered with 422).
    """
    raw = raw_body()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequestError("request body must be valid JSON") from None
    if not isinstance(body, dict):
        raise RequestValidationError("request body must be a JSON object", fields={"_schema": ["must be an object"]})
    loaded: dict[str, Any] = schema.load(body)
    return loaded


def raw_body() -> bytes:
    """The request body; a chunked one longer than MAX_CONTENT_LENGTH raises RequestEntityTooLarge (413).

    Without a Content-Length, werkzeug stops reading at the limit and returns what it read, as if
    the body ended there; one more byte waiting past it means the body was longer.
    """
    raw = request.get_data(cache=False)
    limit = request.max_content_length
    if (
        limit is not None
        and request.content_length is None
        and len(raw) >= limit
        and request.environ["wsgi.input"].read(1)
    ):
        raise RequestEntityTooLarge()
    return raw


def load_query(schema: Schema) -> dict[str, Any]:
    """Load the query string with ``schema``.

    Raises:
        RequestValidationError: when a parameter is given more than once (which value was meant?).
        marshmallow.ValidationError: for an unknown parameter or a bad value (answered with 422).
    """
    try:
        # werkzeug decodes invalid UTF-8 to U+FFFD, which would quietly name another key.
        parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise RequestValidationError(
            "request failed validation", fields={"_query": ["must be percent-encoded UTF-8"]}
        ) from None
    repeated = {name: ["given more than once"] for name, values in request.args.lists() if len(values) > 1}
    if repeated:
        raise RequestValidationError("request failed validation", fields=repeated)
    loaded: dict[str, Any] = schema.load(request.args)
    return loaded


def _refuse_unexpected_query() -> None:
    """Refuse a query string on an API endpoint that reads none (422 naming each parameter)."""
    if (
        request.args
        and request.endpoint is not None
        and request.endpoint not in QUERY_ENDPOINTS
        and request.path.startswith("/api/")
        and request.method != "OPTIONS"
    ):
        raise RequestValidationError(
            "request failed validation", fields={name: [UNKNOWN_PARAMETER] for name in request.args}
        )


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _raw_path() -> str | None:
    """The path as the client wrote it, before the WSGI server percent-decoded it (None if unknown)."""
    # gunicorn sets RAW_URI, mod_wsgi and uWSGI REQUEST_URI, werkzeug's server and test client both.
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        return None
    return urlsplit(raw).path if not raw.startswith("/") else raw.split("?", 1)[0]


def _refuse_encoded_separators() -> None:
    """Refuse a '%2F' or '%5C' inside a path segment as a raw '/' or '\\' in an id is refused (422).

    The decoded '/' has already split the segment, so the route that matched (if any) is the wrong
    one; the raw path, with each offending segment replaced by a marker, says which id it was.
    """
    raw = _raw_path()
    if raw is None or "%" not in raw or not _ENCODED_SEPARATOR.search(raw):
        return
    segments = raw.split("/")
    # Each offending segment becomes a marker (NUL and its index); a client-sent NUL that happens to
    # spell one could only add a name to the 422.
    marked = [
        f"\x00{i}" if _ENCODED_SEPARATOR.search(segment) else unquote(segment) for i, segment in enumerate(segments)
    ]
    markers = {segment for segment in marked if segment.startswith("\x00")}
    path = "/".join(marked)
    try:
        _, args = current_app.url_map.bind("localhost").match(path, method=request.method)
    except HTTPException:
        args = {}
    names = sorted(name for name, value in args.items() if value in markers) or ["path"]
    fields = {name: [_ENCODED_SEPARATOR_MESSAGE] for name in names}
    raise RequestValidationError("request failed validation", fields=fields)


def _validate_path() -> None:
    _refuse_encoded_separators()
    args = request.view_args
    if not args:
        return
    # Loading with the schema costs ~5 µs a request, a plain check ~0.3 µs: well-formed ids,
    # nearly all of them, take the check, and the rest go to the schema for its error messages.
    if all(_PATH_RULES.get(name, _any)(value) for name, value in args.items()):
        if "message_id" in args:
            args["message_id"] = int(args["message_id"])
    else:
        args.update(_path_params.load(args))


def _any(value: object) -> bool:
    return True


def _echo_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response


def init_app(app: Flask) -> None:
    """Install request-id handling, and the path and query-string checks, on ``app``."""
    app.before_request(_assign_request_id)
    app.before_request(_validate_path)
    app.before_request(_refuse_unexpected_query)
    app.after_request(_echo_request_id)
