"""The OpenAPI patterns for storage keys and prefixes say exactly what the service accepts."""

import itertools
import re

import pytest

from app.storage_keys import KEY_PATTERN, PREFIX_PATTERN, StorageKeyError, normalize_key, normalize_prefix

# Every character class the patterns tell apart: an ordinary character, '.', '/', '\\', and a newline
# (where Python's `$` and ECMA-262's `$` part ways).
ALPHABET = "a./\\\n"
LONGEST = 7


def _accepted(normalize, value: str) -> bool:
    try:
        normalize(value)
    except StorageKeyError:
        return False
    return True


@pytest.mark.parametrize(
    ("pattern", "normalize"), [(KEY_PATTERN, normalize_key), (PREFIX_PATTERN, normalize_prefix)], ids=["key", "prefix"]
)
def test_the_pattern_admits_exactly_what_the_service_accepts(pattern, normalize):
    compiled = re.compile(pattern)
    disagreements = [
        value
        for length in range(LONGEST + 1)
        for value in map("".join, itertools.product(ALPHABET, repeat=length))
        if (compiled.fullmatch(value) is not None) != _accepted(normalize, value)
    ]
    assert disagreements == []


def test_the_patterns_use_no_lookarounds():
    # Generators of valid requests (schemathesis) meet a lookaround only by drawing and discarding,
    # which took many minutes for a 1,024-character key.
    for pattern in (KEY_PATTERN, PREFIX_PATTERN):
        assert "(?=" not in pattern and "(?!" not in pattern, pattern
