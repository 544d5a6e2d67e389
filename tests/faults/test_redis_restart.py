"""Issue 5, test 3: restart Redis (no persistence) while runs are queued and running.

The restart drops every message: the queued runs' messages and the running run's unacked
one. Nothing is lost anyway: the running run keeps its lease (the database), the worker
reconnects, and lease recovery re-sends the queued runs. A run submitted while Redis is down
is accepted (committed; its enqueue fails) and runs too.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.servers import PrivateRedis
from tests.faults.stack import Stack, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
OUTAGE_S = 4.0


def test_a_redis_restart_loses_no_queued_or_running_run(
    stack: Stack, private_redis: PrivateRedis
) -> None:
    with stack.worker("worker", requeue_after_s="2"):
        running = stack.submit()
        queued = [stack.submit(epochs=100) for _ in range(2)]
        stack.wait(running, until=lambda run: (run["progress"]["epoch"] or 0) >= 20)
        before = {run_id: stack.run(run_id)["status"] for run_id in (running, *queued)}
        assert before == {running: "running", queued[0]: "queued", queued[1]: "queued"}

        private_redis.kill()
        down_at = time.monotonic()
        ready = stack.http.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["broker"] == "down" and ready.json()["database"] == "ok"
        started = time.monotonic()
        during = stack.submit(epochs=100)  # committed; lease recovery will send it
        print(f"\nsubmit with Redis down answered 202 in {time.monotonic() - started:.2f}s")
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        private_redis.start()  # empty: every message it held is gone
        wait_until(lambda: stack.http.get("/readyz").status_code == 200, "readyz ok", 60)

        runs = [running, *queued, during]
        for run_id in runs:
            stack.wait(run_id)
    for run_id in runs:
        stack.assert_complete(run_id, epochs=300 if run_id == running else 100)
    # No run was restarted: the running one kept its lease through the broker outage.
    assert [stack.run(run_id)["attempt"] for run_id in runs] == [1, 1, 1, 1]
