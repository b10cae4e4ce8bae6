"""Health endpoints for people, load balancers and orchestrators."""

from __future__ import annotations

import json

import psycopg2
from flask import Blueprint, Response
from psycopg2.pool import PoolError

from .db import get_db, queries
from .errors import RETRY_AFTER_SECONDS

bp = Blueprint("health", __name__, url_prefix="/health")

SERVICE_NAME = "session-backend"


def _answer(body: dict, status: int = 200) -> Response:
    response = Response(json.dumps(body), status, mimetype="application/json")
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def _database_reachable() -> bool:
    # Reporting the database's state is this endpoint's job, so a failure is an answer, not an error.
    try:
        return queries.ping(get_db()) == 1
    except (psycopg2.Error, PoolError):
        return False


@bp.get("")
def health() -> Response:
    """Report that the service process is up.
    ---
    get:
      tags: [health]
      responses:
        200: {description: The service is running}
    """
    from . import __version__

    return _answer({"status": "healthy", "service": SERVICE_NAME, "version": __version__})


@bp.get("/db")
def database() -> Response:
    """Report whether the database answers a query.
    ---
    get:
      tags: [health]
      responses:
        200: {description: The database answers}
        503: {description: The database is unreachable}
    """
    if _database_reachable():
        return _answer({"status": "healthy", "database": "connected"})
    return _answer({"status": "unhealthy", "database": "unreachable"}, 503)


@bp.get("/live")
def live() -> Response:
    """Liveness: the process serves requests (never touches the database).
    ---
    get:
      tags: [health]
      responses:
        200: {description: Alive}
    """
    return _answer({"status": "alive"})


@bp.get("/ready")
def ready() -> Response:
    """Readiness: the service can reach its database and take traffic.
    ---
    get:
      tags: [health]
      responses:
        200: {description: Ready}
        503: {description: Not ready}
    """
    if _database_reachable():
        return _answer({"status": "ready"})
    return _answer({"status": "not ready", "database": "unreachable"}, 503)
