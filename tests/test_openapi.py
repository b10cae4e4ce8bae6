"""The OpenAPI document: served, complete, offline, and honoured by the API under generated input."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app import create_app, db

EXAMPLES_PER_OPERATION = 25


def test_spec_covers_every_api_route(app, client):
    spec = client.get("/apispec.json").get_json()
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    routed = {
        (re.sub(r"<(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in ("health", "sessions", "agents", "messages", "multi_agents")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }

    assert spec["openapi"].startswith("3.")
    assert routed == documented
    for path, method in documented:
        operation = spec["paths"][path][method]
        path_params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert path_params == set(re.findall(r"{(\w+)}", path)), (path, method)
        if not path.startswith("/health"):
            assert {"422", "503"} <= set(operation["responses"]), (path, method)


# A generated client names its methods after these: changing one breaks its users.
OPERATION_IDS = {
    ("/health", "get"): "getHealth",
    ("/health/db", "get"): "getDatabaseHealth",
    ("/health/live", "get"): "getLiveness",
    ("/health/ready", "get"): "getReadiness",
    ("/api/v1/sessions", "post"): "createSession",
    ("/api/v1/sessions", "get"): "listSessions",
    ("/api/v1/sessions/{session_id}", "get"): "getSession",
    ("/api/v1/sessions/{session_id}", "put"): "updateSession",
    ("/api/v1/sessions/{session_id}", "delete"): "deleteSession",
    ("/api/v1/sessions/{session_id}/agents", "post"): "createAgent",
    ("/api/v1/sessions/{session_id}/agents", "get"): "listAgents",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}", "get"): "getAgent",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}", "put"): "updateAgent",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}", "delete"): "deleteAgent",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}/messages", "post"): "createMessage",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}/messages", "get"): "listMessages",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}/messages/{message_id}", "get"): "getMessage",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}/messages/{message_id}", "put"): "updateMessage",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}/messages/{message_id}", "delete"): "deleteMessage",
    ("/api/v1/sessions/{session_id}/multi-agents", "post"): "createMultiAgent",
    ("/api/v1/sessions/{session_id}/multi-agents/{multi_agent_id}", "get"): "getMultiAgent",
    ("/api/v1/sessions/{session_id}/multi-agents/{multi_agent_id}", "put"): "updateMultiAgent",
    ("/api/v1/sessions/{session_id}/multi-agents/{multi_agent_id}", "delete"): "deleteMultiAgent",
}


def _operations(spec):
    return {(path, method): op for path, ops in spec["paths"].items() for method, op in ops.items()}


def test_every_operation_is_described_for_readers_and_client_generators(client):
    spec = client.get("/apispec.json").get_json()
    operations = _operations(spec)

    assert {key: op.get("operationId") for key, op in operations.items()} == OPERATION_IDS
    for key, operation in operations.items():
        assert operation.get("summary", "").strip(), key
        assert len(operation.get("description", "")) > len(operation["summary"]), key
        for parameter in operation["parameters"]:
            assert parameter.get("description", "").strip(), (key, parameter["name"])
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            # The example must be a body the service accepts: the Swagger UI offers it to send.
            assert body.get("example"), key
    documented = {name for op in operations.values() for name in (p["name"] for p in op["parameters"])}
    assert {"after", "cursor", "include_total", "order", "limit", "offset", "page", "page_size"} <= documented
    assert {tag["name"] for tag in spec["tags"]} == {t for op in operations.values() for t in op["tags"]}
    assert all(tag.get("description") for tag in spec["tags"])


def test_health_endpoints_need_no_key_and_the_api_does(client):
    spec = client.get("/apispec.json").get_json()

    for (path, _), operation in _operations(spec).items():
        if path.startswith("/health"):
            assert operation["security"] == [], path
        else:
            assert "security" not in operation, path  # the document's: a key, or none when auth is off
    assert {"bearerKey": []} in spec["security"]


def test_request_body_examples_are_accepted_by_the_service(client):
    spec = client.get("/apispec.json").get_json()
    operations = _operations(spec)
    ids = {"session_id": "user-123", "agent_id": "my-agent", "message_id": "0", "multi_agent_id": "research"}
    # In the order a client would send them, so each example's parents exist.
    for path, method in [(p, m) for m in ("post", "put") for (p, mm) in OPERATION_IDS if mm == m]:
        example = operations[(path, method)]["requestBody"]["content"]["application/json"]["example"]
        url = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)

        response = client.open(url, method=method.upper(), json=example)

        assert response.status_code == (201 if method == "post" else 200), (path, response.get_data(as_text=True))


def test_docs_pages_carry_our_title(client):
    for page in ("/docs/", "/redoc"):
        html = client.get(page).get_data(as_text=True)
        title = re.search(r"<title>([^<]*)</title>", html).group(1)
        assert title.startswith("session-backend"), (page, title)
        assert "Flasgger" not in html, page


def test_docs_and_redoc_load_only_local_assets(client):
    for page in ("/docs/", "/redoc"):
        html = client.get(page).get_data(as_text=True)
        assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), (page, asset)
            assert client.get(asset).status_code == 200, asset


@pytest.fixture
def api_schema(clean_db):
    app = create_app({"TESTING": True, "DATABASE_URL": clean_db})
    client = app.test_client()
    # Some records to find, so generated requests reach more than the 404 paths.
    client.post("/api/v1/sessions", json={"session_id": "s"})
    client.post("/api/v1/sessions/s/agents", json={"agent_id": "a", "state": {}, "conversation_manager_state": {}})
    yield schemathesis.openapi.from_wsgi("/apispec.json", app)
    db.close_pool(app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_generated_requests_get_no_5xx_and_match_the_spec(case):
    case.call_and_validate(
        checks=[
            schemathesis.checks.not_a_server_error,
            schemathesis.checks.status_code_conformance,
            schemathesis.checks.content_type_conformance,
            schemathesis.checks.response_schema_conformance,
        ]
    )


def test_the_root_redirects_to_the_docs(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/docs/"
    assert client.get("/", follow_redirects=True).mimetype == "text/html"
