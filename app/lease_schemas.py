"""Marshmallow schemas of leases: the bodies acquire and renew take, and what lease endpoints answer."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from .schemas import PRINTABLE_PATTERN, RequestSchema, Session, printable

# A lease is renewed well before it ends; an hour bounds how long a crashed holder can block a session.
MAX_TTL_SECONDS = 3600
DEFAULT_TTL_SECONDS = 30
# The most an acquire may ask to wait; the service waits at most LEASE_WAIT_MAX_SECONDS of it.
MAX_WAIT_SECONDS = 60
_HOLDER = "Who takes the lease, for people reading it (e.g. `host:pid`): 1-255 characters, no control characters."
_TTL = f"Seconds until the lease ends unless renewed, 1-{MAX_TTL_SECONDS} (default {DEFAULT_TTL_SECONDS})."


class LeaseAcquire(RequestSchema):
    holder = fields.String(
        required=True,
        validate=[validate.Length(1, 255), printable],
        metadata={"description": _HOLDER, "pattern": PRINTABLE_PATTERN},
    )
    ttl_seconds = fields.Integer(
        load_default=DEFAULT_TTL_SECONDS,
        strict=True,
        validate=validate.Range(1, MAX_TTL_SECONDS),
        metadata={"description": _TTL},
    )
    wait_seconds = fields.Float(
        load_default=0,
        allow_nan=False,
        validate=validate.Range(0, MAX_WAIT_SECONDS),
        metadata={
            "description": f"How long to wait for a busy lease, 0-{MAX_WAIT_SECONDS} seconds (default 0: answer "
            "at once); the service waits at most its LEASE_WAIT_MAX_SECONDS of it."
        },
    )


class LeaseRenew(RequestSchema):
    ttl_seconds = fields.Integer(
        load_default=DEFAULT_TTL_SECONDS,
        strict=True,
        validate=validate.Range(1, MAX_TTL_SECONDS),
        metadata={"description": _TTL},
    )


class Lease(Schema):
    session_id = fields.String()
    lease_id = fields.String(metadata={"description": "Renews and releases the lease; only its holder sees it."})
    holder = fields.String()
    fence = fields.Integer(
        metadata={"description": "The fencing token: send it as `X-Session-Fence` with every write to the session."}
    )
    acquired_at = fields.String(metadata={"description": "ISO 8601, UTC."})
    expires_at = fields.String(metadata={"description": "ISO 8601, UTC, by the database's clock."})


class LeaseHolder(Schema):
    holder = fields.String()
    fence = fields.Integer()
    acquired_at = fields.String()
    expires_at = fields.String()


class LeaseState(Schema):
    session_id = fields.String()
    held = fields.Boolean(metadata={"description": "Whether someone holds the lease now."})
    holder = fields.String(allow_none=True)
    fence = fields.Integer(metadata={"description": "The session's current fencing token; 0 if never leased."})
    acquired_at = fields.String(allow_none=True)
    expires_at = fields.String(allow_none=True)


class SessionDetail(Session):
    lease = fields.Nested(
        LeaseHolder, allow_none=True, metadata={"description": "Who holds the session's lease; null when nobody."}
    )
