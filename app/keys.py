"""``session-backend keys``: create, list and revoke API keys, and allow requests without a key again.

Each command prints its result on stdout (``KEY=$(session-backend keys create ...)`` captures just the
key) and everything meant for the person running it on stderr, with the logs. A key is printed once,
by ``create``; no message ever repeats a key given on the command line.
"""

from __future__ import annotations

import json
import re

import click
from flask.cli import AppGroup
from psycopg2.extensions import connection

from .auth import fingerprint, new_key
from .config import NAMESPACE_PATTERN
from .db import get_db, queries

KEY_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
LIST_COLUMNS = ("key_id", "namespace", "status", "created_at", "last_used_at", "revoked_at")
# One word each, so `awk '{print $1}'` and friends can read the table.
TABLE_HEADER = ("KEY_ID", "NAMESPACE", "STATUS", "CREATED", "LAST_USED", "REVOKED")
_ALLOW_KEYLESS = "`session-backend keys allow-keyless --yes`"


def _namespace(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not NAMESPACE_PATTERN.match(value):
        raise click.BadParameter("use 1-64 letters, digits, '.', '_' or '-'")
    return value


def _note(message: str) -> None:
    """Tell the person at the terminal, on stderr, so stdout stays the command's result."""
    click.echo(message, err=True)


# An AppGroup runs each subcommand inside the application context, where get_db works.
keys_command = AppGroup("keys", help="Manage API keys (each belongs to one namespace).")


@keys_command.command("create")
@click.option("--namespace", required=True, callback=_namespace, help="The namespace the key reads and writes.")
@click.option("--json", "as_json", is_flag=True, help="Print key_id, namespace, key and created_at as JSON.")
def create_key(namespace: str, as_json: bool) -> None:
    """Create a key for NAMESPACE and print it (only the key, or JSON); only its hash is stored."""
    key = new_key()
    key_id, secret_hash = fingerprint(key)
    conn = get_db()
    first = not queries.keys_required(conn)
    _, _, created_at = queries.create_api_key(conn, key_id=key_id, namespace=namespace, secret_hash=secret_hash)
    if as_json:
        click.echo(json.dumps({"key_id": key_id, "namespace": namespace, "key": key, "created_at": created_at}))
    else:
        click.echo(key)
    _note(f"Created key {key_id} for namespace {namespace}. Store the key now: it cannot be shown again.")
    if first:
        _note(_first_key_note(queries.count_default_sessions(conn), namespace))


def _first_key_note(default_sessions: int, namespace: str) -> str:
    """What creating the first key changes for requests without a key, and for what they wrote."""
    sessions = f"{default_sessions} session{'' if default_sessions == 1 else 's'} now"
    reach = "this key reads them" if namespace == "default" else "create a key with --namespace default to reach them"
    return (
        "Authentication is now on: API requests without a key are refused (401), also after every key "
        f"is revoked, until {_ALLOW_KEYLESS} or AUTH_DISABLED=true. "
        f"Records written without a key stay in the 'default' namespace ({sessions}); {reach}."
    )


@keys_command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects, with full timestamps.")
def list_keys(as_json: bool) -> None:
    """List keys: id, namespace, status and when each was created, last used and revoked (never the keys)."""
    conn = get_db()
    rows = [dict(zip(LIST_COLUMNS, row, strict=True)) for row in queries.list_api_keys(conn)]
    if as_json:
        click.echo(json.dumps(rows))
    else:
        _print_table(rows)
    _note(_keyless_status(conn))


def _print_table(rows: list[dict]) -> None:
    """One line per key under a header of one-word column names; times in UTC, to the second."""
    lines = [list(TABLE_HEADER)] + [[_cell(row[column]) for column in LIST_COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(TABLE_HEADER))]
    for line in lines:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _cell(value: str | None) -> str:
    if value is None:
        return "-"
    # iso_utc()'s 2026-11-25T14:24:56.123456+00:00, shortened for people: 2026-11-25T14:24:56Z.
    return value[:19] + "Z" if value.endswith("+00:00") else value


def _keyless_status(conn: connection) -> str:
    """One line on what a request without a key gets in development (production always refuses it)."""
    if not queries.keys_required(conn):
        return (
            "No key requires authentication: API requests without a key are served in the 'default' "
            "namespace (not with ENVIRONMENT=production)."
        )
    if queries.count_active_api_keys(conn) == 0:
        return (
            "No active key: every API request is refused (401) until a key is created; "
            f"{_ALLOW_KEYLESS} serves requests without a key again."
        )
    return "API requests without a key are refused (401)."


@keys_command.command("revoke")
@click.argument("key", metavar="KEY_ID")
def revoke_key(key: str) -> None:
    """Revoke a key, named by its id (from `keys list`) or given whole; refused from the next request on."""
    conn = get_db()
    # Anything that is not a key id may be a key: it is only hashed, and never printed.
    key_id = key.lower() if KEY_ID_PATTERN.match(key.lower()) else None
    key_hash = fingerprint(key)[1]
    revoked = queries.revoke_api_key(conn, key_id=key_id, key_hash=key_hash)
    if revoked is None:
        found = queries.find_api_key(conn, key_id=key_id, key_hash=key_hash)
        if found is None:
            raise click.ClickException("no key matches the KEY_ID given: see `session-backend keys list`")
        click.echo(f"Key {found[0]} was already revoked at {found[2]}.")
        return
    click.echo(f"Revoked key {revoked[0]} (namespace {revoked[1]}).")
    if not queries.any_active_api_key(conn):
        _note(
            "That was the last active key: every API request is refused (401) now, with or without a key; "
            "authentication stays on. Create a key to serve requests again, or, to serve requests without "
            f"a key in the 'default' namespace (development only), run {_ALLOW_KEYLESS} or set AUTH_DISABLED=true."
        )


@keys_command.command("allow-keyless")
@click.option("--yes", is_flag=True, help="Confirm: serve API requests without a key again.")
def allow_keyless(yes: bool) -> None:
    """Serve API requests without a key again, in the 'default' namespace (development only).

    Once a key has been created, requests without a key are refused even after every key is
    revoked; this is the explicit way back. Refused while any key is active. Creating a key turns
    authentication on again; ENVIRONMENT=production always refuses requests without a key.
    """
    conn = get_db()
    if not queries.keys_required(conn):
        click.echo("Requests without a key are already served: no key requires authentication.")
        return
    active = queries.count_active_api_keys(conn)
    if active:
        raise click.ClickException(
            f"{active} active key{'s remain' if active != 1 else ' remains'}: revoke "
            f"{'them' if active != 1 else 'it'} first "
            "(`session-backend keys list`, `session-backend keys revoke KEY_ID`)"
        )
    if not yes:
        raise click.ClickException(
            "this lets API requests without a key in, in the 'default' namespace: run again with --yes to confirm"
        )
    queries.allow_keyless(conn)
    click.echo(
        "API requests without a key are served again, in the 'default' namespace (not with "
        "ENVIRONMENT=production). Creating a key turns authentication back on."
    )
