"""Requests without a key (development): served until the first key is created, refused from then on,
even after every key is revoked, until an operator says otherwise with `keys allow-keyless --yes`."""

from __future__ import annotations

import pytest

from app import create_app, db
from app.config import load_settings
from helpers import SESSIONS, UNAUTHENTICATED, error_summary
from key_helpers import bearer, create_key

pytestmark = pytest.mark.over_http


@pytest.fixture
def runner(app):
    """The command line, on the test database."""
    return app.test_cli_runner()


def test_revoking_the_last_key_keeps_requests_without_a_key_refused(runner, client):
    key_id, key = create_key(runner, "team-a")
    assert client.post(SESSIONS, json={"session_id": "s"}, headers=bearer(key)).status_code == 201

    result = runner.invoke(args=["keys", "revoke", key_id])

    assert result.exit_code == 0, result.output
    assert error_summary(client.get(SESSIONS)) == UNAUTHENTICATED
    assert error_summary(client.post(SESSIONS, json={"session_id": "t"})) == UNAUTHENTICATED
    assert "last active key" in result.stderr and "keys allow-keyless --yes" in result.stderr


def test_revoking_a_key_that_is_not_the_last_says_nothing_about_keyless_requests(runner):
    key_id, _ = create_key(runner, "team-a")
    create_key(runner, "team-b")

    result = runner.invoke(args=["keys", "revoke", key_id])

    assert result.exit_code == 0 and "allow-keyless" not in result.output


def test_allow_keyless_needs_yes(runner, client):
    key_id, _ = create_key(runner, "team-a")
    runner.invoke(args=["keys", "revoke", key_id])

    result = runner.invoke(args=["keys", "allow-keyless"])

    assert result.exit_code != 0 and "--yes" in result.stderr
    assert error_summary(client.get(SESSIONS)) == UNAUTHENTICATED


def test_allow_keyless_is_refused_while_a_key_is_active(runner, client):
    create_key(runner, "team-a")
    create_key(runner, "team-b")

    result = runner.invoke(args=["keys", "allow-keyless", "--yes"])

    assert result.exit_code != 0 and "2 active keys" in result.stderr
    assert error_summary(client.get(SESSIONS)) == UNAUTHENTICATED


def test_allow_keyless_serves_requests_without_a_key_until_the_next_key(runner, client):
    key_id, key = create_key(runner, "team-a")
    runner.invoke(args=["keys", "revoke", key_id])

    result = runner.invoke(args=["keys", "allow-keyless", "--yes"])

    assert result.exit_code == 0, result.output
    assert client.post(SESSIONS, json={"session_id": "s"}).status_code == 201
    assert error_summary(client.get(SESSIONS, headers=bearer(key))) == UNAUTHENTICATED
    create_key(runner, "team-b")
    assert error_summary(client.get(SESSIONS)) == UNAUTHENTICATED


def test_allow_keyless_when_already_allowed_changes_nothing(runner, client):
    result = runner.invoke(args=["keys", "allow-keyless", "--yes"])

    assert result.exit_code == 0 and "already" in result.stdout
    assert client.get(SESSIONS).status_code == 200


def test_creating_the_first_key_says_that_keyless_records_stay_in_default(runner, client):
    assert client.post(SESSIONS, json={"session_id": "before-keys"}).status_code == 201

    first = runner.invoke(args=["keys", "create", "--namespace", "team-a"])
    second = runner.invoke(args=["keys", "create", "--namespace", "team-b"])

    assert first.exit_code == 0 and second.exit_code == 0
    assert "Records written without a key stay in the 'default' namespace (1 session now)" in first.stderr
    assert "--namespace default" in first.stderr and "refused" in first.stderr
    assert "default" not in second.stderr
    _, default_key = create_key(runner, "default")
    assert client.get(f"{SESSIONS}/before-keys", headers=bearer(default_key)).status_code == 200


def test_start_with_every_key_revoked_warns_that_every_request_is_refused(runner, clean_db, caplog):
    key_id, _ = create_key(runner, "team-a")
    runner.invoke(args=["keys", "revoke", key_id])
    caplog.clear()

    app = create_app(load_settings({"DATABASE_URL": clean_db}))
    db.close_pool(app)

    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("no active API key" in w and "refused" in w for w in warnings), warnings
    assert not any("NOT authenticated" in w for w in warnings)


def test_auth_disabled_still_serves_requests_without_a_key_after_a_key_was_revoked(runner, clean_db):
    key_id, _ = create_key(runner, "team-a")
    runner.invoke(args=["keys", "revoke", key_id])
    app = create_app(load_settings({"DATABASE_URL": clean_db, "AUTH_DISABLED": "true"}))
    try:
        assert app.test_client().post(SESSIONS, json={"session_id": "s"}).status_code == 201
    finally:
        db.close_pool(app)
