"""``session-backend keys``: create, list and revoke API keys."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .auth import fingerprint, new_key
from .config import NAMESPACE_PATTERN
from .db import get_db, queries


def _namespace(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not NAMESPACE_PATTERN.match(value):
        raise click.BadParameter("use 1-64 letters, digits, '.', '_' or '-'")
    return value


# An AppGroup runs each subcommand inside the application context, where get_db works.
keys_command = AppGroup("keys", help="Manage API keys (each belongs to one namespace).")


@keys_command.command("create")
@click.option("--namespace", required=True, callback=_namespace, help="The namespace the key reads and writes.")
def create_key(namespace: str) -> None:
    """Create a key for NAMESPACE and print it once; only its hash is stored."""
    key = new_key()
    key_id, secret_hash = fingerprint(key)
    queries.create_api_key(get_db(), key_id=key_id, namespace=namespace, secret_hash=secret_hash)
    click.echo(f"key_id: {key_id}\nnamespace: {namespace}\nkey: {key}")
    click.echo("Store the key now: it cannot be shown again.", err=True)


@keys_command.command("list")
def list_keys() -> None:
    """List key ids and namespaces (never the keys)."""
    click.echo(f"{'KEY_ID':<17} {'NAMESPACE':<20} {'CREATED':<33} {'LAST USED':<33} REVOKED")
    for key_id, namespace, created, last_used, revoked in queries.list_api_keys(get_db()):
        click.echo(f"{key_id:<17} {namespace:<20} {created:<33} {last_used or '-':<33} {revoked or '-'}")


@keys_command.command("revoke")
@click.argument("key_id")
def revoke_key(key_id: str) -> None:
    """Revoke KEY_ID; requests with it are refused from the next one on."""
    if queries.revoke_api_key(get_db(), key_id=key_id) is None:
        raise click.ClickException(f"no key with id {key_id}")
    click.echo(f"revoked {key_id}")
