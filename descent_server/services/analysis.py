"""Per-kind checks against the data and settings, defaults that depend on the data, analysis."""

from __future__ import annotations

from typing import Any

from descent_server.services.errors import InvalidInput
from descent_server.services.hyperparameters import (
    MLPHyperparameters,
    RegressionHyperparameters,
    RegressionInit,
    SurfaceAxes,
    mlp_param_count,
)
from descent_server.services.training_data import TrainingData
from descent_server.settings import get_settings

HP = ("body", "hyperparameters")


def fill_and_check(kind: str, hp: Any, data: TrainingData) -> dict[str, Any]:
    """Return every hyperparameter (data-dependent defaults filled) after checking limits."""
    if kind == "linear_regression":
        return _regression(hp, data)
    return _mlp(hp, data)


def analyze(kind: str, hyperparameters: dict[str, Any], data: TrainingData) -> dict[str, Any]:
    """Return run.analysis, known before training (lr_max and verdict; MLP shape and grid)."""
    if kind == "linear_regression":
        return regression_analysis(hyperparameters, data)
    from descent_server.ml.mlp import config_from_hyperparameters, mlp_analysis

    try:
        config = config_from_hyperparameters(hyperparameters)
    except ValueError as exc:
        raise InvalidInput.at(["body", "hyperparameters"], str(exc)) from None
    return mlp_analysis(data.X, data.classes, config)


def regression_analysis(hyperparameters: dict[str, Any], data: TrainingData) -> dict[str, Any]:
    """Return {"lr_max", "lr_verdict"} for the run's learning rate on its data."""
    from descent_server.ml.regression import analyze as analyze_lr
    from descent_server.ml.regression import config_from_hyperparameters
    from descent_server.ml.types import InvalidData

    try:
        return analyze_lr(data.X, data.y, config_from_hyperparameters(hyperparameters)).to_dict()
    except InvalidData as exc:
        raise InvalidInput.at(["body", "features"], str(exc)) from None


def default_surface(data: TrainingData, start: tuple[float, float]) -> dict[str, list[float]]:
    """Return the default 100×100 loss-surface axes centred on the optimum, covering `start`."""
    from descent_server.ml.surface import default_axes
    from descent_server.ml.types import InvalidData

    try:
        a, b = default_axes(data.X[:, 0], data.y, n=100, include=[start])
    except InvalidData as exc:
        raise InvalidInput.at(["body", "features"], str(exc)) from None
    return {"a": [float(a[0]), float(a[-1]), len(a)], "b": [float(b[0]), float(b[-1]), len(b)]}


def _regression(hp: RegressionHyperparameters, data: TrainingData) -> dict[str, Any]:
    settings = get_settings()
    n_features = data.X.shape[1]
    if hp.epochs > settings.max_epochs_regression:
        raise InvalidInput.at([*HP, "epochs"], f"at most {settings.max_epochs_regression}")
    filled = hp.model_dump()
    filled["init"] = _init(hp.init, n_features)
    if n_features == 1:
        start = (filled["init"]["a"], filled["init"]["b"])
        surface = hp.loss_surface or SurfaceAxes.model_validate(default_surface(data, start))
        for axis in ("a", "b"):
            if getattr(surface, axis)[2] > settings.max_surface_points:
                raise InvalidInput.at(
                    [*HP, "loss_surface", axis, 2], f"at most {settings.max_surface_points} points"
                )
        filled["loss_surface"] = surface.model_dump(mode="json")
        filled["loss_surface"] = {k: list(v) for k, v in filled["loss_surface"].items()}
    elif hp.loss_surface is not None:
        raise InvalidInput.at([*HP, "loss_surface"], "a loss surface needs exactly one feature")
    return filled


def _init(init: RegressionInit | None, n_features: int) -> dict[str, Any]:
    """Fill the initial parameters for the feature count (zeros by default)."""
    loc = [*HP, "init"]
    if n_features == 1:
        if init is not None and init.weights is not None:
            if len(init.weights) != 1:
                raise InvalidInput.at([*loc, "weights"], "one feature: give a and b")
            return {"a": init.weights[0], "b": init.bias or 0.0}
        return {"a": (init.a if init else None) or 0.0, "b": (init.b if init else None) or 0.0}
    if init is not None and (init.a is not None or init.b is not None):
        raise InvalidInput.at(loc, f"{n_features} features: give weights and bias, not a and b")
    weights = init.weights if init is not None and init.weights is not None else [0.0] * n_features
    if len(weights) != n_features:
        raise InvalidInput.at([*loc, "weights"], f"expected {n_features} weights")
    return {"weights": weights, "bias": (init.bias if init else None) or 0.0}


def _mlp(hp: MLPHyperparameters, data: TrainingData) -> dict[str, Any]:
    settings = get_settings()
    n_rows, n_features = data.X.shape
    if hp.epochs > settings.max_epochs_mlp:
        raise InvalidInput.at([*HP, "epochs"], f"at most {settings.max_epochs_mlp}")
    if len(hp.hidden_layers) > settings.max_hidden_layers:
        raise InvalidInput.at(
            [*HP, "hidden_layers"], f"at most {settings.max_hidden_layers} layers"
        )
    for index, width in enumerate(hp.hidden_layers):
        if width > settings.max_layer_width:
            raise InvalidInput.at(
                [*HP, "hidden_layers", index], f"at most {settings.max_layer_width} units"
            )
    if hp.snapshots.resolution > settings.max_snapshot_resolution:
        raise InvalidInput.at(
            [*HP, "snapshots", "resolution"], f"at most {settings.max_snapshot_resolution}"
        )
    n_params = mlp_param_count(hp, n_features, len(data.classes))
    if hp.weights == "full" and n_params > settings.max_full_weights:
        raise InvalidInput.at(
            [*HP, "weights"],
            f"'full' is allowed up to {settings.max_full_weights} parameters; this has {n_params}",
        )
    if hp.loss == "binary_crossentropy" and len(data.classes) > 2:
        raise InvalidInput.at([*HP, "loss"], "binary_crossentropy needs exactly two classes")
    if int(n_rows * (1 - hp.validation_split)) < 1:
        raise InvalidInput.at([*HP, "validation_split"], "leaves no rows to train on")
    return hp.model_dump()
