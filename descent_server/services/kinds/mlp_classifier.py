"""mlp_classifier: the course's Keras MLP on class labels, with its decision boundary per epoch.

Boundary snapshots (class index per cell of a resolution² grid) need exactly two features;
they are served as snapshots, `plots/boundary.png?epoch=` and `plots/boundary.gif`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.domain import Kind
from descent_server.repository.history import decode_snapshot, finite
from descent_server.services.errors import InvalidInput
from descent_server.services.kinds.base import HP, check_predict_size
from descent_server.services.kinds.mlp import MLPHyperparameters, MLPKind
from descent_server.services.kinds.registry import register
from descent_server.services.plot_data import PlotOptions, size, snapshot_epochs
from descent_server.services.render_pool import Job
from descent_server.services.training_data import TrainingData, class_target

TWO_FEATURES = "mlp_classifier runs of two or more features that record snapshots"


class MLPClassifierHyperparameters(MLPHyperparameters):
    """A Keras multi-layer perceptron classifier."""

    output: Literal["auto", "softmax", "sigmoid"] = Field(
        "auto", description="auto: softmax for >2 classes, sigmoid for 2"
    )
    loss: Literal["auto", "categorical_crossentropy", "binary_crossentropy", "mse"] = Field(
        "auto", description="training loss (auto follows the output)"
    )


class MLPClassifier(MLPKind):
    """The course's 2-40-40-3 classifier, and any other shape."""

    kind = Kind.MLP_CLASSIFIER
    title = "a Keras MLP classifier, its decision boundary drawn every epoch"
    task = "classification"
    hyperparameters = MLPClassifierHyperparameters
    example = {
        "kind": "mlp_classifier",
        "dataset_id": "builtin:three-blobs",
        "features": ["x1", "x2"],
        "target": "label",
        "name": "the course's blobs",
        "hyperparameters": {"hidden_layers": [40, 40], "epochs": 20,
                            "optimizer": {"name": "sgd", "learning_rate": 0.01}},
    }  # fmt: skip
    plots = {"boundary": TWO_FEATURES, "boundary.gif": TWO_FEATURES}
    result_metrics = ("accuracy", "val_accuracy")
    snapshot_bytes = 1  # a class index per cell

    def target(self, values: np.ndarray, name: str) -> tuple[np.ndarray, list[Any]]:
        """Class indices and class names (strings or numbers) in sorted order."""
        return class_target(values, name)

    def check(self, hp: Any, data: TrainingData) -> None:
        """binary_crossentropy needs two classes."""
        if hp.loss == "binary_crossentropy" and len(data.classes) > 2:
            raise InvalidInput.at([*HP, "loss"], "binary_crossentropy needs exactly two classes")

    def result_extra(self, data: TrainingData) -> dict[str, Any]:
        """The class names, in the order of the probabilities."""
        return {"classes": list(data.classes)}

    def predict(self, session: Session, run: Run, X: np.ndarray) -> dict[str, Any]:
        """Class names and probabilities, in float32 batches (bounded memory)."""
        from descent_server.ml.mlp_predict import predict_proba_batched
        from descent_server.settings import get_settings

        model = self.stored_model(session, run)
        check_predict_size(len(X), model.n_params)
        probabilities = predict_proba_batched(model, X, get_settings().predict_batch_rows)
        classes = (run.analysis or {}).get("classes") or model.classes
        return {
            "predictions": [classes[i] for i in np.argmax(probabilities, axis=1).tolist()],
            "probabilities": [[finite(p) for p in row] for row in probabilities.tolist()],
            "classes": classes,
        }

    def plot_applies(self, run: Run, name: str) -> bool:
        """The boundary needs two or more features (more: on the PCA plane) and recorded
        snapshots (unknown before the analysis)."""
        recorded = run.analysis is None or "extent" in run.analysis
        return name in self.plots and len(run.features) >= 2 and recorded

    def plot_job(self, name: str, session: Session, run: Run, options: PlotOptions) -> Job:
        """Draw the decision regions at an epoch, or their film."""
        from descent_server.services.kinds.registry import load_training_data

        data = load_training_data(session=session, run=run)
        analysis = run.analysis or {}
        labels = {"x_label": run.features[0], "y_label": run.features[1], **size(options)}
        labels["projection"] = analysis.get("projection")  # more than two features: PCA
        if name == "boundary":
            epochs = snapshot_epochs(session, run)
            epoch = epochs[-1] if options.epoch is None else options.epoch
            grid = self.snapshot_at(session, run, epoch)
            return Job.of(
                "boundary_plot", grid, analysis["extent"], analysis["classes"], data.X, data.y,
                epoch, **labels,
            )  # fmt: skip
        chosen = self.snapshot_frames(session, run, options)
        grids = [self.snapshot_at(session, run, e) for e in chosen]
        return Job.of(
            "boundary_gif", grids, chosen, analysis["extent"], analysis["classes"], data.X,
            data.y, **labels,
        )  # fmt: skip

    def snapshot(self, run: Run, raw: bytes) -> np.ndarray:
        """A (resolution, resolution) grid of class indices, x2 rows × x1 columns."""
        resolution = int((run.analysis or {})["resolution"])
        return decode_snapshot(raw, regressor=False).reshape(resolution, resolution)


ADAPTER = register(MLPClassifier())
