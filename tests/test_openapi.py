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
