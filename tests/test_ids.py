"""The id rule: what the OpenAPI document states is exactly what the service accepts, in bodies and
paths, through the test client and through gunicorn's raw request line."""

from __future__ import annotations

import json
import socket
from urllib.parse import quote

import jsonschema_rs
import pytest

from harness.server import Gunicorn
from helpers import SESSIONS, create_session, error_of

pytestmark = pytest.mark.over_http

# Each is a single character or a short id that sits on an edge of the rule.
ACCEPTED = [
    "a",
    " ",
    "...",
    ". ",
    ".a",
    "a.",
    "x" * 255,
    "\u00a0",
    "\u00ad",
    "\u2028",
    "\ue000",
    "\ufffd",
    "\U0001f600" * 255,
    "\U000e0080",
    "a\u200bb",
    "日本語",
]
REFUSED = ["", "x" * 256, ".", "..", "a/b", "a\\b", "\x00", "\t", "a\n", "\n", "\x1f", "\x7f", "\x80", "\x85", "\x9f"]


@pytest.fixture
def id_schema(client) -> dict:
    """The schema the OpenAPI document gives a session id in the create body."""
    spec = client.get("/apispec.json").get_json()
    return spec["components"]["schemas"]["SessionCreate"]["properties"]["session_id"]


def test_every_id_in_the_spec_uses_one_stated_rule(client, id_schema):
    spec = client.get("/apispec.json").get_json()
    from app.schemas import IDENTIFIER_PATTERN

    assert {"minLength": 1, "maxLength": 255, "pattern": IDENTIFIER_PATTERN}.items() <= id_schema.items()
    for operation in (op for ops in spec["paths"].values() for op in ops.values()):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] not in ("message_id", "lease_id", "rewind_id"):
                assert {k: parameter["schema"][k] for k in ("minLength", "maxLength", "pattern")} == {
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": IDENTIFIER_PATTERN,
                }
    bodies = spec["components"]["schemas"]
    assert bodies["AgentCreate"]["properties"]["agent_id"]["pattern"] == IDENTIFIER_PATTERN
    assert bodies["MultiAgentState"]["properties"]["id"]["pattern"] == IDENTIFIER_PATTERN


@pytest.mark.parametrize("value", ACCEPTED + REFUSED)
def test_the_service_accepts_exactly_the_ids_the_spec_allows(client, id_schema, value):
    # jsonschema_rs judges patterns with ECMA-262 semantics, as JSON Schema says and schemathesis does.
    allowed = jsonschema_rs.validator_for(id_schema).is_valid(value)

    response = client.post(SESSIONS, json={"session_id": value})
    path_response = client.get(f"{SESSIONS}/{quote(value, safe='')}")

    assert allowed == (value in ACCEPTED)
    assert response.status_code == (201 if allowed else 422), response.get_data(as_text=True)
    # An empty segment routes to the collection; an encoded slash is the raw-URL check's to refuse.
    if value and "/" not in value:
        assert path_response.status_code == (200 if allowed else 422), path_response.get_data(as_text=True)
    if not allowed:
        assert "session_id" in error_of(response)["fields"]


@pytest.mark.parametrize("value", [".", ".."])
def test_dot_ids_are_refused_with_a_clear_reason(client, value):
    response = client.post(SESSIONS, json={"session_id": value})
    in_path = client.get(f"{SESSIONS}/s/agents/{value}")

    assert response.status_code == 422
    assert error_of(response)["fields"] == {"session_id": ["'.' and '..' are not valid ids"]}
    assert in_path.status_code == 422
    assert error_of(in_path)["fields"] == {"agent_id": ["'.' and '..' are not valid ids"]}
    assert client.get(SESSIONS).get_json()["sessions"] == []


@pytest.mark.parametrize("field", ["session_id", "agent_id", "id"])
def test_an_unpaired_surrogate_in_a_body_id_is_422_not_500(client, field):
    create_session(client, "s")
    url, body = {
        "session_id": (SESSIONS, {}),
        "agent_id": (f"{SESSIONS}/s/agents", {"state": {}, "conversation_manager_state": {}}),
        "id": (f"{SESSIONS}/s/multi-agents", {}),
    }[field]
    # JSON can escape an unpaired surrogate; Python decodes it, PostgreSQL could not store it.
    raw = json.dumps({**body, field: "PLACEHOLDER"}).replace("PLACEHOLDER", "a\\ud800b")

    response = client.post(url, data=raw, content_type="application/json")

    assert response.status_code == 422, response.get_data(as_text=True)
    assert error_of(response)["fields"] == {field: ["must be valid Unicode: no unpaired surrogates"]}


@pytest.fixture
def server(keyless_server: Gunicorn, clean_db: str) -> Gunicorn:
    """The service under gunicorn, as production runs it, on an empty database."""
    return keyless_server


def raw_request(server: Gunicorn, method: str, target: str, body: bytes = b"") -> tuple[int, dict]:
    """Send ``target`` byte for byte as the request line (as `curl --path-as-is` does); return status and JSON."""
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(head + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload)


@pytest.mark.parametrize(
    "target, status",
    [
        ("/api/v1/sessions/..", 422),
        ("/api/v1/sessions/.", 422),
        ("/api/v1/sessions/s/agents/..", 422),
        ("/api/v1/sessions/%2E%2E", 422),
        ("/api/v1/sessions/a%01b", 422),
        ("/api/v1/sessions/a%C2%85b", 422),
        ("/api/v1/sessions/...", 404),
        ("/api/v1/sessions/a%C2%A0b", 404),
        # Not UTF-8 (a surrogate's bytes, a lone byte): decoded with replacement characters, a valid id.
        ("/api/v1/sessions/%ED%A0%80", 404),
        ("/api/v1/sessions/%FF/agents", 404),
    ],
)
def test_raw_request_lines_get_a_json_answer_never_a_500(server, target, status):
    answer_status, body = raw_request(server, "GET", target)

    assert answer_status == status, body
    assert body["detail"]["error"] == {404: "NotFoundError", 422: "ValidationError"}[status]


def test_creating_a_dot_dot_session_over_http_is_422(server):
    status, body = raw_request(server, "POST", "/api/v1/sessions", b'{"session_id": ".."}')

    assert status == 422
    assert body["detail"]["fields"] == {"session_id": ["'.' and '..' are not valid ids"]}
    assert raw_request(server, "GET", "/api/v1/sessions/%2E%2E")[0] == 422


@pytest.mark.parametrize("value", [*ACCEPTED, *REFUSED, "a\ud800b", "\udfff"])
def test_the_plain_path_check_agrees_with_the_field(value):
    # Paths take the plain check and skip the field when it passes, so they must agree.
    from marshmallow import ValidationError

    from app.schemas import PathParams, is_identifier

    try:
        PathParams().load({"agent_id": value})
        loaded = True
    except ValidationError:
        loaded = False
    assert is_identifier(value) == loaded == (value in ACCEPTED)


def test_the_longest_valid_url_reaches_the_service(server):
    # Two ids of 255 four-byte characters, percent-encoded: about 6.2 kB of request line, more than
    # gunicorn's default limit (4094), which answered such a request with an HTML 414.
    longest = quote("\U0001f600" * 255, safe="")
    target = f"/api/v1/sessions/{longest}/agents/{longest}/messages/{2**31 - 1}"

    status, body = raw_request(server, "GET", target)

    assert len(target) > 6000
    assert status == 404
    assert body["detail"]["error"] == "NotFoundError"


def test_every_path_argument_of_the_api_is_checked(app):
    # An argument without a plain check passes it unchecked, and one missing from PathParams
    # would never get the schema's reasons: a new one must be added to both.
    from app.http import _PATH_RULES
    from app.schemas import PathParams

    arguments = {name for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/") for name in rule.arguments}

    assert arguments - set(_PATH_RULES) == set(), "add a check for each to _PATH_RULES in app/http.py"
    assert arguments - set(PathParams().fields) == set(), "add a field for each to PathParams in app/schemas.py"
