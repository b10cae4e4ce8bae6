"""Strands' ``Storage`` contract, run against SessionBackendStorage on the real service and against Strands'
own InMemoryStorage in one suite, so any difference between the two shows as a failure of one of them."""

from __future__ import annotations

import asyncio

import pytest
from strands.storage import InMemoryStorage, Storage
from strands.types.exceptions import StorageError

# Keys as users write them, each with the key Strands' path-based backends store it under.
KEY_SHAPES = {
    "plain": ("a", "a"),
    "nested": ("a/b/c.json", "a/b/c.json"),
    "space": ("my notes/today 1.txt", "my notes/today 1.txt"),
    "question": ("q?x=1&y=2", "q?x=1&y=2"),
    "hash": ("frag#ment", "frag#ment"),
    "percent": ("100%/%2F/%2e%2e/%", "100%/%2F/%2e%2e/%"),
    "plus": ("a+b", "a+b"),
    "non-ascii": ("züge/日本語/🙂", "züge/日本語/🙂"),
    "dot-segments": ("./a/./b.", "./a/./b."),
    "dots-in-names": ("...x/..y/z..", "...x/..y/z.."),
    "slash-runs": ("a//b///c", "a/b/c"),
    "leading-trailing": ("/a/b/", "a/b"),
    "1024-bytes": ("k" * 1024, "k" * 1024),
    "1024-bytes-non-ascii": ("ü" * 512, "ü" * 512),
    "control": ("tab\there\nnewline", "tab\there\nnewline"),
}
REFUSED_KEYS = {"empty": "", "only-slashes": "///", "backslash": "a\\b", "dot-dot": "a/../b", "dot-dot-alone": ".."}


def run(coroutine):
    """Run one storage call to completion (the tests are synchronous; the protocol is async)."""
    return asyncio.run(coroutine)


@pytest.fixture(params=["service", "in-memory"])
def storage(request) -> Storage:
    """The storage under test: ours on the service (an empty namespace of its own), or Strands' reference."""
    if request.param == "in-memory":
        return InMemoryStorage()
    return request.getfixturevalue("service_storage")


def test_is_a_strands_storage(storage):
    assert isinstance(storage, Storage)


def test_write_then_read_gives_the_bytes_back_and_a_write_overwrites(storage):
    run(storage.write("doc", b"first"))
    assert run(storage.read("doc")) == b"first"
    run(storage.write("doc", b"second, longer"))
    assert run(storage.read("doc")) == b"second, longer"
    run(storage.write("doc", b"3"))
    assert run(storage.read("doc")) == b"3"
    assert run(storage.list("")) == ["doc"]


@pytest.mark.parametrize(
    "value",
    [bytes(range(256)), bytes(range(256))[::-1] * 64, b"", b"\x00", b'{"json": true}', "ü\r\n".encode()],
    ids=["all-256-bytes", "16-KiB", "empty", "nul", "json-text", "crlf"],
)
def test_bytes_come_back_exactly(storage, value):
    run(storage.write("blob", value))
    stored = run(storage.read("blob"))
    assert type(stored) is bytes and stored == value


def test_a_missing_key_reads_none_and_deletes_as_a_no_op(storage):
    assert run(storage.read("never/written")) is None
    run(storage.delete("never/written"))
    run(storage.write("k", b"v"))
    run(storage.delete("k"))
    assert run(storage.read("k")) is None
    run(storage.delete("k"))  # again: still a no-op
    assert run(storage.list("")) == []


def test_list_gives_full_keys_sorted_and_prefix_with_or_without_trailing_slash(storage):
    keys = ["b/2", "a/1", "ab", "a/0/x", "a", "b/10", "B", "a-b", "a/", "é", "z"]
    for key in keys:
        run(storage.write(key, key.encode()))
    stored = sorted({key.strip("/") for key in keys})
    assert run(storage.list("")) == stored
    assert run(storage.list("a")) == ["a", "a-b", "a/0/x", "a/1", "ab"]
    assert run(storage.list("a/")) == ["a/0/x", "a/1"]
    assert run(storage.list("/a//")) == ["a/0/x", "a/1"]  # normalised like a key, trailing '/' kept
    assert run(storage.list("b/1")) == ["b/10"]
    assert run(storage.list("nothing")) == []


@pytest.mark.parametrize("shape", KEY_SHAPES, ids=list(KEY_SHAPES))
def test_every_key_shape_round_trips_under_its_normalised_name(storage, shape):
    key, normalised = KEY_SHAPES[shape]
    value = f"value of {shape}".encode()
    run(storage.write(key, value))
    assert run(storage.read(key)) == value
    assert run(storage.read(normalised)) == value
    assert run(storage.list("")) == [normalised]
    assert run(storage.list(normalised)) == [normalised]
    run(storage.delete(normalised))
    assert run(storage.read(key)) is None


def test_keys_that_normalise_alike_are_one_key_and_lookalikes_are_not(storage):
    run(storage.write("x/y", b"1"))
    run(storage.write("/x//y/", b"2"))
    run(storage.write("x%2Fy", b"3"))  # an encoded slash is two characters of a name, not a separator
    run(storage.write("x/./y", b"4"))  # a '.' segment is a name too: nothing resolves it away
    assert run(storage.read("x/y")) == b"2"
    assert run(storage.list("")) == ["x%2Fy", "x/./y", "x/y"]


@pytest.mark.parametrize("name", REFUSED_KEYS, ids=list(REFUSED_KEYS))
def test_refused_keys_raise_storage_error_and_store_nothing(storage, name):
    key = REFUSED_KEYS[name]
    for call in (storage.write(key, b"v"), storage.read(key), storage.delete(key)):
        with pytest.raises(StorageError):
            run(call)
    assert run(storage.list("")) == []


@pytest.mark.parametrize("prefix", ["a\\", "../a", "a/../"])
def test_refused_prefixes_raise_storage_error(storage, prefix):
    with pytest.raises(StorageError):
        run(storage.list(prefix))


def test_ten_thousand_keys_list_complete_and_in_order(storage):
    keys = [f"many/{i:05d}" for i in range(10_000)]

    async def write_all() -> None:
        semaphore = asyncio.Semaphore(16)  # bounded: 16 writes in flight, as many threads

        async def write(key: str) -> None:
            async with semaphore:
                await storage.write(key, key.encode())

        await asyncio.gather(*(write(key) for key in reversed(keys)))

    run(write_all())
    run(storage.write("many0", b"outside the prefix"))
    assert run(storage.list("many/")) == keys
    assert run(storage.list("")) == [*keys, "many0"]


def test_a_namespace_view_keeps_its_keys_under_its_prefix_and_lists_them_without_it(storage):
    team = storage.namespace("/team//")
    nested = team.namespace("a")
    run(storage.write("outside", b"0"))
    run(team.write("/x//y/", b"1"))
    run(nested.write("z", b"2"))
    assert run(storage.list("")) == ["outside", "team/a/z", "team/x/y"]
    assert run(team.list("")) == ["a/z", "x/y"]
    assert run(team.list("a/")) == ["a/z"] and run(nested.list("")) == ["z"]
    assert run(team.read("a/z")) == b"2" and run(storage.read("team/x/y")) == b"1"
    assert run(team.read("outside")) is None
    run(nested.delete("z"))
    assert run(storage.list("team/")) == ["team/x/y"]
    for key in ("", "/", "..", "a\\b"):
        with pytest.raises(StorageError):  # a view adds a prefix, never makes a refused key acceptable
            run(team.write(key, b"v"))
