"""WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

from app import create_app, startup

# Under gunicorn.conf.py the master has run the start-up checks before forking this worker.
app = create_app(serving=not startup.checked_by_master)
