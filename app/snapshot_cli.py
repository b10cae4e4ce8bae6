"""``session-backend convert-to-snapshots``: the conversion of POST .../agents/{agent_id}/snapshot, for an operator.

It runs with the database's own credentials in the namespace it is given (the queries of
sql/snapshot_conversions.sql), one agent or every agent of a session, and prints one line per agent it
converted on stdout; what it refused goes to stderr, and then it exits with status 1.
"""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from .config import NAMESPACE_PATTERN
from .db import get_db, queries
from .errors import ConflictError
from .schemas import IDENTIFIER_RULE, is_identifier
from .snapshot_builder import from_message_log, snapshot_key
from .snapshots import SNAPSHOT_EXISTS
from .storage import stored_value
from .storage_keys import scope_of


def _namespace(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not NAMESPACE_PATTERN.match(value):
        raise click.BadParameter("use 1-64 letters, digits, '.', '_' or '-'")
    return value


def _identifier(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not is_identifier(value):
        raise click.BadParameter(IDENTIFIER_RULE)
    return value


def convert_agent(namespace: str, session_id: str, agent_id: str, overwrite: bool) -> str:
    """Write the agent's ``snapshot_latest`` and return the line that tells it.

    Raises:
        ConflictError: the agent has a snapshot and not ``overwrite``, or Strands could not restore it.
        click.ClickException: the namespace holds no such agent.
    """
    conn = get_db()
    row = queries.message_log_in(conn, namespace=namespace, session_id=session_id, agent_id=agent_id)
    if row is None:
        raise click.ClickException(f"agent {agent_id!r} not found in session {session_id!r} of namespace {namespace!r}")
    data, facts = from_message_log(row[0], row[1])
    key = snapshot_key(session_id, agent_id)
    written = queries.write_snapshot_in(
        conn,
        namespace=namespace,
        scope=scope_of(key),
        key=key.encode("utf-8"),
        **stored_value(conn, data),
        overwrite=overwrite,
    )
    if written is None:
        raise ConflictError(f"{SNAPSHOT_EXISTS}: use --overwrite to replace it")
    verb = "created" if written[3] else "replaced"
    return f"{verb} {key} ({facts['messages']} messages, {facts['removed_message_count']} removed before them)"


@click.command("convert-to-snapshots")
@click.option(
    "--session", "session_id", required=True, callback=_identifier, help="The session whose agents to convert."
)
@click.option(
    "--agent", "agent_id", callback=_identifier, help="Only this agent (default: every agent of the session)."
)
@click.option("--namespace", default="default", show_default=True, callback=_namespace, help="The session's namespace.")
@click.option("--overwrite", is_flag=True, help="Replace a snapshot_latest the agent has (otherwise it is refused).")
@with_appcontext
def convert_command(session_id: str, agent_id: str | None, namespace: str, overwrite: bool) -> None:
    """Write the snapshot_latest Strands' SnapshotSessionManager would have written for message-log agents.

    The message log stays as it is. Exits with status 1 when the session or agent is missing, or when
    an agent was refused (it has a snapshot already and --overwrite was not given, or its stored
    state is one Strands could not restore); the other agents are converted all the same.
    """
    if agent_id is None:
        listed = queries.agent_ids_in(get_db(), namespace=namespace, session_id=session_id)
        if listed is None:
            raise click.ClickException(f"session {session_id!r} not found in namespace {namespace!r}")
        agent_ids: list[str] = json.loads(listed)
    else:
        agent_ids = [agent_id]
    refused = 0
    for agent in agent_ids:
        try:
            click.echo(convert_agent(namespace, session_id, agent, overwrite))
        except ConflictError as exc:
            refused += 1
            click.echo(f"refused {agent}: {exc.message}", err=True)
    if not agent_ids:
        click.echo(f"session {session_id!r} has no agents: nothing to convert", err=True)
    if refused:
        raise click.exceptions.Exit(1)
