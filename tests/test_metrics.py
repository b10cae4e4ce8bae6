"""GET /metrics: exact counts summed over gunicorn's workers, no ids or keys in it, and who may read it.

The counting test runs a real gunicorn with two workers, checks in the access log that both served
some of its requests, and compares two scrapes: every counter must have moved by exactly what the
test sent. The access checks cover both ways to open /metrics: METRICS_TOKEN, or an API running
without keys.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from http_client import HTTPResponse
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from psycopg2.pool import PoolError

from app import create_app, db, pool
from app.auth import fingerprint
from app.config import load_settings
from app.metrics import SCRAPE_PATH, UNMATCHED
from harness.database import empty_tables
from harness.server import Gunicorn
from helpers import PROJECT_ROOT, SESSIONS, error_summary
from key_helpers import bearer, create_key

KEY = "sb_metrics-test-key-0123456789abcdef"
TOKEN = "metrics-token-0123456789abcdef"
POOL_MAX = 4
WORKERS = 2
LOG_DEADLINE = 10.0
# The most extra requests sent to reach the second worker: each one has even odds of landing there.
EXTRA_REQUESTS_MAX = 200
DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "session-backend-dashboard.json"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """Two workers, an API key from API_KEYS, and METRICS_TOKEN; the tables emptied before and after.

    The tests of this module do not empty the tables between them: the workers seed the key once.
    """
    empty_tables(database_url)
    log = Path(tmp_path_factory.mktemp("metrics-server")) / "gunicorn.log"
    with Gunicorn(
        database_url,
        log,
        WEB_CONCURRENCY=str(WORKERS),
        GUNICORN_THREADS="4",
        DB_POOL_MIN="1",
        DB_POOL_MAX=str(POOL_MAX),
        API_KEYS=f"metrics-team:{KEY}",
        METRICS_TOKEN=TOKEN,
    ) as running:
        yield running
    empty_tables(database_url)


def parse(text: str) -> Samples:
    """Every sample of a scrape, keyed by its name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape_text(server: Gunicorn) -> str:
    """The server's /metrics, read with the metrics token."""
    response = requests.get(server.url + SCRAPE_PATH, headers=bearer(TOKEN), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text


def by(samples: Samples, name: str, *labels: str) -> Counter:
    """The values of the samples named ``name``, keyed by the values of ``labels``."""
    found: Counter = Counter()
    for (sample_name, sample_labels), value in samples.items():
        if sample_name == name:
            values = dict(sample_labels)
            found[tuple(values[label] for label in labels)] += value
    return found


def delta(before: Samples, after: Samples, name: str, *labels: str) -> Counter:
    """How much each labelled series of ``name`` moved between two scrapes (series that did not move left out)."""
    moved = by(after, name, *labels)
    moved.subtract(by(before, name, *labels))
    return Counter({key: value for key, value in moved.items() if value})


class Traffic:
    """Requests sent on fresh connections, each with a request id to find its worker in the access log."""

    def __init__(self, server: Gunicorn) -> None:
        self.server = server
        self.sent: Counter = Counter()  # (method, route, status) -> requests
        self.request_ids: list[str] = []

    def send(self, method: str, path: str, route: str, status: int, **kwargs) -> requests.Response:
        """Send one request, which must answer ``status``; count it under ``route``."""
        request_id = uuid.uuid4().hex
        headers = {"Connection": "close", "X-Request-ID": request_id, **kwargs.pop("headers", {})}
        response = requests.request(method, self.server.url + path, headers=headers, timeout=10, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        self.sent[(method, route, str(status))] += 1
        self.request_ids.append(request_id)
        return response

    def workers_that_served(self) -> set[int]:
        """The pids that served this traffic, by the access log (waiting for lines not written yet)."""
        wanted = set(self.request_ids)
        deadline = time.monotonic() + LOG_DEADLINE
        while True:
            pids = {}
            for line in self.server.log_path.read_text(encoding="utf-8").splitlines():
                if line.startswith("{") and '"gunicorn.access"' in line:
                    entry = json.loads(line)
                    if entry.get("request_id") in wanted:
                        pids[entry["request_id"]] = entry["pid"]
            if len(pids) == len(wanted):
                return set(pids.values())
            assert time.monotonic() < deadline, f"{len(wanted) - len(pids)} requests missing from the access log"
            time.sleep(0.1)  # polling the log file for lines gunicorn writes after answering


def test_every_count_moves_by_exactly_what_was_sent_whichever_worker_served_it(server):
    before_text = scrape_text(server)
    before = parse(before_text)
    traffic = Traffic(server)
    key = bearer(KEY)
    sessions = [f"metrics-{uuid.uuid4().hex[:12]}" for _ in range(7)]
    missing = [f"missing-{uuid.uuid4().hex[:12]}" for _ in range(3)]

    for session_id in sessions:
        traffic.send("POST", SESSIONS, SESSIONS, 201, json={"session_id": session_id}, headers=key)
    traffic.send("POST", SESSIONS, SESSIONS, 409, json={"session_id": sessions[0]}, headers=key)
    for session_id in missing:
        traffic.send("GET", f"{SESSIONS}/{session_id}", f"{SESSIONS}/<session_id>", 404, headers=key)
    for session_id in sessions[:2]:
        traffic.send("GET", f"{SESSIONS}/{session_id}", f"{SESSIONS}/<session_id>", 401, headers=bearer(KEY + "x"))
    traffic.send("GET", SESSIONS, SESSIONS, 401)
    written = [b"x" * 1000, "é".encode() * 1200]
    for number, body in enumerate(written):
        path = f"/api/v1/storage/object?key=session/{sessions[0]}/blob-{number}"
        traffic.send("PUT", path, "/api/v1/storage/object", 201, data=body, headers=key)
    traffic.send("GET", f"/no-such-route/{sessions[0]}", UNMATCHED, 404)
    database_requests = sum(traffic.sent.values()) - 1
    # gunicorn decides which worker accepts each connection: more cheap requests, a bounded number,
    # until both have served some.
    served = traffic.workers_that_served()
    while len(served) < WORKERS and len(traffic.request_ids) < EXTRA_REQUESTS_MAX:
        for _ in range(10):
            traffic.send("GET", "/health/live", "/health/live", 200)
        served = traffic.workers_that_served()
    assert served == set(server.workers())

    after_text = scrape_text(server)
    after = parse(after_text)

    assert delta(before, after, "session_backend_http_requests_total", "method", "route", "status") == traffic.sent
    latency = Counter()
    for (method, route, _), count in traffic.sent.items():
        latency[(method, route)] += count
    assert delta(before, after, "session_backend_http_request_duration_seconds_count", "method", "route") == latency
    assert delta(before, after, "session_backend_auth_failures_total", "endpoint") == {("api",): 3}
    assert delta(before, after, "session_backend_db_errors_total", "error", "sqlstate") == {
        ("UniqueViolation", "23505"): 1
    }
    assert delta(before, after, "session_backend_storage_bytes_written_total") == {(): sum(map(len, written))}
    # One pooled connection per request that reached the database, every one returned by now, and
    # each worker's pool counted once (the master's, used for the start-up checks, closed before forking).
    assert delta(before, after, "session_backend_db_pool_checkout_seconds_count") == {(): database_requests}
    assert by(after, "session_backend_db_pool_connections_in_use") == {(): 0}
    assert by(after, "session_backend_db_pool_connections_max") == {(): WORKERS * POOL_MAX}
    assert by(after, "session_backend_db_pool_waits_total") == by(before, "session_backend_db_pool_waits_total")
    assert by(after, "session_backend_db_pool_timeouts_total") == {(): 0}
    for secret in [KEY, fingerprint(KEY)[0], TOKEN, *sessions, *missing, *traffic.request_ids]:
        assert secret not in after_text


def test_metrics_need_the_metrics_token_and_no_api_key_opens_them(server):
    before = parse(scrape_text(server))

    refused = [
        HTTPResponse(requests.get(server.url + SCRAPE_PATH, headers=headers, timeout=10))
        for headers in ({}, bearer(TOKEN + "x"), bearer(KEY), {"X-API-Key": KEY}, {"Authorization": TOKEN})
    ]

    for response in refused:
        assert error_summary(response) == (401, "AuthenticationError", "missing or invalid metrics token")
    after = parse(scrape_text(server))
    assert delta(before, after, "session_backend_auth_failures_total", "endpoint") == {("metrics",): len(refused)}
    # Scrapes, answered or refused, are not requests of the API's.
    assert delta(before, after, "session_backend_http_requests_total", "method", "route", "status") == {}


def test_the_dashboard_queries_only_metrics_the_service_exports(server):
    # Traffic that makes every labelled series exist: a refused key and a database error.
    assert requests.get(server.url + SESSIONS, timeout=10).status_code == 401
    session = {"session_id": f"dashboard-{uuid.uuid4().hex[:8]}"}
    for status in (201, 409):
        assert requests.post(server.url + SESSIONS, json=session, headers=bearer(KEY), timeout=10).status_code == status
    exported = {name for name, _ in parse(scrape_text(server))}
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]

    used = {name for expr in expressions for name in re.findall(r"\bsession_backend_[a-z_]+", expr)}

    assert expressions and used
    assert used <= exported, used - exported
    assert {"session_backend_http_requests_total", "session_backend_http_request_duration_seconds_bucket"} <= used
    assert {"session_backend_db_pool_connections_in_use", "session_backend_db_pool_connections_max"} <= used


def _in_process_app(url: str, **env: str):
    return create_app(load_settings({"DATABASE_URL": url, **env}), serving=False, testing=True)


def test_metrics_are_open_while_the_api_runs_without_keys_and_refused_once_a_key_exists(keyless_server, app):
    assert requests.get(keyless_server.url + SCRAPE_PATH, timeout=10).status_code == 200

    create_key(app.test_cli_runner(), "team-a")
    refused = HTTPResponse(requests.get(keyless_server.url + SCRAPE_PATH, timeout=10))

    status, error, message = error_summary(refused)
    assert (status, error) == (403, "ForbiddenError")
    assert "METRICS_TOKEN" in message


def test_auth_disabled_serves_metrics_without_a_token_even_with_keys(app, clean_db):
    create_key(app.test_cli_runner(), "team-a")
    disabled = _in_process_app(clean_db, AUTH_DISABLED="true")
    try:
        assert disabled.test_client().get(SCRAPE_PATH).status_code == 200
    finally:
        db.close_pool(disabled)


@pytest.mark.parametrize(
    "env", [{"ENVIRONMENT": "production"}, {"API_KEYS": f"team-a:{KEY}"}], ids=["production", "configured-keys"]
)
def test_without_a_token_metrics_are_refused_when_keys_are_required(clean_db, env):
    application = _in_process_app(clean_db, **env)
    try:
        response = application.test_client().get(SCRAPE_PATH)
    finally:
        db.close_pool(application)

    assert error_summary(response)[:2] == (403, "ForbiddenError")


def test_a_metrics_token_is_required_even_while_the_api_runs_open(clean_db):
    application = _in_process_app(clean_db, METRICS_TOKEN=TOKEN)
    client = application.test_client()
    try:
        assert client.get(f"{SESSIONS}/anything").status_code == 404  # the API is open
        assert error_summary(client.get(SCRAPE_PATH))[0] == 401
        assert client.get(SCRAPE_PATH, headers=bearer(TOKEN)).status_code == 200
    finally:
        db.close_pool(application)


def test_no_label_carries_an_id_however_many_distinct_ids_are_used(client):
    ids = [f"label-{uuid.uuid4().hex}" for _ in range(40)]
    # In-process the registry is the test run's: routes other tests added to their own apps are in it.
    routes_before = {
        route
        for _, route, _ in by(
            parse(client.get(SCRAPE_PATH).get_data(as_text=True)),
            "session_backend_http_requests_total",
            "method",
            "route",
            "status",
        )
    }
    for session_id in ids[:20]:
        assert client.post(SESSIONS, json={"session_id": session_id}).status_code == 201
        assert client.put(f"/api/v1/storage/object?key=session/{session_id}/x", data=b"12").status_code == 201
    for session_id in ids[20:]:
        assert client.get(f"{SESSIONS}/{session_id}").status_code == 404
        assert client.get(f"/nothing/{session_id}").status_code == 404

    text = client.get(SCRAPE_PATH).get_data(as_text=True)

    assert not [session_id for session_id in ids if session_id in text]
    routes = {
        route for _, route, _ in by(parse(text), "session_backend_http_requests_total", "method", "route", "status")
    }
    templates = {rule.rule for rule in client.application.url_map.iter_rules()}
    assert routes - routes_before <= templates | {UNMATCHED}
    assert {SESSIONS, f"{SESSIONS}/<session_id>", "/api/v1/storage/object", UNMATCHED} <= routes


def _value(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_the_pool_counts_connections_in_use_waits_and_timeouts(clean_db, monkeypatch):
    monkeypatch.setattr(pool, "CHECKOUT_TIMEOUT_SECONDS", 0.2)
    names = {
        "in_use": "session_backend_db_pool_connections_in_use",
        "max": "session_backend_db_pool_connections_max",
        "waits": "session_backend_db_pool_waits_total",
        "timeouts": "session_backend_db_pool_timeouts_total",
    }
    start = {key: _value(name) for key, name in names.items()}

    def moved() -> dict[str, float]:
        return {key: _value(name) - start[key] for key, name in names.items()}

    connections = pool.ConnectionPool(0, 1, clean_db)
    first = connections.getconn()
    assert moved() == {"in_use": 1, "max": 1, "waits": 0, "timeouts": 0}
    with pytest.raises(PoolError):
        connections.getconn()
    assert moved() == {"in_use": 1, "max": 1, "waits": 1, "timeouts": 1}

    # Long enough again that the next wait ends by the connection coming back, not by the timeout.
    monkeypatch.setattr(pool, "CHECKOUT_TIMEOUT_SECONDS", 30)
    taken: list = []
    waiter = threading.Thread(target=lambda: taken.append(connections.getconn()))
    waiter.start()
    deadline = time.monotonic() + LOG_DEADLINE
    while moved()["waits"] < 2:  # the second checkout is waiting: now return the connection it waits for
        assert time.monotonic() < deadline
        time.sleep(0.01)
    connections.putconn(first)
    waiter.join(timeout=10)
    assert len(taken) == 1
    assert moved() == {"in_use": 1, "max": 1, "waits": 2, "timeouts": 1}
    connections.putconn(taken[0])
    connections.closeall()
    assert moved() == {"in_use": 0, "max": 0, "waits": 2, "timeouts": 1}


def test_the_compose_prometheus_scrapes_the_api_with_the_token_the_api_is_given():
    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text(encoding="utf-8"))
    prometheus, api = compose["services"]["prometheus"], compose["services"]["session-api"]
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in prometheus["volumes"]}
    config = yaml.safe_load((PROJECT_ROOT / mounted["/etc/prometheus/prometheus.yml"]).read_text(encoding="utf-8"))

    (job,) = config["scrape_configs"]
    assert prometheus["profiles"] == ["monitoring"]
    assert job["metrics_path"] == SCRAPE_PATH
    assert job["static_configs"] == [{"targets": [f"session-api:{api['environment']['API_PORT']}"]}]
    assert job["authorization"]["credentials_file"] in " ".join(prometheus["command"])
    assert prometheus["environment"]["METRICS_TOKEN"] == api["environment"]["METRICS_TOKEN"] == "${METRICS_TOKEN:-}"
