"""session-backend: a REST service that stores Strands agent sessions in PostgreSQL."""

from __future__ import annotations

from functools import partial

from flask import Flask

from .config import Settings, load_settings


def create_app(settings: Settings | None = None, *, serving: bool = True, testing: bool = False) -> Flask:
    """Build the Flask application.

    Args:
        settings: everything the app reads, e.g. ``load_settings({"DATABASE_URL": url})`` in a
            test; the process environment's when None. Without a database URL in them, the
            embedded PostgreSQL is started when the database is first needed.
        serving: check at start that requests will be authenticated (refused in production
            without keys). False for the command line, which is how the first key is created.
        testing: Flask's TESTING mode, for the tests' own apps.

    Raises:
        config.ConfigurationError: when the environment holds an unusable value.
        RuntimeError: when serving in production without API keys.
    """
    # Imported here, not at the top, so that `import app.config` (gunicorn.conf.py) stays light.
    from . import (
        auth,
        blueprints,
        cors,
        db,
        embedded,
        errors,
        history_cli,
        http,
        keys,
        logs,
        metrics,
        migrations,
        openapi,
        retention,
        ui,
    )

    settings = load_settings() if settings is None else settings
    app = Flask(__name__)
    app.extensions["settings"] = settings
    # Flask enforces the body limit from its own config key; Settings is where its value comes from.
    app.config.from_mapping(MAX_CONTENT_LENGTH=settings.max_content_length, TESTING=testing)
    logs.configure_logging(settings.log_level)

    metrics.init_app(app)  # first: its timer starts before, and stops after, every other request hook
    db.init_app(app, db.DatabaseURL(settings.database_url, partial(embedded.start, settings.embedded_data_dir)))
    http.init_app(app)
    auth.init_app(app)
    cors.init_app(app)
    app.cli.add_command(migrations.init_db_command)
    app.cli.add_command(keys.keys_command)
    app.cli.add_command(history_cli.history_command)
    app.cli.add_command(retention.retention_command)
    app.cli.add_command(retention.purge_command)
    errors.register_error_handlers(app)
    blueprints.register(app)
    ui.init_app(app)
    openapi.init_app(app)
    if serving:
        auth.check_at_start(app)
    return app
