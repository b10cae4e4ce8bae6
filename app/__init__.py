"""session-backend: a REST service that stores Strands agent sessions in PostgreSQL."""

from __future__ import annotations

from typing import Any

from flask import Flask

from .config import Settings, load_settings

__version__ = "0.1.0"


def create_app(test_config: dict[str, Any] | None = None, *, serving: bool = True) -> Flask:
    """Build the Flask application.

    Args:
        test_config: settings that replace the environment's, for tests; ``DATABASE_URL`` is
            the only one they usually need.
        serving: check at start that requests will be authenticated (refused in production
            without keys). False for the command line, which is how the first key is created.

    Raises:
        config.ConfigurationError: when the environment holds an unusable value.
        RuntimeError: when serving in production without API keys.
    """
    from . import auth, blueprints, cors, db, errors, http, keys, logs, openapi

    settings: Settings = load_settings()
    app = Flask(__name__)
    app.config.from_mapping(
        SETTINGS=settings,
        DATABASE_URL=settings.database_url,
        MAX_CONTENT_LENGTH=settings.max_content_length,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    logs.configure_logging(settings.log_level)

    db.init_app(app)
    http.init_app(app)
    auth.init_app(app)
    cors.init_app(app)
    app.cli.add_command(keys.keys_command)
    errors.register_error_handlers(app)
    blueprints.register(app)
    openapi.init_app(app)
    if serving:
        auth.check_at_start(app)
    return app
