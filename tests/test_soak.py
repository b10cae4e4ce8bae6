"""A short soak: clients append through the client while a worker is killed and PostgreSQL restarts.

The full 60 s version is ``make soak`` (bench/soak.py); this one runs the same code with 4 clients for
8 s. It asserts correctness only: every acknowledged write is stored exactly once and intact, the
only errors seen are the ones the faults cause, and the client's retries absorb all of them.
"""

from __future__ import annotations

from bench import soak
from helpers import PROJECT_ROOT


def test_no_acknowledged_write_is_lost_or_duplicated_through_a_worker_kill_and_a_database_restart():
    summary = soak.run(clients=4, seconds=8, data_dir=PROJECT_ROOT / ".data" / "soak-test-postgres", workers=2)

    assert summary["acknowledged"] > 0
    assert summary["lost"] == 0, summary
    assert summary["duplicates"] == 0, summary
    assert summary["corrupt"] == 0, summary
    assert summary["unexpected_error_kinds"] == [], summary
    assert summary["http_errors_outside_fault_windows"] == 0, summary
    assert summary["failures_after_retries"] == {}, summary
    assert summary["recovery_seconds"] is not None, "a writer never succeeded after the database came back"
