"""linear_regression: the course's y = a·x + b (or w·x + b) trained by gradient descent in numpy.

Its hyperparameters, their data-dependent defaults (zeros for init; a loss-surface grid
centred on the least-squares optimum for one feature), the learning-rate analysis, the cost,
training, predict, and the plots only a regression has: fit, surface, contour.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from pydantic import AfterValidator, Field, model_validator
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.domain import Kind
from descent_server.ml.diagnostics import Diagnostics
from descent_server.repository import history as repo
from descent_server.services import cost
from descent_server.services.errors import Conflict, InvalidInput, NotFound, NotReady
from descent_server.services.kinds.base import (
    HP,
    Finite,
    Int32,
    KindAdapter,
    Prepared,
    Seed,
    Strict,
    Trained,
    TrainingJob,
    check_predict_size,
)
from descent_server.services.kinds.registry import register
from descent_server.services.plot_data import (
    CURVE_POINTS,
    PlotOptions,
    column,
    curve_rows,
    label,
    series,
    size,
)
from descent_server.services.render_pool import Job
from descent_server.services.training_data import TrainingData
from descent_server.settings import get_settings

log = logging.getLogger(__name__)

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


class RegressionInit(Strict):
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


class SurfaceAxes(Strict):
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


class RegressionHyperparameters(Strict):
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
    seed: Seed = Field(0, description="shuffling seed")
    loss_surface: SurfaceAxes | None = Field(  # filled at submission for one feature
        None, description="loss-surface grid (default: centred on the least-squares optimum)"
    )


ONE_FEATURE = "one-feature linear_regression runs"


class LinearRegression(KindAdapter):
    """The course's linear regression."""

    kind = Kind.LINEAR_REGRESSION
    title = "y = a·x + b (or w·x + b) by gradient descent, in numpy"
    hyperparameters = RegressionHyperparameters
    example = {
        "kind": "linear_regression",
        "dataset_id": "builtin:movies",
        "features": ["num_want_to_see"],
        "target": "nums_audience",
        "name": "the course's movies",
        "hyperparameters": {"learning_rate": 2e-10, "epochs": 300},
    }
    hints = {"lr": "learning_rate", "optimizer": "learning_rate"}  # near misses: difflib
    plots = {"fit": ONE_FEATURE, "surface": ONE_FEATURE, "contour": ONE_FEATURE}
    draws_params = True  # a and b (or every weight), not layer norms

    def prepare(self, hp: RegressionHyperparameters, data: TrainingData) -> Prepared:
        """Fill init and the loss-surface grid, check limits, analyse the learning rate."""
        settings = get_settings()
        n_rows, n_features = data.X.shape
        if hp.epochs > settings.max_epochs_regression:
            raise InvalidInput.at([*HP, "epochs"], f"at most {settings.max_epochs_regression}")
        filled = hp.model_dump(mode="json")
        filled["init"] = _init(hp.init, n_features)
        if n_features == 1:
            start = (filled["init"]["a"], filled["init"]["b"])
            surface = hp.loss_surface or SurfaceAxes.model_validate(_default_surface(data, start))
            for axis in ("a", "b"):
                if getattr(surface, axis)[2] > settings.max_surface_points:
                    raise InvalidInput.at(
                        [*HP, "loss_surface", axis, 2],
                        f"at most {settings.max_surface_points} points",
                    )
            filled["loss_surface"] = {k: list(v) for k, v in surface.model_dump().items()}
        elif hp.loss_surface is not None:
            raise InvalidInput.at([*HP, "loss_surface"], "a loss surface needs exactly one feature")
        analysis = _analysis(filled, data)
        return Prepared(filled, analysis, _estimate(filled, n_rows, n_features))

    def train(self, job: TrainingJob) -> Trained:
        """Train in numpy; a resumed attempt goes on from the last stored epoch's params."""
        from descent_server.ml import regression
        from descent_server.ml.linear import least_squares

        job.set_device("cpu", "numpy")
        config = config_of(job.hyperparameters)
        last = job.last_epoch() if job.attempt > 1 else None
        if last is not None and last["epoch"] >= 1 and last["params"]:
            config = config.resumed(min(last["epoch"], config.epochs), last["params"])
            log.info("run %s resumes at epoch %d", job.run_id, config.start_epoch)
        trained = regression.train_regression(
            job.data.X, job.data.y, config, on_epoch=job.on_epoch, should_stop=job.should_stop
        )
        result = {
            "params": trained.params,
            "final_loss": repo.finite(trained.final_loss),
            "epochs_run": trained.epochs_run,
            "least_squares": least_squares(job.data.X, job.data.y),
        }
        model = {
            "kind": self.kind, "features": job.features, "target": job.target,
            "params": trained.params,
        }  # fmt: skip
        content = orjson.dumps(model, option=orjson.OPT_SERIALIZE_NUMPY)
        return Trained(trained.status, result, (content, "application/json"))

    def diagnostics(self, job: TrainingJob) -> Diagnostics:
        """Watch with the config it trains with: feature scales, 2/λ_max, the least loss."""
        from descent_server.ml.diagnostics import regression_diagnostics

        config = config_of(job.hyperparameters)
        return regression_diagnostics(job.data.X, job.data.y, config, job.features)

    def predict(self, session: Session, run: Run, X: np.ndarray) -> dict[str, Any]:
        """Predict with the final (or latest stored) parameters, in float64."""
        from descent_server.ml.regression import predict_regression

        params = latest_params(session, run)
        if params is None:
            raise NotReady(f"run {run.id} has no parameters yet")
        check_predict_size(len(X), len(run.features) + 1)
        # rows × features in float64: cheap, and exact to the course's numbers.
        return {"predictions": [repo.finite(v) for v in predict_regression(params, X).tolist()]}

    def plot_applies(self, run: Run, name: str) -> bool:
        """fit, surface and contour need exactly one feature."""
        return name in self.plots and len(run.features) == 1

    def plot_job(self, name: str, session: Session, run: Run, options: PlotOptions) -> Job:
        """Draw params (a and b), fit, surface or contour."""
        if name == "params":
            rows = curve_rows(session, run)
            values = series([_flat_params(r["params"]) for r in rows])
            return Job.of(
                "params_plot", [r["epoch"] for r in rows], values, log=bool(options.log),
                panels=True, **size(options),
            )  # fmt: skip
        if name == "fit":
            return _fit(session, run, options)
        a, b, loss = _path(session, run)
        if name == "surface":
            return Job.of(
                "surface_plot", surface_of(session, run), a, b, loss,
                log=bool(options.log), **size(options),
            )  # fmt: skip
        label_ = f"lr = {run.hyperparameters.get('learning_rate'):g}"
        return Job.of(
            "contour_plot", surface_of(session, run), [(label_, a, b)] if a.size else [],
            log=True if options.log is None else options.log, **size(options),
        )  # fmt: skip


def config_of(hyperparameters: dict[str, Any]) -> Any:
    """Return the engine's RegressionConfig of stored (filled) hyperparameters."""
    from descent_server.ml.linear import unpack_params
    from descent_server.ml.regression import RegressionConfig

    hp = RegressionHyperparameters.model_validate(hyperparameters)
    weights, bias = unpack_params(hyperparameters["init"]) if hp.init else (None, 0.0)
    return RegressionConfig(
        learning_rate=hp.learning_rate,
        epochs=hp.epochs,
        init_weights=None if weights is None else tuple(weights.tolist()),
        init_bias=bias,
        gradient=hp.gradient,
        normalize=hp.normalize,
        batch_size=hp.batch_size,
        seed=hp.seed,
    )


def surface_of(session: Session, run: Run) -> Any:
    """Compute the run's loss surface (404 unless it is a one-feature regression)."""
    from descent_server.ml.surface import surface_from_spec
    from descent_server.services.kinds.registry import load_training_data

    if run.kind != Kind.LINEAR_REGRESSION or len(run.features) != 1:
        raise NotFound("a loss surface exists for one-feature regressions only")
    data = load_training_data(session=session, run=run)
    try:
        return surface_from_spec(data.X[:, 0], data.y, run.hyperparameters.get("loss_surface"))
    except ValueError as exc:  # InvalidData too: axes or data past float64 (older runs)
        raise Conflict(f"run {run.id} has no loss surface: {exc}") from None


def latest_params(session: Session, run: Run) -> dict[str, Any] | None:
    """Return the final params, else those of the latest stored epoch, else None."""
    if run.result and run.result.get("params"):
        return dict(run.result["params"])
    last = repo.last_epoch(session, run.id)
    return dict(last["params"]) if last and last.get("params") else None


def descent_path(session: Session, run: Run, points: int = CURVE_POINTS) -> tuple[Any, Any]:
    """Return the (a, b) arrays of a one-feature run's stored descent (downsampled)."""
    rows = repo.downsample(session, run.id, points)
    a = [np.nan if r["params"].get("a") is None else r["params"]["a"] for r in rows]
    b = [np.nan if r["params"].get("b") is None else r["params"]["b"] for r in rows]
    return a, b


def _analysis(filled: dict[str, Any], data: TrainingData) -> dict[str, Any]:
    """Return {"lr_max", "lr_verdict"} for the run's learning rate on its data."""
    from descent_server.ml.regression import analyze
    from descent_server.ml.types import InvalidData

    try:
        return analyze(data.X, data.y, config_of(filled)).to_dict()
    except InvalidData as exc:
        raise InvalidInput.at(["body", "features"], str(exc)) from None


def _estimate(hp: dict[str, Any], n_rows: int, n_features: int) -> cost.Estimate:
    n_params = n_features + 1  # the engine's weights and bias
    epochs = int(hp["epochs"])
    batch = hp.get("batch_size")
    if batch is not None and batch < n_rows:
        compute = {
            "data": float(epochs) * n_rows * n_params,
            "batches": float(epochs) * math.ceil(n_rows / batch) * cost.BATCH_OVERHEAD,
        }
    else:  # one pass over the data, then O(d²) per epoch (the engine's Quadratic)
        compute = {"data": float(n_rows) * n_params**2 + float(epochs) * n_params**2}
    row = ADAPTER.row_bytes(hp, n_params)  # params: every weight and the bias
    return cost.Estimate(n_params=n_params, compute=compute, stored={"epochs": (epochs + 1) * row})


def _default_surface(data: TrainingData, start: tuple[float, float]) -> dict[str, list[float]]:
    """Return the default 100×100 loss-surface axes centred on the optimum, covering `start`."""
    from descent_server.ml.surface import default_axes
    from descent_server.ml.types import InvalidData

    try:
        a, b = default_axes(data.X[:, 0], data.y, n=100, include=[start])
    except InvalidData as exc:
        raise InvalidInput.at(["body", "features"], str(exc)) from None
    return {"a": [float(a[0]), float(a[-1]), len(a)], "b": [float(b[0]), float(b[-1]), len(b)]}


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


def _fit(session: Session, run: Run, options: PlotOptions) -> Job:
    from descent_server.services.kinds.registry import load_training_data

    params = latest_params(session, run)
    if params is None:
        raise NotReady(f"run {run.id} has no parameters yet")
    data = load_training_data(session=session, run=run)
    return Job.of(
        "fit_plot", data.X[:, 0], data.y, params, options.x,
        x_label=label(run, run.features[0]), y_label=label(run, run.target), **size(options),
    )  # fmt: skip


def _path(session: Session, run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [r for r in repo.downsample(session, run.id, CURVE_POINTS) if "a" in r["params"]]
    a = np.array([np.nan if r["params"]["a"] is None else r["params"]["a"] for r in rows])
    b = np.array([np.nan if r["params"]["b"] is None else r["params"]["b"] for r in rows])
    return a.astype(np.float64), b.astype(np.float64), column(rows, "loss")


def _flat_params(params: dict[str, Any]) -> dict[str, Any]:
    """{"weights": [w0, w1], "bias": b} → {"w[0]": w0, "w[1]": w1, "bias": b}."""
    if "weights" not in params:
        return params
    flat = {f"w[{i}]": w for i, w in enumerate(params["weights"])}
    return {**flat, "bias": params.get("bias")}


ADAPTER = register(LinearRegression())
