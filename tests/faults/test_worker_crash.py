"""Issue 5, test 1: SIGKILL the whole worker at about epoch 50 of 300; the next worker finishes."""

from __future__ import annotations

import numpy as np
import pytest

from descent_server.ml.regression import train_regression
from descent_server.services.kinds.linear_regression import config_of
from tests.faults.stack import Stack, kill_group, regression_data, wait_until
from tests.ops.procs import alive, descendants

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture(params=["postgres", "embedded"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    """PostgreSQL + Redis, or the embedded mode (SQLite + file broker)."""
    return request.getfixturevalue("stack" if request.param == "postgres" else "embedded_stack")


def test_a_sigkilled_worker_s_run_resumes_on_the_next_worker(any_stack: Stack) -> None:
    stack = any_stack
    first = stack.start_worker("first")
    run_id = stack.submit()
    stack.wait(run_id, until=lambda run: (run["progress"]["epoch"] or 0) >= 50)
    pids = {first.pid} | descendants(first.pid)
    assert len(pids) >= 2, "expected the worker's main process and its pool child"
    kill_group(first.pid)  # main process and pool child at once: no warm shutdown, no ack
    wait_until(lambda: not any(alive(pid) for pid in pids), "the killed worker to be gone", 30)
    stack.workers.remove(first)
    first.proc.wait(timeout=10)

    orphan = stack.run(run_id)
    assert orphan["status"] == "running", orphan  # killed mid-run, lease still held
    killed_at = orphan["progress"]["epoch"]
    assert 50 <= killed_at < 300, orphan
    with stack.worker("second"):
        stack.wait(run_id)
    run = stack.assert_complete(run_id)  # 301 unique epochs, no duplicate row
    assert run["attempt"] == 2
    assert run["error"] is None
    print(f"\nkilled at epoch {killed_at}; attempt {run['attempt']}; 301 epochs, 0 duplicates")

    # The resume was exact: the same parameters as a run that was never interrupted
    # (mini-batches are drawn per (seed, epoch), resumed from the stored epoch's params).
    x, y = regression_data()
    config = config_of(run["hyperparameters"])
    expected = train_regression(np.asarray(x)[:, None], y, config)
    assert run["result"]["params"] == pytest.approx(expected.params, rel=1e-9)
