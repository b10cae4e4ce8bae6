"""The conversation viewer at /ui/: server-rendered pages over the same queries as the API."""

from __future__ import annotations

from flask import Flask

from . import access, pages


def init_app(app: Flask) -> None:
    """Serve the viewer from ``app``, its cookie signed with the configured UI_SECRET_KEY."""
    access.configure_cookie(app)
    app.register_blueprint(pages.bp)
