"""``session-backend history``: rewind an agent, undo a rewind, fork a session, from the command line.

The commands do what the API's history endpoints do (app/history.py), in the namespace
``--namespace`` names (``default`` unless told), and respect the session's lease in the same way: while
a process holds it, they refuse unless given its token with ``--fence``. Each prints its result as JSON.
"""

from __future__ import annotations

import json
from typing import Any

import click
import psycopg2
from flask.cli import AppGroup

from . import history
from .db import get_db
from .errors import APIError, database_refusal, integrity_error
from .keys import _namespace

history_command = AppGroup("history", help="Rewind an agent's conversation, undo a rewind, fork a session.")
_NAMESPACE = click.option(
    "--namespace", default="default", show_default=True, callback=_namespace, help="The namespace of the session."
)
_FENCE = click.option("--fence", type=click.IntRange(0), help="The session lease's token, when a process holds it.")


def _as_command(namespace: str, fence: int | None) -> dict[str, Any]:
    """The caller the queries take for the service's own command acting in ``namespace``."""
    return {"key_hash": None, "keyless": f"command:{namespace}", "fence": fence}


def _run(operation: Any) -> None:
    """Print what ``operation()`` returns as JSON; an API error becomes the command's error message."""
    try:
        result = operation()
    except psycopg2.IntegrityError as exc:
        result = integrity_error(exc)
    except psycopg2.DatabaseError as exc:
        result = database_refusal(exc)
        if result is None:
            raise
    except APIError as exc:
        result = exc
    if isinstance(result, APIError):
        raise click.ClickException(f"{result.error}: {result.message}")
    click.echo(result if isinstance(result, str) else json.dumps(result))


@history_command.command("rewind")
@click.argument("session_id")
@click.argument("agent_id")
@click.option("--message-id", type=click.IntRange(0), required=True, help="The first message to take away.")
@_NAMESPACE
@_FENCE
def rewind_command(session_id: str, agent_id: str, message_id: int, namespace: str, fence: int | None) -> None:
    """Rewind AGENT_ID of SESSION_ID so that its next message is MESSAGE_ID; prints the rewind's id."""
    _run(lambda: history.rewind(get_db(), _as_command(namespace, fence), session_id, agent_id, message_id))


@history_command.command("undo")
@click.argument("session_id")
@click.argument("agent_id")
@click.argument("rewind_id")
@_NAMESPACE
@_FENCE
def undo_command(session_id: str, agent_id: str, rewind_id: str, namespace: str, fence: int | None) -> None:
    """Put back what the rewind REWIND_ID of AGENT_ID took away."""
    _run(lambda: history.undo_rewind(get_db(), _as_command(namespace, fence), session_id, agent_id, rewind_id))


@history_command.command("fork")
@click.argument("session_id")
@click.argument("new_session_id")
@click.option("--agent-id", help="Fork only this agent (and the multi-agent state).")
@click.option("--message-id", type=click.IntRange(0), help="With --agent-id: copy its messages before this id.")
@_NAMESPACE
@_FENCE
def fork_command(
    session_id: str,
    new_session_id: str,
    agent_id: str | None,
    message_id: int | None,
    namespace: str,
    fence: int | None,
) -> None:
    """Copy SESSION_ID under NEW_SESSION_ID; prints the new session."""
    if message_id is not None and agent_id is None:
        raise click.UsageError("--message-id needs --agent-id: message ids are one agent's")
    caller = _as_command(namespace, fence)
    _run(lambda: history.fork(get_db(), caller, session_id, new_session_id, agent_id, message_id))
