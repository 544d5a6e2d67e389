"""Hyperparameters of the MLP engine (classifier or regressor) in a frozen dataclass.

The engine checks only what makes training impossible; how big a run may be (epochs, grid
resolution, stored weights) is the service's to bound, from settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from descent_server.ml.backprop import HIDDEN_ACTIVATIONS
from descent_server.ml.mlp_data import count_params
from descent_server.ml.normalize import NORMALIZE_KINDS

OPTIMIZERS = ("sgd", "adam", "rmsprop")
TASKS = ("classification", "regression")
CLASSIFIER_OUTPUTS = ("softmax", "sigmoid")
CLASSIFIER_LOSSES = ("categorical_crossentropy", "binary_crossentropy", "mse")
REGRESSOR_LOSSES = ("mse", "mae")


@dataclass(frozen=True)
class MLPConfig:
    """Everything that decides how an MLP is built and trained.

    task "regression": one linear output unit, loss "mse" (also for "auto") or "mae"; the
    "stratified" validation split is then a plain seeded random split.
    """

    hidden_layers: tuple[int, ...] = (40, 40)
    activation: str = "relu"
    # "auto": softmax for > 2 classes, sigmoid (one unit) for 2; linear for a regressor
    output: str = "auto"
    # "auto": categorical cross-entropy for softmax, binary for sigmoid, mse for a regressor
    loss: str = "auto"
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.0  # sgd and rmsprop only
    batch_size: int = 32
    epochs: int = 20
    validation_split: float = 0.1
    validation: str = "stratified"  # or "tail": the last rows, as Keras's validation_split
    normalize: str = "minmax"
    seed: int | None = None  # None: a random seed, reported in MLPResult.seed
    snapshot_every: int = 1  # 0: no snapshots (decision boundary, or the regressor's fit)
    snapshot_resolution: int = 100
    weights: str = "stats"  # or "full": every weight in every epoch record
    task: str = "classification"  # or "regression"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_layers", tuple(int(h) for h in self.hidden_layers))
        _check(all(h >= 1 for h in self.hidden_layers), "hidden_layers must be positive sizes")
        _one_of("task", self.task, TASKS)
        _one_of("activation", self.activation, HIDDEN_ACTIVATIONS)
        if self.task == "regression":
            _one_of("output", self.output, ("auto", "linear"))
            _one_of("loss", self.loss, ("auto", *REGRESSOR_LOSSES))
        else:
            _one_of("output", self.output, ("auto", *CLASSIFIER_OUTPUTS))
            _one_of("loss", self.loss, ("auto", *CLASSIFIER_LOSSES))
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("validation", self.validation, ("stratified", "tail"))
        _one_of("normalize", self.normalize, NORMALIZE_KINDS)
        _one_of("weights", self.weights, ("stats", "full"))
        _check(self.learning_rate > 0, "learning_rate must be > 0")
        _check(0 <= self.momentum < 1, "momentum must be in [0, 1)")
        _check(self.batch_size >= 1, "batch_size must be >= 1")
        _check(self.epochs >= 0, "epochs must be >= 0")
        _check(0 <= self.validation_split < 1, "validation_split must be in [0, 1)")
        _check(self.snapshot_every >= 0, "snapshots.every must be >= 0")
        _check(self.snapshot_resolution >= 2, "snapshots.resolution must be >= 2")
        if self.output == "sigmoid" and self.loss == "categorical_crossentropy":
            raise ValueError("categorical_crossentropy needs a softmax output")
        if self.output == "softmax" and self.loss == "binary_crossentropy":
            raise ValueError("binary_crossentropy needs a sigmoid output")

    @property
    def regression(self) -> bool:
        """Tell whether this config trains a regressor (one linear output, numeric targets)."""
        return self.task == "regression"

    def output_for(self, n_classes: int) -> str:
        """Return the output activation used for n_classes classes (0 for a regressor)."""
        if self.regression:
            return "linear"
        if self.output != "auto":
            return self.output
        if self.loss != "auto" and self.loss != "mse":  # each cross-entropy has its own output
            return "softmax" if self.loss == "categorical_crossentropy" else "sigmoid"
        return "sigmoid" if n_classes == 2 else "softmax"

    def loss_for(self, n_classes: int) -> str:
        """Return the loss used for n_classes classes (0 for a regressor)."""
        if self.loss != "auto":
            return self.loss
        if self.regression:
            return "mse"
        if self.output_for(n_classes) == "softmax":
            return "categorical_crossentropy"
        return "binary_crossentropy"

    def n_outputs(self, n_classes: int) -> int:
        """Return the output layer's units: 1 for a regressor or one sigmoid, else n_classes."""
        if self.regression or (n_classes == 2 and self.output_for(n_classes) == "sigmoid"):
            return 1
        return n_classes


def param_count(config: MLPConfig, n_features: int, n_classes: int) -> int:
    """Return the engine's trainable parameters for this config (n_classes 0 for a regressor)."""
    return count_params(n_features, config.hidden_layers, config.n_outputs(n_classes))


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    _check(value in allowed, f"{name} must be one of {list(allowed)}, not {value!r}")
