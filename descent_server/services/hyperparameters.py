"""Hyperparameters per run kind: names, defaults and static bounds (settings add limits)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from descent_server.services.errors import InvalidInput

# Strict: a JSON string or boolean is not a number here ("0.1" and true are refused, as the
# schema says), while an integer is still a fine float.
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]
# Integers are bounded to 32 bits (what the database's integer columns hold); settings add
# the real limits (max_epochs_*, max_layer_width, ...) with their own 422s.
INT32_MAX = 2**31 - 1
Int32 = Annotated[int, Field(le=INT32_MAX, strict=True)]
# An initial parameter: beyond this its square (the first loss) overflows float64 on any data,
# and no honest model starts there.
INIT_MAX = 1e100


def _init_bound(value: float) -> float:
    if abs(value) > INIT_MAX:
        raise ValueError(f"at most {INIT_MAX:g} in absolute value")
    return value


InitValue = Annotated[
    float,
    Field(
        allow_inf_nan=False,
        strict=True,
        json_schema_extra={"minimum": -INIT_MAX, "maximum": INIT_MAX},
    ),
    AfterValidator(_init_bound),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegressionInit(_Strict):
    """Initial parameters: `a`, `b` for one feature, or `weights`, `bias` for several."""

    a: InitValue | None = Field(None, description="initial slope (one feature)")
    b: InitValue | None = Field(None, description="initial intercept (one feature)")
    weights: list[InitValue] | None = Field(
        None, max_length=1000, description="initial weights, one per feature"
    )
    bias: InitValue | None = Field(None, description="initial bias (several features)")

    @model_validator(mode="after")
    def _one_form(self) -> RegressionInit:
        if (self.a is not None or self.b is not None) and self.weights is not None:
            raise ValueError("give either a/b or weights/bias, not both")
        return self


class SurfaceAxes(_Strict):
    """Loss-surface grid: `[min, max, n]` for a and for b."""

    a: tuple[Finite, Finite, Annotated[Int32, Field(ge=2)]] = Field(
        description="[min, max, n] of the slope axis"
    )
    b: tuple[Finite, Finite, Annotated[Int32, Field(ge=2)]] = Field(
        description="[min, max, n] of the intercept axis"
    )

    @model_validator(mode="after")
    def _ordered(self) -> SurfaceAxes:
        for name in ("a", "b"):
            low, high, _ = getattr(self, name)
            if not low < high:
                raise ValueError(f"{name}: min must be below max")
            # The grid's step is (max - min) / (n - 1): a span past float64 has no grid.
            if not math.isfinite(high - low):
                raise ValueError(f"{name}: max - min must be a finite number")
        return self


class RegressionHyperparameters(_Strict):
    """Linear regression trained by gradient descent (the course's model y = a·x + b)."""

    learning_rate: Finite = Field(0.01, gt=0, description="gradient-descent step size")
    epochs: Int32 = Field(300, ge=1, description="passes over the data (server max applies)")
    init: RegressionInit | None = Field(  # filled from the feature count
        None, description="initial parameters (default: zeros)"
    )
    gradient: Literal["course", "exact"] = Field(
        "course", description="course: mean((ŷ−y)·x), no factor 2; exact: the true MSE derivative"
    )
    normalize: Literal["none", "minmax", "standard"] = Field(
        "none", description="scale features (results stay in the data's units)"
    )
    batch_size: Int32 | None = Field(None, ge=1, description="rows per step (null: full batch)")
    seed: int = Field(0, ge=0, lt=2**32, strict=True, description="shuffling seed")
    loss_surface: SurfaceAxes | None = Field(  # filled at submission for one feature
        None, description="loss-surface grid (default: centred on the least-squares optimum)"
    )


class Optimizer(_Strict):
    """The Keras optimizer of an MLP."""

    name: Literal["sgd", "adam", "rmsprop"] = Field("sgd", description="Keras optimizer")
    learning_rate: Finite = Field(0.01, gt=0, le=1e3, description="optimizer step size")
    momentum: Finite = Field(0.0, ge=0, lt=1, description="SGD momentum")


class Snapshots(_Strict):
    """Decision-boundary snapshots: every n epochs, on a resolution² grid (two features)."""

    every: Int32 = Field(1, ge=1, description="store a boundary snapshot every n epochs")
    resolution: Int32 = Field(100, ge=2, description="grid points per axis")


class MLPHyperparameters(_Strict):
    """A Keras multi-layer perceptron classifier."""

    hidden_layers: list[Annotated[Int32, Field(ge=1)]] = Field(
        default_factory=lambda: [40, 40],
        max_length=1000,
        description="units per hidden layer",
        json_schema_extra={"default": [40, 40]},  # a factory's value is not in the schema
    )
    activation: Literal[
        "relu", "tanh", "sigmoid", "linear", "elu", "selu", "gelu", "softplus", "swish"
    ] = Field("relu", description="hidden-layer activation")
    output: Literal["auto", "softmax", "sigmoid"] = Field(
        "auto", description="auto: softmax for >2 classes, sigmoid for 2"
    )
    loss: Literal["auto", "categorical_crossentropy", "binary_crossentropy", "mse"] = Field(
        "auto", description="training loss (auto follows the output)"
    )
    optimizer: Optimizer = Field(default_factory=lambda: Optimizer.model_validate({}))
    batch_size: Int32 = Field(32, ge=1, description="rows per step")
    epochs: Int32 = Field(20, ge=1, description="passes over the data (server max applies)")
    validation_split: Finite = Field(0.1, ge=0, lt=1, description="share of rows held out")
    validation: Literal["stratified", "tail"] = Field(
        "stratified", description="tail: the last rows, as Keras' validation_split takes them"
    )
    normalize: Literal["none", "minmax", "standard"] = Field("minmax", description="scale features")
    seed: int = Field(0, ge=0, lt=2**32, strict=True, description="initialisation seed")
    snapshots: Snapshots = Field(default_factory=lambda: Snapshots.model_validate({}))
    weights: Literal["stats", "full"] = Field(
        "stats", description="stats: per-layer norms; full: every weight every epoch"
    )


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
