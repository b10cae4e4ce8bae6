"""Marshmallow schemas for every request body, query string and path: they validate requests
and, through apispec, generate the OpenAPI document."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

MAX_MESSAGE_ID = 2**31 - 1
SESSION_TYPES = ("AGENT", "MULTI_AGENT")


# The id rule, stated once: the OpenAPI document publishes IDENTIFIER_PATTERN with minLength 1 and
# maxLength IDENTIFIER_MAX_LENGTH, and the service applies the same regex. Ids become URL path
# segments (here and in Strands' file and S3 repositories), so '/' and '\\' are out, and '.' and '..'
# would be removed as dot segments by HTTP clients. Control characters (C0, DEL and C1) are out.
# The pattern reads alike in ECMA-262 (JSON Schema's dialect: schemathesis, ReDoc, Swagger UI) and
# in Python's `re` under fullmatch (a bare `$` would let Python accept a final newline). It names no
# surrogates: ECMA engines without the `u` flag would refuse every astral character (emoji) with them.
IDENTIFIER_MAX_LENGTH = 255
IDENTIFIER_PATTERN = r"^(?!\.\.?$)[^\x00-\x1f\x7f-\x9f/\\]+$"
IDENTIFIER_RULE = (
    f"1-{IDENTIFIER_MAX_LENGTH} characters; no control characters (U+0000-U+001F, U+007F-U+009F), "
    "no `/` or `\\`, and not `.` or `..`. URL-encode it in paths."
)
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
# JSON can escape an unpaired surrogate, which is no character: PostgreSQL cannot store it.
UNPAIRED_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _identifier_content(value: str) -> None:
    if _IDENTIFIER.fullmatch(value):
        if UNPAIRED_SURROGATE.search(value):
            raise ValidationError("must be valid Unicode: no unpaired surrogates")
        return
    if value in (".", ".."):
        raise ValidationError("'.' and '..' are not valid ids")
    if value:  # the empty id is the length rule's to report
        raise ValidationError("must contain no control characters, '/' or '\\'")


# Free text a person reads (a lease's holder): no control characters, NUL above all, which PostgreSQL
# cannot store, and no unpaired surrogates.
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
_PRINTABLE = re.compile(PRINTABLE_PATTERN)


def printable(value: str) -> None:
    """Refuse control characters and unpaired surrogates in ``value`` (ValidationError)."""
    if not _PRINTABLE.fullmatch(value) and value:
        raise ValidationError("must contain no control characters")
    if UNPAIRED_SURROGATE.search(value):
        raise ValidationError("must be valid Unicode: no unpaired surrogates")


def is_identifier(value: str) -> bool:
    """Whether ``value`` passes :func:`Identifier`'s rules, without building error messages."""
    return (
        len(value) <= IDENTIFIER_MAX_LENGTH
        and _IDENTIFIER.fullmatch(value) is not None
        and (value.isascii() or UNPAIRED_SURROGATE.search(value) is None)
    )


# A session list cursor: the created_at (whole epoch seconds, rounded down, '.', microseconds) and
# session id (UTF-8 in hex) of the last session shown. Every value the pattern admits is a position the query can start
# from: seconds within PostgreSQL's timestamp range, whole bytes, and no NUL byte, which no id
# holds and PostgreSQL cannot take. Invalid UTF-8 is decoded with replacement characters.
CURSOR_PATTERN = r"^(?:-[0-9]{1,11}|[0-9]{1,12})\.[0-9]{6}_(?:[1-9a-f][0-9a-f]|0[1-9a-f])*$"
CURSOR_MAX_LENGTH = 12 + 1 + 6 + 1 + 2 * 4 * IDENTIFIER_MAX_LENGTH
CURSOR_DESCRIPTION = (
    "Where the page starts: pass the `next_cursor` of the previous page unchanged. Treat it as an opaque "
    "string; any value matching the pattern is accepted (one this service did not issue still names a "
    "position in the list), anything else is a 422."
)


def _matching(pattern: str, message: str) -> Any:
    compiled = re.compile(pattern)

    def check(value: str) -> None:
        # fullmatch: `$` alone would let a final newline through, which ECMA-262's `$` does not.
        if not compiled.fullmatch(value):
            raise ValidationError(message)

    return check


# A lease id as the service issues it (uuid's canonical form); any case, as PostgreSQL reads it.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_UUID = re.compile(UUID_PATTERN)


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID in canonical form (what a lease id path segment must be)."""
    return _UUID.fullmatch(value) is not None


def is_message_id(value: str) -> bool:
    """Whether ``value`` is a message id written plainly in decimal (other spellings go to the schema)."""
    return value.isascii() and value.isdigit() and len(value) <= 10 and int(value) <= MAX_MESSAGE_ID


def Identifier(**kwargs: Any) -> fields.String:  # noqa: N802 - reads like a field class
    """A session, agent or multi-agent id, following IDENTIFIER_PATTERN (documented with it)."""
    metadata = {"pattern": IDENTIFIER_PATTERN, "description": IDENTIFIER_RULE, **kwargs.pop("metadata", {})}
    return fields.String(
        validate=[validate.Length(1, IDENTIFIER_MAX_LENGTH), _identifier_content], metadata=metadata, **kwargs
    )


def MessageId(strict: bool = True, **kwargs: Any) -> fields.Integer:  # noqa: N802 - reads like a field class
    """A message index: an integer 0 <= id < 2^31 (``strict=False`` for query strings and paths)."""
    return fields.Integer(strict=strict, validate=validate.Range(0, MAX_MESSAGE_ID), **kwargs)


def postgres_utc(value: datetime) -> str:
    """``value`` as a UTC timestamp PostgreSQL reads, for any offset and year.

    PostgreSQL takes offsets only up to 15:59 while RFC 3339 allows 23:59, and in UTC a time may
    fall in year 0 or 10000, outside Python's datetime. Converting 400 years away and moving the
    year back keeps every date (the Gregorian calendar repeats every 400 years).
    """
    shift = 400 if value.year <= 5000 else -400
    utc = value.replace(year=value.year + shift).astimezone(UTC)
    year = utc.year - shift
    era = "" if year > 0 else " BC"  # PostgreSQL has no year 0: 1 BC precedes AD 1
    return f"{year if year > 0 else 1 - year:04d}-{utc:%m-%dT%H:%M:%S.%f}+00:00{era}"


class _Timestamp(fields.AwareDateTime):
    # Loads to the UTC text PostgreSQL reads, not to the datetime the base field returns.
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:  # type: ignore[override]
        return postgres_utc(super()._deserialize(value, attr, data, **kwargs))


def Timestamp(description: str) -> fields.AwareDateTime:  # noqa: N802 - reads like a field class
    """An optional ISO 8601 timestamp, loaded as UTC text for PostgreSQL; one without a zone is UTC."""
    return _Timestamp(load_default=None, default_timezone=UTC, metadata={"description": description})


_CREATED_AT = "When the record was made (ISO 8601; no zone means UTC); the server's clock when absent."
_UPDATED_AT = "Kept as sent on create (else equal to `created_at`); every update sets it to the server's clock."
_SESSION_TYPE = "`AGENT` (the default) or `MULTI_AGENT`."
_STORED_AT = "Set by the server (ISO 8601, UTC)."


def json_text(document: Any) -> str:
    """Serialize a decoded JSON value to the text PostgreSQL stores.

    Raises:
        ValidationError: for NaN or infinite numbers, which JSON cannot carry.
    """
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        raise ValidationError("numbers must be finite") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates are valid JSON escapes but not UTF-8: keep them escaped.
        text = json.dumps(document, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text


class JSONDocument(fields.Dict):
    """A JSON object, loaded as the text PostgreSQL will store."""

    # Loads to the JSON text PostgreSQL stores, not to the dict the base field returns.
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:  # type: ignore[override]
        return json_text(super()._deserialize(value, attr, data, **kwargs))


class RequestSchema(Schema):
    """Base for request bodies: unknown fields are ignored, so newer clients keep working.

    Strands may add fields to its dataclasses, which the client sends as they are; refusing them
    would break every existing deployment on the day a newer Strands is installed.
    """

    class Meta:
        unknown = EXCLUDE


UNKNOWN_PARAMETER = "unknown query parameter"


class QuerySchema(Schema):
    """Base for query strings: an unknown (or misspelled) parameter is a 422 naming it, not ignored.

    A query parameter changes what is answered, so one ignored silently (``limt=5``) gives the
    caller a different answer than the one asked for.
    """

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": UNKNOWN_PARAMETER}  # noqa: RUF012 - marshmallow reads it from the class


class JSONBoolean(fields.Boolean):
    """JSON's true or false only: 0, 1 or "yes" are values the schema calls invalid."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


# Retention (migration 0007). A century bounds a TTL: what a legal retention period asks, and an
# instant PostgreSQL can always add it to.
MAX_RETENTION_SECONDS = 100 * 365 * 86400
_EXPIRES_AT = (
    "When the session becomes due for deletion by `session-backend purge` (ISO 8601; no zone means UTC; "
    "a past instant makes it due at once); null: never. Not with `ttl_seconds`."
)
_TTL_SECONDS = f"Seconds from now until the session expires (sets `expires_at`), 1-{MAX_RETENTION_SECONDS}."
_LEGAL_HOLD = (
    "While true, the session is never purged, whatever its `expires_at`, and DELETE answers 409 "
    "`LegalHoldError`; set it to false to release the hold."
)


class _SessionRetention(RequestSchema):
    """The retention fields a session's create and update share: when it expires, and its legal hold.

    No load default for the expiry: whether the body mentions it at all is what the hooks below read.
    """

    expires_at = _Timestamp(allow_none=True, default_timezone=UTC, metadata={"description": _EXPIRES_AT})
    ttl_seconds = fields.Integer(
        strict=True, validate=validate.Range(1, MAX_RETENTION_SECONDS), metadata={"description": _TTL_SECONDS}
    )

    @validates_schema
    def one_expiry(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Refuse a body that says when the session expires twice."""
        if "expires_at" in data and "ttl_seconds" in data:
            message = "give expires_at or ttl_seconds, not both"
            raise ValidationError({"expires_at": [message], "ttl_seconds": [message]})

    @staticmethod
    def expiry_parameters(data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """``data`` with both expiry parameters present (None when absent), and whether the body named one."""
        mentioned = "expires_at" in data or "ttl_seconds" in data
        return {**data, "expires_at": data.get("expires_at"), "ttl_seconds": data.get("ttl_seconds")}, mentioned


class SessionCreate(_SessionRetention):
    session_id = Identifier(required=True)
    session_type = fields.String(
        load_default="AGENT", validate=validate.OneOf(SESSION_TYPES), metadata={"description": _SESSION_TYPE}
    )
    created_at = Timestamp(_CREATED_AT)
    updated_at = Timestamp(_UPDATED_AT)
    legal_hold = JSONBoolean(load_default=False, metadata={"description": _LEGAL_HOLD + " Default false."})

    @post_load
    def with_default_expiry(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """A body that names no expiry takes its namespace's default TTL (an explicit null: never)."""
        data, mentioned = self.expiry_parameters(data)
        return {**data, "use_default_ttl": not mentioned}


class SessionUpdate(_SessionRetention):
    session_type = fields.String(
        load_default=None,
        validate=validate.OneOf(SESSION_TYPES),
        metadata={"description": "The new type; the stored one is kept when absent."},
    )
    legal_hold = JSONBoolean(
        load_default=None, metadata={"description": _LEGAL_HOLD + " The stored one is kept when absent."}
    )

    @post_load
    def keeping_the_expiry(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """A body that names no expiry keeps the stored one."""
        data, mentioned = self.expiry_parameters(data)
        return {**data, "keep_expiry": not mentioned}


class Session(Schema):
    session_id = fields.String()
    session_type = fields.String(metadata={"description": _SESSION_TYPE})
    created_at = fields.String(metadata={"description": "ISO 8601, UTC."})
    updated_at = fields.String(metadata={"description": "ISO 8601, UTC; changes with every update."})
    expires_at = fields.String(
        allow_none=True,
        metadata={"description": "When `session-backend purge` may delete it (ISO 8601, UTC); null: never."},
    )
    legal_hold = fields.Boolean(metadata={"description": "Whether a legal hold keeps it from expiry and deletion."})


class AgentUpdate(RequestSchema):
    state = JSONDocument(required=True, metadata={"description": "The agent's `state`, any JSON object."})
    conversation_manager_state = JSONDocument(
        required=True, metadata={"description": "What the agent's conversation manager saved, any JSON object."}
    )
    internal_state = JSONDocument(
        load_default=None,
        metadata={"description": "Strands' `_internal_state` (either name is accepted); kept when absent on update."},
    )

    @pre_load
    def accept_strands_field_name(self, data: Any, **kwargs: Any) -> Any:
        """Strands names the field ``_internal_state``; accept it as an alias."""
        if isinstance(data, dict) and "_internal_state" in data and "internal_state" not in data:
            data = {**data, "internal_state": data["_internal_state"]}
        return data


class AgentCreate(AgentUpdate):
    agent_id = Identifier(required=True)
    created_at = Timestamp(_CREATED_AT)
    updated_at = Timestamp(_UPDATED_AT)


class Agent(Schema):
    agent_id = fields.String()
    state = fields.Dict()
    conversation_manager_state = fields.Dict()
    internal_state = fields.Dict()
    created_at = fields.String(metadata={"description": "ISO 8601, UTC."})
    updated_at = fields.String(metadata={"description": "ISO 8601, UTC; changes with every update."})
    version = fields.Integer(
        metadata={"description": "1 when created, one more with every update; the `ETag` that `If-Match` compares."}
    )


class MessageUpdate(RequestSchema):
    message = JSONDocument(
        required=True, metadata={"description": "The Strands message (`role`, `content`), any JSON object."}
    )
    redact_message = JSONDocument(
        load_default=None,
        allow_none=True,
        metadata={"description": "What to show instead of `message` once a guardrail redacted it, or null."},
    )


class MessageCreate(MessageUpdate):
    message_id = MessageId(
        required=True, metadata={"description": "The message's index in the conversation, 0 to 2147483647."}
    )
    created_at = Timestamp(_CREATED_AT)
    updated_at = Timestamp(_UPDATED_AT)


class Message(Schema):
    message_id = fields.Integer()
    message = fields.Dict()
    redact_message = fields.Dict(allow_none=True)
    created_at = fields.String(metadata={"description": "ISO 8601, UTC."})
    updated_at = fields.String(metadata={"description": "ISO 8601, UTC; changes with every update."})


class MultiAgentState(RequestSchema):
    """The object ``MultiAgentBase.serialize_state()`` returns; ``id`` names it."""

    class Meta:
        unknown = "include"

    id = Identifier(required=True, metadata={"description": "Names the state; " + IDENTIFIER_RULE})


class PageQuery(QuerySchema):
    limit = fields.Integer(
        validate=validate.Range(1, 1000),
        metadata={"description": "Items per page, 1-1000 (50 sessions or 100 messages when absent)."},
    )
    offset = fields.Integer(
        load_default=0,
        validate=validate.Range(0, MAX_MESSAGE_ID),
        metadata={"description": "Items to skip before the page, by position. Not with a `page`."},
    )
    page = fields.Integer(
        validate=validate.Range(1, MAX_MESSAGE_ID),
        metadata={
            "description": "Page number from 1, in pages of `page_size` (or `limit`); "
            "sets the offset. Not with a non-zero `offset`."
        },
    )
    page_size = fields.Integer(
        validate=validate.Range(1, 1000),
        metadata={
            "description": "Items per page, 1-1000: another name for `limit`, from the original API; "
            "when both are given they must be equal."
        },
    )

    @validates_schema
    def one_style_of_paging(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Reject mixing offset paging with page/page_size paging, and two different page sizes."""
        if "page" in data and data.get("offset"):
            raise ValidationError("use either offset or page, not both", "page")
        if data.get("limit", data.get("page_size")) != data.get("page_size", data.get("limit")):
            message = "limit and page_size disagree: give one of them"
            raise ValidationError({"limit": [message], "page_size": [message]})


# A search is a few words; 1,000 characters leave room for any phrase and keep the parsing cheap.
SEARCH_MAX_LENGTH = 1000


class SessionListQuery(PageQuery):
    cursor = fields.String(
        validate=[
            validate.Length(1, CURSOR_MAX_LENGTH),
            _matching(CURSOR_PATTERN, "must be a next_cursor from a previous page"),
        ],
        metadata={"pattern": CURSOR_PATTERN, "description": CURSOR_DESCRIPTION + " Not with `q`."},
    )
    q = fields.String(
        validate=[validate.Length(1, SEARCH_MAX_LENGTH), printable],
        metadata={
            "pattern": PRINTABLE_PATTERN,
            "description": "Full-text search: only sessions whose messages' text matches, best match first "
            '(web search syntax: words, "a phrase", `or`, `-word`; case-insensitive, words as written, no '
            f"stemming). 1-{SEARCH_MAX_LENGTH} characters; a q without words matches nothing. Pages by "
            "`limit`/`offset` (or `page`), not with `cursor`.",
        },
    )
    prefix = fields.String(
        validate=[validate.Length(1, IDENTIFIER_MAX_LENGTH), printable],
        metadata={
            "pattern": PRINTABLE_PATTERN,
            "description": "Only sessions whose id starts with this text (compared as it is: `%` and `_` are "
            "no wildcards).",
        },
    )
    updated_since = Timestamp("Only sessions updated at or after this instant (ISO 8601; no zone means UTC).")

    @validates_schema
    def search_pages_by_position(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Refuse a cursor with q: search results are ranked, and a cursor is a position by creation time."""
        if "cursor" in data and "q" in data:
            raise ValidationError("a search pages by limit/offset: leave out cursor", "cursor")


class MessageListQuery(PageQuery):
    order = fields.String(
        load_default="asc",
        validate=validate.OneOf(("asc", "desc")),
        metadata={"description": "`asc`: oldest message first; `desc`: newest first (then `after` means before)."},
    )
    after = MessageId(
        strict=False,
        metadata={
            "description": "Keyset paging: only messages whose `message_id` comes after this one in "
            "`order`. Pass the previous page's `next_after`."
        },
    )
    include_total = fields.Boolean(
        load_default=True,
        metadata={
            "description": "Count the agent's messages into `total`; `false` leaves it null and "
            "saves counting a long conversation."
        },
    )


class PathParams(RequestSchema):
    """Identifiers taken from the URL path (other path arguments, like static file names, pass)."""

    session_id = Identifier()
    agent_id = Identifier()
    multi_agent_id = Identifier()
    message_id = MessageId(strict=False)
    lease_id = fields.String(validate=validate.Regexp(UUID_PATTERN, error="must be a lease id (a UUID)"))
    rewind_id = fields.String(validate=validate.Regexp(UUID_PATTERN, error="must be a rewind id (a UUID)"))


class ErrorDetail(Schema):
    error = fields.String(required=True, metadata={"description": "The kind, e.g. `NotFoundError`, `ValidationError`."})
    message = fields.String(required=True, metadata={"description": "What went wrong, for people."})
    request_id = fields.String(allow_none=True, metadata={"description": "Also in the `X-Request-ID` header."})
    field_errors = fields.Dict(
        data_key="fields", metadata={"description": "For a 422: each invalid field with what is wrong with it."}
    )
    fence = fields.Integer(metadata={"description": "For a `LeaseLostError`: the session's current fencing token."})
    holder = fields.String(
        allow_none=True, metadata={"description": "For a `SessionBusyError`: who holds the session's lease."}
    )
    expires_at = fields.String(
        allow_none=True, metadata={"description": "For a `SessionBusyError`: when the holder's lease ends."}
    )


class Error(Schema):
    detail = fields.Nested(ErrorDetail, required=True)


class HealthStatus(Schema):
    """What the health endpoints answer; each adds details of its own."""

    class Meta:
        unknown = "include"

    status = fields.String(required=True, metadata={"description": "e.g. `healthy`, `ready`, `not ready`."})
    service = fields.String()
    version = fields.String()
    database = fields.String(metadata={"description": "`connected` or `unreachable`."})
    schema = fields.String(metadata={"description": "`up to date` or `out of date` (`/health/db`)."})
    reason = fields.String(metadata={"description": "Why the service is not ready, or what to run."})


class SessionPage(Schema):
    sessions = fields.List(fields.Nested(Session), required=True)
    next_cursor = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `cursor` for the next page; null on the last page."},
    )
    limit = fields.Integer()
    offset = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class AgentList(Schema):
    agents = fields.List(fields.Nested(Agent), required=True)


class MessagePage(Schema):
    messages = fields.List(fields.Nested(Message), required=True)
    total = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "How many messages the agent has; null with `include_total=false`."},
    )
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    next_after = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `after` for the next page; null on the last page."},
    )
