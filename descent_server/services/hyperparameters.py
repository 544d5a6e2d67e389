"""Hyperparameters per run kind: names, defaults and static bounds (settings add limits)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from descent_server.services.errors import InvalidInput

Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegressionInit(_Strict):
    """Initial parameters: `a`, `b` for one feature, or `weights`, `bias` for several."""

    a: Finite | None = None
    b: Finite | None = None
    weights: list[Finite] | None = None
    bias: Finite | None = None

    @model_validator(mode="after")
    def _one_form(self) -> RegressionInit:
        if (self.a is not None or self.b is not None) and self.weights is not None:
            raise ValueError("give either a/b or weights/bias, not both")
        return self


class SurfaceAxes(_Strict):
    """Loss-surface grid: `[min, max, n]` for a and for b."""

    a: tuple[Finite, Finite, Annotated[int, Field(ge=2)]]
    b: tuple[Finite, Finite, Annotated[int, Field(ge=2)]]

    @model_validator(mode="after")
    def _ordered(self) -> SurfaceAxes:
        for name in ("a", "b"):
            low, high, _ = getattr(self, name)
            if not low < high:
                raise ValueError(f"{name}: min must be below max")
        return self


class RegressionHyperparameters(_Strict):
    """Linear regression trained by gradient descent (the course's model y = a·x + b)."""

    learning_rate: Finite = Field(0.01, gt=0)
    epochs: int = Field(300, ge=1)
    init: RegressionInit | None = None  # filled from the feature count
    gradient: Literal["course", "exact"] = "course"
    normalize: Literal["none", "minmax", "standard"] = "none"
    batch_size: int | None = Field(None, ge=1)
    seed: int = Field(0, ge=0, lt=2**32)
    loss_surface: SurfaceAxes | None = None  # filled at submission for one feature


class Optimizer(_Strict):
    """The Keras optimizer of an MLP."""

    name: Literal["sgd", "adam", "rmsprop"] = "sgd"
    learning_rate: Finite = Field(0.01, gt=0, le=1e3)
    momentum: Finite = Field(0.0, ge=0, lt=1)


class Snapshots(_Strict):
    """Decision-boundary snapshots: every n epochs, on a resolution² grid (two features)."""

    every: int = Field(1, ge=1)
    resolution: int = Field(100, ge=2)


class MLPHyperparameters(_Strict):
    """A Keras multi-layer perceptron classifier."""

    hidden_layers: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [40, 40])
    activation: Literal[
        "relu", "tanh", "sigmoid", "linear", "elu", "selu", "gelu", "softplus", "swish"
    ] = "relu"
    output: Literal["auto", "softmax", "sigmoid"] = "auto"
    loss: Literal["auto", "categorical_crossentropy", "binary_crossentropy", "mse"] = "auto"
    optimizer: Optimizer = Field(default_factory=lambda: Optimizer.model_validate({}))
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(20, ge=1)
    validation_split: Finite = Field(0.1, ge=0, lt=1)
    validation: Literal["stratified", "tail"] = "stratified"
    normalize: Literal["none", "minmax", "standard"] = "minmax"
    seed: int = Field(0, ge=0, lt=2**32)
    snapshots: Snapshots = Field(default_factory=lambda: Snapshots.model_validate({}))
    weights: Literal["stats", "full"] = "stats"


MODELS: dict[str, type[_Strict]] = {
    "linear_regression": RegressionHyperparameters,
    "mlp_classifier": MLPHyperparameters,
}


def parse(kind: str, raw: dict[str, Any]) -> Any:
    """Validate raw hyperparameters for `kind`; errors are located under body.hyperparameters."""
    try:
        return MODELS[kind].model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(
            [
                {"loc": ["body", "hyperparameters", *error["loc"]], "msg": error["msg"]}
                for error in exc.errors(include_url=False)
            ]
        ) from None


def mlp_output_units(hp: MLPHyperparameters, n_classes: int) -> int:
    """Return the output layer width: 1 sigmoid unit for two classes under `auto`, else k."""
    if n_classes == 2 and hp.output in ("auto", "sigmoid"):
        return 1
    return n_classes


def mlp_param_count(hp: MLPHyperparameters, n_features: int, n_classes: int) -> int:
    """Return the number of trainable parameters (kernels + biases) of the MLP."""
    widths = [n_features, *hp.hidden_layers, mlp_output_units(hp, n_classes)]
    return sum(w_in * w_out + w_out for w_in, w_out in zip(widths, widths[1:], strict=False))
