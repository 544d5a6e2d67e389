"""mlp_regressor: a Keras MLP on a numeric target, its fitted curve filmed epoch by epoch.

Linear output, `loss` "mse" by default (or "mae"), metrics loss, val_loss, mae, val_mae. For
one feature a fit snapshot (the prediction at `resolution` points over the feature's range)
is stored every `snapshots.every` epochs: `plots/fit.png?epoch=` and `plots/fit.gif`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.domain import Kind
from descent_server.repository.history import decode_snapshot, finite
from descent_server.services.kinds.base import check_predict_size
from descent_server.services.kinds.mlp import MLPHyperparameters, MLPKind
from descent_server.services.kinds.registry import register
from descent_server.services.plot_data import PlotOptions, label, size, snapshot_epochs
from descent_server.services.render_pool import Job

ONE_FEATURE = "one-feature mlp_regressor runs that record snapshots"


class MLPRegressorHyperparameters(MLPHyperparameters):
    """A Keras multi-layer perceptron on a numeric target (one linear output unit)."""

    loss: Literal["auto", "mse", "mae"] = Field(
        "auto", description="training loss (auto: mse, the mean squared error)"
    )


class MLPRegressor(MLPKind):
    """A curve fitted by an MLP."""

    kind = Kind.MLP_REGRESSOR
    title = "a Keras MLP on a numeric target, its fitted curve drawn every epoch"
    task = "regression"
    hyperparameters = MLPRegressorHyperparameters
    example = {
        "kind": "mlp_regressor",
        "dataset_id": "builtin:sine",
        "features": ["x"],
        "target": "y",
        "name": "a sine curve",
        "hyperparameters": {"hidden_layers": [32, 32], "activation": "tanh", "epochs": 100,
                            "optimizer": {"name": "adam", "learning_rate": 0.01},
                            "validation_split": 0.2},
    }  # fmt: skip
    plots = {"fit": ONE_FEATURE, "fit.gif": ONE_FEATURE}
    result_metrics = ("mae", "val_mae")
    snapshot_bytes = 4  # a float32 prediction per point

    def predict(self, session: Session, run: Run, X: np.ndarray) -> dict[str, Any]:
        """A number per row, in float32 batches (bounded memory)."""
        from descent_server.ml.mlp_predict import predict_values_batched
        from descent_server.settings import get_settings

        model = self.stored_model(session, run)
        check_predict_size(len(X), model.n_params)
        values = predict_values_batched(model, X, get_settings().predict_batch_rows)
        return {"predictions": [finite(v) for v in values.tolist()]}

    def plot_applies(self, run: Run, name: str) -> bool:
        """The fit needs one feature and recorded snapshots (unknown before analysis)."""
        recorded = run.analysis is None or "extent" in run.analysis
        return name in self.plots and len(run.features) == 1 and recorded

    def plot_job(self, name: str, session: Session, run: Run, options: PlotOptions) -> Job:
        """Draw the data with the fitted curve at an epoch, or the curve's film."""
        from descent_server.services.kinds.registry import load_training_data

        data = load_training_data(session=session, run=run)
        analysis = run.analysis or {}
        xmin, xmax = analysis["extent"]
        grid_x = np.linspace(float(xmin), float(xmax), int(analysis["resolution"]))
        labels = {"x_label": label(run, run.features[0]), "y_label": label(run, run.target)}
        if name == "fit":
            epochs = snapshot_epochs(session, run)
            epoch = epochs[-1] if options.epoch is None else options.epoch
            curve = self.snapshot_at(session, run, epoch)
            return Job.of(
                "mlp_fit_plot", data.X[:, 0], data.y, grid_x, curve, epoch,
                **labels, **size(options),
            )  # fmt: skip
        chosen = self.snapshot_frames(session, run, options)
        curves = [self.snapshot_at(session, run, e) for e in chosen]
        return Job.of(
            "mlp_fit_gif", data.X[:, 0], data.y, grid_x, curves, chosen, **labels, **size(options)
        )

    def snapshot(self, run: Run, raw: bytes) -> np.ndarray:
        """The predictions at the grid's points (float32)."""
        return decode_snapshot(raw, regressor=True)


ADAPTER = register(MLPRegressor())
