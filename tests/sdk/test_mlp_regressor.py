"""The third kind through the SDK and CLI: an mlp_regressor's metrics, history and fit film."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import descent
import numpy as np
import pandas as pd
import pytest
from descent._cli import main
from PIL import Image

from tests.sdk.run_writer import RunWriter

PNG = b"\x89PNG\r\n\x1a\n"
RESOLUTION = 8
LINEAR_NOISE: dict[str, Any] = {
    "dataset": "builtin:linear-noise",
    "features": ["x"],
    "target": "y",
}


def _regressor_epochs(worker: RunWriter, epochs: int) -> None:
    """Store what the engine records for a one-feature regressor: mae and a fitted curve."""
    for epoch in range(epochs + 1):
        curve = np.linspace(0.0, 5.0, RESOLUTION, dtype=np.float32) * epoch / epochs
        worker.epochs(
            range(epoch, epoch + 1),
            params={},
            val_loss=2.0 / (epoch + 1),
            mae=1.0 / (epoch + 1),
            val_mae=1.5 / (epoch + 1),
            snapshot=curve,
        )


@pytest.fixture
def regressor(client: descent.Client) -> descent.Run:
    """A finished one-feature mlp_regressor with 4 stored epochs and fit snapshots."""
    run = client.runs.create(
        kind=descent.Kind.MLP_REGRESSOR,
        **LINEAR_NOISE,
        epochs=3,
        snapshots={"every": 1, "resolution": RESOLUTION},
    )
    worker = RunWriter(run.id)
    worker.analysis({**run.analysis, "extent": [0.0, 10.0], "resolution": RESOLUTION})
    _regressor_epochs(worker, 3)
    result = {"final_loss": 25.0, "final_val_loss": 0.5, "mae": 0.25, "val_mae": 0.375,
              "epochs_run": 3}  # fmt: skip
    worker.finish(result=result)
    return run.refresh()


def test_a_regressor_is_submitted_with_the_mlp_hyperparameters(regressor: descent.Run) -> None:
    assert regressor.kind == descent.Kind.MLP_REGRESSOR and regressor.succeeded
    assert regressor.hyperparameters["optimizer"]["learning_rate"] > 0
    assert regressor.hyperparameters["loss"] in ("auto", "mse")
    assert regressor.result["val_mae"] == 0.375 and regressor.result["epochs_run"] == 3
    assert regressor.metrics["val_mae"] == 0.375  # the latest epoch's: 1.5 / 4
    assert "val_mae=0.375" in repr(regressor)


def test_a_regressors_history_frame_has_mae_and_no_accuracy(regressor: descent.Run) -> None:
    frame = regressor.history()
    assert isinstance(frame, pd.DataFrame)
    assert {"loss", "val_loss", "mae", "val_mae"} <= set(frame.columns)
    assert not {"accuracy", "val_accuracy"} & set(frame.columns)
    assert not [c for c in frame.columns if c.startswith("params")]
    assert frame.loc[3, "mae"] == 0.25 and frame.loc[1, "val_mae"] == 0.75


def test_fit_png_and_gif_of_a_regressor(regressor: descent.Run) -> None:
    fit = regressor.plot("fit", epoch=2, width=240, height=180)
    assert fit.media_type == "image/png" and fit.content.startswith(PNG)
    gif = regressor.plot("fit.gif", width=240, height=180)
    assert gif.media_type == "image/gif" and gif._repr_png_() is None
    assert Image.open(io.BytesIO(gif.content)).n_frames == 4


def test_cli_submits_a_regressor_and_saves_its_fit_film(
    client: descent.Client,
    regressor: descent.Run,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["runs", "submit", "--kind", "mlp_regressor", "--dataset", "builtin:linear-noise",
            "--features", "x", "--target", "y",
            "--set", "optimizer.learning_rate=0.005"]  # fmt: skip
    assert main(argv, client=client) == 0
    submitted = capsys.readouterr().out.split()[0]
    assert client.runs.get(submitted).hyperparameters["optimizer"]["learning_rate"] == 0.005
    monkeypatch.chdir(tmp_path)
    assert main(["runs", "plot", regressor.id, "fit.gif"], client=client) == 0
    assert (tmp_path / "fit.gif").read_bytes().startswith(b"GIF8")
    assert capsys.readouterr().out.startswith("wrote fit.gif")
    assert main(["runs", "history", regressor.id], client=client) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["epoch", "loss", "val_loss", "mae", "val_mae"]
    assert table[-1].split() == ["3", "25", "0.5", "0.25", "0.375"]
    assert main(["runs", "list", "--kind", "mlp_regressor"], client=client) == 0
    assert {line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]} == {
        regressor.id, submitted,
    }  # fmt: skip
