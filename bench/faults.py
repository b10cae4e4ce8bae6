"""The soak's fault tools: an HTTP adapter that records every failed attempt (its PostgreSQL is harness.postgres)."""

from __future__ import annotations

import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter


class ErrorLog(HTTPAdapter):
    """An adapter that records every failed attempt (status >= 500, 409, or exception) with its time."""

    def __init__(self, errors: list[tuple[float, str]]) -> None:
        super().__init__()
        self.errors = errors

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]  # passes requests' keywords through
        try:
            response = super().send(request, **kwargs)
        except requests.ConnectionError:
            self.errors.append((time.monotonic(), "ConnectionError"))
            raise
        except requests.RequestException as exc:
            self.errors.append((time.monotonic(), type(exc).__name__))
            raise
        if response.status_code >= 500 or response.status_code == 409:
            self.errors.append((time.monotonic(), str(response.status_code)))
        return response
