"""The viewer's pages: sessions, a session, an agent's conversation, its snapshots; sign-in and delete.

Each page reads through the same queries as the API, with the viewer's caller (app/ui/access.py), so a
page shows exactly what the browser's key may read through the API, in its namespace and nowhere else.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from psycopg2 import errors as pg_errors
from werkzeug.wrappers import Response as BaseResponse

from .. import errors, messages, sessions
from ..db import get_db, queries
from ..http import found, not_found
from ..schemas import MAX_MESSAGE_ID, is_uuid
from ..snapshot_builder import snapshot_dir, snapshot_key
from ..storage_keys import prefix_end, scope_of
from . import access
from .content import ShownMessage, pretty_json, shown_message

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static")

MESSAGES_PER_PAGE = 50
SESSIONS_PER_PAGE = 25
SNAPSHOTS_LISTED = 200
# The pages need nothing from elsewhere: no script at all, styles and images only from here (and the
# data: URIs images of a conversation are shown from).
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_PUBLIC_ENDPOINTS = frozenset({"ui.sign_in", "ui.static"})


@bp.before_request
def _viewer() -> BaseResponse | None:
    if request.method == "POST":
        access.check_csrf()
    if request.endpoint in _PUBLIC_ENDPOINTS:
        return None
    try:
        access.identify_viewer()
    except access.SignInRequiredError:
        return redirect(url_for("ui.sign_in"))
    return None


@bp.after_request
def _secure(response: Response) -> Response:
    response.headers.update(_SECURITY_HEADERS)
    return response


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {"csrf_token": access.csrf_token, "pretty_json": pretty_json}


@bp.errorhandler(Exception)
def _error_page(exc: Exception) -> BaseResponse:
    # A key revoked while signed in: the next query refuses it, and the browser signs in again.
    if isinstance(exc, pg_errors.InvalidAuthorizationSpecification):
        access.sign_out()
        return redirect(url_for("ui.sign_in"))
    api_answer = errors.response_for(exc)
    detail = json.loads(api_answer.get_data(as_text=True))["detail"]
    page = render_template("ui/error.html", status=api_answer.status_code, detail=detail)
    return Response(page, api_answer.status_code, headers=[h for h in api_answer.headers if h[0] == "Retry-After"])


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> BaseResponse | str:
    """Sign in with an API key; the viewer then shows that key's namespace."""
    if request.method == "POST":
        if access.sign_in(request.form.get("key", "")):
            return redirect(url_for("ui.list_sessions"))
        return Response(render_template("ui/sign_in.html", refused=True), 401)
    return render_template("ui/sign_in.html", refused=False)


@bp.post("/sign-out")
def sign_out() -> BaseResponse:
    """Forget the browser's key."""
    access.sign_out()
    return redirect(url_for("ui.sign_in"))


@bp.get("/")
def list_sessions() -> str:
    """Sessions, newest first, a page at a time; filtered by id prefix, last update or words said in them."""
    # An empty field of the filter form means "no filter", not an empty value to validate.
    asked = {name: value for name, value in request.args.items() if value.strip()}
    query = sessions.SESSION_LIST_QUERY_SCHEMA.load({**asked, "limit": SESSIONS_PER_PAGE})
    page = json.loads(sessions.session_page(query))
    return render_template("ui/sessions.html", page=page, filters=asked)


@bp.get("/sessions/<session_id>")
def show_session(session_id: str) -> str:
    """A session: its details, lease holder, agents and multi-agent states."""
    conn = get_db()
    session = json.loads(found(queries.get_session(conn, **g.caller, session_id=session_id), "session"))
    agents = json.loads(found(queries.list_agents(conn, **g.caller, session_id=session_id), "session"))["agents"]
    multi_agents = json.loads(found(queries.list_multi_agents(conn, **g.caller, session_id=session_id), "session"))[
        "multi_agents"
    ]
    return render_template("ui/session.html", session=session, agents=agents, multi_agents=multi_agents)


@bp.get("/sessions/<session_id>/agents/<agent_id>")
def show_agent(session_id: str, agent_id: str) -> str:
    """An agent: its conversation (a page of messages), state, conversation-manager state and snapshots."""
    row = queries.get_agent(get_db(), **g.caller, session_id=session_id, agent_id=agent_id)
    if row is None:
        not_found("agent not found in this session")
    agent = json.loads(row[0])
    query = messages.MESSAGE_LIST_QUERY_SCHEMA.load({**request.args, "limit": MESSAGES_PER_PAGE})
    page = json.loads(found(messages.message_page(session_id, agent_id, query), "agent"))
    shown: list[ShownMessage] = [shown_message(stored) for stored in page["messages"]]
    links = [_message_link(session_id, agent_id, query["order"], m.message_id) for m in shown]
    return render_template(
        "ui/agent.html",
        session_id=session_id,
        agent=agent,
        page=page,
        shown=zip(shown, links, strict=True),
        order=query["order"],
        snapshots=_snapshots(session_id, agent_id),
    )


@bp.get("/sessions/<session_id>/agents/<agent_id>/snapshots/<snapshot_name>")
def show_snapshot(session_id: str, agent_id: str, snapshot_name: str) -> str:
    """One snapshot of an agent (``latest`` or an immutable one's id): its messages and the rest as JSON."""
    if snapshot_name != "latest" and not is_uuid(snapshot_name):
        not_found("snapshot not found")
    key = (
        snapshot_key(session_id, agent_id)
        if snapshot_name == "latest"
        else snapshot_dir(session_id, agent_id) + f"immutable_history/snapshot_{snapshot_name}.json"
    )
    conn = get_db()
    row = queries.read_object(conn, **g.caller, scope=scope_of(key), key=key.encode("utf-8"), as_text=False)
    if row is None:
        not_found("snapshot not found")
    try:
        snapshot = json.loads(bytes(row[0]))
    except ValueError:
        snapshot = None
    data = snapshot.get("data") if isinstance(snapshot, dict) else None
    stored = data.get("messages") if isinstance(data, dict) else None
    shown = [_snapshot_message(i, message) for i, message in enumerate(stored)] if isinstance(stored, list) else []
    return render_template(
        "ui/snapshot.html",
        session_id=session_id,
        agent_id=agent_id,
        name=snapshot_name,
        shown=shown,
        snapshot=snapshot,
        updated_at=row[3].isoformat(),
    )


@bp.route("/sessions/<session_id>/delete", methods=["GET", "POST"])
def delete_session(session_id: str) -> BaseResponse | str:
    """Ask to confirm, then delete the session (the form carries the CSRF token)."""
    if request.method == "GET":
        found(queries.get_session(get_db(), **g.caller, session_id=session_id), "session")
        return render_template("ui/delete.html", session_id=session_id)
    deleted = queries.delete_session(get_db(), **g.caller, session_id=session_id, fence=None)
    found(deleted, "session")
    current_app.logger.info("viewer deleted a session")
    flash(f"Deleted session {session_id}.")
    return redirect(url_for("ui.list_sessions"))


def _message_link(session_id: str, agent_id: str, order: str, message_id: int) -> str:
    """A link to the page of the conversation that starts at ``message_id`` (its anchor is added by the page)."""
    before_it = message_id + 1 if order == "desc" else message_id - 1
    after = before_it if 0 <= before_it <= MAX_MESSAGE_ID else None
    return url_for("ui.show_agent", session_id=session_id, agent_id=agent_id, order=order, after=after)


def _snapshots(session_id: str, agent_id: str) -> list[dict[str, str]]:
    """The agent's snapshots, latest first then its immutable ones newest first, with when they were taken."""
    prefix = snapshot_dir(session_id, agent_id).encode("utf-8")
    body = queries.list_keys(
        get_db(), **g.caller, prefix=prefix, prefix_end=prefix_end(prefix), start_after=None, limit=SNAPSHOTS_LISTED
    )
    names = [bytes.fromhex(key)[len(prefix) :].decode("utf-8", "replace") for key in json.loads(body)["keys"]]
    listed = [{"name": "latest", "taken": ""}] if "snapshot_latest.json" in names else []
    for name in sorted(names, reverse=True):
        if name.startswith("immutable_history/snapshot_") and name.endswith(".json"):
            snapshot_id = name[len("immutable_history/snapshot_") : -len(".json")]
            listed.append({"name": snapshot_id, "taken": _uuid7_time(snapshot_id)})
    return listed


def _uuid7_time(snapshot_id: str) -> str:
    """When a UUIDv7 (Strands' snapshot ids) was made: its first 48 bits are Unix milliseconds."""
    try:
        millis = int(snapshot_id.replace("-", "")[:12], 16)
        return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError, OSError):
        return ""


def _snapshot_message(index: int, message: Any) -> ShownMessage:
    return shown_message({"message_id": index, "message": message, "redact_message": None})
