"""How errors the database raises reach the client, for those no request of the test suite can cause at will."""

from __future__ import annotations

import pytest

from app import create_app, db
from app.config import load_settings
from helpers import error_summary


@pytest.mark.parametrize(
    ("message", "status"),
    [
        # Citus, when its cached connection to a worker that restarted fails, or a worker is out of reach.
        ("failure on connection marked as essential: 127.0.0.1:5433", 503),
        ("connection to the remote node postgres@127.0.0.1:5433 failed", 503),
        ("something nobody foresaw", 500),
    ],
)
def test_an_internal_error_of_an_unreachable_citus_worker_is_a_503(clean_db, message, status):
    app = create_app(load_settings({"DATABASE_URL": clean_db}), testing=True)

    def raise_internal_error() -> str:
        with db.get_db().cursor() as cur:
            cur.execute(f"DO $$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = 'internal_error'; END $$")
        return "unreachable"

    app.add_url_rule("/raise", view_func=raise_internal_error)
    response = app.test_client().get("/raise")

    assert response.status_code == status
    if status == 503:
        assert error_summary(response)[1] == "ServiceUnavailableError" and response.headers["Retry-After"] == "1"
    db.close_pool(app)
