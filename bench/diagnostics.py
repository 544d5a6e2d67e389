"""Measure the diagnostics rules: false positives on healthy runs, detection on crafted ones.

`python -m bench.diagnostics` trains every run below through the real engines, feeds each
epoch to the run's Diagnostics as the worker does, and prints every finding and one table:
per code, the share of healthy runs that reported it above "info" (a false positive) and
the share of the runs crafted to show it that did report it. Needs scikit-learn (the
`bench` extra) for the real data sets. Takes a few minutes on two cores.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from descent_server.ml.datasets import load_builtin
from descent_server.ml.diagnostics import (
    CODES,
    Diagnostics,
    Finding,
    mlp_diagnostics,
    regression_diagnostics,
)
from descent_server.ml.mlp import MLPConfig, MLPModel, train_mlp
from descent_server.ml.mlp_model import Normalizer
from descent_server.ml.regression import RegressionConfig, analyze, train_regression
from descent_server.ml.types import EpochRecord

SEEDS = (0, 1, 2, 3)
DEAD: dict[str, float] = {}  # the largest dead-unit share each MLP run measured


@dataclass(frozen=True)
class Case:
    """One run: healthy (expect nothing above info) or crafted to show `code`."""

    name: str
    code: str | None  # None: a healthy run
    train: Callable[[], list[Finding]]


def regression_run(x: np.ndarray, y: np.ndarray, config: RegressionConfig) -> list[Finding]:
    """Train a linear regression and return everything its Diagnostics reported."""
    diag = regression_diagnostics(x, y, config)
    found: list[Finding] = []
    train_regression(x, y, config, on_epoch=lambda r: found.extend(diag.observe(r)))
    return found


def mlp_run(
    x: np.ndarray,
    y: np.ndarray,
    config: MLPConfig,  # fmt: skip
    initial: Callable[[list[object]], MLPModel] | None = None,
) -> list[Finding]:
    """Train an MLP (classifier unless config says regression); return what was reported."""
    classes: list[object] = [] if config.regression else list(np.unique(y))
    labels = y if config.regression else np.searchsorted(np.unique(y), y)
    seed = config.seed if config.seed is not None else 0
    diag: Diagnostics = mlp_diagnostics(x, labels, classes, config, seed)
    found: list[Finding] = []

    def on_epoch(record: EpochRecord) -> None:
        found.extend(diag.observe(record))
        if record.epoch >= 1:
            DEAD["last"] = max([DEAD.get("last", 0.0), *record.dead_units.values()])

    DEAD["last"] = 0.0
    train_mlp(x, labels, classes, config, on_epoch=on_epoch,
              initial_model=None if initial is None else initial(classes))  # fmt: skip
    return found


def blobs(n_per_class: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the course's three blobs (or a class-balanced head of each blob)."""
    d = load_builtin("three-blobs")
    x, y = np.column_stack([d["x1"], d["x2"]]), d["label"].astype(np.int64)
    if n_per_class is None:
        return x, y
    rows = np.concatenate([np.arange(c * 1000, c * 1000 + n_per_class) for c in range(3)])
    return x[rows], y[rows]


def sk(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return one of scikit-learn's bundled data sets as (X, y)."""
    from sklearn import datasets

    data = getattr(datasets, f"load_{name}")()
    return np.asarray(data.data, dtype=np.float64), np.asarray(data.target)


def builtin_xy(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return a one-feature built-in data set as (X (n, 1), y)."""
    d = load_builtin(name)
    cols = [c for c in d if c != "title"]
    return d[cols[0]][:, None], d[cols[1]]


def at_rate(x: np.ndarray, y: np.ndarray, share: float, **kw: object) -> RegressionConfig:
    """Return a regression config whose learning rate is `share` × lr_max."""
    probe = RegressionConfig(**kw)  # type: ignore[arg-type]
    lr_max = analyze(x, y, probe).lr_max
    return RegressionConfig(learning_rate=share * lr_max, **kw)  # type: ignore[arg-type]


def dead_start(hidden: tuple[int, ...], x: np.ndarray, bias: float) -> Callable[..., MLPModel]:
    """Return a model factory whose hidden biases are `bias` (ReLU units start dead)."""

    def make(classes: list[object]) -> MLPModel:
        rng = np.random.default_rng(0)
        sizes = [x.shape[1], *hidden, len(classes)]
        kernels = [rng.uniform(-0.3, 0.3, (a, b)).astype(np.float32)
                   for a, b in zip(sizes, sizes[1:], strict=False)]  # fmt: skip
        biases = [np.full(b, bias if i < len(hidden) else 0.0, np.float32)
                  for i, b in enumerate(sizes[1:])]  # fmt: skip
        return MLPModel(kernels, biases, "relu", "softmax", Normalizer.fit("minmax", x), classes)

    return make


def healthy() -> list[Case]:
    """Return the healthy runs: course MLP over seeds, good regression rates, real data."""
    x, y = blobs()
    cases = [Case(f"course MLP three-blobs seed {s}", None,
                  lambda s=s: mlp_run(x, y, MLPConfig(seed=s, snapshot_every=0)))
             for s in SEEDS]  # fmt: skip
    for name in ("movies", "linear-noise"):
        bx, by = builtin_xy(name)
        for share in (0.25, 0.5, 0.9):
            cases.append(
                Case(
                    f"regression {name} standard lr={share}·lr_max",
                    None,
                    lambda bx=bx, by=by, share=share: regression_run(
                        bx, by, at_rate(bx, by, share, normalize="standard")
                    ),
                )
            )
    dx, dy = sk("diabetes")
    cases.append(
        Case(
            "regression diabetes standard lr=0.5·lr_max",
            None,
            lambda: regression_run(dx, dy, at_rate(dx, dy, 0.5, normalize="standard", epochs=500)),
        )
    )
    good = {
        "optimizer": "adam",
        "learning_rate": 0.001,
        "hidden_layers": (32, 32),
        "epochs": 30,
        "batch_size": 16,
        "normalize": "standard",
        "snapshot_every": 0,
    }
    for name in ("iris", "wine", "breast_cancer"):
        sx, sy = sk(name)
        for s in SEEDS[:2]:
            cases.append(
                Case(
                    f"MLP {name} seed {s}",
                    None,
                    lambda sx=sx, sy=sy, s=s: mlp_run(sx, sy, MLPConfig(seed=s, **good)),
                )
            )  # type: ignore[arg-type]
    reg = {
        **good,
        "task": "regression",
        "hidden_layers": (32,),
        "epochs": 60,
        "learning_rate": 0.01,
    }
    cases.append(
        Case(
            "MLP regressor diabetes seed 0",
            None,
            lambda: mlp_run(dx, dy / dy.std(), MLPConfig(seed=0, **reg)),
        )
    )  # type: ignore[arg-type]
    sx, sy = builtin_xy("sine")
    cases.append(
        Case("MLP regressor sine seed 0", None, lambda: mlp_run(sx, sy, MLPConfig(seed=0, **reg)))
    )  # type: ignore[arg-type]
    return cases


def crafted() -> list[Case]:
    """Return the runs crafted to show each code."""
    mx, my = builtin_xy("movies")
    nx, ny = builtin_xy("linear-noise")
    sx, sy = blobs(100)
    fast = {"snapshot_every": 0, "seed": 0}
    wx, wy = sk("wine")
    cx, cy = sk("breast_cancer")
    imbalanced = np.concatenate([np.flatnonzero(cy == 1)[:300], np.flatnonzero(cy == 0)[:20]])
    small = np.random.default_rng(0).permutation(len(wy))[:24]
    return [
        Case("regression movies raw lr=2e-10 (the course)", "unscaled_features",
             lambda: regression_run(mx, my, RegressionConfig(learning_rate=2e-10))),
        Case("regression linear-noise raw ×1000 feature", "unscaled_features",
             lambda: regression_run(nx * 1000, ny, at_rate(nx * 1000, ny, 0.5))),
        Case("MLP wine raw features", "unscaled_features",
             lambda: mlp_run(wx, wy, MLPConfig(normalize="none", epochs=3, **fast))),
        Case("regression movies standard lr=1.05·lr_max", "diverging",
             lambda: regression_run(mx, my, at_rate(mx, my, 1.05, normalize="standard"))),
        Case("regression linear-noise standard lr=1.2·lr_max, mini-batch", "diverging",
             lambda: regression_run(nx, ny, at_rate(nx, ny, 1.2, normalize="standard",
                                                    batch_size=29))),
        Case("MLP blobs sgd lr=3 mse", "diverging",
             lambda: mlp_run(sx, sy, MLPConfig(learning_rate=3.0, loss="mse", epochs=20,
                                               **fast))),
        Case("MLP blobs full batch sgd lr=8", "oscillating",
             lambda: mlp_run(sx, sy, MLPConfig(learning_rate=8.0, batch_size=300, epochs=30,
                                               **fast))),
        Case("MLP blobs sgd lr=1 momentum .9", "oscillating",
             lambda: mlp_run(sx, sy, MLPConfig(learning_rate=1.0, momentum=0.9, epochs=30,
                                               **fast))),
        Case("MLP blobs sgd lr=1e-5", "plateau",
             lambda: mlp_run(sx, sy, MLPConfig(learning_rate=1e-5, epochs=30, **fast))),
        Case("regression movies standard lr=1e-5·lr_max (crawls)", "plateau",
             lambda: regression_run(mx, my, at_rate(mx, my, 1e-5, normalize="standard"))),
        Case("MLP blobs deep sigmoid 8×32", "vanishing_gradients",
             lambda: mlp_run(sx, sy, MLPConfig(hidden_layers=(32,) * 8, activation="sigmoid",
                                               epochs=5, **fast))),
        Case("MLP blobs deep tanh 10×16", "vanishing_gradients",
             lambda: mlp_run(sx, sy, MLPConfig(hidden_layers=(16,) * 10, activation="tanh",
                                               epochs=5, **fast))),
        Case("MLP blobs raw ×100 features, deep relu", "exploding_gradients",
             lambda: mlp_run(sx * 100, sy, MLPConfig(normalize="none", hidden_layers=(32,) * 4,
                                                     learning_rate=1e-9, epochs=5, **fast))),
        Case("MLP blobs relu bias -5 at start", "dead_units",
             lambda: mlp_run(sx, sy, MLPConfig(hidden_layers=(40, 40), epochs=5, **fast),
                             dead_start((40, 40), sx, -5.0))),
        Case("MLP blobs relu sgd lr=20", "dead_units",
             lambda: mlp_run(sx, sy, MLPConfig(learning_rate=20.0, epochs=5, **fast))),
        Case("MLP wine 24 rows, wide net", "overfitting",
             lambda: mlp_run(wx[small], wy[small], MLPConfig(
                 hidden_layers=(256, 256), optimizer="adam", learning_rate=0.01, epochs=150,
                 validation_split=0.5, normalize="standard", batch_size=12, **fast))),
        Case("MLP blobs tail validation (the notebook)", "unrepresentative_validation",
             lambda: mlp_run(*blobs(), MLPConfig(validation="tail", epochs=1, **fast))),
        Case("MLP breast-cancer 300:20", "class_imbalance",
             lambda: mlp_run(cx[imbalanced], cy[imbalanced], MLPConfig(epochs=2, **fast))),
    ]  # fmt: skip


def measure(cases: list[Case]) -> dict[str, list[Finding]]:
    """Train every case and return its findings, printing them as they come."""
    out: dict[str, list[Finding]] = {}
    for case in cases:
        DEAD["last"] = float("nan")
        found = case.train()
        out[case.name] = found
        said = ", ".join(f"{f['code']}:{f['severity']}@{f['epoch']}" for f in found) or "-"
        dead = f"dead≤{DEAD['last']:.2f}" if DEAD["last"] == DEAD["last"] else ""
        print(f"{'healthy' if case.code is None else case.code:28} {case.name:55} {dead:10} "
              f"{said}", flush=True)  # fmt: skip
    return out


def table(cases: list[Case], found: dict[str, list[Finding]]) -> list[tuple[str, ...]]:
    """Return per code: false positives on healthy runs, detections on crafted runs."""
    healthy_runs = [c for c in cases if c.code is None]
    rows = []
    for code in CODES:
        fp = sum(any(f["code"] == code and f["severity"] != "info" for f in found[c.name])
                 for c in healthy_runs)  # fmt: skip
        info = sum(any(f["code"] == code for f in found[c.name]) for c in healthy_runs)
        mine = [c for c in cases if c.code == code]
        hit = sum(any(f["code"] == code for f in found[c.name]) for c in mine)
        rows.append((code, f"{fp}/{len(healthy_runs)}", f"{info}/{len(healthy_runs)}",
                     f"{hit}/{len(mine)}"))  # fmt: skip
    return rows


def main() -> int:
    """Run every case and print the table; exit 1 if a healthy run says more than info."""
    cases = healthy() + crafted()
    found = measure(cases)
    print("\n| code | false positives (healthy, > info) | any severity (healthy) | detected |")
    print("|---|---|---|---|")
    rows = table(cases, found)
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0 if all(row[1].startswith("0/") for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
