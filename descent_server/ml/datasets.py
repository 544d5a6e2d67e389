"""The course notebook's ready-made data sets, generated exactly as the notebook does,
one curve for the MLP regressor, and Fisher's iris (four features, for the PCA plane)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType

import numpy as np

from descent_server.domain import Kind


@dataclass(frozen=True)
class Builtin:
    """What a built-in data set holds and how it is meant to be trained."""

    name: str
    description: str
    features: tuple[str, ...]
    target: str
    kind: Kind  # the run kind it suits
    n_rows: int
    # Human axis labels with units, keyed by column name (for plots).
    labels: Mapping[str, str] = field(default_factory=dict)


def _movies() -> dict[str, np.ndarray]:
    # Watcha "want to see" counts and audiences (unit: 10,000 people) of four films;
    # the notebook names them 마션, 킹스맨, 캡틴아메리카, 인터스텔라.
    return {
        "title": np.array(["The Martian", "Kingsman", "Captain America", "Interstellar"]),
        "num_want_to_see": np.array([8759, 10132, 12078, 16430], dtype=np.float64),
        "nums_audience": np.array([487, 612, 866, 1030], dtype=np.float64),
    }


def _three_blobs() -> dict[str, np.ndarray]:
    # A private RandomState(100) is the very generator `np.random.seed(100)` resets, so the
    # draws equal the notebook's without touching numpy's global state.
    rng = np.random.RandomState(100)
    x1 = [rng.normal(25, 8, 1000), rng.normal(80, 10, 1000), rng.normal(50, 10, 1000)]
    x2 = [rng.normal(30, 8, 1000), rng.normal(40, 10, 1000), rng.normal(70, 10, 1000)]
    # The notebook maps > 100 to 100 and <= 0 to 0: the same as clipping to [0, 100].
    label = np.repeat(np.arange(3, dtype=np.float64), 1000)
    return {
        "x1": np.clip(np.concatenate(x1), 0.0, 100.0),
        "x2": np.clip(np.concatenate(x2), 0.0, 100.0),
        "label": label,
    }


LINEAR_NOISE_SEED = 0


def _linear_noise() -> dict[str, np.ndarray]:
    # The notebook draws these from whatever state numpy's global generator is in (no seed
    # of its own), so they are not reproducible there; we fix seed 0, same draws, same order.
    rng = np.random.RandomState(LINEAR_NOISE_SEED)
    x = rng.uniform(0, 10, 30)
    y = 0.5 * x + 2 + rng.normal(0, 0.5, size=30)
    return {"x": x, "y": y}


SINE_SEED = 0


def _sine() -> dict[str, np.ndarray]:
    # A curve no straight line fits: 400 points x ~ U(-3, 3), y = sin(x) + N(0, 0.05²).
    rng = np.random.RandomState(SINE_SEED)
    x = rng.uniform(-3, 3, 400)
    return {"x": x, "y": np.sin(x) + rng.normal(0, 0.05, size=400)}


IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def _iris() -> dict[str, np.ndarray]:
    # Shipped as package data (descent_server/ml/data/iris.csv): 150 rows, measurements in cm.
    text = resources.files("descent_server.ml").joinpath("data/iris.csv").read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    columns = {name: np.array([float(r[name]) for r in rows]) for name in IRIS_FEATURES}
    return {**columns, "species": np.array([r["species"] for r in rows])}


BUILTINS: Mapping[str, Builtin] = MappingProxyType(
    {
        "movies": Builtin(
            name="movies",
            description=(
                "Four films: Watcha 'want to see' count and total audience in units of "
                "10,000 people; predict the audience of a film with 12,008 (course ch. 5)."
            ),
            features=("num_want_to_see",),
            target="nums_audience",
            kind=Kind.LINEAR_REGRESSION,
            n_rows=4,
            labels={
                "num_want_to_see": "want-to-see count (people)",
                "nums_audience": "audience (10k people)",
            },
        ),
        "three-blobs": Builtin(
            name="three-blobs",
            description=(
                "Three Gaussian blobs of 1000 points each in [0, 100]², labels 0/1/2, drawn "
                "with np.random.seed(100) exactly as the course notebook does."
            ),
            features=("x1", "x2"),
            target="label",
            kind=Kind.MLP_CLASSIFIER,
            n_rows=3000,
            labels={"x1": "x1", "x2": "x2", "label": "class"},
        ),
        "linear-noise": Builtin(
            name="linear-noise",
            description=(
                "30 points x ~ U(0, 10), y = 0.5x + 2 + N(0, 0.5²) noise "
                f"(seed {LINEAR_NOISE_SEED}: the notebook sets none)."
            ),
            features=("x",),
            target="y",
            kind=Kind.LINEAR_REGRESSION,
            n_rows=30,
            labels={"x": "x", "y": "y"},
        ),
        "sine": Builtin(
            name="sine",
            description=(
                "400 points x ~ U(-3, 3), y = sin(x) + N(0, 0.05²) noise "
                f"(seed {SINE_SEED}): a curve for mlp_regressor."
            ),
            features=("x",),
            target="y",
            kind=Kind.MLP_REGRESSOR,
            n_rows=400,
            labels={"x": "x", "y": "y"},
        ),
        "iris": Builtin(
            name="iris",
            description=(
                "Fisher's iris (1936): 150 flowers, 50 of each species (setosa, versicolor, "
                "virginica), four measurements in cm; with more than two features the "
                "decision regions are drawn on the plane of the first two principal components."
            ),
            features=IRIS_FEATURES,
            target="species",
            kind=Kind.MLP_CLASSIFIER,
            n_rows=150,
            labels={
                **{name: f"{name.replace('_', ' ')} (cm)" for name in IRIS_FEATURES},
                "species": "species",
            },
        ),
    }
)

_GENERATORS: Mapping[str, Callable[[], dict[str, np.ndarray]]] = {
    "movies": _movies,
    "three-blobs": _three_blobs,
    "linear-noise": _linear_noise,
    "sine": _sine,
    "iris": _iris,
}


def load_builtin(name: str) -> dict[str, np.ndarray]:
    """Return the columns of built-in data set `name` (fresh arrays; KeyError if unknown)."""
    if name not in _GENERATORS:
        raise KeyError(f"unknown builtin dataset {name!r}; one of {sorted(_GENERATORS)}")
    return _GENERATORS[name]()
