"""Methods a resource does not support: 405 in the JSON envelope, with the Allow header RFC 9110 requires."""

from __future__ import annotations

import pytest

from helpers import SESSIONS, error_of

pytestmark = pytest.mark.over_http


@pytest.mark.parametrize(
    "method, url, allowed",
    [
        ("PATCH", f"{SESSIONS}/s", {"GET", "PUT", "DELETE", "HEAD", "OPTIONS"}),
        ("DELETE", SESSIONS, {"GET", "POST", "HEAD", "OPTIONS"}),
        ("TRACE", f"{SESSIONS}/s/agents/a/messages/0", {"GET", "PUT", "DELETE", "HEAD", "OPTIONS"}),
        ("POST", "/health/ready", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_405_names_the_allowed_methods(client, method, url, allowed):
    response = client.open(url, method=method)

    assert response.status_code == 405
    assert error_of(response)["error"] == "MethodNotAllowedError"
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    assert response.mimetype == "application/json"
