"""Searching sessions by their messages' text (GET /api/v1/sessions?q=), and the list's prefix and
updated_since filters."""

from __future__ import annotations

import pytest

from helpers import SESSIONS, create_agent, create_message, create_session, error_of, execute, message_url
from key_helpers import bearer

pytestmark = pytest.mark.over_http


def found(client, **query) -> list[str]:
    """The ids of the sessions a list request returns, in order (failing on anything but 200)."""
    response = client.get(SESSIONS, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [s["session_id"] for s in response.get_json()["sessions"]]


def post_message(client, session_id: str, message_id: int, message: dict, redact_message: dict | None = None):
    """Store a message and insist on 201."""
    body = {"message_id": message_id, "message": message, "redact_message": redact_message}
    response = client.post(message_url(session_id, "a"), json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def conversation(client, session_id: str, *texts: str) -> None:
    """A session with agent a and one text message per text."""
    create_session(client, session_id)
    create_agent(client, session_id, "a")
    for message_id, text in enumerate(texts):
        create_message(client, session_id, "a", message_id, text)


def test_a_word_of_the_conversation_finds_its_session(client):
    conversation(client, "weather", "What is the weather in Lisbon?", "Sunny and warm.")
    conversation(client, "cooking", "How long do I boil an egg?")

    assert found(client, q="lisbon") == ["weather"]
    assert found(client, q="SUNNY") == ["weather"]
    assert found(client, q="egg") == ["cooking"]
    assert found(client, q="paris") == []


def test_the_page_keeps_the_list_shape(client):
    conversation(client, "s", "hello there")

    body = client.get(SESSIONS, query_string={"q": "hello", "limit": 10}).get_json()

    assert set(body) == {"sessions", "next_cursor", "limit", "offset", "page", "page_size"}
    assert (body["next_cursor"], body["limit"], body["offset"], body["page"], body["page_size"]) == (None, 10, 0, 1, 10)
    assert body["sessions"][0] == client.get(SESSIONS).get_json()["sessions"][0]


def test_better_matches_come_first_and_ties_newest_first(client):
    conversation(client, "once", "deploy the service")
    conversation(client, "often", "deploy now", "deploy again", "deploy deploy once more")
    conversation(client, "tie-old", "a rollback")
    conversation(client, "tie-new", "a rollback")

    assert found(client, q="deploy") == ["often", "once"]
    assert found(client, q="rollback") == ["tie-new", "tie-old"]
    assert found(client, q="deploy", limit=1) == ["often"]
    assert found(client, q="deploy", limit=1, offset=1) == ["once"]
    assert found(client, q="deploy", page_size=1, page=2) == ["once"]


def test_web_search_syntax(client):
    conversation(client, "both", "red apples and green pears")
    conversation(client, "red", "red cars")

    assert found(client, q="red -apples") == ["red"]
    assert found(client, q='"green pears"') == ["both"]
    assert found(client, q='"pears green"') == []
    assert sorted(found(client, q="apples or cars")) == ["both", "red"]


def test_tool_results_and_reasoning_are_searched_and_other_blocks_are_not(client):
    conversation(client, "s")
    message = {
        "role": "assistant",
        "content": [
            {"reasoningContent": {"reasoningText": {"text": "pondering quietly", "signature": "sigword"}}},
            {"toolUse": {"toolUseId": "t1", "name": "calculator", "input": {"expr": "inputword"}}},
            {"toolResult": {"toolUseId": "t1", "status": "success", "content": [{"text": "resultword"}]}},
        ],
    }
    post_message(client, "s", 0, message)

    assert found(client, q="pondering") == ["s"]
    assert found(client, q="resultword") == ["s"]
    assert found(client, q="sigword") == found(client, q="inputword") == found(client, q="calculator") == []


def test_a_redacted_message_is_found_by_its_redaction_only(client):
    conversation(client, "s")
    post_message(
        client,
        "s",
        0,
        {"role": "user", "content": [{"text": "my password is hunter2"}]},
        {"role": "user", "content": [{"text": "[User input redacted.]"}]},
    )

    assert found(client, q="hunter2") == []
    assert found(client, q="password") == []
    assert found(client, q="redacted") == ["s"]


def test_updating_a_message_reindexes_it(client):
    conversation(client, "s", "the old word is marmalade")
    assert found(client, q="marmalade") == ["s"]

    body = {"message": {"role": "user", "content": [{"text": "now it is porridge"}]}, "redact_message": None}
    assert client.put(message_url("s", "a", 0), json=body).status_code == 200

    assert found(client, q="marmalade") == []
    assert found(client, q="porridge") == ["s"]

    redacted = {**body, "redact_message": {"role": "user", "content": [{"text": "withheld"}]}}
    assert client.put(message_url("s", "a", 0), json=redacted).status_code == 200
    assert found(client, q="porridge") == []
    assert found(client, q="withheld") == ["s"]


def test_deleted_messages_and_sessions_are_not_found(client):
    conversation(client, "s", "ephemeral text")
    assert client.delete(message_url("s", "a", 0)).status_code == 204
    assert found(client, q="ephemeral") == []

    conversation(client, "t", "ephemeral again")
    assert client.delete(f"{SESSIONS}/t").status_code == 204
    assert found(client, q="ephemeral") == []


@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [
        ("nul\u0000inside", "nul", ["s"]),
        ("\u0000\u0000\u0000 many nuls", "many", ["s"]),
        ("a literal \\u0000 backslash", "backslash", ["s"]),
        ("lone \ud800 high", "high", ["s"]),
        ("lone \udfff low", "low", ["s"]),
        ("an emoji \U0001f600 and a lone \udc00 one", "emoji", ["s"]),
        ("escaped backslash then nul \\\u0000 end", "end", ["s"]),
    ],
)
def test_text_postgresql_cannot_unescape_is_stored_and_searchable(client, text, query, expected):
    conversation(client, "s")
    message = {"role": "user", "content": [{"text": text}]}

    stored = post_message(client, "s", 0, message)

    assert stored["message"] == message
    assert found(client, q=query) == expected


def test_keys_and_redactions_with_nul_and_lone_surrogates_are_stored(client):
    conversation(client, "s")
    message = {"role": "user", "content": [{"text": "visible"}], "\u0000key": "\ud800", "k": ["\u0000"]}

    post_message(client, "s", 0, message, {"role": "user", "content": [{"text": "shown \u0000\udbff"}]})

    assert found(client, q="shown") == ["s"]
    assert found(client, q="visible") == []


@pytest.mark.parametrize(
    "message",
    [
        {"role": "user", "content": "a plain string content"},
        {"role": "user", "content": {"text": "an object content"}},
        {"role": "user", "content": [1, "string block", None, [{"text": "nested"}], {"text": 5}, {"text": {"a": "b"}}]},
        {"role": "user", "content": [{"toolResult": {"content": "not a list"}}, {"toolResult": 5}]},
        {"role": "user"},
        {},
    ],
)
def test_messages_of_other_shapes_are_stored(client, message):
    conversation(client, "s")

    assert post_message(client, "s", 0, message)["message"] == message
    assert found(client, q="plain") == (["s"] if message.get("content") == "a plain string content" else [])
    assert found(client, q="nested") == []


def test_a_message_of_a_megabyte_of_text_is_stored_and_its_start_is_searchable(client):
    conversation(client, "s")
    words = " ".join(f"w{i}" for i in range(200_000))  # about 1.3 MB of distinct words
    message = {"role": "user", "content": [{"text": "needle " + words}]}

    assert post_message(client, "s", 0, message)["message"]["content"][0]["text"].startswith("needle w0 ")

    assert found(client, q="needle") == ["s"]
    assert found(client, q="w100") == ["s"]
    assert found(client, q="w199999") == []  # past the first 200,000 characters, which are indexed


def test_a_long_message_with_a_nul_escape_is_stored_but_not_indexed(client):
    # Rewriting such escapes costs about a second a megabyte of dense escapes: past 256 KiB of JSON the
    # message is kept out of the index rather than hold its write.
    conversation(client, "s")
    text = "unindexed " + "\u0000 " * 200_000
    message = {"role": "user", "content": [{"text": text}]}

    assert post_message(client, "s", 0, message)["message"] == message

    assert found(client, q="unindexed") == []
    short = {"role": "user", "content": [{"text": "indexed \u0000 nul"}]}
    post_message(client, "s", 1, short)
    assert found(client, q="indexed") == ["s"]


def test_words_too_long_to_index_are_skipped_and_the_rest_found(client):
    conversation(client, "s")
    text = "head " + "y" * 5000 + " middle " + "x" * 1_100_000  # PostgreSQL indexes words of 2,047 characters at most
    post_message(client, "s", 0, {"role": "user", "content": [{"text": text}]})

    assert found(client, q="head") == found(client, q="middle") == ["s"]


@pytest.mark.parametrize("q", [" ", "!!!", "&|", "-", '"', "()", "the", "a:b*"])
def test_a_q_without_words_or_with_operators_only_is_answered(client, q):
    conversation(client, "s", "the words a b")

    response = client.get(SESSIONS, query_string={"q": q})

    assert response.status_code == 200
    assert all(s == "s" for s in found(client, q=q))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "nul\u0000"}, "q"),
        ({"q": "tab\there"}, "q"),
        ({"q": "word", "cursor": "0.000000_73"}, "cursor"),
        ({"prefix": ""}, "prefix"),
        ({"prefix": "p" * 256}, "prefix"),
        ({"prefix": "a\u0000"}, "prefix"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": ""}, "updated_since"),
    ],
)
def test_bad_search_and_filter_parameters_are_422(client, query, field):
    response = client.get(SESSIONS, query_string=query)

    assert response.status_code == 422
    assert field in error_of(response)["fields"]


def test_a_q_of_invalid_utf8_is_422(client):
    response = client.get(f"{SESSIONS}?q=%ED%A0%80")  # a lone surrogate, percent-encoded as UTF-8 would

    assert response.status_code == 422


def test_prefix_keeps_the_ids_that_start_with_it_and_has_no_wildcards(client):
    for session_id in ("user-1", "user-2", "users", "user%x", "user_y", "admin-user-3", "USER-4"):
        create_session(client, session_id)

    assert sorted(found(client, prefix="user-")) == ["user-1", "user-2"]
    assert found(client, prefix="user%") == ["user%x"]
    assert found(client, prefix="user_") == ["user_y"]
    assert found(client, prefix="%") == []
    assert sorted(found(client, prefix="user")) == ["user%x", "user-1", "user-2", "user_y", "users"]


def test_updated_since_keeps_sessions_updated_at_or_after_it(client, clean_db):
    for session_id in ("old", "edge", "new"):
        create_session(client, session_id)
    # One UPDATE a session: Citus deparses a CASE over the distribution column for its shards wrongly.
    for session_id, updated_at in (
        ("old", "2020-01-01T00:00:00Z"),
        ("edge", "2024-06-01T12:00:00Z"),
        ("new", "2025-01-01T00:00:00Z"),
    ):
        execute(clean_db, "UPDATE sessions SET updated_at = %s WHERE session_id = %s", (updated_at, session_id))

    assert found(client, updated_since="2024-06-01T12:00:00Z") == ["new", "edge"]
    assert found(client, updated_since="2024-06-01T14:00:00+02:00") == ["new", "edge"]
    assert found(client, updated_since="2024-06-01T12:00:00.000001Z") == ["new"]
    assert found(client, updated_since="2024-06-01T12:00:00") == ["new", "edge"]  # no zone: UTC
    assert found(client, updated_since="2030-01-01T00:00:00Z") == []


def test_the_filters_combine_with_the_cursor(client):
    for session_id in ("p-1", "p-2", "p-3", "q-1"):
        create_session(client, session_id)

    first = client.get(SESSIONS, query_string={"prefix": "p-", "limit": 2}).get_json()
    second = client.get(SESSIONS, query_string={"prefix": "p-", "limit": 2, "cursor": first["next_cursor"]}).get_json()

    assert [s["session_id"] for s in first["sessions"]] == ["p-3", "p-2"]
    assert [s["session_id"] for s in second["sessions"]] == ["p-1"] and second["next_cursor"] is None


def test_the_filters_combine_with_q(client, clean_db):
    conversation(client, "p-old", "shared topic")
    conversation(client, "p-new", "shared topic")
    conversation(client, "other", "shared topic")
    execute(clean_db, "UPDATE sessions SET updated_at = '2020-01-01T00:00:00Z' WHERE session_id = 'p-old'")

    assert found(client, q="shared", prefix="p-") == ["p-new", "p-old"]
    assert found(client, q="shared", prefix="p-", updated_since="2021-01-01T00:00:00Z") == ["p-new"]


def test_another_namespace_never_finds_your_sessions(client, keys):
    a, b = bearer(keys["team-a"][1]), bearer(keys["team-b"][1])
    for headers, session_id, text in ((a, "s", "a's launch codes"), (b, "t", "b's launch plan")):
        assert client.post(SESSIONS, json={"session_id": session_id}, headers=headers).status_code == 201
        agent = {"agent_id": "a", "state": {}, "conversation_manager_state": {}}
        assert client.post(f"{SESSIONS}/{session_id}/agents", json=agent, headers=headers).status_code == 201
        message = {"message_id": 0, "message": {"role": "user", "content": [{"text": text}]}}
        assert client.post(message_url(session_id, "a"), json=message, headers=headers).status_code == 201

    def search(headers, q):
        response = client.get(SESSIONS, query_string={"q": q}, headers=headers)
        assert response.status_code == 200
        return [s["session_id"] for s in response.get_json()["sessions"]]

    assert search(a, "launch") == ["s"] and search(b, "launch") == ["t"]
    assert search(b, "codes") == [] and search(a, "plan") == []
    assert client.get(SESSIONS, query_string={"q": "launch"}, headers=bearer("x" * 40)).status_code == 401
