"""Service configuration, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

DEFAULT_MAX_CONTENT_LENGTH = 10 * 1024 * 1024

# SQLAlchemy-style driver suffixes the seed used; psycopg2 wants the plain scheme.
_SCHEME_ALIASES = {
    "postgres": "postgresql",
    "postgresql+asyncpg": "postgresql",
    "postgresql+psycopg2": "postgresql",
    "postgresql+psycopg": "postgresql",
}


class ConfigurationError(ValueError):
    """Raised when an environment variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    database_url: str | None
    db_pool_min: int = 4
    db_pool_max: int = 10
    log_level: str = "INFO"
    environment: str = "development"
    api_port: int = 8000
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    embedded_data_dir: Path = Path(".data/postgres")


def normalize_database_url(url: str) -> str:
    """Return ``url`` with any accepted scheme alias rewritten to ``postgresql://``.

    Raises:
        ConfigurationError: if the scheme is not a PostgreSQL one.
    """
    parts = urlsplit(url)
    scheme = _SCHEME_ALIASES.get(parts.scheme, parts.scheme)
    if scheme != "postgresql":
        raise ConfigurationError(f"DATABASE_URL must be a postgresql:// URL, not {parts.scheme}://")
    return urlunsplit((scheme, *parts[1:]))


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``environ`` (the process environment by default).

    Raises:
        ConfigurationError: on any malformed value, so a bad deployment fails at start.
    """
    env = os.environ if environ is None else environ
    raw_url = env.get("DATABASE_URL") or None
    pool_min = _int(env, "DB_POOL_MIN", 4, 0)
    pool_max = _int(env, "DB_POOL_MAX", 10, 1)
    if pool_max < pool_min:
        raise ConfigurationError("DB_POOL_MAX must not be smaller than DB_POOL_MIN")
    return Settings(
        database_url=normalize_database_url(raw_url) if raw_url else None,
        db_pool_min=pool_min,
        db_pool_max=pool_max,
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        environment=env.get("ENVIRONMENT", "development"),
        api_port=_int(env, "API_PORT", 8000, 1),
        max_content_length=_int(env, "MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH, 1),
        embedded_data_dir=Path(env.get("EMBEDDED_PGDATA", ".data/postgres")),
    )
