"""The ``session-backend`` command: ``init-db``, ``keys ...``, ``history ...``, ``convert-to-snapshots``,
``import``, ``export``, ``retention``, ``purge`` and ``run``, with ``--version``.

A command's result goes to stdout and everything else (logs, notes, errors) to stderr, so scripts
can capture the result: ``KEY=$(session-backend keys create --namespace team-a)``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import psycopg2
from flask import Flask
from flask.cli import ScriptInfo
from psycopg2 import errors as pg_errors

from . import logs
from .history_cli import history_command
from .keys import keys_command
from .migrations import init_db_command
from .retention import purge_command, retention_command
from .snapshot_cli import convert_command
from .transfer_cli import export_command, import_command
from .version import VERSION

# gunicorn's settings and entry point live at the project's root, beside app/, not in the package:
# the container image copies them into its working directory.
SERVER_FILES = ("gunicorn.conf.py", "wsgi.py")
CHECKOUT = Path(__file__).resolve().parent.parent


def _create_app() -> Flask:
    from . import create_app

    return create_app(serving=False)


class _Commands(click.Group):
    """Answers the database errors any command can meet with one line that says what to do."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a schema behind the code or an unreachable database becomes a ClickException."""
        try:
            return super().invoke(ctx)
        except (pg_errors.UndefinedTable, pg_errors.UndefinedColumn, pg_errors.UndefinedFunction):
            raise click.ClickException("the database schema is out of date: run `session-backend init-db`") from None
        except psycopg2.OperationalError as exc:
            # psycopg2 names the host and port, never the password.
            raise click.ClickException(f"the database is unreachable: {str(exc).strip()}") from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="session-backend", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Manage the session-backend service: its database schema, its API keys, retention, its server.

    Without DATABASE_URL, commands use the embedded PostgreSQL in EMBEDDED_PGDATA (.data/postgres),
    starting it when needed.
    """
    logs.log_to_stderr()
    # Commands that need the database run in the application's context (flask.cli.with_appcontext).
    ctx.obj = ScriptInfo(create_app=_create_app, set_debug_flag=False)


def server_files(*directories: Path) -> Path:
    """The first of ``directories`` that holds gunicorn.conf.py and wsgi.py.

    Raises:
        click.ClickException: none does; says where they are found and what to run instead.
    """
    for directory in directories:
        if all((directory / name).is_file() for name in SERVER_FILES):
            return directory
    raise click.ClickException(
        "gunicorn.conf.py and wsgi.py are not in the current directory nor beside the installed package: "
        "run `session-backend run` in the project's checkout (or the container's working directory), "
        "or start the server there with `gunicorn -c gunicorn.conf.py wsgi:app`"
    )


@cli.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--host", help="Address to listen on (sets API_HOST; gunicorn.conf.py's default otherwise).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on (sets API_PORT; 8000 otherwise).")
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def run_command(host: str | None, port: int | None, gunicorn_args: tuple[str, ...]) -> None:
    """Serve the API with gunicorn, as the container does: gunicorn -c gunicorn.conf.py wsgi:app.

    gunicorn.conf.py and wsgi.py come from the current directory, else from the checkout this
    package was installed from. Settings come from the environment (see gunicorn.conf.py); other
    arguments are passed to gunicorn, e.g. `session-backend run -- --log-level debug`.
    """
    directory = server_files(Path.cwd(), CHECKOUT)
    if host is not None:
        os.environ["API_HOST"] = host
    if port is not None:
        os.environ["API_PORT"] = str(port)
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(directory / "gunicorn.conf.py"),
        "--pythonpath",
        str(directory),
        *gunicorn_args,
        "wsgi:app",
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    # gunicorn takes this process's place, so Ctrl-C and SIGTERM reach its master directly.
    os.execv(sys.executable, argv)


cli.add_command(init_db_command)
cli.add_command(keys_command)
cli.add_command(history_command)
cli.add_command(convert_command)
cli.add_command(import_command)
cli.add_command(export_command)
cli.add_command(retention_command)
cli.add_command(purge_command)
