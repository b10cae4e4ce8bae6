"""Health endpoints for people, load balancers and orchestrators."""

from __future__ import annotations

import json

import psycopg2
from flask import Blueprint, Response
from psycopg2.pool import PoolError

from .db import get_db
from .errors import RETRY_AFTER_SECONDS
from .migrations import SCHEMA_OUT_OF_DATE, schema_is_current
from .version import VERSION

bp = Blueprint("health", __name__, url_prefix="/health")

SERVICE_NAME = "session-backend"


def _answer(body: dict, status: int = 200) -> Response:
    response = Response(json.dumps(body), status, mimetype="application/json")
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def _schema_current() -> bool | None:
    """Whether the database has the schema this code needs; None when the database does not answer."""
    # Reporting the database's state is these endpoints' job, so a failure is an answer, not an error.
    try:
        return schema_is_current(get_db())
    except (psycopg2.Error, PoolError):
        return None


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
    return _answer({"status": "healthy", "service": SERVICE_NAME, "version": VERSION})


@bp.get("/db")
def database() -> Response:
    """Report whether the database answers, and whether it has the schema this release needs.

    200 when the database answers a query (`schema` says whether it is up to date, with a `reason`
    when it is not), 503 when it does not answer. Needs no API key.
    ---
    get:
      operationId: getDatabaseHealth
      tags: [health]
      responses:
        200: {description: "The database answers; `schema` says whether it is up to date",
              content: {application/json: {schema: HealthStatus}}}
        503: {description: The database is unreachable, content: {application/json: {schema: HealthStatus}}}
    """
    current = _schema_current()
    if current is None:
        return _answer({"status": "unhealthy", "database": "unreachable"}, 503)
    if current:
        return _answer({"status": "healthy", "database": "connected", "schema": "up to date"})
    return _answer(
        {"status": "healthy", "database": "connected", "schema": "out of date", "reason": SCHEMA_OUT_OF_DATE}
    )


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
    unreachable, or its schema is older than this release needs: run `session-backend init-db`), so a
    load balancer or Kubernetes sends it none. Needs no API key.
    ---
    get:
      operationId: getReadiness
      tags: [health]
      responses:
        200: {description: Ready, content: {application/json: {schema: HealthStatus}}}
        503: {description: "Not ready: the database is unreachable or its schema is out of date (see `reason`)",
              content: {application/json: {schema: HealthStatus}}}
    """
    current = _schema_current()
    if current is None:
        return _answer({"status": "not ready", "database": "unreachable", "reason": "database unreachable"}, 503)
    if not current:
        return _answer({"status": "not ready", "database": "connected", "reason": SCHEMA_OUT_OF_DATE}, 503)
    return _answer({"status": "ready"})
