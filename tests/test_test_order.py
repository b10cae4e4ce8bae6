"""The suite's own isolation: a test that starts the service must leave nothing behind for the next one.

The service seeds API_KEYS in each worker as it loads; when the harness returned after the first
worker answered, a later worker seeded its key after the next test had emptied the tables, and that
test, expecting a service without keys, got 401. The other way round, an in-process test empties
the tables, key included, under the service the client tests share. Only the file order of a full
run hid both.
"""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest

from helpers import PROJECT_ROOT, execute

ORDER_DATABASE = "session_backend_order_test"


CLIENT_TEST = "tests/client/test_client_repository.py::test_session_create_read_and_duplicate"
API_TEST = "tests/test_sessions.py::test_session_type_defaults_to_agent[flask]"  # the in-process run of it
OTHER_CLIENT_TEST = "tests/client/test_client_repository.py::test_read_missing_session_is_none"


@pytest.mark.parametrize(
    "order",
    [(CLIENT_TEST, API_TEST), (CLIENT_TEST, API_TEST, OTHER_CLIENT_TEST)],
    ids=["client-then-api", "client-api-client"],
)
def test_client_tests_and_unauthenticated_api_tests_pass_in_any_order(order, database_url: str, tmp_path) -> None:
    parts = urlsplit(database_url)
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    execute(maintenance, f"DROP DATABASE IF EXISTS {ORDER_DATABASE} WITH (FORCE)")
    execute(maintenance, f"CREATE DATABASE {ORDER_DATABASE}")
    try:
        env = {**os.environ, "TEST_DATABASE_URL": urlunsplit(parts._replace(path=f"/{ORDER_DATABASE}"))}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--basetemp={tmp_path / 'run'}", *order],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        execute(maintenance, f"DROP DATABASE IF EXISTS {ORDER_DATABASE} WITH (FORCE)")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"{len(order)} passed" in result.stdout
