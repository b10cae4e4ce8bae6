"""The banner's authentication line follows the rule the service applies, on a real database."""

from __future__ import annotations

import dataclasses

import psycopg2
import pytest

from app.config import load_settings
from app.startup import authentication_state
from helpers import execute


@pytest.mark.parametrize(
    "stored, settings, says",
    [
        ("", {}, "off until the first key"),
        (
            "INSERT INTO api_keys (key_id, namespace, secret_hash) VALUES ('0123456789abcdef', 't', repeat('0', 64))",
            {},
            "on: API requests need a key",
        ),
        (
            "INSERT INTO api_keys (key_id, namespace, secret_hash, revoked_at)"
            " VALUES ('0123456789abcdef', 't', repeat('0', 64), now())",
            {},
            "on, with no active key: every API request gets 401",
        ),
        ("", {"environment": "production"}, "on, with no active key"),
        (
            "INSERT INTO api_keys (key_id, namespace, secret_hash) VALUES ('0123456789abcdef', 't', repeat('0', 64))",
            {"auth_disabled": True},
            "off (AUTH_DISABLED=true)",
        ),
    ],
)
def test_the_banner_says_whether_requests_need_a_key(clean_db, stored, settings, says):
    if stored:
        execute(clean_db, stored)
    conn = psycopg2.connect(clean_db)
    try:
        line = authentication_state(conn, dataclasses.replace(load_settings({}), **settings))
    finally:
        conn.close()

    assert line.startswith(says), line
