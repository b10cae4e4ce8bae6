"""Messages: create, read, update (redaction), delete, and the errors around them."""

from __future__ import annotations

import threading

import pytest

from helpers import (
    create_agent,
    create_message,
    create_session,
    error_of,
    error_summary,
    message_url,
    not_found,
    text_message,
)

pytestmark = pytest.mark.over_http


def _conversation(client, session_id="s", agent_id="a"):
    create_session(client, session_id)
    create_agent(client, session_id, agent_id)


def test_create_and_read_message(client):
    _conversation(client)
    body = {"message_id": 0, "message": text_message("Hello, my name is Alice"), "redact_message": None}

    created = client.post(message_url("s", "a"), json=body)

    assert created.status_code == 201
    stored = client.get(message_url("s", "a", 0)).get_json()
    assert stored["message"] == body["message"]
    assert stored["redact_message"] is None
    assert stored == created.get_json()


def test_message_under_missing_agent_or_session_is_404(client):
    _conversation(client)
    body = {"message_id": 0, "message": text_message("x")}

    for session_id, agent_id in (("s", "ghost"), ("ghost", "a")):
        response = client.post(message_url(session_id, agent_id), json=body)
        assert error_summary(response) == not_found("agent not found in this session")


def test_duplicate_message_id_is_409_and_keeps_the_first(client):
    _conversation(client)
    create_message(client, "s", "a", 7, "first")

    response = client.post(message_url("s", "a"), json={"message_id": 7, "message": text_message("second")})

    assert response.status_code == 409
    assert error_of(response)["error"] == "ConflictError"
    assert client.get(message_url("s", "a", 7)).get_json()["message"] == text_message("first")


def test_twenty_racing_creates_of_one_message_id_give_one_201_and_nineteen_409s(app):
    client = app.test_client()
    _conversation(client)
    start = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def race(n: int) -> None:
        own = app.test_client()
        start.wait()
        status = own.post(
            message_url("s", "a"), json={"message_id": 1, "message": text_message(f"racer {n}")}
        ).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [409] * 19


def test_update_records_redaction_and_keeps_created_at(client):
    _conversation(client)
    created = create_message(client, "s", "a", 0, "my card is 4111")
    redacted = text_message("[REDACTED]")

    response = client.put(
        message_url("s", "a", 0), json={"message": text_message("my card is 4111"), "redact_message": redacted}
    )

    assert response.status_code == 200
    stored = client.get(message_url("s", "a", 0)).get_json()
    assert stored["redact_message"] == redacted
    assert stored["created_at"] == created["created_at"]


def test_update_missing_message_is_404(client):
    _conversation(client)

    response = client.put(message_url("s", "a", 5), json={"message": text_message("x")})

    assert error_summary(response) == not_found("message not found")


def test_delete_message(client):
    _conversation(client)
    create_message(client, "s", "a", 0)

    assert client.delete(message_url("s", "a", 0)).status_code == 204
    assert error_summary(client.get(message_url("s", "a", 0))) == not_found("message not found")
    assert error_summary(client.delete(message_url("s", "a", 0))) == not_found("message not found")


def test_round_trip_of_nul_characters_non_ascii_big_numbers_and_deep_nesting(client):
    _conversation(client)
    deep: dict = {"leaf": "bottom"}
    for _ in range(200):
        deep = {"d": [deep]}
    message = {
        "role": "user",
        "content": [{"text": "nul:\u0000 end"}, {"text": "héllo wörld ✓ 日本語 🎉"}],
        "big": 123456789012345678901234567890,
        "neg": -9007199254740993,
        "float": 1.5e300,
        "deep": deep,
        "key\u0000with nul": "\u0000",
    }

    assert client.post(message_url("s", "a"), json={"message_id": 0, "message": message}).status_code == 201

    assert client.get(message_url("s", "a", 0)).get_json()["message"] == message


def test_agent_state_with_nul_characters_round_trips(client):
    create_session(client, "s")
    create_agent(client, "s", "a", state={"k": "a\u0000b"})

    assert client.get("/api/v1/sessions/s/agents/a").get_json()["state"] == {"k": "a\u0000b"}


def test_lone_surrogate_escape_round_trips(client):
    _conversation(client)
    raw = '{"message_id": 0, "message": {"text": "\\ud83d alone"}}'

    response = client.post(message_url("s", "a"), data=raw, content_type="application/json")

    assert response.status_code == 201
    assert client.get(message_url("s", "a", 0)).get_json()["message"] == {"text": "\ud83d alone"}


def test_non_finite_numbers_are_rejected_as_422(client):
    _conversation(client)

    response = client.post(
        message_url("s", "a"), data='{"message_id": 0, "message": {"x": NaN}}', content_type="application/json"
    )

    assert response.status_code == 422
    assert error_summary(client.get(message_url("s", "a", 0))) == not_found("message not found")


def test_message_must_be_an_object_and_id_an_integer(client):
    _conversation(client)

    for body, field in (
        ({"message_id": 0, "message": "text"}, "message"),
        ({"message_id": "0", "message": {}}, "message_id"),
        ({"message_id": 1.5, "message": {}}, "message_id"),
        ({"message_id": -1, "message": {}}, "message_id"),
        ({"message_id": 2**31, "message": {}}, "message_id"),
        ({"message": {}}, "message_id"),
    ):
        response = client.post(message_url("s", "a"), json=body)
        assert response.status_code == 422, body
        assert field in error_of(response)["fields"], body
