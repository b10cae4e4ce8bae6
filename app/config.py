"""Service configuration, read once from the environment into one :class:`Settings`.

``create_app`` keeps the app's Settings in its extensions; code reads them with :func:`settings_of`,
never from ``app.config`` or ``os.environ``.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from flask import Flask

# A Strands snapshot is one body: 1,000 messages with four images at Bedrock's largest (3.75 MB, sent as
# base64) weigh about 20 MiB, with four 1 MB images about 6 MiB (README, Configuration).
DEFAULT_MAX_CONTENT_LENGTH = 32 * 1024 * 1024
DEFAULT_EMBEDDED_DATA_DIR = Path(".data/postgres")
NAMESPACE_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Keys from API_KEYS are chosen by people; refuse ones short enough to guess.
MIN_KEY_LENGTH = 16
# The levels both Python's logging and gunicorn's --log-level accept.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The viewer's cookie is signed with UI_SECRET_KEY: a shorter one could be guessed.
MIN_UI_SECRET_KEY_LENGTH = 32
# How long an acquire may wait for a busy lease, at most, whatever it asks: the wait holds a server thread.
DEFAULT_LEASE_WAIT_MAX_SECONDS = 20

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
    """Everything the service reads from its environment (gunicorn.conf.py reads the server's own)."""

    database_url: str | None
    db_pool_min: int = 4
    db_pool_max: int = 10
    log_level: str = "INFO"
    environment: str = "development"
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    embedded_data_dir: Path = DEFAULT_EMBEDDED_DATA_DIR
    auth_disabled: bool = False
    api_keys: tuple[tuple[str, str], ...] = ()  # (namespace, key) pairs to seed at start
    cors_origins: frozenset[str] = frozenset()
    lease_wait_max_seconds: int = DEFAULT_LEASE_WAIT_MAX_SECONDS
    # Signs the viewer's cookie (/ui/). Unset, a random one per process: gunicorn.conf.py sets one in the
    # master for all its workers, and sign-ins then last until the server restarts.
    ui_secret_key: str = field(default="", repr=False, compare=False)
    # What GET /metrics requires as a bearer token, when set (kept out of repr, like the UI secret).
    metrics_token: str | None = field(default=None, repr=False)
    # Where prometheus_client's multiprocess mode keeps each worker's values (gunicorn.conf.py sets it).
    metrics_multiprocess_dir: str | None = None

    @property
    def production(self) -> bool:
        """Whether this is a production deployment, which must not run without authentication."""
        return self.environment.lower() == "production"


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


def env_int(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    """Read integer setting ``name`` (``default`` when unset or empty).

    Raises:
        ConfigurationError: when it is not an integer or is below ``minimum``.
    """
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


def _bool(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _log_level(environ: Mapping[str, str]) -> str:
    level = (environ.get("LOG_LEVEL") or "INFO").strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigurationError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return level


def parse_api_keys(text: str, source: str) -> tuple[tuple[str, str], ...]:
    """Parse ``namespace:key`` pairs separated by commas, whitespace or newlines.

    Raises:
        ConfigurationError: naming the source and the position of a malformed pair, never the key.
    """
    pairs = []
    for position, item in enumerate(re.split(r"[\s,]+", text.strip()), start=1):
        if not item or item.startswith("#"):
            continue
        namespace, _, key = item.partition(":")
        if not NAMESPACE_PATTERN.match(namespace) or len(key) < MIN_KEY_LENGTH:
            raise ConfigurationError(
                f"{source}: entry {position} must be namespace:key, with a namespace of letters, digits, "
                f"'.', '_' or '-' and a key of at least {MIN_KEY_LENGTH} characters"
            )
        pairs.append((namespace, key))
    return tuple(pairs)


def _api_keys(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    keys = parse_api_keys(environ.get("API_KEYS", ""), "API_KEYS")
    path = environ.get("API_KEYS_FILE")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"API_KEYS_FILE cannot be read: {exc.strerror}") from None
        keys += parse_api_keys(text, "API_KEYS_FILE")
    return keys


def _ui_secret_key(environ: Mapping[str, str]) -> str:
    key = environ.get("UI_SECRET_KEY") or ""
    if not key:
        return secrets.token_urlsafe(32)
    if len(key) < MIN_UI_SECRET_KEY_LENGTH:
        raise ConfigurationError(f"UI_SECRET_KEY must be at least {MIN_UI_SECRET_KEY_LENGTH} characters")
    return key


def _metrics_token(environ: Mapping[str, str]) -> str | None:
    token = environ.get("METRICS_TOKEN") or None
    path = environ.get("METRICS_TOKEN_FILE")
    if path:
        if token is not None:
            raise ConfigurationError("set METRICS_TOKEN or METRICS_TOKEN_FILE, not both")
        try:
            token = Path(path).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ConfigurationError(f"METRICS_TOKEN_FILE cannot be read: {exc.strerror}") from None
    # A bearer token is one word; a short one could be guessed. The message never repeats the token.
    if token is not None and (len(token) < MIN_KEY_LENGTH or re.search(r"\s", token)):
        raise ConfigurationError(f"the metrics token must be at least {MIN_KEY_LENGTH} characters, without spaces")
    return token


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``environ`` (the process environment by default).

    Raises:
        ConfigurationError: on any malformed value, so a bad deployment fails at start.
    """
    env = os.environ if environ is None else environ
    raw_url = env.get("DATABASE_URL") or None
    pool_min = env_int(env, "DB_POOL_MIN", 4, 0)
    pool_max = env_int(env, "DB_POOL_MAX", 10, 1)
    if pool_max < pool_min:
        raise ConfigurationError("DB_POOL_MAX must not be smaller than DB_POOL_MIN")
    return Settings(
        database_url=normalize_database_url(raw_url) if raw_url else None,
        db_pool_min=pool_min,
        db_pool_max=pool_max,
        log_level=_log_level(env),
        environment=env.get("ENVIRONMENT", "development"),
        max_content_length=env_int(env, "MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH, 1),
        embedded_data_dir=Path(env.get("EMBEDDED_PGDATA") or DEFAULT_EMBEDDED_DATA_DIR),
        auth_disabled=_bool(env, "AUTH_DISABLED"),
        api_keys=_api_keys(env),
        cors_origins=frozenset(o.rstrip("/") for o in re.split(r"[\s,]+", env.get("CORS_ORIGINS", "")) if o),
        lease_wait_max_seconds=env_int(env, "LEASE_WAIT_MAX_SECONDS", DEFAULT_LEASE_WAIT_MAX_SECONDS, 0),
        ui_secret_key=_ui_secret_key(env),
        metrics_token=_metrics_token(env),
        metrics_multiprocess_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
    )


def settings_of(app: Flask) -> Settings:
    """The :class:`Settings` ``app`` was created with (``create_app`` keeps them in its extensions)."""
    settings: Settings = app.extensions["settings"]
    return settings
