"""Creating API keys the way an operator does (the `keys create` command) and sending them."""

from __future__ import annotations

from flask.testing import FlaskCliRunner

from app.auth import fingerprint


def create_key(runner: FlaskCliRunner, namespace: str) -> tuple[str, str]:
    """Create a key for ``namespace`` with ``keys create``; return ``(key_id, key)``."""
    result = runner.invoke(args=["keys", "create", "--namespace", namespace])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    return fingerprint(key)[0], key


def bearer(key: str) -> dict[str, str]:
    """The headers that send ``key``."""
    return {"Authorization": f"Bearer {key}"}
