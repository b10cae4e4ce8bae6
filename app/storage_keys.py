"""Byte-store keys: Strands' normalisation (strands/storage/storage.py), their bytes, and their scope.

A key is normalised as Strands' path-based backends do, so every key they accept round-trips and
what they refuse is refused here: runs of '/' collapse, leading and trailing '/' are dropped, and an
empty key, a backslash or a '..' segment is an error. The database holds a key's UTF-8 bytes, so keys
compare and sort bytewise, which is the order of Python's ``str`` for them.
"""

from __future__ import annotations

import re

# After normalisation, in UTF-8: a btree entry (namespace, scope, key) must stay under ~2.7 kB.
MAX_KEY_BYTES = 1024
# The key or prefix as sent, in characters (what OpenAPI's maxLength can say).
MAX_KEY_LENGTH = 1024
_SLASHES = re.compile(r"/+")
# The OpenAPI patterns (ECMA-262 and Python alike, without lookarounds, which generators such as
# schemathesis can only meet by drawing and discarding): segments split by runs of '/', none of them
# '..' or holding a backslash or a NUL, and for a key at least one segment. They admit exactly what
# normalize_key and normalize_prefix accept (tests/test_storage_keys.py checks that).
_SEGMENT = r"(?:[^/\\.\x00][^/\\\x00]*|\.(?:[^/\\.\x00][^/\\\x00]*)?|\.\.[^/\\\x00]+)"
PREFIX_PATTERN = rf"^/*(?:{_SEGMENT}(?:/+{_SEGMENT})*/*)?$"
KEY_PATTERN = rf"^/*{_SEGMENT}(?:/+{_SEGMENT})*/*$"
KEY_RULE = (
    "Normalised as Strands' path-based storage does: runs of `/` collapse and leading and trailing `/` "
    f"are dropped. At most {MAX_KEY_LENGTH} characters as sent and {MAX_KEY_BYTES} bytes (UTF-8) once "
    "normalised; not empty (or only `/`), no `\\`, no NUL, and no `..` segment. Percent-encode it (`+` is a space)."
)


class StorageKeyError(ValueError):
    """A key or prefix Strands' backends would refuse; the message says why."""


def _check_segments(value: str, what: str) -> str:
    if "\\" in value:
        raise StorageKeyError(f"backslashes are not allowed in a storage {what}")
    # A file name cannot hold one (LocalFileStorage fails on it), nor can the text of a session id that a
    # key's scope is checked against for its lease.
    if "\x00" in value:
        raise StorageKeyError(f"NUL characters are not allowed in a storage {what}")
    normalized = _SLASHES.sub("/", value)
    if ".." in normalized.split("/"):
        raise StorageKeyError(f"'..' path segments are not allowed in a storage {what}")
    return normalized


def normalize_key(key: str) -> str:
    """``key`` normalised as Strands' ``_normalize_key``; raises StorageKeyError for what it refuses."""
    normalized = _check_segments(key, "key").strip("/")
    if not normalized:
        raise StorageKeyError("a storage key must not be empty (or only '/')")
    if len(normalized.encode("utf-8")) > MAX_KEY_BYTES:
        raise StorageKeyError(f"a storage key must be at most {MAX_KEY_BYTES} bytes in UTF-8")
    return normalized


def normalize_prefix(prefix: str) -> str:
    """``prefix`` normalised as Strands' ``_normalize_prefix`` (a trailing '/' is kept); may be empty."""
    return _check_segments(prefix, "prefix").lstrip("/")


def scope_of(key: str) -> bytes:
    """The distribution segment of a normalised key: its second segment if it has two, else its first.

    Strands writes ``session/<id>/...`` and ``context/<id>/...``: a session's objects share a scope.
    """
    segments = key.split("/", 2)
    return segments[1 if len(segments) > 1 else 0].encode("utf-8")


def prefix_end(prefix: bytes) -> bytes | None:
    """The least byte string above every string that starts with ``prefix`` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])
