"""client.sweeps and Sweep against the real app."""

from __future__ import annotations

import threading

import descent
import pytest

from tests.sdk.conftest import Server
from tests.sdk.run_writer import RunWriter

BASE = {
    "kind": "linear_regression",
    "dataset": "builtin:movies",
    "features": ["num_want_to_see"],
    "target": "nums_audience",
    "epochs": 10,
}
RATES = [1e-3, 1e-12, 2e-10]


def finish_all(sweep: descent.Sweep) -> None:
    """Play the workers: the first rate diverges, the others succeed with different losses."""
    for run in sweep.runs:
        worker = RunWriter(run.id)
        rate = run.hyperparameters["learning_rate"]
        worker.epochs(range(11 if rate != 1e-3 else 3))
        if rate == 1e-3:
            worker.finish("diverged", error={"code": "diverged", "message": "loss blew up"})
        else:
            worker.finish(result={"final_loss": 5.0 if rate == 2e-10 else 50.0})


def test_create_wait_best_run_and_plot(client: descent.Client, server: Server) -> None:
    sweep = client.sweeps.create(run=BASE, grid={"learning_rate": RATES}, name="lesson")
    assert isinstance(sweep, descent.Sweep) and sweep.status == "running" and not sweep.done
    assert sorted(r.hyperparameters["learning_rate"] for r in sweep.runs) == sorted(RATES)
    assert all(isinstance(r, descent.Run) and r.client is client for r in sweep.runs)
    assert sorted(server.enqueued) == sorted(r.id for r in sweep.runs)
    verdicts = {r.hyperparameters["learning_rate"]: r.analysis["lr_verdict"] for r in sweep.runs}
    assert verdicts[1e-3] == "diverges"

    timer = threading.Timer(0.2, finish_all, args=(sweep,))
    timer.start()
    assert sweep.wait(progress=True, poll_interval=0.05) is sweep
    timer.join()
    assert sweep.done and sweep.status == "succeeded"
    assert sweep.best_run is not None
    assert sweep.best_run.hyperparameters["learning_rate"] == 2e-10
    statuses = {r.hyperparameters["learning_rate"]: r.status for r in sweep.runs}
    assert statuses == {1e-3: "diverged", 1e-12: "succeeded", 2e-10: "succeeded"}
    assert client.sweeps.get(sweep.id).best_run_id == sweep.best_run_id
    plot = sweep.plot("loss", width=300, height=200)
    assert plot.content.startswith(b"\x89PNG") and plot.media_type == "image/png"
    assert sweep.plot("contour").content.startswith(b"\x89PNG")


def test_grid_over_several_parameters_accepts_a_dataset_id_key(client: descent.Client) -> None:
    base = {**BASE, "dataset_id": BASE["dataset"]}
    del base["dataset"]
    sweep = client.sweeps.create(run=base, grid={"learning_rate": [1e-12, 2e-10], "epochs": [5, 6]})
    assert len(sweep.runs) == 4
    pairs = {(r.hyperparameters["learning_rate"], r.hyperparameters["epochs"]) for r in sweep.runs}
    assert pairs == {(1e-12, 5), (1e-12, 6), (2e-10, 5), (2e-10, 6)}


def test_cancel_refresh_and_delete(client: descent.Client) -> None:
    sweep = client.sweeps.create(run=BASE, grid={"learning_rate": [1e-12, 2e-10]})
    assert sweep.cancel().status == "cancelled"
    assert {r.status for r in sweep.runs} == {"cancelled"}
    assert sweep.refresh().done
    with pytest.raises(descent.Conflict):
        sweep.cancel()
    sweep.delete()
    with pytest.raises(descent.NotFound):
        client.sweeps.get(sweep.id)
    assert client.runs.list() == []


def test_wait_timeout(client: descent.Client) -> None:
    sweep = client.sweeps.create(run=BASE, grid={"learning_rate": [1e-12]})
    with pytest.raises(descent.WaitTimeout):
        sweep.wait(progress=False, timeout=0.2, poll_interval=0.05)


def test_too_many_runs_is_rejected(client: descent.Client) -> None:
    with pytest.raises(descent.ValidationError):
        client.sweeps.create(run=BASE, grid={"epochs": list(range(1, 102))})
