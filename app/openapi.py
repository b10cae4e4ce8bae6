"""The OpenAPI document, generated from the marshmallow schemas that validate requests, served by
flasgger (Swagger UI at /docs) and ReDoc at /redoc, every asset from this service (no CDN)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask_redoc
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from flasgger import Swagger
from flask import Blueprint, Flask, redirect, render_template, send_from_directory, url_for
from werkzeug.wrappers import Response

from . import history_schemas, lease_schemas, schemas, snapshot_schemas, storage_schemas
from .blueprints import API_NAMES
from .http import FENCE_HEADER, FENCE_PATTERN
from .metrics import SCRAPE_PATH
from .version import VERSION

_SCHEMAS = (
    "SessionCreate",
    "SessionUpdate",
    "Session",
    "SessionPage",
    "AgentCreate",
    "AgentUpdate",
    "Agent",
    "AgentList",
    "MessageCreate",
    "MessageUpdate",
    "Message",
    "MessagePage",
    "MultiAgentState",
    "Error",
    "HealthStatus",
)
_LEASE_SCHEMAS = ("LeaseAcquire", "LeaseRenew", "Lease", "LeaseState", "LeaseHolder", "SessionDetail")
_HISTORY_SCHEMAS = ("RewindRequest", "Rewind", "RewindList", "ForkRequest")
_SNAPSHOT_SCHEMAS = ("SnapshotConvert", "SnapshotConversion")
_STORAGE_SCHEMAS = ("StorageObject", "StorageKeyPage", "StorageSearch", "StorageSearchResults")
TITLE = "session-backend API"
_INTRODUCTION = f"""\
Session storage for [Strands Agents](https://strandsagents.com) on PostgreSQL: sessions, their
agents, each agent's messages, and multi-agent (Swarm/Graph) state.

**Authentication.** Send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Each key
belongs to a namespace, and a caller sees only its namespace's records. A service running without
authentication takes requests without a key, all in the `default` namespace. The health endpoints
never need a key.

**Ids.** Session, agent and multi-agent ids are chosen by the client: {schemas.IDENTIFIER_RULE}
A `message_id` is an integer from 0 to 2147483647.

**Errors.** Every error answers `{{"detail": {{"error", "message", "request_id", "fields"?}}}}`;
`fields` names each invalid value of a 422. Every response carries an `X-Request-ID` header (an
incoming one is kept).

**Paging.** Session lists page by `cursor` (follow `next_cursor`), message lists by `after`
(follow `next_after`); both also accept `limit`/`offset` and `page`/`page_size`.
"""
_TAGS = (
    ("sessions", "A session holds a conversation's agents and multi-agent state."),
    ("agents", "The agents of a session and their state, as Strands' `SessionAgent` serializes it."),
    ("messages", "The conversation of one agent, numbered by `message_id`."),
    ("multi-agents", "Swarm and Graph state, stored whole as `MultiAgentBase.serialize_state()` returns it."),
    ("leases", "One writer per session: a lease with a fencing token that every write may carry."),
    ("history", "Rewind an agent's conversation (and undo it), fork a session."),
    (
        "storage",
        "A byte store for Strands' `Storage` protocol (snapshots, the stash, memory files): objects under keys.",
    ),
    ("health", "Probes for people, load balancers and orchestrators; they never need an API key."),
    ("monitoring", "Metrics for Prometheus, behind a token of their own (`METRICS_TOKEN`); API keys do not open them."),
)
# Errors any request can meet, documented on every operation they apply to.
_ERRORS = {
    "BadRequest": (400, "The body is not JSON"),
    "Unauthorized": (401, "No valid API key (header WWW-Authenticate: Bearer)"),
    "Forbidden": (403, "The API requires keys and no METRICS_TOKEN is configured"),
    "NotFound": (404, "The resource or its parent does not exist"),
    "Conflict": (
        409,
        "The resource already exists, the lease is busy, the session's lease changed hands, or it is on legal hold",
    ),
    "PreconditionFailed": (412, "The stored object does not meet If-Match or If-None-Match"),
    "PayloadTooLarge": (413, "The body exceeds MAX_CONTENT_LENGTH"),
    "ValidationError": (422, "The body, query or path fails validation; `fields` names what"),
    "ServiceUnavailable": (503, "The database is unreachable; retry after Retry-After seconds"),
}
_REDOC_ASSETS = Path(flask_redoc.__file__).parent / "static" / "js"

redoc_bp = Blueprint("redoc", __name__)


@redoc_bp.get("/")
def root() -> Response:
    """Send a person who opens the service's address to its documentation."""
    return redirect(url_for("flasgger.apidocs"))


@redoc_bp.get("/redoc")
def redoc() -> str:
    """The ReDoc rendering of /apispec.json."""
    return render_template("redoc.html")


@redoc_bp.get("/redoc/redoc.standalone.js")
def redoc_script() -> Response:
    """ReDoc's script, shipped by the flask-redoc package, so the page works offline."""
    return send_from_directory(_REDOC_ASSETS, "redoc.standalone.js")


# The ids the request body examples use, so "Try it out" in the Swagger UI walks one consistent story.
_PATH_EXAMPLES = {"session_id": "user-123", "agent_id": "my-agent", "message_id": 0, "multi_agent_id": "research"}


def _path_parameter(name: str) -> dict[str, Any]:
    if name in _UUID_PARAMETERS:
        return {
            "in": "path",
            "name": name,
            "required": True,
            "description": _UUID_PARAMETERS[name],
            "schema": {"type": "string", "format": "uuid", "pattern": schemas.UUID_PATTERN},
            "example": _UUID_EXAMPLES[name],
        }
    if name == "message_id":
        schema = {"type": "integer", "minimum": 0, "maximum": schemas.MAX_MESSAGE_ID}
        description = f"The message's index in the conversation, 0 to {schemas.MAX_MESSAGE_ID}."
    else:
        schema = {
            "type": "string",
            "minLength": 1,
            "maxLength": schemas.IDENTIFIER_MAX_LENGTH,
            "pattern": schemas.IDENTIFIER_PATTERN,
        }
        owner = name.removesuffix("_id").replace("_", "-")
        description = f"The {owner}'s id: {schemas.IDENTIFIER_RULE}"
    parameter = {"in": "path", "name": name, "required": True, "description": description, "schema": schema}
    if name in _PATH_EXAMPLES:
        parameter["example"] = _PATH_EXAMPLES[name]
    return parameter


_UUID_PARAMETERS = {
    "lease_id": "The `lease_id` the acquire answered.",
    "rewind_id": "The `rewind_id` the rewind answered.",
}
_UUID_EXAMPLES = {
    "lease_id": "9b2f4c1e-7d3a-4e8b-a1c6-0f5d2e9b8a47",
    "rewind_id": "4d7e2a9c-1b3f-4e6a-8c5d-2f9e0b7a6c13",
}
_FENCE_PARAMETER = {
    "in": "header",
    "name": FENCE_HEADER,
    "required": False,
    "description": "The fencing token of the session's lease (`fence`): the write happens only while it is the "
    "current one, else 409 `LeaseLostError` and nothing changes. Without it, no check.",
    "schema": {"type": "string", "pattern": FENCE_PATTERN},
}


def _is_session_write(path: str, method: str) -> bool:
    """Whether an operation writes a session's records, and so takes X-Session-Fence."""
    if method not in ("post", "put", "delete") or "/lease" in path:
        return False
    return path.startswith("/api/v1/sessions") or path == "/api/v1/storage/object"


def _summary_and_description(view: Callable[..., Any]) -> tuple[str, str]:
    """The first line of a view's docstring, and the paragraphs after it up to the YAML (``---``)."""
    text = inspect.cleandoc(view.__doc__ or "").split("\n---", 1)[0]
    summary, _, description = text.partition("\n")
    paragraphs = [" ".join(p.split()) for p in description.strip().split("\n\n") if p.strip()]
    return summary.strip().rstrip("."), "\n\n".join(paragraphs)


def _add_shared_parts(path: str, rule_args: list[str], operations: dict[str, Any]) -> None:
    for method, operation in operations.items():
        if path.startswith("/health"):
            operation["security"] = []  # open to probes: no lock icon, no key
        if path == SCRAPE_PATH:
            operation["security"] = [{"metricsToken": []}, {}]  # its own token; none while the API runs open
            operation.setdefault("parameters", [])
            continue  # it documents its own answers: it reads no input and no API key
        operation.setdefault("parameters", [])
        operation["parameters"] = [_path_parameter(a) for a in rule_args] + operation["parameters"]
        responses = operation["responses"]
        # Health checks answer for themselves; everything else validates and needs the database.
        wanted = [] if path.startswith("/health") else ["Unauthorized", "ValidationError", "ServiceUnavailable"]
        if rule_args:
            wanted.append("NotFound")
        if "requestBody" in operation:
            wanted += ["BadRequest", "PayloadTooLarge"]
        if _is_session_write(path, method):
            operation["parameters"].append(_FENCE_PARAMETER)
            wanted.append("Conflict")
        for name in wanted:
            responses.setdefault(str(_ERRORS[name][0]), {"$ref": f"#/components/responses/{name}"})


def build_spec(app: Flask) -> dict[str, Any]:
    """Build the OpenAPI 3 document for every API route of ``app``."""
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.0.3",
        plugins=[FlaskPlugin(), MarshmallowPlugin()],
        info={"description": _INTRODUCTION},
        # Either header carries the key; `{}` because a service with no keys configured needs none.
        security=[{"bearerKey": []}, {"headerKey": []}, {}],
    )
    for name in _SCHEMAS:
        spec.components.schema(name, schema=getattr(schemas, name))
    for name in _LEASE_SCHEMAS:
        spec.components.schema(name, schema=getattr(lease_schemas, name))
    for name in _HISTORY_SCHEMAS:
        spec.components.schema(name, schema=getattr(history_schemas, name))
    for name in _SNAPSHOT_SCHEMAS:
        spec.components.schema(name, schema=getattr(snapshot_schemas, name))
    for name in _STORAGE_SCHEMAS:
        spec.components.schema(name, schema=getattr(storage_schemas, name))
    for name, description in _TAGS:
        spec.tag({"name": name, "description": description})
    spec.components.security_scheme(
        "bearerKey", {"type": "http", "scheme": "bearer", "description": "An API key as a bearer token"}
    )
    spec.components.security_scheme(
        "metricsToken", {"type": "http", "scheme": "bearer", "description": "METRICS_TOKEN, for GET /metrics only"}
    )
    spec.components.security_scheme(
        "headerKey", {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key"}
    )
    for name, (_, description) in _ERRORS.items():
        spec.components.response(
            name, {"description": description, "content": {"application/json": {"schema": "Error"}}}
        )
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint.split(".")[0] in API_NAMES:
                spec.path(view=app.view_functions[rule.endpoint], app=app)
    document = spec.to_dict()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in API_NAMES:
            path = rule.rule.replace("<", "{").replace(">", "}")
            methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
            operations = {m: op for m, op in document["paths"].get(path, {}).items() if m in methods}
            summary, description = _summary_and_description(app.view_functions[rule.endpoint])
            for operation in operations.values():
                operation.setdefault("summary", summary)
                operation.setdefault("description", description)
            _add_shared_parts(path, list(rule.arguments), operations)
    return document


def init_app(app: Flask) -> None:
    """Serve /apispec.json, Swagger UI at /docs and ReDoc at /redoc."""
    app.register_blueprint(redoc_bp)
    Swagger(
        app,
        template=build_spec(app),
        config={
            "headers": [],
            "specs": [{"endpoint": "apispec", "route": "/apispec.json", "rule_filter": lambda rule: False}],
            "static_url_path": "/docs/static",
            "swagger_ui": True,
            "specs_route": "/docs/",
            "openapi": "3.0.3",
            "title": TITLE,
            "hide_top_bar": True,  # Swagger's logo and a box to load other documents: not this service's
        },
        merge=True,
    )
