"""A seeded random sweep end to end over HTTP, with a real worker, on PostgreSQL + Redis and
on the embedded stack: the same seed draws the same runs, ASHA prunes some of them (their
shorter history kept, never the best at a rung), and the sweep reports the epochs it saved."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from tests.faults.stack import Stack, wait_until

pytestmark = pytest.mark.e2e

EPOCHS, RUNGS = 30, [3, 9, 27]
RUN = {
    "kind": "mlp_classifier", "dataset_id": "builtin:three-blobs", "features": ["x1", "x2"],
    "target": "label",
    "hyperparameters": {
        "hidden_layers": [8], "epochs": EPOCHS, "batch_size": 32, "validation_split": 0.2,
        "snapshots": {"every": 10, "resolution": 10},
    },
}  # fmt: skip
# Learning rates over four decades spread the losses widely, so ASHA has clear losers.
SPACE = {"optimizer.learning_rate": {"log_uniform": [1e-4, 1.0]}, "optimizer.name": ["sgd"]}
EARLY = {"method": "asha", "metric": "val_loss", "min_epochs": 3, "reduction_factor": 3}


def _sweep(stack: Stack, **extra: Any) -> dict[str, Any]:
    body = {"run": RUN, "strategy": "random", "axes": SPACE, "n_runs": 8, "seed": 2024, **extra}
    r = stack.http.post("/v1/sweeps", json=body)
    assert r.status_code == 202, r.text
    return dict(r.json())


def _finished(stack: Stack, sweep_id: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        sweep = stack.http.get(f"/v1/sweeps/{sweep_id}").json()
        return sweep if sweep["status"] != "running" else None

    try:
        return dict(wait_until(check, f"sweep {sweep_id}", timeout_s=600))
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None


def _val_loss(stack: Stack, run_id: str) -> dict[int, float | None]:
    rows = stack.http.get(f"/v1/runs/{run_id}/history").json()["epochs"]
    return {row["epoch"]: row["val_loss"] for row in rows}


@pytest.mark.parametrize("which", ["stack", "embedded_stack"])
def test_a_seeded_random_sweep_with_asha(which: str, request: pytest.FixtureRequest) -> None:
    stack: Stack = request.getfixturevalue(which)
    with stack.worker(f"sweep-{which}"):  # concurrency 1: runs train one by one
        pruned_sweep = _finished(stack, _sweep(stack, early_stop=EARLY)["id"])
        full_sweep = _finished(stack, _sweep(stack)["id"])
    draws = [run["swept"] for run in pruned_sweep["runs"]]
    assert draws == [run["swept"] for run in full_sweep["runs"]]  # the same seed, the same runs
    assert len({d["optimizer.learning_rate"] for d in draws}) == 8

    runs = pruned_sweep["runs"]
    histories = {run["id"]: _val_loss(stack, run["id"]) for run in runs}
    pruned = [run for run in runs if run["status"] == "pruned"]
    assert pruned, [(run["status"], run["progress"]) for run in runs]
    for run in pruned:
        last = run["progress"]["epoch"]
        assert last in RUNGS and run["error"] is None
        assert sorted(histories[run["id"]]) == list(range(last + 1))  # its history is kept
        at_rung = [h[last] for h in histories.values() if h.get(last) is not None]
        assert histories[run["id"]][last] > min(at_rung)  # never the best at its rung
    assert pruned_sweep["best_run_id"] not in {run["id"] for run in pruned}
    saved = sum(EPOCHS - run["progress"]["epoch"] for run in pruned)
    assert pruned_sweep["epochs_saved"] == saved > 0
    assert pruned_sweep["counts"].get("pruned") == len(pruned)
    assert sum(pruned_sweep["counts"].values()) == 8

    trained = sum(run["progress"]["epoch"] for run in runs)
    baseline = sum(run["progress"]["epoch"] for run in full_sweep["runs"])
    assert baseline == 8 * EPOCHS and full_sweep["epochs_saved"] == 0
    assert trained == baseline - saved
    print(f"\n[{which}] epochs trained: {trained} with ASHA, {baseline} without "
          f"({saved} saved; {len(pruned)} of 8 runs pruned)")  # fmt: skip

    listed = stack.http.get("/v1/sweeps", params={"limit": 2}).json()["items"]
    assert [s["id"] for s in listed] == [full_sweep["id"], pruned_sweep["id"]]
    png = stack.http.get(f"/v1/sweeps/{pruned_sweep['id']}/plots/parallel.png",
                         params={"width": 640, "height": 400})  # fmt: skip
    assert png.status_code == 200, png.text
    assert Image.open(io.BytesIO(png.content)).size == (640, 400)
