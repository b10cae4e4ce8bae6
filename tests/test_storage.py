"""The byte store (/api/v1/storage) that Strands' `Storage` protocol runs on: exact bytes, Strands' key
rules, byte-order listing with keyset paging, conditional writes and full-text search."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from app.config import DEFAULT_MAX_CONTENT_LENGTH
from helpers import error_of, execute
from key_helpers import bearer

pytestmark = pytest.mark.over_http

OBJECT = "/api/v1/storage/object"
KEYS = "/api/v1/storage/keys"
SEARCH = "/api/v1/storage/search"


def put(client, key, data, headers=None):
    return client.put(OBJECT, query_string={"key": key}, data=data, headers=headers or {})


def get(client, key, headers=None):
    return client.get(OBJECT, query_string={"key": key}, headers=headers or {})


def list_all(client, prefix="", limit=1000, headers=None):
    """Every key under ``prefix``, following next_start_after; asserts each page is within ``limit``."""
    keys, start_after = [], None
    for _ in range(10_000):
        query = {"prefix": prefix, "limit": limit}
        if start_after is not None:
            query["start_after"] = start_after
        page = client.get(KEYS, query_string=query, headers=headers or {}).get_json()
        assert len(page["keys"]) <= limit
        keys += page["keys"]
        start_after = page["next_start_after"]
        if start_after is None:
            return keys
    raise AssertionError("paging did not end")


def test_every_byte_value_round_trips_exactly(client):
    data = bytes(range(256)) * 4

    created = put(client, "blob", data)
    response = get(client, "blob")

    assert created.status_code == 201
    digest = hashlib.sha256(data).hexdigest()
    assert created.get_json()["sha256"] == digest and created.get_json()["size"] == len(data)
    assert created.headers["ETag"] == f'"{digest}"'
    assert response.status_code == 200 and response.mimetype == "application/octet-stream"
    assert response.data == data
    assert response.headers["ETag"] == f'"{digest}"' and response.headers["Last-Modified"]


def test_the_empty_value_round_trips(client):
    assert put(client, "empty", b"").status_code == 201
    response = get(client, "empty")
    assert response.status_code == 200 and response.data == b""


def test_a_write_replaces_the_value(client):
    put(client, "k", b"first")

    replaced = put(client, "k", b"second")

    assert replaced.status_code == 200
    assert get(client, "k").data == b"second"


def test_reading_a_missing_key_is_404(client):
    response = get(client, "nothing/here")

    assert response.status_code == 404 and error_of(response)["error"] == "NotFoundError"


def test_delete_removes_and_is_idempotent(client):
    put(client, "k", b"v")

    assert client.delete(OBJECT, query_string={"key": "k"}).status_code == 204
    assert client.delete(OBJECT, query_string={"key": "k"}).status_code == 204
    assert get(client, "k").status_code == 404


KEY_SHAPES = [
    "with space",
    "what?yes",
    "hash#tag",
    "100%",
    "%2F%2e%2e",
    "a+b",
    "a&b=c",
    "naïve/日本語/🙂",
    "x" * 1024,
    "é" * 512,
    "session/s1/scopes/agent/a1/snapshot_latest.json",
    "./a/.",
    "...",
]


@pytest.mark.parametrize("key", KEY_SHAPES, ids=range(len(KEY_SHAPES)))
def test_every_key_shape_strands_accepts_round_trips(client, key):
    assert put(client, key, key.encode() + b"!").status_code == 201

    assert get(client, key).data == key.encode() + b"!"
    assert list_all(client) == [key]


@pytest.mark.parametrize(
    ("sent", "stored"), [("//a//b/", "a/b"), ("/lead", "lead"), ("trail/", "trail"), ("a///b", "a/b")]
)
def test_keys_are_normalised_as_strands_does(client, sent, stored):
    created = put(client, sent, b"v")

    assert created.get_json()["key"] == stored
    assert get(client, stored).data == b"v"
    assert list_all(client) == [stored]


@pytest.mark.parametrize(
    "key", ["", "/", "///", "a\\b", "..", "a/../b", "../a", "a/..", "x" * 1025, "é" * 513, "session/s\x00/x", "a/b\x00"]
)
def test_keys_strands_refuses_are_422_and_store_nothing(client, key):
    for response in (put(client, key, b"v"), get(client, key), client.delete(OBJECT, query_string={"key": key})):
        assert response.status_code == 422, key
        assert "key" in error_of(response)["fields"]
    assert list_all(client) == []


@pytest.mark.parametrize(("method", "path"), [("PUT", OBJECT), ("GET", OBJECT), ("DELETE", OBJECT), ("GET", KEYS)])
def test_an_unknown_query_parameter_is_422_naming_it(client, method, path):
    response = client.open(path, method=method, query_string={"key": "k", "limt": "5"}, data=b"v")

    assert response.status_code == 422
    assert error_of(response)["fields"]["limt"] == ["unknown query parameter"]
    assert list_all(client) == []


def test_a_key_of_invalid_utf8_is_refused(client):
    response = client.put(OBJECT + "?key=%FF", data=b"v")

    assert response.status_code == 422
    assert list_all(client) == []


def test_list_is_sorted_in_byte_order_and_filters_by_prefix(client):
    keys = ["b", "a/2", "a/10", "a/1", "ab", "a", "é", "Z", "a/1/x"]
    for key in keys:
        put(client, key, b"v")

    assert list_all(client) == sorted(keys)
    assert list_all(client, prefix="a/") == ["a/1", "a/1/x", "a/10", "a/2"]
    assert list_all(client, prefix="/a") == ["a", "a/1", "a/1/x", "a/10", "a/2", "ab"]
    assert list_all(client, prefix="a//1") == ["a/1", "a/1/x", "a/10"]
    assert client.get(KEYS, query_string={"prefix": "a/../b"}).status_code == 422
    assert client.get(KEYS, query_string={"prefix": "a\x00"}).status_code == 422


def test_a_fenced_write_to_a_key_with_nul_is_422_not_500(client):
    # A scope holding NUL cannot be a session id: the fence check could not even be asked.
    response = client.put(OBJECT, query_string={"key": "session/a\x00b/x"}, data=b"v", headers={"X-Session-Fence": "1"})

    assert response.status_code == 422 and "NUL" in str(error_of(response)["fields"])
    assert list_all(client) == []


def test_keyset_paging_lists_every_key_once_in_order(client, clean_db):
    keys = [f"session/s{i % 7}/scopes/agent/{i:05d}" for i in range(2500)]
    execute(
        clean_db,
        "INSERT INTO storage_objects (namespace, scope, key, data, sha256, size)"
        " SELECT 'default', 'x', convert_to(k, 'UTF8'), '', sha256(''), 0 FROM unnest(%s::text[]) AS k",
        (keys,),
    )

    assert list_all(client, limit=1000) == sorted(keys)
    assert list_all(client, prefix="session/s3/", limit=333) == sorted(k for k in keys if k.startswith("session/s3/"))


def test_if_none_match_writes_only_a_new_key(client):
    assert put(client, "k", b"one", {"If-None-Match": "*"}).status_code == 201

    refused = put(client, "k", b"two", {"If-None-Match": "*"})

    assert refused.status_code == 412 and error_of(refused)["error"] == "PreconditionFailedError"
    assert get(client, "k").data == b"one"


def test_if_match_replaces_only_the_version_read(client):
    etag = put(client, "k", b"one").headers["ETag"]

    assert put(client, "k", b"two", {"If-Match": etag}).status_code == 200
    stale = put(client, "k", b"three", {"If-Match": etag})

    assert stale.status_code == 412
    assert get(client, "k").data == b"two"
    assert put(client, "missing", b"x", {"If-Match": etag}).status_code == 412
    assert get(client, "missing").status_code == 404
    assert put(client, "k", b"four", {"If-Match": "*"}).status_code == 200


def _search(client, query, headers=None, **options):
    response = client.post(SEARCH, json={"query": query, **options}, headers=headers or {})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["results"]


def test_search_ranks_text_objects_and_respects_the_prefix(client):
    put(client, "notes/weather", b"weather weather weather: rain today")
    put(client, "notes/trip", b"the trip was long; the weather was fine")
    put(client, "other/weather", b"weather report")
    put(client, "notes/binary", b"\xff\xfeweather")
    put(client, "notes/nul", b"weather\x00")

    results = _search(client, "weather", prefix="notes/")

    assert [r["key"] for r in results] == ["notes/weather", "notes/trip"]
    assert results[0]["score"] > results[1]["score"] > 0
    assert "data" not in results[0]
    with_data = _search(client, "rain", include_data=True)
    assert [(r["key"], base64.b64decode(r["data"])) for r in with_data] == [
        ("notes/weather", b"weather weather weather: rain today")
    ]
    assert _search(client, "snow") == []


def test_a_prefix_or_key_longer_than_1024_characters_as_sent_is_422_even_if_shorter_once_normalised(client):
    too_long = "////////" + "*" * 1017

    search = client.post(SEARCH, json={"query": "x", "prefix": too_long})
    listed = client.get("/api/v1/storage/keys", query_string={"prefix": too_long})
    written = client.put("/api/v1/storage/object", query_string={"key": too_long}, data=b"x")

    assert len(too_long) == 1025
    for response, field in ((search, "prefix"), (listed, "prefix"), (written, "key")):
        assert response.status_code == 422 and field in error_of(response)["fields"], response.get_json()


def test_a_nul_in_a_search_query_separates_words(client):
    put(client, "notes/weather", b"rain today")

    assert [r["key"] for r in _search(client, "rain\x00today")] == ["notes/weather"]
    assert _search(client, "\x00") == []


def test_a_search_query_with_an_unpaired_surrogate_is_422(client):
    response = client.post(SEARCH, json={"query": "rain \udb24"})

    assert response.status_code == 422 and "query" in error_of(response)["fields"]


# Values the service sends to PostgreSQL as text (UTF-8 without NUL) and ones just outside that path
# (sent as bytea): each must come back byte for byte, whichever way it travelled.
TEXT_PATH_VALUES = {
    "ascii": b"plain ascii text",
    "quotes-and-backslashes": b"it's \\x00 \\ '' \" $$ E'\\n'",
    "non-ascii": "h\u00e9llo \u65e5\u672c \U0001f600 e\u0301 \ufffe".encode(),
    "line-ends": b"a\r\nb\rc\n",
    "with-nul": b"text\x00more",
    "invalid-utf8": b"caf\xe9",
    "utf8-encoded-surrogate": b"\xed\xa0\x80",
    "overlong-slash": b"\xc0\xaf",
}


@pytest.mark.parametrize("name", TEXT_PATH_VALUES)
def test_text_and_almost_text_values_round_trip_exactly(client, name):
    data = TEXT_PATH_VALUES[name]

    created = put(client, f"t/{name}", data)
    replaced = put(client, f"t/{name}", data, headers={"If-Match": created.headers["ETag"]})
    response = get(client, f"t/{name}")

    assert created.status_code == 201 and replaced.status_code == 200
    assert created.get_json()["sha256"] == hashlib.sha256(data).hexdigest() == replaced.get_json()["sha256"]
    assert created.get_json()["size"] == len(data)
    assert response.data == data


def test_search_indexes_the_first_16384_characters_of_a_text(client):
    # 'é' is two bytes in UTF-8: the cap counts characters, so "edge" (characters 16,381-16,384) is in.
    head = "lead " + "éé " * 5457 + "ééé edge"
    assert len(head) == 16384
    data = (head + " past").encode()

    put(client, "big/text", data)

    assert [r["key"] for r in _search(client, "lead")] == ["big/text"]
    assert [r["key"] for r in _search(client, "edge")] == ["big/text"]
    assert _search(client, "past") == []
    assert get(client, "big/text").data == data


def test_a_snapshot_sized_value_round_trips(client):
    # What a 1,000-message Strands snapshot with four 1 MB images weighs (README, Configuration).
    data = os.urandom(6 * 1024 * 1024 + 350_000)

    assert put(client, "session/s/scopes/agent/a/snapshots/snapshot_latest.json", data).status_code == 201
    assert get(client, "session/s/scopes/agent/a/snapshots/snapshot_latest.json").data == data


def test_a_body_over_the_default_limit_is_413_and_stores_nothing(client):
    response = put(client, "big", b"x" * (DEFAULT_MAX_CONTENT_LENGTH + 1))

    assert response.status_code == 413
    assert list_all(client) == []


@pytest.mark.in_process("changes app.config; a chunked body needs the WSGI environ without a Content-Length")
def test_a_chunked_body_over_the_limit_is_413_not_cut_at_the_limit(app):
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    def chunked(body: bytes) -> int:
        builder = EnvironBuilder(path=OBJECT, method="PUT", query_string={"key": "big"}, data=body)
        environ = builder.get_environ()
        del environ["CONTENT_LENGTH"]
        environ.update({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True})
        _, status, _ = run_wsgi_app(app, environ, buffered=True)
        return int(status.split()[0])

    app.config["MAX_CONTENT_LENGTH"] = 1000

    assert chunked(b"x" * 1001) == 413
    assert app.test_client().get(KEYS).get_json()["keys"] == []
    assert chunked(b"x" * 1000) == 201
    assert app.test_client().get(OBJECT, query_string={"key": "big"}).data == b"x" * 1000


def test_another_namespace_never_sees_the_objects(client, keys):
    a, b = bearer(keys["team-a"][1]), bearer(keys["team-b"][1])
    put(client, "session/s/scopes/agent/a", b"a's secret weather", a)

    assert get(client, "session/s/scopes/agent/a", b).status_code == 404
    assert list_all(client, headers=b) == []
    assert _search(client, "weather", b) == []
    assert client.delete(OBJECT, query_string={"key": "session/s/scopes/agent/a"}, headers=b).status_code == 204
    assert put(client, "session/s/scopes/agent/a", b"b's", b).status_code == 201
    assert get(client, "session/s/scopes/agent/a", a).data == b"a's secret weather"
    assert get(client, "session/s/scopes/agent/a", b).data == b"b's"
