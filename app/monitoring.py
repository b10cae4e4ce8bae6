"""GET /metrics for Prometheus, and who may read it.

Metrics describe every namespace at once, so no API key opens them. With METRICS_TOKEN set they
need ``Authorization: Bearer <METRICS_TOKEN>``; without it they are served only while the API itself
takes requests without a key (AUTH_DISABLED=true, or no API key created yet outside production),
and refused with 403 once keys exist, saying to set METRICS_TOKEN.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request
from psycopg2 import errors as pg_errors

from . import auth, metrics
from .config import Settings, settings_of
from .db import get_db, queries
from .errors import APIError

bp = Blueprint("monitoring", __name__)


class MetricsForbiddenError(APIError):
    """The API requires keys and no METRICS_TOKEN is configured, so nothing can open /metrics (403)."""

    status_code, error = 403, "ForbiddenError"


_SET_A_TOKEN = "the API requires keys: set METRICS_TOKEN to serve /metrics (API keys do not open it)"


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _check_access(settings: Settings) -> None:
    """Raise unless this request may read the metrics (see the module's docstring)."""
    if settings.metrics_token is not None:
        presented = _bearer_token()
        # compare_digest: how long the comparison takes tells nothing about the token.
        if presented is None or not hmac.compare_digest(presented.encode(), settings.metrics_token.encode()):
            metrics.AUTH_FAILURES.labels(endpoint="metrics").inc()
            raise auth.AuthenticationError("missing or invalid metrics token")
        return
    if settings.auth_disabled:
        return
    # Configured keys exist even before a request has seeded them; production never runs keyless.
    if settings.api_keys or settings.production:
        metrics.AUTH_FAILURES.labels(endpoint="metrics").inc()
        raise MetricsForbiddenError(_SET_A_TOKEN)
    try:
        # The check an API request without a key gets: it passes until the first key is created.
        queries.caller_namespace(get_db(), **auth.caller_for(None))
    except pg_errors.InvalidAuthorizationSpecification:
        metrics.AUTH_FAILURES.labels(endpoint="metrics").inc()
        raise MetricsForbiddenError(_SET_A_TOKEN) from None


@bp.get(metrics.SCRAPE_PATH)
def scrape() -> Response:
    """Read the service's metrics in Prometheus' text format.

    Requests by route template and status, their latency, the database pool (connections in use, the
    maximum, waits and timeouts), database errors, refused credentials and bytes written to the byte
    store, summed over the server's worker processes. Needs `Authorization: Bearer <METRICS_TOKEN>` when
    METRICS_TOKEN is set; without it, served only while the API takes requests without a key (403 once
    keys exist). API keys never open it. Scrapes are not counted among the requests.
    ---
    get:
      operationId: getMetrics
      tags: [monitoring]
      responses:
        200:
          description: The metrics, in Prometheus' text exposition format
          content: {text/plain: {schema: {type: string}}}
        401: {$ref: '#/components/responses/Unauthorized'}
        403: {$ref: '#/components/responses/Forbidden'}
        503: {$ref: '#/components/responses/ServiceUnavailable'}
    """
    settings = settings_of(current_app)
    _check_access(settings)
    body = metrics.exposition(settings.metrics_multiprocess_dir)
    return Response(body, headers={"Content-Type": metrics.CONTENT_TYPE})
