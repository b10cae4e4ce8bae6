"""A short soak on the Citus cluster: a worker is stopped and started again while clients append.

The 60 s version is ``make soak-citus`` (bench/citus_soak.py); this one runs the same code with 6 clients
for 12 s. Sessions on the stopped worker meet only 503 with Retry-After while it is down; sessions on
the other worker meet no error; no acknowledged write is lost or duplicated.
"""

from __future__ import annotations

import os

import pytest

from bench import citus_soak


@pytest.mark.skipif(not os.environ.get("CITUS_CLUSTER_DIR"), reason="needs the Citus cluster of `make test-citus`")
def test_a_worker_restart_costs_only_its_sessions_a_503_and_loses_no_acknowledged_write(
    database_url: str, keyless_server
) -> None:
    summary = citus_soak.run(clients=6, seconds=12)
    # The suite's gunicorn keeps its pooled connections to the coordinator, whose sessions cached
    # connections to the worker that just restarted: the first query of each to fan out to that worker
    # would meet the dead one (a 503 now). Later tests start from fresh connections.
    keyless_server.stop()
    keyless_server.start()

    assert summary["sessions_on_stopped_worker"] == 3, summary
    assert summary["acknowledged_while_down_elsewhere"] > 0, summary
    assert summary["stopped_worker_errors"].get("503", 0) > 0, summary
    assert citus_soak.failures(summary) == [], summary
