"""Request-level rules: identifiers, malformed and oversized bodies, request ids, unknown routes."""

from __future__ import annotations

import json
import logging

import pytest

from helpers import (
    SESSIONS,
    UNAUTHENTICATED,
    agent_url,
    create_agent,
    create_message,
    create_session,
    error_of,
    error_summary,
    message_url,
    not_found,
)
from key_helpers import bearer, create_key

pytestmark = pytest.mark.over_http

GOOD_IDS = [
    "user@example.com",
    "a b",
    "550e8400-e29b-41d4-a716-446655440000",
    "日本語",
    "x" * 255,
    "'; DROP TABLE sessions;--",
]
BAD_IDS = ["", "x" * 256, "a/b", "a\\b", "tab\there", "nl\nhere", "nul\u0000"]


@pytest.mark.parametrize("session_id", GOOD_IDS)
def test_good_ids_are_accepted_in_bodies_and_paths(client, session_id):
    assert create_session(client, session_id)["session_id"] == session_id
    create_agent(client, session_id, session_id)

    from urllib.parse import quote

    encoded = quote(session_id, safe="")
    assert client.get(f"{SESSIONS}/{encoded}").status_code == 200
    assert client.get(f"{SESSIONS}/{encoded}/agents/{encoded}").get_json()["agent_id"] == session_id


@pytest.mark.parametrize("session_id", BAD_IDS)
def test_other_ids_are_422_in_bodies(client, session_id):
    response = client.post(SESSIONS, json={"session_id": session_id})

    assert response.status_code == 422
    assert "session_id" in error_of(response)["fields"]
    assert client.get(SESSIONS).get_json()["sessions"] == []


def test_overlong_or_control_character_ids_are_422_in_paths(client):
    assert client.get(f"{SESSIONS}/{'x' * 256}").status_code == 422
    assert client.get(f"{SESSIONS}/tab%09here").status_code == 422
    assert client.get(f"{SESSIONS}/s/agents/a%5Cb").status_code == 422


@pytest.mark.parametrize("message_id", ["-1", "2147483648", "abc", "1e3"])
def test_bad_message_ids_in_paths_are_422(client, message_id):
    create_session(client, "s")
    create_agent(client, "s", "a")

    response = client.get(message_url("s", "a", message_id))

    assert response.status_code == 422
    assert "message_id" in error_of(response)["fields"]


def test_malformed_json_is_400_and_stores_nothing(client):
    response = client.post(SESSIONS, data='{"session_id": "s",', content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["error"] == "BadRequestError"
    assert error_summary(client.get(f"{SESSIONS}/s")) == not_found("session not found")


def test_json_that_is_not_an_object_is_422(client):
    assert client.post(SESSIONS, json=["s"]).status_code == 422


def test_absurdly_deep_json_is_rejected_not_a_crash(client):
    response = client.post(SESSIONS, data="[" * 100000 + "]" * 100000, content_type="application/json")

    assert response.status_code == 400


@pytest.mark.in_process("changes app.config; gunicorn with the limit from its environment: test_config.py")
def test_body_over_max_content_length_is_413(app):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    client = app.test_client()
    create_session(client, "s")
    create_agent(client, "s", "a")

    response = client.post(message_url("s", "a"), json={"message_id": 0, "message": {"text": "x" * 2000}})

    assert response.status_code == 413
    assert error_of(response)["error"] == "PayloadTooLargeError"
    assert error_summary(client.get(message_url("s", "a", 0))) == not_found("message not found")


def _chunked(app, path: str, body: bytes):
    """POST ``body`` as a WSGI server hands over a chunked request: no Content-Length, input terminated."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    environ = EnvironBuilder(path=path, method="POST", data=body, content_type="application/json").get_environ()
    del environ["CONTENT_LENGTH"]
    environ.update({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True})
    app_iter, status, _ = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), b"".join(app_iter)


@pytest.mark.in_process("changes app.config; gunicorn with the limit from its environment: test_through_gunicorn.py")
def test_chunked_body_over_max_content_length_is_413_not_cut_at_the_limit(app):
    client = app.test_client()
    create_session(client, "s")
    create_agent(client, "s", "a")
    body = b'{"message_id": 0, "message": {"text": "' + b"x" * 2000 + b'"}}'

    app.config["MAX_CONTENT_LENGTH"] = len(body) - 1
    status, answer = _chunked(app, message_url("s", "a"), body)
    assert (status, json.loads(answer)["detail"]["error"]) == (413, "PayloadTooLargeError")
    assert error_summary(client.get(message_url("s", "a", 0))) == not_found("message not found")

    app.config["MAX_CONTENT_LENGTH"] = len(body)
    assert _chunked(app, message_url("s", "a"), body)[0] == 201


@pytest.mark.in_process("reads app.config")
def test_default_max_content_length_is_thirty_two_mebibytes(app):
    assert app.config["MAX_CONTENT_LENGTH"] == 32 * 1024 * 1024


# Werkzeug's test client, like its development server, puts the undecoded path in RAW_URI and
# REQUEST_URI; gunicorn sets only the first, mod_wsgi and uWSGI only the second.
@pytest.mark.parametrize("server_sets", [{}, {"REQUEST_URI": None}, {"RAW_URI": None}])
@pytest.mark.in_process("sets the WSGI environ of other servers; gunicorn's own is in tests/client/test_raw_http.py")
def test_an_encoded_slash_in_the_raw_path_is_422_naming_the_id(client, server_sets):
    create_session(client, "s")
    create_agent(client, "s", "a")

    response = client.delete(f"{SESSIONS}/s%2Fagents%2Fa?x=%2F", environ_overrides=server_sets)

    assert response.status_code == 422
    assert list(error_of(response)["fields"]) == ["session_id"]
    assert client.get(agent_url("s", "a")).status_code == 200


def test_every_api_endpoint_without_a_query_refuses_one_and_changes_nothing(app, client):
    from app.http import QUERY_ENDPOINTS

    create_session(client, "s")
    create_agent(client, "s", "a")
    create_message(client, "s", "a", 0)
    client.post(f"{SESSIONS}/s/multi-agents", json={"id": "m"})
    values = {
        "session_id": "s",
        "agent_id": "a",
        "message_id": 0,
        "multi_agent_id": "m",
        "lease_id": "00000000-0000-4000-8000-000000000000",
        "rewind_id": "00000000-0000-4000-8000-000000000000",
    }
    tried = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if rule.endpoint in QUERY_ENDPOINTS:  # each refuses an unknown parameter by its schema
                continue
            response = client.open(f"{path}?zzz=1", method=method, json={})
            assert response.status_code == 422, (method, path)
            assert error_of(response)["fields"] == {"zzz": ["unknown query parameter"]}, (method, path)
            tried += 1

    assert tried >= 16
    assert client.get(message_url("s", "a", 0)).status_code == 200
    assert client.get(f"{SESSIONS}/s/multi-agents/m").status_code == 200


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready", "/apispec.json", "/docs/", "/redoc"])
def test_health_and_documentation_ignore_query_strings(client, path):
    assert client.get(f"{path}?_=1700000000").status_code == 200


def test_a_cors_preflight_with_a_query_is_not_refused(client):
    assert client.options(f"{SESSIONS}/s?zzz=1").status_code == 200


def test_incoming_request_id_is_echoed_and_used_in_errors(client):
    response = client.get(f"{SESSIONS}/nope", headers={"X-Request-ID": "trace-123"})

    assert response.headers["X-Request-ID"] == "trace-123"
    assert error_of(response)["request_id"] == "trace-123"


def test_request_id_is_generated_when_absent_or_unsafe(client):
    generated = client.get("/health").headers["X-Request-ID"]
    unsafe = client.get("/health", headers={"X-Request-ID": "<script>" * 20}).headers["X-Request-ID"]

    assert len(generated) == 32 and len(unsafe) == 32 and generated != unsafe


def test_unknown_route_and_wrong_method_use_the_envelope(client):
    assert error_of(client.get("/api/v1/nothing"))["error"] == "NotFoundError"
    response = client.patch(f"{SESSIONS}/s")
    assert response.status_code == 405
    assert error_of(response)["error"] == "MethodNotAllowedError"


@pytest.mark.in_process("reads the log records of the app in this process")
def test_logs_are_json_lines_with_the_request_id(app, client, capsys):
    # A key that exists with a wrong secret is rejected, and the service logs that during the request.
    _, key = create_key(app.test_cli_runner(), "ns")
    wrong_key = key[:-1] + ("b" if key[-1] == "a" else "a")
    capsys.readouterr()

    response = client.get(SESSIONS, headers={"X-Request-ID": "log-check", **bearer(wrong_key)})
    logging.getLogger("app.test").warning("probe", extra={"k": 1})

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert error_summary(response) == UNAUTHENTICATED
    rejected = [line for line in lines if line["message"] == "rejected API key"]
    assert len(rejected) == 1, lines
    assert {"level": "INFO", "logger": "app.auth", "request_id": "log-check"}.items() <= rejected[0].items()
    assert {"level": "WARNING", "logger": "app.test", "message": "probe", "k": 1}.items() <= lines[-1].items()
    assert "request_id" not in lines[-1]  # logged outside any request


PATH_VALUES = [
    *GOOD_IDS,
    *BAD_IDS,
    "0",
    "7",
    "2147483647",
    "2147483648",
    "-1",
    "+5",
    " 5",
    "05",
    "٣",
    "1e3",
    "99999999999",
]


@pytest.mark.parametrize("value", PATH_VALUES)
def test_the_plain_path_checks_agree_with_the_path_schema(value):
    # The views skip the schema when these checks pass, so they must never pass a value it refuses.
    from marshmallow import ValidationError

    from app.schemas import PathParams, is_identifier, is_message_id

    for name, plain_check in (("session_id", is_identifier), ("message_id", is_message_id)):
        try:
            loaded = PathParams().load({name: value})[name]
        except ValidationError:
            loaded = None
        if plain_check(value):
            assert loaded is not None and loaded == (int(value) if name == "message_id" else value)
        elif name == "session_id":
            assert loaded is None
