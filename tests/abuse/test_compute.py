"""Issue 13 items 3-5: predict amplification, runs with no budget, no time limit, late cancel.

Against the real API (auth on, PostgreSQL + Redis) and real Celery workers:
- hostile submissions (batch_size 1 × 1M epochs, an 8×4096 MLP, weights "full" for 10,000
  epochs, a sweep holding one such run) get a 422 that states the estimate and the limit;
- a cancel inside one long MLP epoch ends the run `cancelled` without finishing that epoch;
- a run past the soft time limit ends `failed` / `time_limit`, past the hard one (the pool
  child killed) too, each once, with the history it had;
- predict refuses too many rows or rows × parameters, and a big allowed predict on a [4096]
  model keeps the API's peak memory bounded; /healthz answers throughout.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.abuse.health import HealthWatch
from tests.faults.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# 30,000 rows × 24,579 parameters ([4096] on two features, three classes) is allowed here:
# the request, which added 1.9 GB to the API when every layer was kept in float64.
# (Fewer rows than the default 100,000: FastAPI parses a body on the event loop, and 100,000
# rows take ~0.7 s of it, which the /healthz budget would see.)
API_KNOBS = {"max_predict_rows": "40000", "max_predict_cells": "800000000"}
BLOBS = {"kind": "mlp_classifier", "dataset_id": "builtin:three-blobs",
         "features": ["x1", "x2"], "target": "label"}  # fmt: skip
PEAK_GROWTH_BUDGET = 600 * 1024 * 1024  # bytes; float64 and every layer at once took 1.9 GB


def mlp(**hyperparameters: Any) -> dict[str, Any]:
    """Return an MLP run request on the built-in three blobs (3000 rows, 3 classes)."""
    return {**BLOBS, "hyperparameters": {"snapshots": {"resolution": 10}, **hyperparameters}}


def refused(stack: Stack, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST `body`; assert a 422 and return its JSON."""
    response = stack.http.post(path, json=body)
    assert response.status_code == 422, (len(str(body)), response.text[:300])
    return dict(response.json())


def locs(error: dict[str, Any]) -> list[list[Any]]:
    """Return the `loc` of every item of a 422 body."""
    return [item["loc"] for item in error["detail"]]


def test_hostile_submissions_are_refused_with_the_estimate(abuse_stack: Stack) -> None:
    stack = abuse_stack
    with HealthWatch(stack.api.url) as watch:  # type: ignore[union-attr]
        # Item 4: mini-batches of one row, a million epochs (6000 rows here: 6e9 batches).
        months = refused(stack, "/v1/runs", stack.body(batch_size=1, epochs=1_000_000))
        # Item 4: an 8×4096 Adam MLP (117 million parameters).
        giant = refused(stack, "/v1/runs", mlp(
            hidden_layers=[4096] * 8, optimizer={"name": "adam"}, epochs=20))  # fmt: skip
        # Item 5: weights "full" (92,103 parameters, ~2 MB a row) for 10,000 epochs.
        full = refused(stack, "/v1/runs", mlp(
            hidden_layers=[300, 300], weights="full", epochs=10_000,
            snapshots={"every": 10_000, "resolution": 10}))  # fmt: skip
        # A sweep is checked run by run: one hostile combination refuses the sweep.
        sweep = refused(stack, "/v1/sweeps", {
            "run": stack.body(epochs=1_000_000), "grid": {"batch_size": [6000, 1]}})  # fmt: skip
    watch.assert_healthy()

    assert ["body", "hyperparameters", "batch_size"] in locs(months)
    assert ["body", "hyperparameters", "epochs"] in locs(months)
    message = months["detail"][0]["msg"]
    assert "multiply-adds" in message and "above the limit of 5e+12" in message, message

    assert ["body", "hyperparameters", "hidden_layers"] in locs(giant)
    assert "117,493,763 parameters" in giant["detail"][0]["msg"], giant  # the engine's count
    assert "above the limit" in giant["detail"][0]["msg"]

    assert ["body", "hyperparameters", "weights"] in locs(full)
    assert "stored history" in full["detail"][0]["msg"]
    assert "536,870,912 bytes" in full["detail"][0]["msg"]  # the default limit, 512 MiB

    assert "batch_size=1" in str(sweep) and "multiply-adds" in str(sweep), sweep
    # Nothing was stored for any of them.
    assert stack.http.get("/v1/runs").json()["items"] == []


def test_an_allowed_run_shows_its_estimate(abuse_stack: Stack) -> None:
    response = abuse_stack.http.post("/v1/runs", json=mlp(epochs=1))
    assert response.status_code == 202, response.text
    analysis = response.json()["analysis"]
    # Three blobs: 3000 rows × 1,883 parameters (the engine's count) × 1 epoch, and more.
    assert analysis["n_params"] == 2 * 40 + 40 + 40 * 40 + 40 + 40 * 3 + 3
    assert analysis["cost"] >= 3000 * analysis["n_params"]
    assert analysis["stored_bytes_estimate"] > 0
    abuse_stack.http.delete(f"/v1/runs/{response.json()['id']}")


@contextlib.contextmanager
def worker(stack: Stack, name: str, **knobs: str) -> Iterator[None]:
    """Run a worker for the block; show the logs if the block fails."""
    with stack.worker(name, **knobs):
        try:
            yield
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{stack.logs()}") from None


def blobs_dataset(stack: Stack, n_rows: int) -> str:
    """Upload three Gaussian blobs of `n_rows` rows in all; return the dataset id."""
    rng = np.random.default_rng(3)
    label = rng.integers(0, 3, n_rows)
    x1, x2 = rng.normal(label * 4.0, 1.0), rng.normal(label * -2.0, 1.0)
    columns = {"x1": x1.round(4).tolist(), "x2": x2.round(4).tolist(), "label": label.tolist()}
    response = stack.http.post("/v1/datasets", json={"name": "blobs", "columns": columns})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_cancel_lands_inside_a_long_epoch(abuse_stack: Stack) -> None:
    stack = abuse_stack
    # 18,000 batches of one row through 67,000 parameters: an epoch takes tens of seconds,
    # the run's estimate is far inside the budget.
    body = mlp(hidden_layers=[256, 256], batch_size=1, epochs=2, validation_split=0.1)
    body["dataset_id"] = blobs_dataset(stack, 20_000)
    with worker(stack, "cancel"):
        response = stack.http.post("/v1/runs", json=body)
        assert response.status_code == 202, response.text
        run_id = response.json()["id"]
        stack.wait(run_id, until=lambda run: run["progress"]["epoch"] == 0)
        with HealthWatch(stack.api.url) as watch:  # type: ignore[union-attr]
            asked = time.monotonic()
            assert stack.http.post(f"/v1/runs/{run_id}/cancel").status_code == 202
            run = stack.wait(run_id)
            took = time.monotonic() - asked
    watch.assert_healthy()
    assert run["status"] == "cancelled", run
    # Cancel between epochs would have finished epoch 1 first: only epoch 0 is stored.
    assert stack.epochs(run_id) == [0], run
    assert run["progress"]["epoch"] == 0
    print(f"\ncancel inside epoch 1 took {took:.1f} s")


def test_soft_time_limit_fails_the_run_and_keeps_its_history(abuse_stack: Stack) -> None:
    stack = abuse_stack
    with worker(stack, "soft", task_soft_time_limit_s="3", task_time_limit_s="120"):
        run_id = stack.submit(epochs=100_000)  # mini-batches of 6: minutes of work
        run = stack.wait(run_id)
    assert run["status"] == "failed", run
    assert run["error"]["code"] == "time_limit", run
    assert "3 s" in run["error"]["message"]
    epochs = stack.epochs(run_id)
    assert len(epochs) > 1 and epochs == list(range(len(epochs)))
    assert run["attempt"] == 1


def test_hard_time_limit_kills_the_child_and_fails_the_run_once(abuse_stack: Stack) -> None:
    stack = abuse_stack
    # No soft limit (0: none) before the hard one: the pool kills the training child outright.
    with worker(stack, "hard", task_soft_time_limit_s="0", task_time_limit_s="4"):
        run_id = stack.submit(epochs=100_000)
        run = stack.wait(run_id)
        # Still failed, and never retried, after a few lease recovery passes (0.5 s each).
        time.sleep(3)
        again = stack.run(run_id)
    assert run["status"] == "failed", run
    assert run["error"]["code"] == "time_limit", run
    assert (again["status"], again["attempt"]) == ("failed", 1), again
    epochs = stack.epochs(run_id)
    assert epochs == list(range(len(epochs))) and len(epochs) >= 1


def peak_rss(pid: int) -> int:
    """Return the process's peak resident memory (VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux: 5 > clear_refs), where allowed."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def test_predict_is_bounded_in_rows_cells_and_memory(abuse_stack: Stack) -> None:
    stack = abuse_stack
    with worker(stack, "predict"):
        response = stack.http.post("/v1/runs", json=mlp(hidden_layers=[4096], epochs=1))
        assert response.status_code == 202, response.text
        run = stack.wait(response.json()["id"])
    assert run["status"] == "succeeded", run
    assert run["analysis"]["n_params"] == 2 * 4096 + 4096 + 4096 * 3 + 3  # 24,579
    path = f"/v1/runs/{run['id']}/predict"
    pid = stack.api.proc.pid  # type: ignore[union-attr]

    with HealthWatch(stack.api.url) as watch:  # type: ignore[union-attr]
        rows = refused(stack, path, {"inputs": [[0, 0]] * 40_001})
        cells = refused(stack, path, {"inputs": [[0, 0]] * 35_000})
        reset_peak(pid)
        before = peak_rss(pid)
        inputs = [[float(i % 100), 50.0] for i in range(30_000)]
        big = stack.http.post(path, json={"inputs": inputs})
        growth = peak_rss(pid) - before
    watch.assert_healthy()

    assert locs(rows) == [["body", "inputs"]] and "at most 40000" in rows["detail"][0]["msg"]
    assert locs(cells) == [["body", "inputs"]]
    assert "860,265,000 is above the limit of 800,000,000" in cells["detail"][0]["msg"], cells
    assert big.status_code == 200, big.text
    body = big.json()
    assert len(body["predictions"]) == 30_000 and len(body["probabilities"][0]) == 3
    assert growth < PEAK_GROWTH_BUDGET, f"predict grew the API's peak RSS by {growth >> 20} MiB"
    print(f"\n30,000-row predict on [4096]: API peak RSS +{growth >> 20} MiB")
    assert stack.http.get("/healthz").status_code == 200
