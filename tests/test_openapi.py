"""The OpenAPI document: served, complete, offline, and honoured by the API under generated input."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, is_check_class, load_all_checks
from schemathesis.core.parameters import ParameterLocation

from app import create_app, db
from app.blueprints import API_NAMES
from app.config import load_settings
from app.storage_keys import MAX_KEY_BYTES, StorageKeyError, normalize_key
from harness.database import TABLES, execute

pytestmark = pytest.mark.over_http

EXAMPLES_PER_OPERATION = 25
load_all_checks()


# Blueprints that serve the documentation itself (and Flask's static files), not the API; and the
# viewer's pages, whose every route tests/test_viewer.py tries from another namespace.
DOCUMENTATION_BLUEPRINTS = {"static", "flasgger", "redoc", "ui"}


def test_every_route_belongs_to_the_api_or_to_its_documentation(app):
    # A blueprint registered outside app/blueprints.py would be served but neither documented nor tested.
    blueprints = {rule.endpoint.split(".")[0] for rule in app.url_map.iter_rules()}

    assert blueprints - DOCUMENTATION_BLUEPRINTS == API_NAMES


def test_spec_covers_every_api_route(app, client):
    spec = client.get("/apispec.json").get_json()
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    routed = {
        (re.sub(r"<(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] not in DOCUMENTATION_BLUEPRINTS
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }

    assert spec["openapi"].startswith("3.")
    assert routed == documented
    for path, method in documented:
        operation = spec["paths"][path][method]
        path_params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert path_params == set(re.findall(r"{(\w+)}", path)), (path, method)
        if path.startswith("/api/"):
            assert {"422", "503"} <= set(operation["responses"]), (path, method)
    # /metrics reads no input: refused (401, or 403 without METRICS_TOKEN once keys exist) or unavailable.
    assert set(spec["paths"]["/metrics"]["get"]["responses"]) == {"200", "401", "403", "503"}


# A generated client names its methods after these: changing one breaks its users.
OPERATION_IDS = {
    ("/health", "get"): "getHealth",
    ("/health/db", "get"): "getDatabaseHealth",
    ("/health/live", "get"): "getLiveness",
    ("/health/ready", "get"): "getReadiness",
    ("/metrics", "get"): "getMetrics",
    ("/api/v1/sessions", "post"): "createSession",
    ("/api/v1/sessions", "get"): "listSessions",
    ("/api/v1/sessions/{session_id}", "get"): "getSession",
    ("/api/v1/sessions/{session_id}", "put"): "updateSession",
    ("/api/v1/sessions/{session_id}", "delete"): "deleteSession",
    ("/api/v1/sessions/{session_id}/export", "get"): "exportSession",
    ("/api/v1/sessions/{session_id}/lease", "post"): "acquireLease",
    ("/api/v1/sessions/{session_id}/lease", "get"): "getLease",
    ("/api/v1/sessions/{session_id}/lease/{lease_id}", "put"): "renewLease",
    ("/api/v1/sessions/{session_id}/lease/{lease_id}", "delete"): "releaseLease",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}/rewind", "post"): "rewindAgent",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}/rewinds", "get"): "listRewinds",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}/rewinds/{rewind_id}/undo", "post"): "undoRewind",
    ("/api/v1/sessions/{session_id}/agents/{agent_id}/rewinds/{rewind_id}", "delete"): "purgeRewind",
    ("/api/v1/sessions/{session_id}/fork", "post"): "forkSession",
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
    ("/api/v1/sessions/{session_id}/agents/{agent_id}/snapshot", "post"): "convertAgentToSnapshot",
    ("/api/v1/sessions/{session_id}/multi-agents", "post"): "createMultiAgent",
    ("/api/v1/sessions/{session_id}/multi-agents/{multi_agent_id}", "get"): "getMultiAgent",
    ("/api/v1/sessions/{session_id}/multi-agents/{multi_agent_id}", "put"): "updateMultiAgent",
    ("/api/v1/sessions/{session_id}/multi-agents/{multi_agent_id}", "delete"): "deleteMultiAgent",
    ("/api/v1/storage/object", "put"): "writeStorageObject",
    ("/api/v1/storage/object", "get"): "readStorageObject",
    ("/api/v1/storage/object", "delete"): "deleteStorageObject",
    ("/api/v1/storage/keys", "get"): "listStorageKeys",
    ("/api/v1/storage/search", "post"): "searchStorage",
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
            assert parameter["in"] != "path" or "example" in parameter, (key, parameter["name"])
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
        elif path == "/metrics":  # its own token, never an API key; none while the API runs open
            assert operation["security"] == [{"metricsToken": []}, {}]
        else:
            assert "security" not in operation, path  # the document's: a key, or none when auth is off
    assert {"bearerKey": []} in spec["security"]


# Where an example's answer is not 201 for a POST and 200 for a PUT: the byte store's write creates
# (a PUT with a client-chosen key), and its search (a POST for its JSON body) creates nothing. Renewing
# the example's lease id, which no acquire answered, is refused as a lease that changed hands. The
# acquire's example holds the session's lease when the rewind's and the fork's come: they are refused
# as busy, as a change of history by anyone but the holder is.
EXAMPLE_STATUS = {
    "writeStorageObject": 201,
    "searchStorage": 200,
    "renewLease": 409,
    "rewindAgent": 409,
    "forkSession": 409,
}


def test_request_body_examples_are_accepted_by_the_service(client):
    spec = client.get("/apispec.json").get_json()
    operations = _operations(spec)
    ids = {
        "session_id": "user-123",
        "agent_id": "my-agent",
        "message_id": "0",
        "multi_agent_id": "research",
        "lease_id": "9b2f4c1e-7d3a-4e8b-a1c6-0f5d2e9b8a47",
        "rewind_id": "4d7e2a9c-1b3f-4e6a-8c5d-2f9e0b7a6c13",
    }
    # In the order a client would send them, so each example's parents exist.
    for path, method in [(p, m) for m in ("post", "put") for (p, mm) in OPERATION_IDS if mm == m]:
        operation = operations[(path, method)]
        if "requestBody" not in operation:  # e.g. undoing a rewind: nothing to give an example of
            continue
        content = operation["requestBody"]["content"]
        url = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)
        # A required query parameter (the byte store's key) is sent with its documented example.
        query = {p["name"]: p["schema"]["example"] for p in operation["parameters"] if p["in"] == "query"}
        if "application/json" in content:
            body = {"json": content["application/json"]["example"]}
        else:
            body = {"data": content["application/octet-stream"]["example"].encode()}

        response = client.open(url, method=method.upper(), query_string=query, **body)

        expected = EXAMPLE_STATUS.get(operation["operationId"], 201 if method == "post" else 200)
        assert response.status_code == expected, (path, response.get_data(as_text=True))


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
    # A generated acquire may ask to wait for a lease another generated acquire holds: answer at once.
    app = create_app(load_settings({"DATABASE_URL": clean_db, "LEASE_WAIT_MAX_SECONDS": "0"}), testing=True)
    client = app.test_client()
    # Some records to find, so generated requests reach more than the 404 paths.
    client.post("/api/v1/sessions", json={"session_id": "s"})
    client.post("/api/v1/sessions/s/agents", json={"agent_id": "a", "state": {}, "conversation_manager_state": {}})
    yield schemathesis.openapi.from_wsgi("/apispec.json", app)
    db.close_pool(app)


schema = schemathesis.pytest.from_fixture("api_schema")


def _number(value: object) -> object:
    try:
        return int(value)  # the coverage phase sends query values as text
    except (TypeError, ValueError):
        return value


def keep_the_rules_stated_in_words(case) -> None:
    """Make a schema-valid request keep the rules between values that OpenAPI 3.0 cannot state.

    The spec's descriptions state them, and the service answers 422 to a request that breaks one:
    a non-zero `offset` is not given with `page`; `limit` and `page_size` (two names of one
    setting) agree; a multi-agent update's body `id` is the path's `multi_agent_id`; a fork's
    `message_id` comes with an `agent_id`; a session's create or update names its expiry once, by
    `expires_at` or by `ttl_seconds`; a session search (`q`) comes without a `cursor`. Requests
    generated to be invalid are left as they are.
    """
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    query = case.query or {}
    if "page" in query and _number(query.get("offset", 0)) != 0:
        del query["offset"]
    if "limit" in query and "page_size" in query and _number(query["limit"]) != _number(query["page_size"]):
        del query["page_size"]  # deleted, not set: the coverage phase keeps typed values aside for its checks
    if "q" in query:
        query.pop("cursor", None)  # a search pages by position: no cursor with q
    if case.path.startswith("/api/v1/storage/"):
        _keep_the_storage_rules(case, query)
    if case.path.endswith("/fork") and isinstance(case.body, dict) and "agent_id" not in case.body:
        case.body.pop("message_id", None)  # a message id is one agent's: it comes with agent_id
    if case.path.startswith("/api/v1/sessions") and isinstance(case.body, dict) and "expires_at" in case.body:
        case.body.pop("ttl_seconds", None)
    if case.method == "PUT" and case.path.endswith("{multi_agent_id}") and isinstance(case.body, dict):
        # Path values arrive percent-encoded; the coverage phase also keeps the typed ones aside.
        typed = case.meta.raw_containers.get(ParameterLocation.PATH)
        case.body["id"] = typed["multi_agent_id"] if typed else unquote(case.path_parameters["multi_agent_id"])


def _keep_the_storage_rules(case, query) -> None:
    """A key's limit is 1,024 bytes of UTF-8 (maxLength counts characters), and a conditional write
    holds or not by what is stored, which no schema states: a valid request is written without one."""
    key = query.get("key")
    if isinstance(key, str) and len(key.encode("utf-8")) > MAX_KEY_BYTES:
        try:
            query["key"] = normalize_key(key[: MAX_KEY_BYTES // 4])
        except StorageKeyError:
            query["key"] = "k"
    if case.method == "PUT" and case.headers:
        for name in [n for n in case.headers if n.lower() in ("if-match", "if-none-match")]:
            del case.headers[name]


# Every check schemathesis has (its CLI's `--checks all`); none is left out.
ALL_CHECKS = [check for check in CHECKS.get_all() if not is_check_class(check)]


def test_the_generated_tests_run_every_check():
    assert {check.__name__ for check in ALL_CHECKS} >= {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
        "use_after_free",
        "ensure_resource_availability",
        "ignored_auth",
        "object_level_authorization",
    }


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_generated_requests_pass_every_check(case):
    keep_the_rules_stated_in_words(case)
    case.call_and_validate(checks=ALL_CHECKS)


STATEFUL_SCENARIOS = 40


# What a session's path still answers after the session is deleted, by design: its lease (the fencing
# token must never go back, so the lease's row outlives the session: migration 0006) and its export
# (a session's byte-store objects are exported even without a session record: snapshot sessions).
OUTLIVE_THEIR_SESSION = {"/api/v1/sessions/{session_id}/lease", "/api/v1/sessions/{session_id}/export"}
ALL_CHECKS_BUT_USE_AFTER_FREE = [check for check in ALL_CHECKS if check.__name__ != "use_after_free"]


def test_linked_requests_pass_every_check(api_schema, clean_db):
    # Sequences that follow the links schemathesis infers (create, then read, update, delete what
    # was created), so use_after_free and ensure_resource_availability have something to judge.
    class Scenarios(api_schema.as_state_machine()):
        def setup(self):
            # Each scenario starts from an empty database, so a replayed scenario meets the same answers.
            execute(clean_db, f"TRUNCATE {', '.join(TABLES)}")

        def before_call(self, case):
            keep_the_rules_stated_in_words(case)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            recorder = getattr(self, "recorder", None)
            checks = ALL_CHECKS_BUT_USE_AFTER_FREE if case.path in OUTLIVE_THEIR_SESSION else ALL_CHECKS
            case.validate_response(response, checks=checks, transport_kwargs=kwargs or None, recorder=recorder)

    Scenarios.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )


def test_the_root_redirects_to_the_docs(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/docs/"
    assert client.get("/", follow_redirects=True).mimetype == "text/html"
