"""The one-pass quadratic behind the fast engine and the surface: exact on any data."""

from __future__ import annotations

import numpy as np
import pytest

from descent_server.ml.quadratic import Quadratic


def direct(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple[float, np.ndarray]:
    """Return the MSE and the course gradient computed row by row in extended precision."""
    Xl, yl = X.astype(np.longdouble), y.astype(np.longdouble)
    err = Xl @ w.astype(np.longdouble) + np.longdouble(b) - yl
    grad = np.append(err @ Xl, err.sum()) / len(y)
    return float(err @ err / len(y)), grad.astype(np.float64)


def check(quad: Quadratic, X: np.ndarray, y: np.ndarray, points: list) -> None:
    """The quadratic's loss and gradient equal the row-by-row ones at every point."""
    # Near the optimum the gradient is a small difference of large terms (|x|·|y|), which the
    # double-precision parameters themselves only pin down to about eps × |x|·|y|.
    grad_scale = 1e-12 * np.abs(X).max() * np.abs(y).max()
    for w, b in points:
        w = np.atleast_1d(np.asarray(w, dtype=np.float64))
        loss, grad = direct(X, y, w, b)
        assert quad.loss(w, b) == pytest.approx(loss, rel=1e-12)
        gw, gb = quad.gradient(w, b)
        np.testing.assert_allclose(np.append(gw, gb), grad, rtol=1e-12, atol=grad_scale)


def line(n: int, offset: float, noise: float, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = offset + rng.uniform(0.0, 10.0, size=n)
    return x[:, None], 3.0 * x - 7.0 + rng.normal(scale=noise, size=n)


def test_both_passes_are_exact_on_ordinary_data() -> None:
    X, y = line(50_000, offset=0.0, noise=2.0)
    points = [(3.0, -7.0), (2.9, -6.0), (-1.0, 40.0), (0.0, 0.0)]
    fast = Quadratic._from_moments(X[:, 0], y, 3.0, -7.0)
    assert fast is not None
    check(fast, X, y, points)
    check(Quadratic._from_residuals(X, y, X.mean(axis=0), np.array([3.0]), 8.0), X, y, points)
    check(Quadratic.from_data(X, y), X, y, points)


@pytest.mark.parametrize(("offset", "noise"), [(0.0, 1e-6), (3e4, 1.0)])
def test_raw_moments_are_refused_where_they_would_lose_digits(offset: float, noise: float) -> None:
    # A near-perfect fit, or x far from 0: Σy² − 2aΣxy + ... would cancel ~9 digits away.
    X, y = line(50_000, offset=offset, noise=noise)
    a, b = 3.0, -7.0
    assert Quadratic._from_moments(X[:, 0], y, a, b) is None
    check(Quadratic.from_data(X, y), X, y, [(a, b), (a + 1e-9, b), (2.5, 100.0), (a, b - 1e-3)])


def test_several_features_including_a_constant_one() -> None:
    rng = np.random.default_rng(3)
    X = np.column_stack(
        [rng.normal(5, 2, 20_000), rng.normal(-3, 0.5, 20_000), np.full(20_000, 4.0)]
    )
    y = X @ [1.0, -2.0, 0.5] + 3.0 + rng.normal(scale=0.1, size=20_000)
    quad = Quadratic.from_data(X, y)
    check(quad, X, y, [([1.0, -2.0, 0.5], 3.0), ([0.0, 0.0, 0.0], 0.0), ([2.0, 1.0, -1.0], 5.0)])
    w, b, loss = quad.optimum()
    lstsq = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    np.testing.assert_allclose(X @ w + b, X @ lstsq[:3] + lstsq[3], rtol=1e-10)
    assert loss == pytest.approx(direct(X, y, lstsq[:3], lstsq[3])[0], rel=1e-10)


def test_curvature_is_the_mean_outer_product() -> None:
    X, y = line(1000, offset=50.0, noise=1.0)
    z = np.column_stack([X, np.ones(len(y))])
    np.testing.assert_allclose(Quadratic.from_data(X, y).curvature(), z.T @ z / len(y), rtol=1e-12)
