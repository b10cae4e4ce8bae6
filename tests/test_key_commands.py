"""What `keys create`, `keys list` and `keys revoke` print: results on stdout, notes on stderr, keys never twice."""

from __future__ import annotations

import json
import re

import pytest

from app.auth import fingerprint
from helpers import SESSIONS, UNAUTHENTICATED, error_summary
from key_helpers import bearer, create_key

pytestmark = pytest.mark.over_http

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


@pytest.fixture
def runner(app):
    """The command line, on the test database."""
    return app.test_cli_runner()


def test_create_prints_only_the_key_on_stdout(runner):
    result = runner.invoke(args=["keys", "create", "--namespace", "team-a"])

    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"sb_[A-Za-z0-9_-]{43}\n", result.stdout)
    key_id = fingerprint(result.stdout.strip())[0]
    assert f"Created key {key_id} for namespace team-a" in result.stderr
    assert "cannot be shown again" in result.stderr


def test_create_json_gives_the_key_its_id_and_namespace(runner, client):
    result = runner.invoke(args=["keys", "create", "--namespace", "team-a", "--json"])

    created = json.loads(result.stdout)
    assert set(created) == {"key_id", "namespace", "key", "created_at"}
    assert created["key_id"] == fingerprint(created["key"])[0] and created["namespace"] == "team-a"
    assert ISO_UTC.match(created["created_at"])
    assert client.get(SESSIONS, headers=bearer(created["key"])).status_code == 200


def test_list_shows_active_and_revoked_keys_in_named_columns(runner, client):
    active_id, active_key = create_key(runner, "team-a")
    revoked_id, revoked_key = create_key(runner, "team-b")
    assert client.get(SESSIONS, headers=bearer(active_key)).status_code == 200
    assert runner.invoke(args=["keys", "revoke", revoked_id]).exit_code == 0

    result = runner.invoke(args=["keys", "list"])

    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    columns = header.split()
    assert columns == ["KEY_ID", "NAMESPACE", "STATUS", "CREATED", "LAST_USED", "REVOKED"]
    rows = {fields[0]: dict(zip(columns, fields, strict=True)) for fields in (line.split() for line in lines)}
    assert set(rows) == {active_id, revoked_id} and all(len(row) == len(columns) for row in rows.values())
    active, revoked = rows[active_id], rows[revoked_id]
    assert (active["NAMESPACE"], active["STATUS"], active["REVOKED"]) == ("team-a", "active", "-")
    assert TIMESTAMP.match(active["CREATED"]) and TIMESTAMP.match(active["LAST_USED"])
    assert (revoked["NAMESPACE"], revoked["STATUS"], revoked["LAST_USED"]) == ("team-b", "revoked", "-")
    assert TIMESTAMP.match(revoked["CREATED"]) and TIMESTAMP.match(revoked["REVOKED"])
    assert active_key not in result.output and revoked_key not in result.output


def test_list_json_has_one_object_per_key(runner):
    active_id, _ = create_key(runner, "team-a")
    revoked_id, _ = create_key(runner, "team-b")
    runner.invoke(args=["keys", "revoke", revoked_id])

    listed = json.loads(runner.invoke(args=["keys", "list", "--json"]).stdout)

    assert [set(key) for key in listed] == [
        {"key_id", "namespace", "status", "created_at", "last_used_at", "revoked_at"}
    ] * 2
    by_id = {key["key_id"]: key for key in listed}
    assert by_id[active_id]["status"] == "active" and by_id[active_id]["revoked_at"] is None
    assert by_id[revoked_id]["status"] == "revoked" and ISO_UTC.match(by_id[revoked_id]["revoked_at"])
    assert ISO_UTC.match(by_id[active_id]["created_at"]) and by_id[active_id]["namespace"] == "team-a"


def test_list_of_no_keys_is_a_header_or_an_empty_json_list(runner):
    assert runner.invoke(args=["keys", "list"]).stdout.split() == [
        "KEY_ID",
        "NAMESPACE",
        "STATUS",
        "CREATED",
        "LAST_USED",
        "REVOKED",
    ]
    assert json.loads(runner.invoke(args=["keys", "list", "--json"]).stdout) == []


def test_revoke_accepts_the_whole_key_and_never_repeats_it(runner, client):
    key_id, key = create_key(runner, "team-a")
    create_key(runner, "team-b")

    result = runner.invoke(args=["keys", "revoke", key])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"Revoked key {key_id} (namespace team-a).\n"
    assert key not in result.output
    assert error_summary(client.get(SESSIONS, headers=bearer(key))) == UNAUTHENTICATED


@pytest.mark.parametrize("argument", ["sb_" + "x" * 43, "0123456789abcdef", "team-a"])
def test_revoking_something_unknown_fails_without_repeating_it(runner, argument):
    create_key(runner, "team-a")

    result = runner.invoke(args=["keys", "revoke", argument])

    assert result.exit_code == 1
    assert "no key matches" in result.stderr and argument not in result.output


def test_revoking_twice_says_the_key_was_already_revoked(runner):
    key_id, _ = create_key(runner, "team-a")
    runner.invoke(args=["keys", "revoke", key_id])

    again = runner.invoke(args=["keys", "revoke", key_id])

    assert again.exit_code == 0 and f"Key {key_id} was already revoked" in again.stdout
