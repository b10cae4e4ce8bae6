"""Retention: ``session-backend retention ...`` (namespaces' default TTLs) and ``session-backend purge``.

A session is due when its ``expires_at`` has passed and it is not on legal hold. The purge deletes due
sessions in batches of at most ``--batch-size``, each batch its own transaction, and is safe to run
from many replicas at once: a batch locks what it takes with SKIP LOCKED, so purgers take disjoint
sessions and never wait for each other (sql/retention.sql). On Citus, which runs FOR UPDATE only in a
query routed to one shard, a batch is picked from every shard without locks and each session is then
locked (SKIP LOCKED) and deleted on its own shard, in a transaction of its own. Counts go to the JSON
log (one line per run) and a summary to stdout.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field

import click
import psycopg2
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from . import distribution
from .config import NAMESPACE_PATTERN
from .db import CONNECT_TIMEOUT_SECONDS, database_url, queries
from .schemas import MAX_RETENTION_SECONDS

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 10_000
SECONDS_PER_DAY = 86_400
SINGLE_NODE, ROUTED = "single-node", "routed"


@dataclass
class PurgeResult:
    """What a purge run did: sessions deleted by namespace, and how many batches it took."""

    deleted: Counter[str] = field(default_factory=Counter)
    batches: int = 0

    @property
    def total(self) -> int:
        """Sessions deleted in every namespace."""
        return sum(self.deleted.values())


def connect() -> psycopg2.extensions.connection:
    """A connection of its own to the app's database, outside the pool: the purge owns its transactions."""
    return psycopg2.connect(database_url(current_app), connect_timeout=CONNECT_TIMEOUT_SECONDS)


def strategy_of(conn: psycopg2.extensions.connection) -> str:
    """ROUTED on a Citus cluster whose sessions are distributed, else SINGLE_NODE."""
    with conn:
        return ROUTED if distribution.is_distributed(conn) else SINGLE_NODE


def single_node_batch(conn: psycopg2.extensions.connection, batch_size: int) -> tuple[Counter[str], bool]:
    """Delete one batch in one statement and transaction; return its counts and whether more may be due."""
    with conn:
        deleted = Counter(json.loads(queries.purge_batch(conn, batch_size=batch_size)))
    # A short batch: nothing else is due, or what is left is locked by another purger, which deletes it.
    return deleted, sum(deleted.values()) == batch_size


def routed_batch(conn: psycopg2.extensions.connection, batch_size: int) -> tuple[Counter[str], bool]:
    """Pick a batch from every shard, then lock and delete each session on its shard, one transaction each.

    Returns the counts and whether more may be due.
    """
    with conn:
        picked = list(queries.pick_expired_sessions(conn, batch_size=batch_size))
    # Purgers that picked the same oldest sessions would otherwise walk them in the same order, each
    # skipping what the one ahead has locked; shuffled, they mostly take different ones.
    random.shuffle(picked)
    deleted: Counter[str] = Counter()
    for namespace, session_id in picked:
        with conn:
            if queries.lock_expired_session(conn, namespace=namespace, session_id=session_id) is not None:
                queries.delete_expired_session(conn, namespace=namespace, session_id=session_id)
                deleted[namespace] += 1
    # Nothing deleted from a full pick: other purgers hold all of it, and will delete it.
    return deleted, len(picked) == batch_size and bool(deleted)


def purge(
    conn: psycopg2.extensions.connection, *, batch_size: int, max_batches: int | None, strategy: str
) -> PurgeResult:
    """Delete due sessions, ``batch_size`` at a time, until none is left or ``max_batches`` ran."""
    run_batch = single_node_batch if strategy == SINGLE_NODE else routed_batch
    result = PurgeResult()
    more = True
    try:
        while more and (max_batches is None or result.batches < max_batches):
            deleted, more = run_batch(conn, batch_size)
            result.batches += 1
            result.deleted += deleted
            logger.debug("purge batch", extra={"event": "purge_batch", "sessions_deleted": sum(deleted.values())})
    except psycopg2.Error:
        # The batches committed before the failure stay deleted: say how many, then fail the run.
        logger.error(
            "purge stopped by a database error",
            extra={"event": "purge", "sessions_deleted": result.total, "by_namespace": dict(result.deleted)},
        )
        raise
    return result


def _counts(by_namespace: dict[str, int]) -> str:
    return ", ".join(f"{namespace} {count}" for namespace, count in sorted(by_namespace.items())) or "none"


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Count the sessions that are due, by namespace; delete nothing.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_BATCH_SIZE),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Sessions per batch: one transaction (on Citus, one per session).",
)
@click.option("--max-batches", type=click.IntRange(min=1), help="Stop after this many batches (default: until done).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
# For the tests: the Citus way on a single PostgreSQL, where it works too (it is the slower one there).
@click.option("--strategy", type=click.Choice([SINGLE_NODE, ROUTED]), hidden=True)
@with_appcontext
def purge_command(dry_run: bool, batch_size: int, max_batches: int | None, as_json: bool, strategy: str | None) -> None:
    """Delete expired sessions (expires_at in the past) that are not on legal hold, with all their records.

    Safe to run from many replicas at once: each session is deleted by exactly one of them, and none
    waits for another. Logs one JSON line with the counts; prints a summary.
    """
    conn = connect()
    try:
        strategy = strategy or strategy_of(conn)
        if dry_run:
            with conn:
                due = dict(queries.count_expired_sessions(conn))
                held = queries.count_held_expired_sessions(conn)
            summary = {"dry_run": True, "sessions_due": sum(due.values()), "by_namespace": due, "held_expired": held}
            text = (
                f"Would delete {summary['sessions_due']} expired sessions ({_counts(due)}); "
                f"{held} expired sessions are kept by a legal hold."
            )
        else:
            result = purge(conn, batch_size=batch_size, max_batches=max_batches, strategy=strategy)
            summary = {
                "dry_run": False,
                "sessions_deleted": result.total,
                "by_namespace": dict(sorted(result.deleted.items())),
                "batches": result.batches,
                "batch_size": batch_size,
            }
            text = (
                f"Deleted {result.total} expired sessions ({_counts(result.deleted)}) "
                f"in {result.batches} batch{'' if result.batches == 1 else 'es'} of up to {batch_size}."
            )
    finally:
        conn.close()
    logger.info("purge finished", extra={"event": "purge", "strategy": strategy, **summary})
    click.echo(json.dumps(summary) if as_json else text)


def _namespace(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not NAMESPACE_PATTERN.match(value):
        raise click.BadParameter("use 1-64 letters, digits, '.', '_' or '-'")
    return value


retention_command = AppGroup("retention", help="Retention policy: the namespaces' default time to live.")


@retention_command.command("set-default")
@click.option("--namespace", required=True, callback=_namespace, help="The namespace whose new sessions it applies to.")
@click.option("--ttl-days", type=click.IntRange(1, MAX_RETENTION_SECONDS // SECONDS_PER_DAY), help="Days to live.")
@click.option("--ttl-seconds", type=click.IntRange(1, MAX_RETENTION_SECONDS), help="Seconds to live.")
@click.option("--none", "clear", is_flag=True, help="Remove the default: new sessions do not expire.")
@with_appcontext
def set_default(namespace: str, ttl_days: int | None, ttl_seconds: int | None, clear: bool) -> None:
    """Give NAMESPACE's new sessions a default time to live (or none).

    A session created without `expires_at` or `ttl_seconds` then expires that long after its creation.
    Sessions that exist keep their expiry: the default applies from the next create on.
    """
    if [ttl_days is not None, ttl_seconds is not None, clear].count(True) != 1:
        raise click.UsageError("give exactly one of --ttl-days, --ttl-seconds and --none")
    seconds = ttl_seconds if ttl_days is None else ttl_days * SECONDS_PER_DAY
    conn = connect()
    try:
        with conn:
            queries.set_default_ttl(conn, namespace=namespace, ttl_seconds=seconds)
    finally:
        conn.close()
    click.echo(
        f"Namespace {namespace}: new sessions do not expire unless they say so."
        if seconds is None
        else f"Namespace {namespace}: new sessions expire {seconds} seconds after creation unless they say otherwise."
    )


@retention_command.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@with_appcontext
def show(as_json: bool) -> None:
    """List the namespaces that have a default time to live."""
    conn = connect()
    try:
        with conn:
            rows = list(queries.list_namespace_settings(conn))
    finally:
        conn.close()
    settings = [
        {"namespace": namespace, "default_ttl_seconds": ttl, "updated_at": updated}
        for namespace, ttl, updated in rows
        if ttl is not None
    ]
    if as_json:
        click.echo(json.dumps(settings))
        return
    for entry in settings:
        ttl = entry["default_ttl_seconds"]
        days = f" ({ttl // SECONDS_PER_DAY} days)" if ttl % SECONDS_PER_DAY == 0 else ""
        click.echo(f"{entry['namespace']}  {ttl} seconds{days}")
    if not settings:
        click.echo("No namespace has a default time to live: sessions expire only when they say so.", err=True)
