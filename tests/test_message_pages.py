"""Paging through a 2,500-message conversation in every supported style."""

from __future__ import annotations

import pytest

from helpers import create_agent, create_session, error_of, error_summary, execute, message_url, not_found

pytestmark = pytest.mark.over_http

TOTAL = 2500


@pytest.fixture
def long_conversation(client, clean_db):
    """Session s / agent a with messages 0..2499 (inserted in one statement: the API is not under test here)."""
    create_session(client, "s")
    create_agent(client, "s", "a")
    execute(
        clean_db,
        "INSERT INTO session_messages (namespace, session_id, agent_id, message_id, message)"
        " SELECT 'default', 's', 'a', i,"
        "        json_build_object('role', 'user', 'content', json_build_array(json_build_object('text', 'm' || i)))"
        " FROM generate_series(0, %s) AS i",
        (TOTAL - 1,),
    )
    return client


def _ids(body):
    return [m["message_id"] for m in body["messages"]]


def test_default_page_is_first_100_in_order_with_total(long_conversation):
    body = long_conversation.get(message_url("s", "a")).get_json()

    assert _ids(body) == list(range(100))
    assert body["total"] == TOTAL
    assert (body["limit"], body["offset"], body["page"], body["page_size"]) == (100, 0, 1, 100)
    assert body["next_after"] == 99
    assert body["messages"][5]["message"] == {"role": "user", "content": [{"text": "m5"}]}


def test_limit_offset_walks_every_message_exactly_once(long_conversation):
    seen: list[int] = []
    for offset in range(0, TOTAL, 700):
        seen += _ids(
            long_conversation.get(message_url("s", "a"), query_string={"limit": 700, "offset": offset}).get_json()
        )

    assert seen == list(range(TOTAL))


def test_offset_not_aligned_to_pages(long_conversation):
    body = long_conversation.get(message_url("s", "a"), query_string={"limit": 3, "offset": 1234}).get_json()

    assert _ids(body) == [1234, 1235, 1236]


def test_page_and_page_size_like_the_seed(long_conversation):
    body = long_conversation.get(message_url("s", "a"), query_string={"page": 3, "page_size": 1000}).get_json()

    assert _ids(body) == list(range(2000, 2500))
    assert (body["page"], body["page_size"], body["offset"]) == (3, 1000, 2000)
    assert body["next_after"] is None


def test_keyset_after_walks_every_message_exactly_once(long_conversation):
    seen: list[int] = []
    query = {"limit": 1000}
    for _ in range(10):
        body = long_conversation.get(message_url("s", "a"), query_string=query).get_json()
        seen += _ids(body)
        if body["next_after"] is None:
            break
        query = {"limit": 1000, "after": body["next_after"]}

    assert seen == list(range(TOTAL))


def test_total_can_be_left_out_to_save_counting(long_conversation):
    counted = long_conversation.get(message_url("s", "a"), query_string={"after": 2400}).get_json()
    uncounted = long_conversation.get(
        message_url("s", "a"), query_string={"after": 2400, "include_total": "false"}
    ).get_json()

    assert counted["total"] == TOTAL and uncounted["total"] is None
    assert _ids(uncounted) == _ids(counted) == list(range(2401, 2500))


def test_descending_order_with_keyset(long_conversation):
    first = long_conversation.get(message_url("s", "a"), query_string={"order": "desc", "limit": 2}).get_json()
    second = long_conversation.get(
        message_url("s", "a"), query_string={"order": "desc", "limit": 2, "after": first["next_after"]}
    ).get_json()

    assert _ids(first) == [2499, 2498]
    assert _ids(second) == [2497, 2496]


def test_after_skips_gaps_in_ids(long_conversation, clean_db):
    execute(clean_db, "DELETE FROM session_messages WHERE message_id BETWEEN 10 AND 19")

    body = long_conversation.get(message_url("s", "a"), query_string={"after": 8, "limit": 3}).get_json()

    assert _ids(body) == [9, 20, 21]
    assert body["total"] == TOTAL - 10


def test_list_of_missing_agent_is_404_and_empty_agent_is_empty(client):
    create_session(client, "s")
    create_agent(client, "s", "a")

    assert error_summary(client.get(message_url("s", "ghost"))) == not_found("agent not found")
    body = client.get(message_url("s", "a")).get_json()
    assert (body["messages"], body["total"], body["next_after"]) == ([], 0, None)


@pytest.mark.parametrize(
    "query, field",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"page": 0}, "page"),
        ({"page_size": 5000}, "page_size"),
        ({"order": "sideways"}, "order"),
        ({"after": -5}, "after"),
        ({"page": 2, "offset": 10}, "page"),
        ({"include_total": "maybe"}, "include_total"),
    ],
)
def test_bad_paging_parameters_are_422_naming_the_field(client, query, field):
    create_session(client, "s")
    create_agent(client, "s", "a")

    response = client.get(message_url("s", "a"), query_string=query)

    assert response.status_code == 422
    assert field in error_of(response)["fields"]


@pytest.mark.parametrize(
    "query, fields",
    [
        ({"limt": 5}, {"limt"}),
        ({"limit": 5, "ofset": 10}, {"ofset"}),
        ({"limit": 5, "page_size": 6}, {"limit", "page_size"}),
        ([("limit", 5), ("limit", 50)], {"limit"}),
    ],
)
def test_unknown_disagreeing_or_repeated_parameters_are_422_naming_them(client, query, fields):
    create_session(client, "s")
    create_agent(client, "s", "a")

    response = client.get(message_url("s", "a"), query_string=query)

    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == fields


def test_limit_and_page_size_that_agree_are_one_page_size(long_conversation):
    body = long_conversation.get(
        message_url("s", "a"), query_string={"page": 2, "limit": 10, "page_size": 10}
    ).get_json()

    assert _ids(body) == list(range(10, 20))
