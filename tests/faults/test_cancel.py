"""Issue 5, test 5: cancel a running run at about epoch 10: it stops, its history is kept."""

from __future__ import annotations

import pytest

from tests.faults.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_cancel_stops_a_running_run_and_keeps_its_history(stack: Stack) -> None:
    with stack.worker("worker"):
        run_id = stack.submit(epochs=3000)  # minutes if nobody stopped it
        stack.wait(run_id, until=lambda run: (run["progress"]["epoch"] or 0) >= 10)
        response = stack.http.post(f"/v1/runs/{run_id}/cancel")
        assert response.status_code == 202, response.text
        asked_at = response.json()["progress"]["epoch"]
        assert response.json()["cancel_requested"] is True
        run = stack.wait(run_id)
    assert run["status"] == "cancelled", run
    assert run["error"] is None and run["finished_at"] is not None
    epochs = stack.epochs(run_id)
    last = epochs[-1]
    assert epochs == list(range(last + 1))  # everything up to the stop is kept, in order
    assert stack.stored_epochs(run_id) == (last + 1, last + 1)
    assert asked_at <= last < 3000
    assert run["progress"]["epoch"] == last
    print(f"\ncancel asked at stored epoch {asked_at}; stopped at {last}; {last + 1} kept")
    # Cancelled again: the run is final now.
    assert stack.http.post(f"/v1/runs/{run_id}/cancel").status_code == 409
