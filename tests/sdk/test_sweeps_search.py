"""Random search, early stopping and the sweep table in the SDK (against the real app)."""

from __future__ import annotations

import descent
import pytest

from tests.sdk.run_writer import RunWriter

BLOBS = {
    "kind": "mlp_classifier",
    "dataset": "builtin:three-blobs",
    "features": ["x1", "x2"],
    "target": "label",
    "epochs": 9,
}
SPACE = {
    "optimizer.learning_rate": {"log_uniform": [1e-4, 1]},
    "optimizer.name": ["sgd", "adam"],
    "batch_size": {"int_uniform": [16, 64]},
}


def random_sweep(client: descent.Client, seed: int = 7) -> descent.Sweep:
    return client.sweeps.create(
        run=BLOBS, strategy="random", n_runs=4, seed=seed, axes=SPACE,
        early_stop={"method": "asha", "metric": "loss", "min_epochs": 3}, name=f"seed {seed}",
    )  # fmt: skip


def test_a_seeded_random_sweep_draws_the_same_runs_twice(client: descent.Client) -> None:
    first, again = random_sweep(client), random_sweep(client)
    assert first.strategy == "random" and first.seed == 7 and len(first.runs) == 4
    assert first.axes == SPACE and first.early_stop is not None
    assert first.early_stop["method"] == "asha"
    assert [r.swept for r in first.runs] == [r.swept for r in again.runs]
    for run in first.runs:
        assert set(run.swept) == set(SPACE) and run.sweep_id == first.id
        rate = run.swept["optimizer.learning_rate"]
        assert 1e-4 <= rate <= 1 and run.hyperparameters["optimizer"]["learning_rate"] == rate
        assert run.swept["optimizer.name"] in ("sgd", "adam")
        assert 16 <= run.swept["batch_size"] <= 64
    assert [r.swept for r in random_sweep(client, seed=8).runs] != [r.swept for r in first.runs]


def test_to_frame_counts_epochs_saved_and_parallel_plot(client: descent.Client) -> None:
    sweep = random_sweep(client)
    # Play the workers: two runs train all 9 epochs, one is pruned after 3, one diverges.
    ids = [r.id for r in sweep.runs]
    for run_id, (epochs, status) in zip(
        ids, [(10, "succeeded"), (10, "succeeded"), (4, "pruned"), (2, "diverged")], strict=True
    ):
        worker = RunWriter(run_id)
        worker.epochs(range(epochs), params={})
        worker.finish(status)
    sweep.refresh()
    assert sweep.done and sweep.counts == {"succeeded": 2, "pruned": 1, "diverged": 1}
    assert sweep.epochs_saved == 9 - 3  # the pruned run stopped at epoch 3 of 9
    frame = sweep.to_frame()
    assert list(frame.index) == ids
    assert list(frame.columns[:4]) == ["status", *SPACE]
    assert frame.loc[ids[2], "status"] == descent.Status.PRUNED
    assert list(frame["epochs_run"]) == [9, 9, 3, 1]
    assert frame.loc[ids[0], "loss"] == pytest.approx(10.0)
    assert frame.loc[ids[2], "optimizer.name"] == sweep.runs[2].swept["optimizer.name"]
    plot = sweep.plot("parallel", width=400, height=300)
    assert plot.media_type == "image/png" and plot.content.startswith(b"\x89PNG")


def test_a_grid_over_a_dotted_name_lands_in_the_table(client: descent.Client) -> None:
    sweep = client.sweeps.create(run=BLOBS, grid={"optimizer.learning_rate": [0.1, 0.01]})
    assert sweep.strategy == "grid" and sweep.epochs_saved == 0
    frame = sweep.to_frame()
    assert sorted(frame["optimizer.learning_rate"]) == [0.01, 0.1]
    assert set(frame["status"]) == {"queued"} and set(frame["epochs_run"]) == {0}


def test_list_sweeps_newest_first_and_by_status(client: descent.Client) -> None:
    older = client.sweeps.create(run=BLOBS, grid={"epochs": [3]}, name="older")
    newer = random_sweep(client)
    listed = client.sweeps.list()
    assert [s.id for s in listed] == [newer.id, older.id]
    assert all(isinstance(s, descent.Sweep) for s in listed)
    assert listed[0].name == "seed 7" and len(listed[0].runs) == 4
    assert [s.id for s in client.sweeps.list(limit=1)] == [newer.id]
    older.cancel()
    assert [s.id for s in client.sweeps.list(status="cancelled")] == [older.id]


def test_bad_search_spaces_are_refused(client: descent.Client) -> None:
    with pytest.raises(descent.ValidationError):
        client.sweeps.create(
            run=BLOBS,
            strategy="random",
            n_runs=2,
            axes={"optimizer.learning_rate": {"log_uniform": [0, 1]}},
        )
    with pytest.raises(descent.ValidationError):  # a distribution cannot be a grid's axis
        client.sweeps.create(run=BLOBS, axes={"optimizer.learning_rate": {"uniform": [0.1, 1]}})
