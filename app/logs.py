"""JSON logging, one object per line, each stamped with the request id."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TextIO, cast

from flask import g, has_request_context

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    """Format records as single-line JSON objects."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context() and "request_id" in g:
            entry["request_id"] = g.request_id
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# The service logs to stdout, beside gunicorn's access log. The command line logs to stderr, so that
# a command's stdout is its result alone: KEY=$(session-backend keys create ...) captures just the key.
_stream_name = "stdout"


def log_to_stderr() -> None:
    """Send this process's log lines to stderr from now on (the command line calls this)."""
    global _stream_name
    _stream_name = "stderr"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` (or, see :func:`log_to_stderr`, ``sys.stderr``) is at the
    time (test runners swap them)."""

    @property
    def stream(self) -> TextIO:
        return cast(TextIO, getattr(sys, _stream_name))

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(level: str) -> None:
    """Send the root logger's records to stdout (stderr for the command line) as JSON at ``level``."""
    handler = _StdoutHandler()
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    # Replace our own handler from an earlier app, keep anyone else's (a test's log capture).
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _StdoutHandler)] + [handler]
    root.setLevel(level)
