"""Across runs in the SDK: filters and sort, tables, tags and notes, clone, compare."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import descent
import httpx
import pytest

from tests.sdk.conftest import Server
from tests.sdk.run_writer import RunWriter

BLOBS = {
    "kind": "mlp_classifier",
    "dataset": "builtin:three-blobs",
    "features": ["x1", "x2"],
    "target": "label",
    "epochs": 5,
}
MOVIES = {
    "kind": "linear_regression",
    "dataset": "builtin:movies",
    "features": ["num_want_to_see"],
    "target": "nums_audience",
    "epochs": 10,
}


def train(run: descent.Run | descent.AsyncRun, epochs: int) -> None:
    """Store `epochs` MLP-like epochs (loss 100/(e+1): more epochs, lower loss) and finish."""
    worker = RunWriter(run.id)
    worker.epochs(range(epochs), params={}, val_loss=200.0 / epochs, accuracy=0.5)
    worker.finish()


def test_list_filters_by_tag_name_dataset_sweep_and_time(client: descent.Client) -> None:
    adam = client.runs.create(**BLOBS, name="adam baseline", optimizer={"name": "adam"})
    sgd = client.runs.create(**BLOBS, name="sgd baseline")
    line = client.runs.create(**MOVIES, name="the course's line")
    adam.update(tags=["baseline", "adam"])
    sgd.update(tags=["baseline"])

    assert {r.id for r in client.runs.list(tag="baseline")} == {adam.id, sgd.id}
    assert [r.id for r in client.runs.list(tag=["baseline", "adam"])] == [adam.id]
    assert [r.id for r in client.runs.list(q="SGD")] == [sgd.id]
    assert [r.id for r in client.runs.list(dataset_id="builtin:movies")] == [line.id]
    assert [r.id for r in client.runs.list(kind=descent.Kind.LINEAR_REGRESSION)] == [line.id]
    assert client.runs.list(created_after=datetime.now(UTC) + timedelta(hours=1)) == []
    earlier = datetime.now(UTC) - timedelta(hours=1)
    assert len(client.runs.list(created_after=earlier, created_before="2999-01-01T00:00:00Z")) == 3

    sweep = client.sweeps.create(run=MOVIES, grid={"learning_rate": [1e-12, 2e-10]})
    swept = client.runs.list(sweep_id=sweep)  # a Sweep stands for its id
    assert {r.id for r in swept} == {r.id for r in sweep.runs}
    assert all(r.sweep_id == sweep.id for r in swept)


def test_sort_by_a_metric_and_duration_and_unknown_keys(client: descent.Client) -> None:
    runs = {n: client.runs.create(**BLOBS, name=f"{n} epochs") for n in (2, 6, 4)}
    for n, run in runs.items():
        train(run, n)
    best_first = client.runs.list(sort="metrics.loss")
    assert [r.name for r in best_first] == ["6 epochs", "4 epochs", "2 epochs"]
    assert [r.name for r in client.runs.list(sort="-metrics.loss")] == [
        "2 epochs", "4 epochs", "6 epochs",
    ]  # fmt: skip
    assert [r.name for r in client.runs.list(sort="metrics.loss", limit=1)] == ["6 epochs"]
    queued = client.runs.create(**BLOBS, name="no loss yet")
    assert client.runs.list(sort="metrics.loss")[-1].id == queued.id  # nulls last...
    assert client.runs.list(sort="-metrics.loss")[-1].id == queued.id  # ...either way
    durations = [r.duration_s for r in client.runs.list(sort="duration_s")]
    assert durations[-1] is None and None not in durations[:3]  # the queued run: no duration
    assert durations[:3] == sorted(d for d in durations if d is not None)
    with pytest.raises(descent.ValidationError) as caught:
        client.runs.list(sort="height")
    assert "sort" in str(caught.value)


def test_to_frame_has_one_row_per_run_with_flat_hyperparameters(client: descent.Client) -> None:
    mlp = client.runs.create(**BLOBS, name="mlp", optimizer={"name": "sgd", "learning_rate": 0.05})
    line = client.runs.create(**MOVIES, name="line", learning_rate=2e-10)
    mlp.update(tags=["t"])
    train(mlp, 3)
    runs = client.runs.list(sort="created_at")
    assert isinstance(runs, descent.RunList) and [r.id for r in runs] == [mlp.id, line.id]
    frame = runs.to_frame()
    assert list(frame.columns[:6]) == ["id", "name", "status", "kind", "dataset", "tags"]
    assert list(frame.columns[-2:]) == ["duration_s", "created_at"]
    first, second = frame.iloc[0], frame.iloc[1]
    assert first["dataset"] == "three-blobs" and second["dataset"] == "movies"
    assert first["tags"] == ["t"] and first["status"] == "succeeded"
    assert first["optimizer.name"] == "sgd" and first["optimizer.learning_rate"] == 0.05
    assert second["learning_rate"] == 2e-10 and second["init.a"] is not None
    # The MLP's loss *function* does not hide its final loss *value*.
    assert first["loss"] == pytest.approx(100 / 3) and first["hyperparameters.loss"] == "auto"
    assert first["duration_s"] >= 0 and second["status"] == "queued"
    empty = client.runs.list(q="no such run").to_frame()
    assert len(empty) == 0 and "id" in empty.columns


def test_update_tags_notes_and_name(client: descent.Client) -> None:
    run = client.runs.create(**MOVIES)
    assert run.tags == [] and run.notes is None and run.dataset_name == "movies"
    assert run.update(name="renamed", tags=["a", "b"], notes="lr from the course") is run
    assert (run.name, run.tags, run.notes) == ("renamed", ["a", "b"], "lr from the course")
    run.update(tags=[])  # only the tags change
    fetched = client.runs.get(run.id)
    assert (fetched.name, fetched.tags, fetched.notes) == ("renamed", [], "lr from the course")
    train(run, 3)
    assert client.runs.update(run.id, notes="done").notes == "done"  # any status
    with pytest.raises(descent.ValidationError):
        run.update(tags=["x" * 51])


def test_clone_with_dotted_and_nested_overrides(client: descent.Client, server: Server) -> None:
    base = client.runs.create(
        **BLOBS, name="base", optimizer={"name": "sgd", "learning_rate": 0.01}
    )
    fast = base.clone(name="fast", **{"optimizer.learning_rate": 0.1})
    assert isinstance(fast, descent.Run) and fast.id != base.id and fast.status == "queued"
    assert fast.parent_run_id == base.id and fast.name == "fast"
    assert fast.hyperparameters["optimizer"] == {
        **base.hyperparameters["optimizer"],
        "learning_rate": 0.1,
    }
    assert fast.id in server.enqueued
    adam = client.runs.clone(base.id, optimizer={"name": "adam"}, epochs=3)
    assert adam.hyperparameters["optimizer"]["name"] == "adam"
    assert adam.hyperparameters["optimizer"]["learning_rate"] == 0.01  # merged, not replaced
    assert adam.hyperparameters["epochs"] == 3 and adam.parent_run_id == base.id
    same = base.clone(
        hyperparameters={"optimizer.learning_rate": 0.5}, dataset_id="builtin:three-blobs"
    )
    assert same.hyperparameters["optimizer"]["learning_rate"] == 0.5
    with pytest.raises(descent.ValidationError):
        base.clone(learning_rate=0.1)  # not an MLP's: it lives under optimizer


def test_compare_differs_metrics_frame_and_plot(client: descent.Client) -> None:
    slow = client.runs.create(
        **BLOBS, name="slow", optimizer={"name": "sgd", "learning_rate": 0.01}
    )
    fast = slow.clone(name="fast", **{"optimizer.learning_rate": 0.1})
    train(slow, 3)
    train(fast, 6)
    comparison = client.runs.compare([slow, fast.id])
    assert isinstance(comparison, descent.Comparison)
    assert comparison.ids == [slow.id, fast.id]
    assert all(isinstance(r, descent.Run) for r in comparison.runs)
    assert comparison.differs == {"optimizer.learning_rate": [0.01, 0.1]}
    assert comparison.metrics["loss"] == pytest.approx([100 / 3, 100 / 6])
    frame = comparison.to_frame()
    assert list(frame.columns) == ["slow", "fast"]
    assert frame.loc["optimizer.learning_rate", "fast"] == 0.1
    assert frame.loc["loss", "slow"] == pytest.approx(100 / 3)
    plot = comparison.plot(width=320, height=240)
    assert plot.media_type == "image/png" and plot.content.startswith(b"\x89PNG")
    with pytest.raises(descent.ValidationError):
        client.runs.compare([slow])  # at least two
    line = client.runs.create(**MOVIES)
    across = client.runs.compare([slow.id, line.id])
    assert across.differs["kind"] == ["mlp_classifier", "linear_regression"]
    assert across.differs["dataset_id"] == ["builtin:three-blobs", "builtin:movies"]


def test_the_async_client_lists_updates_clones_compares_and_searches(server: Server) -> None:
    transport = httpx.ASGITransport(app=server.http.app)

    async def go() -> None:
        async with descent.AsyncClient("http://asgi", api_key=server.key, transport=transport) as c:
            base = await c.runs.create(**BLOBS, name="base")
            assert (await base.update(tags=["async"], notes="n")).tags == ["async"]
            clone = await base.clone(name="clone", **{"optimizer.learning_rate": 0.2})
            assert isinstance(clone, descent.AsyncRun) and clone.parent_run_id == base.id
            listed = await c.runs.list(tag="async")
            assert [r.id for r in listed] == [base.id] and len(listed.to_frame()) == 1
            train(base, 2)
            train(clone, 4)
            comparison = await c.runs.compare([base, clone.id])
            assert comparison.differs["optimizer.learning_rate"][1] == 0.2
            plot = await c.runs.compare_plot(comparison.runs)
            assert plot.content.startswith(b"\x89PNG")
            sweep = await c.sweeps.create(
                run=BLOBS, strategy="random", n_runs=2, seed=3,
                axes={"optimizer.learning_rate": {"log_uniform": [1e-3, 1e-1]}},
            )  # fmt: skip
            assert sweep.strategy == "random" and len(sweep.to_frame()) == 2
            assert [s.id for s in await c.sweeps.list()] == [sweep.id]

    asyncio.run(go())


def test_an_identical_upload_returns_your_dataset_and_runs_show_its_name(
    client: descent.Client, tmp_path: Path
) -> None:
    columns = {"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 4.0, 6.0, 8.0]}
    first = client.datasets.upload(columns, name="doubling")
    assert client.datasets.upload(columns, name="again").id == first.id
    copy = client.datasets.upload(columns, name="a copy", dedupe=False)
    assert copy.id != first.id and copy.name == "a copy"
    csv = tmp_path / "doubling.csv"
    csv.write_text("x,y\n1,2\n2,4\n3,6\n4,8\n")
    from_file = client.datasets.upload(csv)
    assert client.datasets.upload(csv).id == from_file.id
    run = client.runs.create(
        kind="linear_regression", dataset=first, features=["x"], target="y", epochs=3
    )
    assert run.dataset_id == first.id and run.dataset_name == "doubling"
    assert client.runs.list(dataset_id=first).to_frame()["dataset"].tolist() == ["doubling"]
