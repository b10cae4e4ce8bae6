"""A psycopg2 connection pool fit for a threaded web worker."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Hashable
from typing import Any

from psycopg2.extensions import connection
from psycopg2.pool import PoolError, ThreadedConnectionPool

from . import metrics

# How long a request waits for a pooled connection before answering 503.
CHECKOUT_TIMEOUT_SECONDS = 10


def _server_hung_up(conn: connection) -> bool:
    """Whether an idle connection was closed by the server (it has something to read, or is closed).

    An idle autocommit connection receives nothing unless the server is going away, e.g. the
    "terminating connection" notice PostgreSQL sends when it shuts down.
    """
    if conn.closed:
        return True
    readable, _, _ = select.select([conn], [], [], 0)
    return bool(readable)


class ConnectionPool(ThreadedConnectionPool):
    """A thread-safe pool whose ``getconn`` waits for a free connection instead of failing at once,
    and that can drop its idle connections when the server has gone away."""

    # Set by psycopg2's pool, which its type stubs do not declare: the idle connections and their lock.
    _pool: list[connection]
    _lock: threading.Lock

    def __init__(self, minconn: int, maxconn: int, *args: Any, **kwargs: Any) -> None:
        self._available = threading.BoundedSemaphore(maxconn)
        super().__init__(minconn, maxconn, *args, **kwargs)
        self.pid = os.getpid()  # the process that made it: a forked child must make its own
        self._maxconn = maxconn
        metrics.POOL_MAX.inc(maxconn)

    def getconn(self, key: Hashable | None = None) -> connection:
        """Take a live connection, waiting up to CHECKOUT_TIMEOUT_SECONDS for one to be returned.

        A connection the server has hung up on (it restarted) is replaced, with its idle siblings,
        before any request uses it.
        """
        started = time.perf_counter()
        if not self._available.acquire(blocking=False):
            metrics.POOL_WAITS.inc()
            if not self._available.acquire(timeout=CHECKOUT_TIMEOUT_SECONDS):
                metrics.POOL_TIMEOUTS.inc()
                raise PoolError("no database connection became free in time")
        try:
            conn = super().getconn(key)
            if _server_hung_up(conn):
                super().putconn(conn, close=True)
                self.discard_idle()
                conn = super().getconn(key)
        except BaseException:
            self._available.release()
            raise
        metrics.POOL_CHECKOUT_SECONDS.observe(time.perf_counter() - started)
        metrics.POOL_IN_USE.inc()
        return conn

    def putconn(self, conn: connection | None = None, key: Hashable | None = None, close: bool = False) -> None:
        """Return a connection (closing it when ``close``) and wake one waiting request."""
        try:
            super().putconn(conn, key, close)
        finally:
            self._available.release()
            metrics.POOL_IN_USE.dec()

    def closeall(self) -> None:
        """Close every connection; the pool no longer counts towards the connections the service may hold."""
        try:
            super().closeall()
        finally:
            if self._maxconn:
                metrics.POOL_MAX.dec(self._maxconn)
                self._maxconn = 0

    def discard_idle(self) -> None:
        """Close every idle connection: after one fails, its siblings point at the same dead server."""
        with self._lock:
            idle, self._pool = self._pool, []
        for conn in idle:
            conn.close()
