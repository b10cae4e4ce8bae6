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
    """Report that the service is up.

    200 with the service's name and version while the process serves requests. Needs no API key.
    ---
    get:
      operationId: getHealth
      tags: [health]
      responses:
        200: {description: The service is running, content: {application/json: {schema: HealthStatus}}}
    """
    from . import __version__

    return _answer({"status": "healthy", "service": SERVICE_NAME, "version": __version__})


@bp.get("/db")
def database() -> Response:
    """Report whether the database answers.

    200 when the database answers a query, 503 when it does not. Needs no API key.
    ---
    get:
      operationId: getDatabaseHealth
      tags: [health]
      responses:
        200: {description: The database answers, content: {application/json: {schema: HealthStatus}}}
        503: {description: The database is unreachable, content: {application/json: {schema: HealthStatus}}}
    """
    if _database_reachable():
        return _answer({"status": "healthy", "database": "connected"})
    return _answer({"status": "unhealthy", "database": "unreachable"}, 503)


@bp.get("/live")
def live() -> Response:
    """Liveness probe.

    200 while the process serves requests. It never touches the database, so an orchestrator does not
    restart the service over a database outage. Needs no API key.
    ---
    get:
      operationId: getLiveness
      tags: [health]
      responses:
        200: {description: Alive, content: {application/json: {schema: HealthStatus}}}
    """
    return _answer({"status": "alive"})


@bp.get("/ready")
def ready() -> Response:
    """Readiness probe.

    200 when the service can take traffic; 503, with the reason, when it cannot (its database is
    unreachable or not ready), so a load balancer or Kubernetes sends it none. Needs no API key.
    ---
    get:
      operationId: getReadiness
      tags: [health]
      responses:
        200: {description: Ready, content: {application/json: {schema: HealthStatus}}}
        503: {description: Not ready, content: {application/json: {schema: HealthStatus}}}
    """
    if _database_reachable():
        return _answer({"status": "ready"})
    return _answer({"status": "not ready", "database": "unreachable"}, 503)
