"""What a run stored, through the SDK: history, plots, predict, model, snapshots, surface."""

from __future__ import annotations

import io
import json
from pathlib import Path

import descent
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from descent_server.settings import get_settings
from tests.sdk.run_writer import RunWriter

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def finished(client: descent.Client) -> descent.Run:
    """A one-feature regression with 21 stored epochs and a model file."""
    run = client.runs.create(
        kind="linear_regression",
        dataset="builtin:movies",
        features=["num_want_to_see"],
        target="nums_audience",
        learning_rate=2e-10,
        epochs=20,
    )
    worker = RunWriter(run.id)
    worker.epochs(range(21))
    worker.artifact("model", json.dumps({"a": 2.0, "b": 1.0}).encode(), "application/json")
    worker.finish(result={"params": {"a": 2.0, "b": 1.0}})
    return run.refresh()


def test_history_as_dataframe_list_and_downsampled(finished: descent.Run) -> None:
    frame = finished.history()
    assert isinstance(frame, pd.DataFrame) and frame.index.name == "epoch"
    assert list(frame.index) == list(range(21))
    assert frame.loc[3, "loss"] == 25.0 and frame.loc[3, "params.a"] == pytest.approx(0.3)
    rows = finished.history(as_frame=False)
    assert isinstance(rows, list) and rows[20]["params"] == {"a": 2.0, "b": 1.0}
    small = finished.history(max_points=6, as_frame=False)
    assert 2 <= len(small) <= 6 and small[0]["epoch"] == 0 and small[-1]["epoch"] == 20


def test_history_frame_has_the_recorded_at_datetimes(finished: descent.Run) -> None:
    frame = finished.history()
    stamps = frame["recorded_at"]
    assert isinstance(stamps.dtype, pd.DatetimeTZDtype) and str(stamps.dt.tz) == "UTC"
    assert stamps.notna().all() and stamps.is_monotonic_increasing
    assert abs(pd.Timestamp.now(tz="UTC") - stamps.iloc[-1]) < pd.Timedelta(minutes=10)
    rows = finished.history(as_frame=False)  # without pandas: the API's RFC 3339 strings
    assert [pd.Timestamp(r["recorded_at"]) for r in rows] == list(stamps)
    small = finished.history(max_points=6)
    assert list(small["recorded_at"]) == list(stamps[small.index])


def test_history_follows_every_page(finished: descent.Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESCENT_HISTORY_PAGE_LIMIT", "4")
    get_settings.cache_clear()
    assert [r["epoch"] for r in finished.history(as_frame=False)] == list(range(21))


def test_history_csv(client: descent.Client, finished: descent.Run) -> None:
    text = client.runs.history_csv(finished.id)
    lines = text.strip().splitlines()
    assert lines[0].startswith("epoch,loss") and len(lines) == 22


def test_plots_are_png_and_save(finished: descent.Run, tmp_path: Path) -> None:
    for name in ("loss", "params", "fit", "contour", "surface"):
        plot = finished.plot(name, width=300, height=200)
        assert isinstance(plot, descent.Plot) and plot.media_type == "image/png"
        assert plot.content.startswith(PNG) and plot._repr_png_() == plot.content
    saved = finished.plot("loss", log=True, width=320, height=240).save(tmp_path / "loss.png")
    assert Image.open(saved).size == (320, 240)
    assert finished.plot("fit", x=160).content.startswith(PNG)
    with pytest.raises(descent.ValidationError):
        finished.plot("nonsense")


def test_predict_model_and_loss_surface(finished: descent.Run, tmp_path: Path) -> None:
    prediction = finished.predict([0.0, 10.0])
    assert isinstance(prediction, descent.Prediction)
    assert prediction.predictions == pytest.approx([1.0, 21.0])  # a=2, b=1 after epoch 20
    assert finished.predict(np.array([[5.0]])).predictions == pytest.approx([11.0])
    path = finished.download_model(tmp_path / "model.json")
    assert json.loads(path.read_text()) == {"a": 2.0, "b": 1.0}
    surface = finished.loss_surface()
    assert isinstance(surface, descent.LossSurface)
    assert len(surface.loss) == len(surface.b) and len(surface.loss[0]) == len(surface.a)
    assert set(surface.optimum) == {"a", "b", "loss"}


def test_predict_before_any_parameters_is_a_conflict(client: descent.Client) -> None:
    run = client.runs.create(
        kind="linear_regression",
        dataset="builtin:movies",
        features=["num_want_to_see"],
        target="nums_audience",
    )
    with pytest.raises(descent.Conflict):
        run.predict([1.0])
    with pytest.raises(descent.Conflict):
        run.download_model("never.json")


def test_snapshots_and_boundary_plots(client: descent.Client) -> None:
    run = client.runs.create(
        kind="mlp_classifier",
        dataset="builtin:three-blobs",
        features=["x1", "x2"],
        target="label",
        epochs=2,
    )
    worker = RunWriter(run.id)
    worker.analysis({**run.analysis, "extent": [-10.0, 10.0, -10.0, 10.0], "resolution": 8})
    grids = [np.full((8, 8), e % 3, dtype=np.uint8) for e in range(3)]
    for epoch, grid in enumerate(grids):
        worker.epochs(range(epoch, epoch + 1), snapshot=grid, accuracy=0.5)
    snapshots = run.snapshots()
    assert snapshots == descent.Snapshots([0, 1, 2], [-10.0, 10.0, -10.0, 10.0], 8, [0, 1, 2])
    assert run.snapshot(2) == [[2] * 8] * 8
    boundary = run.plot("boundary", epoch=1, width=200, height=200)
    assert boundary.content.startswith(PNG)
    gif = run.plot("boundary.gif", width=200, height=200)
    assert gif.media_type == "image/gif" and gif._repr_png_() is None
    assert Image.open(io.BytesIO(gif.content)).n_frames == 3
    with pytest.raises(descent.NotFound):
        run.snapshot(7)
