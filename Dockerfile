# session-backend: gunicorn + Flask, stateless; PostgreSQL comes from DATABASE_URL.
#   docker build -t session-backend .
#   docker run -p 8001:8000 -e DATABASE_URL=postgresql://user:pass@host:5432/sessions session-backend
# Only python3 and pip/venv from PATH are assumed of the base image, so any Debian-like
# Python 3.10+ base works (CI builds it on a Debian stand-in for python:3.11-slim).
ARG BASE_IMAGE=python:3.11-slim

# ---- build: wheels for the project and its dependencies, installed into a venv ----
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Build tools live in the venv (removed at the end of this stage), so wheels build without
# downloading a fresh isolated build environment for every sdist.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade 'pip>=24.1' 'setuptools>=69' 'wheel>=0.43'
# Dependencies first, built from the packaging metadata with an empty stand-in package, so
# this slow layer is reused until setup.cfg changes rather than rebuilt on every code change.
# setup.cfg reads the version from app/version.py, so the stand-in keeps that one file, and lists app.ui,
# so the stand-in has it too.
COPY setup.py setup.cfg ./
COPY app/version.py ./app/
RUN mkdir -p sql app/ui && touch app/__init__.py app/ui/__init__.py \
 && /opt/venv/bin/pip wheel --no-build-isolation --wheel-dir /wheels . \
 && rm -rf /wheels/session_backend-* app sql build ./*.egg-info
# Then the project: its wheel carries sql/ as app/sql and the `session-backend` console script.
COPY README.md ./
COPY sql ./sql
COPY app ./app
RUN /opt/venv/bin/pip wheel --no-build-isolation --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-index --find-links /wheels session-backend \
 && /opt/venv/bin/pip uninstall --yes pip setuptools wheel

# ---- runtime: the venv, the gunicorn entry points and a non-root user; no compilers, no curl ----
FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    API_HOST=0.0.0.0 \
    API_PORT=8000 \
    ENVIRONMENT=production
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/session-backend
COPY gunicorn.conf.py wsgi.py ./
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python3", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('API_PORT', '8000'), timeout=4); sys.exit(0 if r.status == 200 else 1)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
