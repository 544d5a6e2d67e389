"""Hyperparameters of the MLP classifier, as API.md names them, in a frozen dataclass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from descent_server.ml.backprop import HIDDEN_ACTIVATIONS, LOSSES, OUTPUT_ACTIVATIONS
from descent_server.ml.mlp_model import NORMALIZE_KINDS

OPTIMIZERS = ("sgd", "adam", "rmsprop")
MAX_EPOCHS = 10_000
MAX_FULL_WEIGHTS = 100_000  # weights="full" stores every weight every epoch: keep it bounded
MAX_RESOLUTION = 1000


@dataclass(frozen=True)
class MLPConfig:
    """Everything that decides how an MLP classifier is built and trained."""

    hidden_layers: tuple[int, ...] = (40, 40)
    activation: str = "relu"
    output: str = "auto"  # "auto": softmax for > 2 classes, sigmoid (one unit) for 2
    loss: str = "auto"  # "auto": categorical cross-entropy for softmax, binary for sigmoid
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.0  # sgd and rmsprop only
    batch_size: int = 32
    epochs: int = 20
    validation_split: float = 0.1
    validation: str = "stratified"  # or "tail": the last rows, as Keras's validation_split
    normalize: str = "minmax"
    seed: int | None = None  # None: a random seed, reported in MLPResult.seed
    snapshot_every: int = 1  # 0: no decision-boundary snapshots
    snapshot_resolution: int = 100
    weights: str = "stats"  # or "full": every weight in every epoch record

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_layers", tuple(int(h) for h in self.hidden_layers))
        _check(all(h >= 1 for h in self.hidden_layers), "hidden_layers must be positive sizes")
        _one_of("activation", self.activation, HIDDEN_ACTIVATIONS)
        _one_of("output", self.output, ("auto", *OUTPUT_ACTIVATIONS))
        _one_of("loss", self.loss, ("auto", *LOSSES))
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("validation", self.validation, ("stratified", "tail"))
        _one_of("normalize", self.normalize, NORMALIZE_KINDS)
        _one_of("weights", self.weights, ("stats", "full"))
        _check(self.learning_rate > 0, "learning_rate must be > 0")
        _check(0 <= self.momentum < 1, "momentum must be in [0, 1)")
        _check(self.batch_size >= 1, "batch_size must be >= 1")
        _check(0 <= self.epochs <= MAX_EPOCHS, f"epochs must be in [0, {MAX_EPOCHS}]")
        _check(0 <= self.validation_split < 1, "validation_split must be in [0, 1)")
        _check(self.snapshot_every >= 0, "snapshots.every must be >= 0")
        _check(
            2 <= self.snapshot_resolution <= MAX_RESOLUTION,
            f"snapshots.resolution must be in [2, {MAX_RESOLUTION}]",
        )
        if self.output == "sigmoid" and self.loss == "categorical_crossentropy":
            raise ValueError("categorical_crossentropy needs a softmax output")
        if self.output == "softmax" and self.loss == "binary_crossentropy":
            raise ValueError("binary_crossentropy needs a sigmoid output")

    def output_for(self, n_classes: int) -> str:
        """Return the output activation used for n_classes classes."""
        if self.output != "auto":
            return self.output
        if self.loss != "auto" and self.loss != "mse":  # each cross-entropy has its own output
            return "softmax" if self.loss == "categorical_crossentropy" else "sigmoid"
        return "sigmoid" if n_classes == 2 else "softmax"

    def loss_for(self, n_classes: int) -> str:
        """Return the loss used for n_classes classes."""
        if self.loss != "auto":
            return self.loss
        if self.output_for(n_classes) == "softmax":
            return "categorical_crossentropy"
        return "binary_crossentropy"

    def to_hyperparameters(self) -> dict[str, Any]:
        """Return the API.md hyperparameter dict of this config (every value filled in)."""
        d = asdict(self)
        d["hidden_layers"] = list(self.hidden_layers)
        d["optimizer"] = {
            "name": d.pop("optimizer"),
            "learning_rate": d.pop("learning_rate"),
            "momentum": d.pop("momentum"),
        }
        d["snapshots"] = {
            "every": d.pop("snapshot_every"),
            "resolution": d.pop("snapshot_resolution"),
        }
        return d


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    _check(value in allowed, f"{name} must be one of {list(allowed)}, not {value!r}")


_PLAIN = {
    "hidden_layers", "activation", "output", "loss", "batch_size", "epochs",
    "validation_split", "validation", "normalize", "seed", "weights",
}  # fmt: skip


def config_from_hyperparameters(hp: Mapping[str, Any]) -> MLPConfig:
    """Build an MLPConfig from an API.md `mlp_classifier` hyperparameter dict (defaults filled)."""
    unknown = set(hp) - _PLAIN - {"optimizer", "snapshots"}
    if unknown:
        raise ValueError(f"unknown hyperparameters: {sorted(unknown)}")
    kwargs: dict[str, Any] = {k: v for k, v in hp.items() if k in _PLAIN and v is not None}
    if "hidden_layers" in kwargs:
        kwargs["hidden_layers"] = tuple(kwargs["hidden_layers"])
    opt = hp.get("optimizer") or {}
    if isinstance(opt, str):  # {"optimizer": "adam"} is a natural shorthand
        opt = {"name": opt}
    _check(
        set(opt) <= {"name", "learning_rate", "momentum"},
        "optimizer takes name, learning_rate, momentum",
    )
    for key, target in (
        ("name", "optimizer"),
        ("learning_rate", "learning_rate"),
        ("momentum", "momentum"),
    ):
        if opt.get(key) is not None:
            kwargs[target] = opt[key]
    snaps = hp.get("snapshots") or {}
    _check(set(snaps) <= {"every", "resolution"}, "snapshots takes every, resolution")
    for key, target in (("every", "snapshot_every"), ("resolution", "snapshot_resolution")):
        if snaps.get(key) is not None:
            kwargs[target] = snaps[key]
    return MLPConfig(**kwargs)
