"""The byte store behind Strands' ``Storage`` protocol: write, read, delete, list and search objects.

Keys travel in the query string (``?key=``), never in the path: no client, proxy or WSGI server
normalises dot segments or decodes ``%2F`` there, so no layer can turn one key into another.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg2.extensions
from flask import Blueprint, Response, g, request
from werkzeug.http import http_date

from . import auth, metrics, storage_schemas
from .db import get_db, queries
from .errors import NotFoundError, PreconditionFailedError, RequestValidationError
from .http import json_response, load_json, load_query, no_content, raw_body, session_writer
from .storage_keys import prefix_end, scope_of

bp = Blueprint("storage", __name__, url_prefix="/api/v1/storage")
# Built once: constructing a marshmallow schema costs more than loading a small body.
KEY_QUERY_SCHEMA = storage_schemas.StorageKeyQuery()
LIST_QUERY_SCHEMA = storage_schemas.StorageListQuery()
SEARCH_SCHEMA = storage_schemas.StorageSearch()


def _key_text(hex_key: str) -> str:
    return bytes.fromhex(hex_key).decode("utf-8")


def _located() -> dict[str, Any]:
    """The caller and the object the query string's key names, as the queries take them."""
    key: str = load_query(KEY_QUERY_SCHEMA)["key"]
    return {**g.caller, "scope": scope_of(key), "key": key.encode("utf-8")}


def _written() -> dict[str, Any]:
    """The object a write names, with the writer: its fencing token guards the key's scope, which is the
    session id in the keys Strands writes (session/<id>/..., context/<id>/...)."""
    located = _located()
    return {**located, **session_writer(), "session_id": located["scope"].decode("utf-8")}


def _text_path(conn: psycopg2.extensions.connection) -> bool:
    """Whether values may travel as text on ``conn``: only when the database and the connection are
    UTF8, so that text is the value's own bytes on the way in and out."""
    return conn.encoding == "UTF8" and conn.info.parameter_status("server_encoding") == "UTF8"


def stored_value(conn: psycopg2.extensions.connection, data: bytes) -> dict[str, Any]:
    """The value as the write queries take it: ``body`` (text) when it is UTF-8 without NUL, else ``data``.

    psycopg2 sends bytea hex-escaped, a literal twice the value's size; text goes as itself. On a
    1 MB snapshot that halves the cost of escaping and of PostgreSQL parsing the statement.
    """
    if _text_path(conn) and b"\x00" not in data:
        try:
            return {"data": None, "body": data.decode("utf-8")}
        except UnicodeDecodeError:
            pass
    return {"data": data, "body": None}


def _write(located: dict[str, Any], data: bytes) -> tuple[str, int, str, bool] | None:
    """Write under the request's If-Match / If-None-Match; None when the condition does not hold."""
    if_match, if_none_match = request.headers.get("If-Match"), request.headers.get("If-None-Match")
    if if_match is not None and if_none_match is not None:
        raise RequestValidationError(
            "request failed validation", fields={"If-None-Match": ["give If-Match or If-None-Match, not both"]}
        )
    if if_none_match is not None and not request.if_none_match.star_tag:
        raise RequestValidationError("request failed validation", fields={"If-None-Match": ["only * is supported"]})
    conn = get_db()
    value = stored_value(conn, data)
    if if_none_match is not None:
        row = queries.write_object(conn, **located, **value, overwrite=False)
    elif if_match is not None:
        tags = request.if_match
        row = queries.replace_matching_object(
            conn, **located, **value, any_tag=tags.star_tag, tags=sorted(tags.as_set())
        )
    else:
        row = queries.write_object(conn, **located, **value, overwrite=True)
    return None if row is None else (row[0], row[1], row[2], row[3])


@bp.put("/object")
def write_object() -> Response:
    """Write an object.

    Stores the request body, byte for byte, under `key`, creating or replacing the object. With
    `If-Match: "<sha256>"` it replaces only an object whose sha256 is that one, and with
    `If-None-Match: *` it writes only when the key is free: otherwise 412, and nothing changes.
    ---
    put:
      operationId: writeStorageObject
      tags: [storage]
      parameters:
        - {in: query, schema: StorageKeyQuery}
        - in: header
          name: If-Match
          required: false
          description: Write only if the stored object's ETag (its quoted sha256) is one of these; `*` if it exists.
          schema: {type: string}
        - in: header
          name: If-None-Match
          required: false
          description: "`*`: write only if the key holds no object."
          schema: {type: string, enum: ['*']}
      requestBody:
        required: true
        content:
          application/octet-stream:
            schema: {type: string, format: binary}
            example: hello
      responses:
        200:
          description: Replaced
          headers: {ETag: {description: The quoted sha256 of the value, schema: {type: string}}}
          content: {application/json: {schema: StorageObject}}
        201:
          description: Created
          headers: {ETag: {description: The quoted sha256 of the value, schema: {type: string}}}
          content: {application/json: {schema: StorageObject}}
        412: {$ref: '#/components/responses/PreconditionFailed'}
    """
    located = _written()
    data = raw_body()
    written = _write(located, data)
    if written is None:
        auth.verify_caller()
        raise PreconditionFailedError("the stored object does not meet the request's If-Match or If-None-Match")
    sha256, size, updated_at, created = written
    metrics.STORAGE_BYTES.inc(len(data))
    key = located["key"].decode("utf-8")
    body = json.dumps({"key": key, "size": size, "sha256": sha256, "updated_at": updated_at}, ensure_ascii=False)
    response = json_response(body, 201 if created else 200)
    response.headers["ETag"] = f'"{sha256}"'
    return response


@bp.get("/object")
def read_object() -> Response:
    """Read an object.

    Answers the exact bytes stored under `key` as `application/octet-stream`, with its sha256 as the
    ETag; 404 when the caller's namespace holds no object under it.
    ---
    get:
      operationId: readStorageObject
      tags: [storage]
      parameters: [{in: query, schema: StorageKeyQuery}]
      responses:
        200:
          description: The stored bytes
          headers:
            ETag: {description: The quoted sha256 of the value, schema: {type: string}}
            Last-Modified: {description: When it was written, schema: {type: string}}
          content: {application/octet-stream: {schema: {type: string, format: binary}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    conn = get_db()
    row = queries.read_object(conn, **_located(), as_text=_text_path(conn))
    if row is None:
        auth.verify_caller()
        raise NotFoundError("object not found")
    data, body, sha256, updated_at = row
    value = bytes(data) if body is None else body.encode("utf-8")
    response = Response(value, 200, mimetype="application/octet-stream")
    response.headers["ETag"] = f'"{sha256}"'
    response.headers["Last-Modified"] = http_date(updated_at)
    return response


@bp.delete("/object")
def delete_object() -> Response:
    """Delete an object.

    Removes the object under `key`. Deleting a key that holds nothing succeeds too (204), as
    Strands' `delete` does.
    ---
    delete:
      operationId: deleteStorageObject
      tags: [storage]
      parameters: [{in: query, schema: StorageKeyQuery}]
      responses:
        204: {description: Deleted, or there was nothing to delete}
    """
    if queries.delete_object(get_db(), **_written()) == 0:
        auth.verify_caller()
    return no_content()


@bp.get("/keys")
def list_keys() -> Response:
    """List keys, in byte order.

    Answers the full keys that start with `prefix`, sorted by their UTF-8 bytes (Python's order of
    `str`), up to `limit` a page. Follow `next_start_after` with `start_after` to page through them
    all: it stays exact while keys are added or deleted.
    ---
    get:
      operationId: listStorageKeys
      tags: [storage]
      parameters: [{in: query, schema: StorageListQuery}]
      responses:
        200: {description: A page of keys, content: {application/json: {schema: StorageKeyPage}}}
    """
    query = load_query(LIST_QUERY_SCHEMA)
    prefix = query["prefix"].encode("utf-8")
    start_after = query.get("start_after")
    body = queries.list_keys(
        get_db(),
        **g.caller,
        prefix=prefix,
        prefix_end=prefix_end(prefix),
        start_after=None if start_after is None else start_after.encode("utf-8", "surrogatepass"),
        limit=query["limit"],
    )
    keys = [_key_text(k) for k in json.loads(body)["keys"]]
    more = len(keys) > query["limit"]
    keys = keys[: query["limit"]]
    page = {"keys": keys, "next_start_after": keys[-1] if more else None}
    return json_response(json.dumps(page, ensure_ascii=False))


@bp.post("/search")
def search() -> Response:
    """Search the text objects.

    Full-text search over the objects whose bytes are UTF-8 text, ranked by PostgreSQL's `ts_rank`
    (higher is better), best first, optionally only under `prefix`. Words are matched as written
    (no stemming), case-insensitively. Only the first 16,384 characters of each text are indexed: a
    word past them is not found. `include_data` adds each object's bytes in base64.
    ---
    post:
      operationId: searchStorage
      tags: [storage]
      requestBody:
        required: true
        content:
          application/json:
            schema: StorageSearch
            example: {query: weather, prefix: "session/user-123/", limit: 10}
      responses:
        200: {description: The matches, best first, content: {application/json: {schema: StorageSearchResults}}}
    """
    search = load_json(SEARCH_SCHEMA)
    prefix = search["prefix"].encode("utf-8")
    body = queries.search_objects(
        get_db(),
        **g.caller,
        query=search["query"],
        prefix=prefix,
        prefix_end=prefix_end(prefix),
        limit=search["limit"],
        include_data=search["include_data"],
    )
    results = json.loads(body)["results"]
    for result in results:
        result["key"] = _key_text(result["key"])
        if result["data"] is None:
            del result["data"]
    return json_response(json.dumps({"results": results}, ensure_ascii=False))
