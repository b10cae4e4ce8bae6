"""A stand-in for Flask's test client that sends every request over HTTP to a running server.

API tests written against Flask's test client (``client.get(path, json=..., headers=...)``,
``response.get_json()``) run unchanged through gunicorn with it: only the part of the interface
the tests use is offered, so a test that reaches for more fails loudly instead of passing quietly.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping, Sequence
from functools import partialmethod
from typing import Any
from urllib.parse import quote, urlencode

import requests

# What a path may hold as the test wrote it: reserved characters and existing escapes stay.
_PATH_SAFE = "/%:@!$&'()*+,;=~"
QueryString = Mapping[str, Any] | Sequence[tuple[str, Any]] | str | None


class HTTPResponse:
    """The part of Flask's test response the tests read, over a ``requests`` response."""

    def __init__(self, response: requests.Response) -> None:
        """Wrap ``response``."""
        self._response = response
        self.status_code = response.status_code
        self.headers = response.headers  # case-insensitive, like werkzeug's Headers

    @property
    def mimetype(self) -> str:
        """The media type of the body, without parameters (as Flask's ``mimetype``)."""
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    @property
    def data(self) -> bytes:
        """The body as bytes."""
        return self._response.content

    def get_data(self, as_text: bool = False) -> bytes | str:
        """The body, as bytes or decoded text."""
        return self._response.content.decode("utf-8") if as_text else self._response.content

    def get_json(self, silent: bool = False) -> Any:
        """The body parsed as JSON when the response says it is JSON, else None (as Flask's);
        ``silent`` answers None for a body that does not parse, too."""
        if self.mimetype != "application/json":
            return None
        try:
            return jsonlib.loads(self._response.content)
        except ValueError:
            if silent:
                return None
            raise


class HTTPClient:
    """Sends the test client's calls to ``base_url``, byte for byte as the tests wrote the path.

    ``requests`` would drop dot segments (``/s/agents/..``) and decode escapes of unreserved
    characters (``%2E``) before sending; the tests send those on purpose, so the prepared URL is
    replaced with the path exactly as given.
    """

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        """Create a client with its own connection pool."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()
        self._http.trust_env = False  # only 127.0.0.1: no proxy, netrc or CA variables apply

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> HTTPClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(
        self,
        path: str,
        method: str = "GET",
        *,
        json: Any = None,
        data: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
        query_string: QueryString = None,
        follow_redirects: bool = False,
        **unsupported: Any,
    ) -> HTTPResponse:
        """Send one request and return its response; refuses test-client options HTTP cannot carry."""
        if unsupported:
            raise TypeError(f"not available over HTTP: {sorted(unsupported)}; mark the test in_process")
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        body = data.encode("utf-8") if isinstance(data, str) else data
        prepared = self._http.prepare_request(
            requests.Request(method, self.base_url + "/", json=json, data=body, headers=all_headers)
        )
        prepared.url = self.base_url + self._target(path, query_string)
        return HTTPResponse(self._http.send(prepared, timeout=self.timeout, allow_redirects=follow_redirects))

    @staticmethod
    def _target(path: str, query_string: QueryString) -> str:
        """The request target: the path as given (only characters HTTP cannot carry escaped), and the query."""
        path, _, query = path.partition("?")
        target = quote(path, safe=_PATH_SAFE)
        if query_string:
            extra = query_string if isinstance(query_string, str) else urlencode(query_string, doseq=True)
            query = f"{query}&{extra}" if query else extra
        return f"{target}?{quote(query, safe='=&%+')}" if query else target

    # Flask's test client names each method: client.get(path, ...), client.post(path, ...), ...
    get = partialmethod(open, method="GET")
    post = partialmethod(open, method="POST")
    put = partialmethod(open, method="PUT")
    patch = partialmethod(open, method="PATCH")
    delete = partialmethod(open, method="DELETE")
    options = partialmethod(open, method="OPTIONS")
    head = partialmethod(open, method="HEAD")
