"""Storing imported records in a namespace, in batches, and counting what was imported, skipped and failed.

Records come as JSON texts in the export's shape (app/exporter.py). Each batch is one statement per
kind, parents first, on an autocommit connection: what a statement stored stays stored, so an import
stopped half-way resumes by running it again. The primary keys decide what is already there (ON
CONFLICT DO NOTHING in sql/transfer.sql): a record already stored is skipped, never stored twice, and
never overwritten. A statement that fails (a missing parent, a bad timestamp) is retried record by
record, so the failure names its record and the rest of the batch is stored.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from marshmallow import ValidationError
from psycopg2.extensions import connection

from .db import queries
from .schemas import MAX_MESSAGE_ID, is_identifier, json_text

# Parents before children: a batch inserts its kinds in this order.
KINDS = ("session", "agent", "message", "multi_agent", "storage_object")
_INSERTS: dict[str, Callable[..., Iterable[tuple[Any, ...]]]] = {
    "session": queries.import_sessions,
    "agent": queries.import_agents,
    "message": queries.import_messages,
    "multi_agent": queries.import_multi_agents,
    "storage_object": queries.import_objects,
}
_IDS = {
    "session": ("session_id",),
    "agent": ("session_id", "agent_id"),
    "message": ("session_id", "agent_id"),
    "multi_agent": ("session_id", "multi_agent_id"),
    "storage_object": (),
}
BATCH_RECORDS = 500
# Storage values travel in base64 inside the records: a batch also stops at this many bytes of them.
BATCH_BYTES = 8 * 1024 * 1024
SHOWN_FAILURES = 20


@dataclass
class Summary:
    """Per kind, how many records were imported, skipped (already stored) and failed, and why they failed."""

    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {kind: {"imported": 0, "skipped": 0, "failed": 0} for kind in KINDS}
    )
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    def fail(self, kind: str, label: str, reason: str) -> None:
        """Count a failed record of ``kind`` and keep its label and reason."""
        self.counts.setdefault(kind, {"imported": 0, "skipped": 0, "failed": 0})["failed"] += 1
        self.failures.append((kind, label, reason))

    def lines(self) -> list[str]:
        """The summary as a person reads it: one line per kind, then the first failures."""
        out = [f"{'':16}{'imported':>10}{'skipped':>10}{'failed':>10}"]
        for kind, count in self.counts.items():
            out.append(f"{kind + 's':16}{count['imported']:>10}{count['skipped']:>10}{count['failed']:>10}")
        for kind, label, reason in self.failures[:SHOWN_FAILURES]:
            out.append(f"failed {kind} {label}: {reason}")
        if len(self.failures) > SHOWN_FAILURES:
            out.append(f"... and {len(self.failures) - SHOWN_FAILURES} more failures")
        return out


def label_of(kind: str, record: dict[str, Any]) -> str:
    """A record's name in the summary: its ids, joined by '/'."""
    names = [str(record.get(name)) for name in _IDS.get(kind, ())]
    if kind == "message":
        names.append(str(record.get("message_id")))
    if kind == "storage_object":
        names.append(f"key {record.get('key')} (base64)")
    return "/".join(names)


def problem(kind: str, record: dict[str, Any]) -> str | None:
    """Why the service could not serve ``record`` (an id the API refuses), or None when it can."""
    if kind not in _INSERTS:
        return f"unknown kind {kind!r}"
    for name in _IDS[kind]:
        value = record.get(name)
        if not isinstance(value, str) or not is_identifier(value):
            return f"{name} {value!r} is not a valid id"
    message_id = record.get("message_id")
    if kind == "message" and not (isinstance(message_id, int) and 0 <= message_id <= MAX_MESSAGE_ID):
        return f"message_id {message_id!r} is not an integer from 0 to {MAX_MESSAGE_ID}"
    return None


class Importer:
    """Collects records into batches and stores them in ``namespace``; ``summary`` counts the outcome."""

    def __init__(self, conn: connection, namespace: str) -> None:
        """Import into ``namespace`` over ``conn`` (autocommit)."""
        self.conn, self.namespace = conn, namespace
        self.summary = Summary()
        self._pending: dict[str, list[tuple[str, str, bool | None]]] = {kind: [] for kind in KINDS}
        self._utf8 = conn.info.parameter_status("server_encoding") == "UTF8"
        self._count = self._bytes = 0

    def add_fields(self, kind: str, record: dict[str, Any]) -> None:
        """Queue a record given as a dict (from Strands' layout)."""
        try:
            text = json_text({"kind": kind, **record})
        except ValidationError as exc:  # NaN or an infinity, which Python's json reads and JSON cannot carry
            self.summary.fail(kind, label_of(kind, record), str(exc.messages[0]))
            return
        self.add_text(kind, record, text)

    def add_text(self, kind: str, record: dict[str, Any], text: str) -> None:
        """Queue a record given as its JSON text, stored as it is (``record`` is that text decoded)."""
        reason = problem(kind, record)
        if reason is not None:
            self.summary.fail(kind, label_of(kind, record), reason)
            return
        is_text = _is_text(record) if kind == "storage_object" and self._utf8 else None
        self._pending[kind].append((text, label_of(kind, record), is_text))
        self._count += 1
        self._bytes += len(text)
        if self._count >= BATCH_RECORDS or self._bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Store every queued record, parents first."""
        for kind in KINDS:
            batch, self._pending[kind] = self._pending[kind], []
            if batch:
                self._store(kind, batch)
        self._count = self._bytes = 0

    def _store(self, kind: str, batch: list[tuple[str, str, bool | None]]) -> None:
        extra = {"text_flags": [is_text for _, _, is_text in batch]} if kind == "storage_object" else {}
        try:
            stored = len(list(_INSERTS[kind](self.conn, namespace=self.namespace, records=_array(batch), **extra)))
        except (psycopg2.DataError, psycopg2.IntegrityError) as exc:
            if len(batch) == 1:
                self.summary.fail(kind, batch[0][1], exc.diag.message_primary or type(exc).__name__)
                return
            # Which record failed, and so the others are stored: one statement each.
            for one in batch:
                self._store(kind, [one])
            return
        self.summary.counts[kind]["imported"] += stored
        self.summary.counts[kind]["skipped"] += len(batch) - stored


def _array(batch: list[tuple[str, str, bool | None]]) -> str:
    """The records as one JSON array, each record's text kept as it is."""
    return "[" + ",".join(text for text, _, _ in batch) + "]"


def _is_text(record: dict[str, Any]) -> bool | None:
    """Whether a storage object's value is UTF-8 text without NUL, the values the search indexes (None: the
    database finds out). Told to the query, so that on Citus it needs no PL/pgSQL exception block."""
    try:
        data = base64.b64decode(record.get("data") or "", validate=True)
        return b"\x00" not in data and data.decode("utf-8") is not None
    except (ValueError, UnicodeDecodeError):
        return None


def decode_line(line: str) -> tuple[str, dict[str, Any]] | str:
    """An NDJSON line as (kind, record), or the reason it is not a record."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        return f"not JSON: {exc}"
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        return "not a JSON object with a kind"
    return record["kind"], record
