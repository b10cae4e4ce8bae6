"""The session list's cursor: every cursor the OpenAPI document allows is a position the service
accepts, anything else is a 422, and paging by cursor is exact at the edges of time."""

from __future__ import annotations

import jsonschema_rs
import pytest

from helpers import SESSIONS, error_of

pytestmark = pytest.mark.over_http

# Each matches the spec's pattern, whether or not this service could have issued it.
SPEC_VALID = [
    "0.000000_",
    "1764537600.123456_757365722d313233",
    "-99999999999.999999_ff",
    "999999999999.999999_" + "f09f9880" * 255,
    "-0.000001_c3",  # a lone lead byte: not UTF-8, still a position
    "000000000001.000000_7e",
]
SPEC_INVALID = [
    "",
    "0",
    "not-hex",
    "00",
    "1.0_",
    "1.000000",
    "1.000000_0",
    "1.000000_00",
    "1.000000_6100",
    "1.000000_FF",
    "1.000000_61\n",
    "+1.000000_",
    "-999999999999.000000_",
    "1234567890123.000000_",
    "1.000000_" + "61" * 1030,
]


@pytest.fixture
def cursor_schema(client) -> dict:
    """The schema the OpenAPI document gives the `cursor` query parameter."""
    operation = client.get("/apispec.json").get_json()["paths"][SESSIONS]["get"]
    return next(p for p in operation["parameters"] if p["name"] == "cursor")["schema"]


@pytest.mark.parametrize("cursor", SPEC_VALID + SPEC_INVALID)
def test_the_service_accepts_exactly_the_cursors_the_spec_allows(client, cursor_schema, cursor):
    # jsonschema_rs judges patterns with ECMA-262 semantics, as JSON Schema says and schemathesis does.
    allowed = jsonschema_rs.validator_for(cursor_schema).is_valid(cursor)

    response = client.get(SESSIONS, query_string={"cursor": cursor})

    assert allowed == (cursor in SPEC_VALID)
    assert response.status_code == (200 if allowed else 422), response.get_data(as_text=True)
    if not allowed:
        assert "cursor" in error_of(response)["fields"]


def test_a_cursor_from_beyond_every_session_pages_from_the_newest(client):
    client.post(SESSIONS, json={"session_id": "s"})

    body = client.get(SESSIONS, query_string={"cursor": "999999999999.999999_"}).get_json()

    assert [s["session_id"] for s in body["sessions"]] == ["s"]


# Times that sort next to each other, including where seconds go negative and years leave 1-9999 in UTC.
CREATED = {
    "year-zero": "0001-01-01T00:00:00+05:00",
    "year-one": "0001-01-01T00:00:00Z",
    "before-epoch-fraction": "1969-12-31T23:59:58.500000Z",
    "before-epoch": "1969-12-31T23:59:59Z",
    "epoch-a": "1970-01-01T00:00:00Z",
    "epoch-b": "1970-01-01T00:00:00Z",
    "epoch-and-a-microsecond": "1970-01-01T00:00:00.000001Z",
    "now": "2026-11-30T12:00:00.123456Z",
    "now-twin": "2026-11-30T12:00:00.123456Z",
    "year-9999": "9999-12-31T23:59:59.999999Z",
    "year-ten-thousand": "9999-12-31T23:59:59.999999-05:00",
}


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_cursor_pages_visit_every_session_once_in_order(client, limit):
    for session_id, created_at in CREATED.items():
        assert client.post(SESSIONS, json={"session_id": session_id, "created_at": created_at}).status_code == 201
    expected = [s["session_id"] for s in client.get(SESSIONS, query_string={"limit": 100}).get_json()["sessions"]]

    seen, cursor = [], None
    for _ in range(len(CREATED) + 1):
        query = {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}
        response = client.get(SESSIONS, query_string=query)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        seen += [s["session_id"] for s in body["sessions"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == expected
    assert sorted(seen) == sorted(CREATED)
    assert expected[0] == "year-ten-thousand" and expected[-1] == "year-zero"
