"""``session-backend convert-to-snapshots``: the conversion of POST .../agents/{agent_id}/snapshot, for an operator.

It runs the endpoint's queries as the service's own command in the namespace it is given (keyless mode
``command:<namespace>``, sql/migrations/functions.sql), for one agent or every agent of a session, and
prints one line per agent it converted on stdout; what it refused goes to stderr, and then it exits
with status 1.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import click
from flask.cli import with_appcontext

from .config import NAMESPACE_PATTERN
from .db import get_db, queries
from .errors import ConflictError
from .schemas import IDENTIFIER_RULE, is_identifier
from .snapshots import SNAPSHOT_EXISTS, convert


def _namespace(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not NAMESPACE_PATTERN.match(value):
        raise click.BadParameter("use 1-64 letters, digits, '.', '_' or '-'")
    return value


def _identifier(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not is_identifier(value):
        raise click.BadParameter(IDENTIFIER_RULE)
    return value


def _as_command(namespace: str) -> dict[str, Any]:
    """The caller the queries take for the service's own command in ``namespace``; it takes no lease."""
    return {"key_hash": None, "keyless": f"command:{namespace}", "fence": None}


def convert_agent(namespace: str, session_id: str, agent_id: str, overwrite: bool) -> str:
    """Write the agent's ``snapshot_latest`` in ``namespace`` and return the line that tells it.

    Raises:
        ConflictError: the agent has a snapshot and not ``overwrite``, or Strands could not restore it.
        click.ClickException: the namespace holds no such agent.
    """

    def missing(what: str) -> NoReturn:
        raise click.ClickException(f"agent {agent_id!r} not found in session {session_id!r} of namespace {namespace!r}")

    key, written, facts = convert(get_db(), _as_command(namespace), session_id, agent_id, overwrite, missing)
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
        listed = queries.list_agents(get_db(), **_as_command(namespace), session_id=session_id)
        if listed is None:
            raise click.ClickException(f"session {session_id!r} not found in namespace {namespace!r}")
        agent_ids: list[str] = [agent["agent_id"] for agent in json.loads(listed)["agents"]]
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
