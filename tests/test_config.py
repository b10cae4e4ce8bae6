"""Settings: one reader of the environment, what it rejects, and the README's tables kept in step with it."""

from __future__ import annotations

import logging
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from app import create_app, db
from app.config import ConfigurationError, load_settings, settings_of
from harness.server import Gunicorn, free_port
from helpers import PROJECT_ROOT, SESSIONS, agent_url


class _Recording(dict):
    """An environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def _names_read_by_load_settings() -> set[str]:
    environ = _Recording()
    load_settings(environ)
    return environ.read


def _names_read_by_gunicorn_conf(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    environ = _Recording()
    monkeypatch.setattr(os, "environ", environ)
    runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    return environ.read


def _readme_configuration_tables() -> list[set[str]]:
    """The variables each table of the README's Configuration section lists, in order."""
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    tables: list[set[str]] = []
    for block in re.split(r"\n(?!\|)", section):
        rows = [line for line in block.splitlines() if line.startswith("| `")]
        if rows:
            tables.append({name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])})
    return tables


def test_the_readme_lists_exactly_the_settings_the_service_and_the_server_read(monkeypatch):
    service = _names_read_by_load_settings()
    server = _names_read_by_gunicorn_conf(monkeypatch) - service

    assert _readme_configuration_tables() == [service, server]


@pytest.mark.parametrize("value", ["abc", "2k", "1.5", "0", "-1"])
def test_a_malformed_max_content_length_is_refused_naming_the_variable(value):
    with pytest.raises(ConfigurationError, match="MAX_CONTENT_LENGTH"):
        load_settings({"MAX_CONTENT_LENGTH": value})


def test_max_content_length_is_read_from_the_environment():
    assert load_settings({"MAX_CONTENT_LENGTH": "2048"}).max_content_length == 2048
    assert load_settings({}).max_content_length == 32 * 1024 * 1024


@pytest.mark.parametrize("value", ["verbose", "info,debug", "10"])
def test_an_unknown_log_level_is_refused_naming_the_variable(value):
    with pytest.raises(ConfigurationError, match="LOG_LEVEL"):
        load_settings({"LOG_LEVEL": value})


def test_log_level_is_case_insensitive_and_defaults_to_info():
    assert load_settings({"LOG_LEVEL": "warning"}).log_level == "WARNING"
    assert load_settings({"LOG_LEVEL": ""}).log_level == "INFO"


def test_the_app_takes_everything_from_its_settings(clean_db: str):
    root = logging.getLogger()
    level_before = root.level
    settings = load_settings({"DATABASE_URL": clean_db, "LOG_LEVEL": "ERROR", "MAX_CONTENT_LENGTH": "4096"})
    app = create_app(settings, testing=True)
    try:
        assert settings_of(app) is settings
        assert db.database_url(app) == clean_db
        assert app.config["MAX_CONTENT_LENGTH"] == 4096
        assert root.level == logging.ERROR
        assert "DATABASE_URL" not in app.config and "SETTINGS" not in app.config
    finally:
        db.close_pool(app)
        root.setLevel(level_before)


def test_building_an_app_without_a_database_url_starts_no_database(tmp_path: Path):
    # Tests build apps only to read their URL map; the embedded server starts when a query needs it.
    data_dir = tmp_path / "never-started"
    create_app(load_settings({"EMBEDDED_PGDATA": str(data_dir)}), serving=False)

    assert not data_dir.exists()


def test_the_server_refuses_to_start_on_a_malformed_setting_naming_it(clean_db: str):
    env = {**os.environ, "DATABASE_URL": clean_db, "API_PORT": str(free_port()), "MAX_CONTENT_LENGTH": "2k"}
    started = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert started.returncode == 1
    assert "MAX_CONTENT_LENGTH must be an integer, got '2k'" in started.stderr + started.stdout


def _agent_body(size: int) -> bytes:
    """An agent's JSON body of exactly ``size`` bytes."""
    head, tail = b'{"agent_id": "a", "state": {"pad": "', b'"}, "conversation_manager_state": {}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_max_content_length_from_the_environment_limits_bodies_under_gunicorn(clean_db: str, tmp_path: Path):
    with Gunicorn(
        clean_db, tmp_path / "gunicorn.log", MAX_CONTENT_LENGTH="2048", WEB_CONCURRENCY="1", DB_POOL_MIN="1"
    ) as server:
        headers = {"Content-Type": "application/json"}
        assert requests.post(f"{server.url}{SESSIONS}", json={"session_id": "s"}, timeout=10).status_code == 201
        too_large = requests.post(f"{server.url}{agent_url('s')}", data=_agent_body(3000), headers=headers, timeout=10)
        stored_after_413 = requests.get(f"{server.url}{agent_url('s', 'a')}", timeout=10).status_code
        fits = requests.post(f"{server.url}{agent_url('s')}", data=_agent_body(2000), headers=headers, timeout=10)

    assert too_large.status_code == 413
    assert too_large.json()["detail"]["error"] == "PayloadTooLargeError"
    assert stored_after_413 == 404
    assert fits.status_code == 201


def test_the_metrics_token_comes_from_metrics_token_or_its_file(tmp_path: Path):
    token = "metrics-token-0123456789abcdef"
    (tmp_path / "token").write_text(f"{token}\n", encoding="utf-8")

    assert load_settings({}).metrics_token is None
    assert load_settings({"METRICS_TOKEN": token}).metrics_token == token
    assert load_settings({"METRICS_TOKEN_FILE": str(tmp_path / "token")}).metrics_token == token


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"METRICS_TOKEN": "short-token"}, "at least 16 characters"),
        ({"METRICS_TOKEN": "a metrics token with spaces"}, "without spaces"),
        ({"METRICS_TOKEN": "metrics-token-0123456789", "METRICS_TOKEN_FILE": "token"}, "not both"),
        ({"METRICS_TOKEN_FILE": "/nonexistent/token"}, "METRICS_TOKEN_FILE cannot be read"),
    ],
    ids=["short", "spaces", "both", "unreadable"],
)
def test_an_unusable_metrics_token_is_refused_without_repeating_it(env, message):
    with pytest.raises(ConfigurationError, match=message) as refused:
        load_settings(env)

    assert env.get("METRICS_TOKEN", "never-in-a-message") not in str(refused.value)
