"""The MSE of a linear model as an exact quadratic, built from one pass over the data.

For parameters θ = (w, b) and rows z = (x, 1), MSE(θ) = mean((zᵀθ − y)²) is a quadratic.
Expanded around a reference point θ₀ (the least-squares fit of a small subsample) it reads

    MSE(θ) = L₀ + 2·g₀ᵀδ + δᵀHδ,    δ = θ − θ₀,    H = mean(z zᵀ),
    mean(z (zᵀθ − y)) = g₀ + Hδ      (the course gradient: the true one without the factor 2)

with L₀ = MSE(θ₀) and g₀ the course gradient at θ₀; exact for any θ₀. δᵀHδ is evaluated
as δwᵀCδw + (mxᵀδw + δb)², C the centred covariance: a sum of non-negative terms.

L₀, g₀ and C come from one of two passes:
- raw moments (one feature): Σx, Σy, Σx², Σxy, Σy² — five reductions that write nothing,
  about one per-epoch step's worth of work. They lose digits to cancellation when the fit
  is very good or x sits far from 0, so they are used only while the loss is still exact
  to better than ~1e-12 relative (see _MAX_CANCELLATION);
- residuals (always exact): centred features and the residual at θ₀, chunk by chunk, so
  no large term is ever subtracted from another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Rows per chunk of the single data pass: enough to amortise numpy's call overhead, few
# enough to stay in cache and allocate no full-size temporaries, and (for one feature) under
# OpenBLAS's threading thresholds: its threads spin-wait, and on oversubscribed cores
# (prefork workers, CI) that made a threaded pass 10-40× slower in our measurements.
_CHUNK = 8192
# Rows of the strided subsample that picks θ₀ and the centring shift.
_SUBSAMPLE = 4096
# Raw moments are used while (size of the summed terms) / (result) stays below this:
# relative error ≲ 2.2e-16 × 4000 ≈ 9e-13 at worst, ~1e-14 typically.
_MAX_CANCELLATION = 4000.0


@dataclass(frozen=True)
class Quadratic:
    """MSE(w, b) of a linear model on fixed data, as an exact quadratic in (w, b)."""

    n: int
    w0: np.ndarray  # (d,) reference weights θ₀
    b0: float
    loss0: float  # MSE at θ₀
    g0w: np.ndarray  # (d,) course gradient at θ₀, weights part
    g0b: float
    cov: np.ndarray  # (d, d) centred covariance of x (population)
    mean: np.ndarray  # (d,) mean of x

    @property
    def d(self) -> int:
        """Return the number of features."""
        return int(self.w0.shape[0])

    @classmethod
    def from_data(cls, X: np.ndarray, y: np.ndarray) -> Quadratic:
        """Build the quadratic from (n, d) features and (n,) targets in one pass."""
        n, d = X.shape
        step = max(1, n // _SUBSAMPLE)
        sub_x, sub_y = X[::step], y[::step]
        shift = sub_x.mean(axis=0)
        design = np.column_stack([sub_x - shift, np.ones(len(sub_y))])
        sol = np.linalg.lstsq(design, sub_y, rcond=None)[0]
        w0, c0 = sol[:d], float(sol[d])  # ŷ = w0·(x − shift) + c0 on the subsample
        if d == 1:
            quad = cls._from_moments(X[:, 0], y, float(w0[0]), c0 - float(w0[0] * shift[0]))
            if quad is not None:
                return quad
        return cls._from_residuals(X, y, shift, w0, c0)

    @classmethod
    def _from_moments(cls, x: np.ndarray, y: np.ndarray, a0: float, b0: float) -> Quadratic | None:
        """One feature: raw moments (5 reductions, no temporaries), or None if too imprecise."""
        n = len(x)
        sx, sy = float(x.sum()), float(y.sum())  # numpy's own sums: pairwise, never threaded
        sxx = sxy = syy = 0.0
        for start in range(0, n, _CHUNK):
            xc, yc = x[start : start + _CHUNK], y[start : start + _CHUNK]
            sxx += float(xc.dot(xc))
            sxy += float(xc.dot(yc))
            syy += float(yc.dot(yc))
        mx, my, mxx, mxy, myy = sx / n, sy / n, sxx / n, sxy / n, syy / n
        cov = mxx - mx * mx
        loss0 = a0 * a0 * mxx + 2 * a0 * b0 * mx + b0 * b0 - 2 * a0 * mxy - 2 * b0 * my + myy
        quad = cls(
            n=n,
            w0=np.array([a0]),
            b0=b0,
            loss0=loss0,
            g0w=np.array([a0 * mxx + b0 * mx - mxy]),
            g0b=a0 * mx + b0 - my,
            cov=np.array([[cov]]),
            mean=np.array([mx]),
        )
        # Rounding errors scale with the largest terms, the result with the smallest loss:
        # accept only when that ratio bounds the relative error well below 1e-12.
        terms = abs(a0 * a0 * mxx) + abs(2 * a0 * b0 * mx) + b0 * b0 + abs(2 * a0 * mxy)
        terms += abs(2 * b0 * my) + myy
        best = quad.optimum()[2]
        if cov > 0 and mxx < _MAX_CANCELLATION * cov and terms < _MAX_CANCELLATION * best:
            return quad
        return None

    @classmethod
    def _from_residuals(
        cls, X: np.ndarray, y: np.ndarray, shift: np.ndarray, w0: np.ndarray, c0: float
    ) -> Quadratic:
        """Any data: centred features and residuals at θ₀, exact however good the fit."""
        n, d = X.shape
        sum_u = np.zeros(d)
        uu = np.zeros((d, d))
        ue = np.zeros(d)
        sum_e = 0.0
        ee = 0.0
        for start in range(0, n, _CHUNK):
            # Features as rows (d, m): numpy's strided (m, d) reductions are several times slower.
            u = np.subtract(X[start : start + _CHUNK].T, shift[:, np.newaxis], order="C")
            e = w0.dot(u)  # residual at θ₀, prediction minus target
            e += c0
            e -= y[start : start + _CHUNK]
            sum_u += u.sum(axis=1)
            uu += u.dot(u.T)
            ue += u.dot(e)
            sum_e += float(e.sum())
            ee += float(e.dot(e))
        mean_u = sum_u / n
        mean_e = sum_e / n
        return cls(
            n=n,
            w0=w0,
            b0=c0 - float(w0.dot(shift)),
            loss0=ee / n,
            # mean(x·e) = mean(u·e) + shift·mean(e), both small near the optimum
            g0w=ue / n + shift * mean_e,
            g0b=mean_e,
            cov=uu / n - np.outer(mean_u, mean_u),
            mean=shift + mean_u,
        )

    def loss(self, w: np.ndarray, b: float) -> float:
        """Return the MSE at weights w and bias b."""
        dw = np.asarray(w, dtype=np.float64) - self.w0
        db = b - self.b0
        shift = float(self.mean.dot(dw)) + db
        return float(
            self.loss0
            + 2.0 * (float(self.g0w.dot(dw)) + self.g0b * db)
            + float(dw.dot(self.cov.dot(dw)))
            + shift * shift
        )

    def gradient(self, w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
        """Return the course gradient mean((ŷ − y)·x), mean(ŷ − y) at (w, b)."""
        dw = np.asarray(w, dtype=np.float64) - self.w0
        shift = float(self.mean.dot(dw)) + (b - self.b0)
        return self.g0w + self.cov.dot(dw) + self.mean * shift, self.g0b + shift

    def loss_grid(self, a_values: np.ndarray, b_values: np.ndarray) -> np.ndarray:
        """Return the MSE for one feature on a grid: rows = b values, columns = a values."""
        if self.d != 1:
            raise ValueError("a loss grid needs exactly one feature")
        da = np.asarray(a_values, dtype=np.float64) - self.w0[0]
        db = np.asarray(b_values, dtype=np.float64) - self.b0
        with np.errstate(over="ignore", invalid="ignore"):  # far corners may overflow to inf
            # Terms of a alone and of b alone are vectors; only the shift needs the whole grid.
            by_a = self.loss0 + 2.0 * self.g0w[0] * da + self.cov[0, 0] * da * da
            by_b = 2.0 * self.g0b * db
            loss = (self.mean[0] * da)[np.newaxis, :] + db[:, np.newaxis]
            np.multiply(loss, loss, out=loss)
            loss += by_a[np.newaxis, :]
            loss += by_b[:, np.newaxis]
            return loss

    def curvature(self) -> np.ndarray:
        """Return H = mean(z zᵀ) for z = (x, 1): the Hessian of the course gradient."""
        d = self.d
        h = np.empty((d + 1, d + 1))
        h[:d, :d] = self.cov + np.outer(self.mean, self.mean)
        h[:d, d] = self.mean
        h[d, :d] = self.mean
        h[d, d] = 1.0
        return h

    def optimum(self) -> tuple[np.ndarray, float, float]:
        """Return the least-squares (weights, bias, loss), minimum-norm step if singular."""
        g0 = np.append(self.g0w, self.g0b)
        step = np.linalg.lstsq(self.curvature(), g0, rcond=None)[0]
        w = self.w0 - step[: self.d]
        b = self.b0 - float(step[self.d])
        return w, b, max(self.loss(w, b), 0.0)
