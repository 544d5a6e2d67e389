"""Render the example pictures in docs/img from the course data (run this file)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from descent_server.ml import plots
from descent_server.ml.datasets import BUILTINS, load_builtin

OUT = Path(__file__).resolve().parent


def course_descent(x, y, lr, epochs=300, a=-0.75, b=-100.0, bound=1e6):
    """Run the notebook's gradient loop (no factor 2); stop when the loss blows up."""
    a_hist, b_hist, loss_hist = [a], [b], [float(np.mean((a * x + b - y) ** 2))]
    for _ in range(epochs):
        err = a * x + b - y
        a, b = a - lr * float(np.mean(err * x)), b - lr * float(np.mean(err))
        loss = float(np.mean((a * x + b - y) ** 2))
        if not np.isfinite(loss):
            return a_hist, b_hist, loss_hist, True
        a_hist.append(a)
        b_hist.append(b)
        loss_hist.append(loss)
        if loss > bound * loss_hist[0]:
            return a_hist, b_hist, loss_hist, True
    return a_hist, b_hist, loss_hist, False


def course_surface(x, y):
    """The notebook's grid: a in linspace(-1, 1, 100), b in linspace(-1000, 1000, 100)."""
    a = np.linspace(-1, 1, 100)
    b = np.linspace(-1000, 1000, 100)
    loss = np.mean((a[None, :, None] * x + b[:, None, None] - y) ** 2, axis=-1)
    slope, intercept = np.polyfit(x, y, 1)
    opt = {"a": slope, "b": intercept, "loss": float(np.mean((slope * x + intercept - y) ** 2))}
    return SimpleNamespace(a=a, b=b, loss=loss, optimum=opt)


def nearest_centroid_grids(X, labels, steps=20, resolution=100):
    """Boundary snapshots of centroids walking from the data mean to the class means."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    g1, g2 = np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    mesh = np.stack(np.meshgrid(g1, g2), axis=-1)  # rows = x2, columns = x1
    target = np.array([X[labels == k].mean(axis=0) for k in range(3)])
    start = X.mean(axis=0) + np.random.RandomState(1).normal(0, 5, (3, 2))
    grids = []
    for t in np.linspace(0, 1, steps) ** 0.5:
        centroids = start + t * (target - start)
        dist = ((mesh[:, :, None, :] - centroids) ** 2).sum(axis=-1)
        grids.append(dist.argmin(axis=-1).astype(np.uint8))
    return grids, [lo[0], hi[0], lo[1], hi[1]]


def main() -> None:
    """Write every example picture."""
    movies = load_builtin("movies")
    labels = BUILTINS["movies"].labels
    x, y = movies["num_want_to_see"], movies["nums_audience"]
    a_h, b_h, loss_h, _ = course_descent(x, y, 2e-10)
    epochs = np.arange(len(loss_h))
    write = lambda name, data: (OUT / name).write_bytes(data)  # noqa: E731

    write(
        "fit.png",
        plots.fit_plot(
            x,
            y,
            {"a": a_h[-1], "b": b_h[-1]},
            12008,
            x_label=labels["num_want_to_see"],
            y_label=labels["nums_audience"],
            title="Movies: audience by want-to-see count (lr 2e-10, 300 epochs)",
            point_labels=list(movies["title"]),
        ),
    )
    write(
        "loss.png",
        plots.loss_plot(
            epochs, loss_h, y_label="loss (MSE)", title="Movies, lr 2e-10: loss per epoch"
        ),
    )
    a1, b1, l1, div = course_descent(x, y, 1e-3)
    write(
        "loss_diverged.png",
        plots.loss_plot(
            np.arange(len(l1)),
            l1,
            diverged=div,
            y_label="loss (MSE)",
            title="Movies, lr 1e-3: the loss explodes",
        ),
    )
    write(
        "params.png",
        plots.params_plot(
            epochs,
            {"a (slope)": a_h, "b (intercept)": b_h},
            title="Movies, lr 2e-10: parameters per epoch",
            panels=True,
        ),
    )
    surface = course_surface(x, y)
    write("surface.png", plots.surface_plot(surface, a_h, b_h, loss_h))
    write("contour.png", plots.contour_plot(surface, [("lr 2e-10", a_h, b_h)]))

    runs = {lr: course_descent(x, y, lr) for lr in (1e-3, 1e-12, 2e-10)}
    write(
        "sweep_loss.png",
        plots.sweep_loss_plot(
            [(f"lr={lr:g}", np.arange(len(r[2])), r[2], r[3]) for lr, r in runs.items()],
            title="Sweep over the learning rate: movies, 300 epochs",
        ),
    )
    write(
        "sweep_contour.png",
        plots.contour_plot(
            surface,
            [(f"lr={lr:g}", r[0], r[1]) for lr, r in runs.items()],
            title="Sweep over the learning rate: descent paths",
        ),
    )

    blobs = load_builtin("three-blobs")
    X = np.stack([blobs["x1"], blobs["x2"]], axis=-1)
    grids, extent = nearest_centroid_grids(X, blobs["label"])
    classes = ["a", "b", "c"]
    write(
        "boundary.png",
        plots.boundary_plot(grids[-1], extent, classes, X, blobs["label"], epoch=len(grids) - 1),
    )
    write(
        "boundary.gif",
        plots.boundary_gif(
            grids,
            list(range(len(grids))),
            extent,
            classes,
            X,
            blobs["label"],
            width=640,
            height=480,
        ),
    )


if __name__ == "__main__":
    main()
