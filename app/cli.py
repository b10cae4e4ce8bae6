"""The ``session-backend`` command: Flask's CLI (``init-db``, ``keys``, ``routes``, ``run``) for this app."""

from __future__ import annotations

from flask.cli import FlaskGroup


def _create_app():
    from . import create_app

    return create_app(serving=False)


cli = FlaskGroup(create_app=_create_app, help="Manage the session-backend service.")
