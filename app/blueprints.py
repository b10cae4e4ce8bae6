"""The blueprints of the API, in one place: ``create_app`` registers them, the OpenAPI document
describes them, and the tests walk the routes they add. A new resource module is listed here only."""

from __future__ import annotations

from flask import Blueprint, Flask

from . import (
    agents,
    exports,
    health,
    history_api,
    leases,
    messages,
    monitoring,
    multi_agents,
    sessions,
    snapshots,
    storage,
)

# The probes and the metrics first, then the resources under /api/, each a module with a blueprint `bp`.
API: tuple[Blueprint, ...] = (
    health.bp,
    monitoring.bp,
    sessions.bp,
    exports.bp,
    leases.bp,
    agents.bp,
    messages.bp,
    snapshots.bp,
    multi_agents.bp,
    history_api.bp,
    storage.bp,
)
API_NAMES = frozenset(blueprint.name for blueprint in API)


def register(app: Flask) -> None:
    """Register every blueprint of the API on ``app``."""
    for blueprint in API:
        app.register_blueprint(blueprint)
