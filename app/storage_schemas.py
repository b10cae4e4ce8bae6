"""Marshmallow schemas of the byte store (app/storage.py): keys and prefixes loaded as Strands normalises
them, the list and search requests, and the answers the OpenAPI document describes."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from . import storage_keys
from .schemas import UNPAIRED_SURROGATE, JSONBoolean, QuerySchema, RequestSchema


class _StorageKeyField(fields.String):
    """A byte-store key or prefix as sent, loaded normalised (app/storage_keys.py)."""

    def __init__(self, normalize: Any, pattern: str, **kwargs: Any) -> None:
        self._normalize = normalize
        metadata = {"pattern": pattern, **kwargs.pop("metadata", {})}
        super().__init__(validate=validate.Length(max=storage_keys.MAX_KEY_LENGTH), metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        # The limit is on the value as sent, as OpenAPI's maxLength says: the Length validator sees the
        # normalised value, which runs of '/' can make shorter.
        if len(text) > storage_keys.MAX_KEY_LENGTH:
            raise ValidationError(f"Longer than maximum length {storage_keys.MAX_KEY_LENGTH}.")
        if UNPAIRED_SURROGATE.search(text):
            raise ValidationError("must be valid Unicode: no unpaired surrogates")
        try:
            normalized: str = self._normalize(text)
        except storage_keys.StorageKeyError as err:
            raise ValidationError(str(err)) from None
        return normalized


def StorageKey(**kwargs: Any) -> fields.String:  # noqa: N802 - reads like a field class
    """A byte-store key, loaded as Strands normalises it (422 for what Strands refuses)."""
    metadata = {"description": "The object's key. " + storage_keys.KEY_RULE, **kwargs.pop("metadata", {})}
    return _StorageKeyField(storage_keys.normalize_key, storage_keys.KEY_PATTERN, metadata=metadata, **kwargs)


_PREFIX = (
    "Only keys that start with it (a plain string prefix, not whole segments: `a/b` matches `a/bc`; "
    "end it with `/` for a folder). Normalised as Strands does: leading `/` dropped, runs of `/` collapsed, "
    "a trailing `/` kept; no `\\` and no `..` segment. Empty or absent: every key."
)


def StoragePrefix(**kwargs: Any) -> fields.String:  # noqa: N802 - reads like a field class
    """A byte-store key prefix, loaded as Strands normalises it; may be empty."""
    return _StorageKeyField(
        storage_keys.normalize_prefix, storage_keys.PREFIX_PATTERN, metadata={"description": _PREFIX}, **kwargs
    )


class StorageKeyQuery(QuerySchema):
    key = StorageKey(required=True, metadata={"example": "session/user-123/scopes/agent/my-agent/snapshot_latest.json"})


class StorageListQuery(QuerySchema):
    prefix = StoragePrefix(load_default="")
    start_after = fields.String(
        validate=validate.Length(max=storage_keys.MAX_KEY_LENGTH),
        metadata={
            "description": "Keyset paging: only keys after this one in byte order. Pass the previous page's "
            "`next_start_after` (any string works: it is compared, not normalised)."
        },
    )
    limit = fields.Integer(
        load_default=1000, validate=validate.Range(1, 1000), metadata={"description": "Keys per page, 1-1000."}
    )


class StorageSearch(RequestSchema):
    query = fields.String(
        required=True,
        validate=validate.Length(1, 1000),
        metadata={
            "description": 'Words to find (PostgreSQL\'s websearch syntax: `"a phrase"`, `or`, `-not`); '
            "every word must occur unless `or` says otherwise. A NUL character separates words, as a space does."
        },
    )
    prefix = StoragePrefix(load_default="")
    limit = fields.Integer(
        load_default=10, validate=validate.Range(1, 1000), metadata={"description": "Results at most, 1-1000."}
    )
    include_data = JSONBoolean(
        load_default=False, metadata={"description": "Return each object's bytes, base64-encoded, in `data`."}
    )

    @validates("query")
    def valid_unicode(self, value: str, **kwargs: Any) -> None:
        """Refuse unpaired surrogates, which no text (and so no word) can hold."""
        if UNPAIRED_SURROGATE.search(value):
            raise ValidationError("must be valid Unicode: no unpaired surrogates")

    @post_load
    def nul_is_a_word_break(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """PostgreSQL text cannot hold NUL, and no stored word contains one: it can only separate words."""
        return {**data, "query": data["query"].replace("\x00", " ")}


class StorageObject(Schema):
    key = fields.String(required=True, metadata={"description": "The key as stored (normalised)."})
    size = fields.Integer(required=True, metadata={"description": "The value's length in bytes."})
    sha256 = fields.String(required=True, metadata={"description": "SHA-256 of the value, hex; the ETag."})
    updated_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC; set by every write."})


class StorageKeyPage(Schema):
    keys = fields.List(fields.String(), required=True, metadata={"description": "Full keys, in byte order."})
    next_start_after = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `start_after` for the next page; null on the last page."},
    )


class StorageSearchResult(Schema):
    key = fields.String(required=True)
    score = fields.Float(required=True, metadata={"description": "Relevance; higher is better."})
    data = fields.String(metadata={"description": "The value, base64, with `include_data` only."})


class StorageSearchResults(Schema):
    results = fields.List(fields.Nested(StorageSearchResult), required=True, metadata={"description": "Best first."})
