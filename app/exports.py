"""One session's records as NDJSON over HTTP: the stream `session-backend export --session` writes."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, g, stream_with_context

from .db import get_db, queries
from .exporter import export_lines
from .http import found

bp = Blueprint("exports", __name__, url_prefix="/api/v1/sessions/<session_id>/export")
NDJSON = "application/x-ndjson"
CHUNK_BYTES = 64 * 1024


@bp.get("")
def export_session(session_id: str) -> Response:
    """Export a session as NDJSON.

    Streams the session's records, one JSON object a line: the session, its agents (each followed by
    its messages), its multi-agent states and its byte-store objects (keys and values in base64), each
    with its timestamps and version. A session kept by Strands' `SnapshotSessionManager`, which lives
    only in the byte store, exports as its objects. The same lines, in the same order, as `session-backend export
    --session`; `session-backend import --from-ndjson` reads them back. Read from one consistent
    snapshot, a page at a time, so a session of any size streams in constant memory.
    ---
    get:
      operationId: exportSession
      tags: [sessions]
      responses:
        200:
          description: One record a line; each has a `kind` (session, agent, message, multi_agent, storage_object)
          content: {application/x-ndjson: {schema: {type: string}}}
        404: {$ref: '#/components/responses/NotFound'}
    """
    # The key and the session are checked here, before the answer starts: a stream cannot turn into a 404.
    conn = get_db()
    namespace = queries.export_namespace(conn, **g.caller, session_id=session_id)
    if namespace is None:
        namespace = queries.export_snapshot_namespace(conn, **g.caller, scope=session_id.encode("utf-8"))
    namespace = found(namespace, "session")

    def chunks() -> Iterator[bytes]:
        # Runs once the view has returned and its connection is back in the pool: get_db() takes one
        # for the stream, and the teardown at the stream's end returns it.
        chunk = bytearray()
        for line in export_lines(get_db(), namespace, session_id):
            chunk += line.encode("utf-8") + b"\n"
            # The server writes each chunk it is given: a line each would be a write per message.
            if len(chunk) >= CHUNK_BYTES:
                yield bytes(chunk)
                chunk.clear()
        if chunk:
            yield bytes(chunk)

    return Response(stream_with_context(chunks()), 200, mimetype=NDJSON)
