"""The latent analysis uses the core's one ridge frame: its residual, scaled gap and normal curvature in 32-D
against an explicit float64 per-point loop (centred covariance, NumPy's eigh, eigenvalues sorted descending)."""

import math

import numpy as np
import pytest

import ridgeviz as rv
from ridgeviz.latent.analysis import latent_frames


def _loop(data, a, h, x, dim):
    out = []
    for xm in x:
        logits = -((xm - a * data) ** 2).sum(1) / (2 * h)
        w = np.exp(logits - logits.max())
        w /= w.sum()
        den = w @ data
        Y = data - den
        vals, vecs = np.linalg.eigh(a * a / h**2 * (Y.T * w) @ Y - np.eye(len(xm)) / h)
        order = np.argsort(vals)[::-1]
        vals, vecs = vals[order], vecs[:, order]
        g = (a * den - xm) / h
        gap = h * ((vals[dim - 1] if dim else 0.0) - vals[dim])
        out.append((np.linalg.norm(vecs[:, dim:].T @ g), gap, vals[dim]))
    return np.array(out).T


@pytest.mark.parametrize("t", [3.0, 0.1, 0.01])
@pytest.mark.parametrize("dim", [1, 25])
def test_latent_frames_in_32d_match_the_loop(t, dim):
    rng = np.random.default_rng(11)
    data = rng.standard_normal((300, 32)) * np.geomspace(2.0, 0.05, 32) + 1.0
    sched = rv.get_schedule("ou")
    a, h = float(sched.alpha(t)), float(sched.h(t))
    x = a * data[rng.integers(0, 300, 40)] + math.sqrt(h) * rng.standard_normal((40, 32))
    fast = latent_frames(rv.SmoothedEmpirical(data, sched), x, t, dim, chunk=16)
    res, gap, curv = _loop(data, a, h, x, dim)
    np.testing.assert_allclose(fast.scaled_gap, gap, atol=1e-10)
    np.testing.assert_allclose(fast.normal_curvature * h, curv * h, atol=1e-10)
    ok = gap > 1e-3  # where the normal space is defined the residual is well conditioned
    if ok.any():
        np.testing.assert_allclose(fast.residual[ok], res[ok], rtol=1e-8, atol=1e-10 * np.abs(res).max())
    assert fast.h == pytest.approx(h, rel=1e-15)
