"""Client-sent timestamps: any RFC 3339 date-time the spec allows is stored, as the instant it names."""

from __future__ import annotations

import pytest

from helpers import SESSIONS, agent_url, create_agent, message_url

pytestmark = pytest.mark.over_http


@pytest.mark.parametrize(
    "sent, stored",
    [
        ("2025-01-01T00:00:00-23:06", "2025-01-01T23:06:00.000000+00:00"),
        ("2025-06-30T23:30:00.5+23:59", "2025-06-29T23:31:00.500000+00:00"),
        ("2024-02-29T12:00:00+16:00", "2024-02-28T20:00:00.000000+00:00"),
        ("2025-01-01T00:00:00", "2025-01-01T00:00:00.000000+00:00"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999+00:00"),
    ],
)
def test_any_offset_is_stored_as_the_instant_it_names(client, sent, stored):
    # PostgreSQL reads offsets only up to 15:59; RFC 3339 allows up to 23:59.
    response = client.post(SESSIONS, json={"session_id": "s", "created_at": sent, "updated_at": sent})

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["created_at"] == response.get_json()["updated_at"] == stored
    create_agent(client, "s", "a", created_at=sent)
    assert client.get(agent_url("s", "a")).get_json()["created_at"] == stored
    body = {"message_id": 0, "message": {}, "created_at": sent}
    assert client.post(message_url("s", "a"), json=body).get_json()["created_at"] == stored


@pytest.mark.parametrize(
    "sent, stored",
    [
        # ISO 8601's expanded years: 1 BC is year 0000, 2 BC is -0001, and after 9999 comes +10000.
        ("0001-01-01T00:00:00+23:59", "0000-12-31T00:01:00.000000+00:00"),
        ("0001-01-01T00:00:00.5+00:01", "0000-12-31T23:59:00.500000+00:00"),
        ("9999-12-31T23:59:59-23:59", "+10000-01-01T23:58:59.000000+00:00"),
    ],
)
def test_instants_outside_years_1_to_9999_in_utc_read_back_as_the_same_instant(client, sent, stored):
    response = client.post(SESSIONS, json={"session_id": "s", "created_at": sent})

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["created_at"] == stored
    assert client.get(f"{SESSIONS}/s").get_json()["created_at"] == stored


def test_the_edges_of_time_keep_their_order(client):
    for session_id, sent in [
        ("first", "0001-01-01T00:00:00+23:59"),
        ("mid", "2025-01-01T00:00:00Z"),
        ("last", "9999-12-31T23:59:59-23:59"),
    ]:
        assert client.post(SESSIONS, json={"session_id": session_id, "created_at": sent}).status_code == 201

    listed = [s["session_id"] for s in client.get(SESSIONS).get_json()["sessions"]]

    assert listed == ["last", "mid", "first"]
