"""gunicorn settings for `make run` and the container (minimal; see issue 4 for the full version)."""

import os

from app import embedded

bind = f"0.0.0.0:{os.environ.get('API_PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"


def on_starting(server):
    """Start the embedded PostgreSQL before workers fork, when DATABASE_URL is not set."""
    embedded.start_if_needed()


def on_exit(server):
    """Stop the embedded PostgreSQL with the master."""
    embedded.stop()
