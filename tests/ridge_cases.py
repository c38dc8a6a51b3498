"""Test cases where symmetry does not decide: points in general position, a ring, a noisy curve, and a model whose
error circulates along the ring. Shared by test_phases.py and test_laws.py."""

from __future__ import annotations

import numpy as np
import torch

import ridgeviz as rv

# six points in general position (no three within 0.3 of a common line, no symmetry), chosen by hand for ridgeviz
SIX = np.array([(-2.6, -0.9), (-1.1, 1.7), (0.4, -0.3), (1.9, 2.2), (2.8, -1.4), (-0.3, -2.5)])


def min_collinearity(points: np.ndarray) -> float:
    """Smallest distance of any point to the line through two others: 0 for collinear triples."""
    best = np.inf
    n = len(points)
    for i in range(n):
        for j in range(i + 1, n):
            d = points[j] - points[i]
            for k in range(n):
                if k not in (i, j):
                    v = points[k] - points[i]
                    best = min(best, abs(d[0] * v[1] - d[1] * v[0]) / np.linalg.norm(d))
    return best


def ring(n: int = 40, radius: float = 3.0) -> np.ndarray:
    """``n`` points evenly on a circle: ``(n, 2)``."""
    a = 2 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(a), np.sin(a)], axis=1)


def noisy_curve(n: int = 24, noise: float = 0.08, seed: int = 3) -> np.ndarray:
    """``n`` points near the parabola ``y = 0.35 x^2 - 1.5`` for ``x`` in [-3, 3], plus seeded Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-3.0, 3.0, n))
    return np.stack([x, 0.35 * x**2 - 1.5], axis=1) + noise * rng.standard_normal((n, 2))


class VortexScore:
    """Exact score plus ``tau`` along the counter-clockwise ridge tangent and ``nu`` along the outward normal.

    The error is switched on only where the ridge is defined (scaled gap >= gap_tol), so samples are not pushed
    before the ring has formed. On a ring it makes samples circulate: the controlled experiment for the slide law.
    """

    def __init__(self, dens, tau: float, nu: float, gap_tol: float = 0.05):
        self.dens, self.schedule, self.tau, self.nu, self.gap_tol = dens, dens.schedule, tau, nu, gap_tol

    def __call__(self, x, t):
        frame = rv.local_frame(self.dens, x, t, 1)
        x = self.dens.as_points(x)
        ccw = torch.stack([-x[:, 1], x[:, 0]], -1)
        tangent = frame.eigenvectors[:, :, 0]
        tangent = tangent * torch.sign((tangent * ccw).sum(-1, keepdim=True))
        normal = frame.eigenvectors[:, :, 1]
        normal = normal * torch.sign((normal * x).sum(-1, keepdim=True))
        on = (~frame.undefined(self.gap_tol)).to(x.dtype)[:, None]
        return frame.score + on * (self.tau * tangent + self.nu * normal)


def run(dens, model, M: int, steps: int, method: str = "em", seed: int = 0):
    """Sample ``M`` trajectories of ``steps`` steps from the prior with a seeded generator."""
    sched = dens.schedule
    gen = torch.Generator().manual_seed(seed)
    return rv.sample(model, rv.prior_sample(sched, M, dens.D, gen), sched.time_grid(steps), method, generator=gen)


def old_rule_labels(geo, reach_step: np.ndarray, gap_tol: float = 0.05) -> np.ndarray:
    """The first rule (a negative control): after reach, 'slide' from the first step whose *whole* drift is more
    tangential than normal; codes 0 reach, 1 align, 2 slide, 4 no ridge."""
    K1, M = geo.scaled_gap.shape
    tang = np.vstack([geo.drift_tangential > geo.drift_normal, (geo.drift_tangential > geo.drift_normal)[-1:]])
    idx = np.arange(K1)[:, None]
    hit = tang & (idx >= reach_step[None, :])
    slide = np.where(hit.any(0), hit.argmax(0), K1)
    labels = np.where(idx < reach_step, 0, np.where(idx < slide, 1, 2))
    labels[geo.scaled_gap < gap_tol] = 4
    return labels


def in_tube_share(labels: np.ndarray, code: int) -> float:
    """Share of ``code`` among the labels that are neither reach nor no ridge."""
    from ridgeviz.core.phases import NO_RIDGE, REACH

    inside = labels[(labels != REACH) & (labels != NO_RIDGE)]
    return float((inside == code).mean()) if inside.size else 0.0


# -- sets in general position generated for the tests (seeds and shapes that no shipped set or experiment uses) ----
def scattered(n: int = 18, seed: int = 7, box: float = 3.5, min_gap: float = 0.55) -> np.ndarray:
    """``n`` points uniform in ``[-box, box]^2``, no two closer than ``min_gap`` (seeded rejection)."""
    rng, pts = np.random.default_rng(seed), []
    while len(pts) < n:
        p = rng.uniform(-box, box, 2)
        if all(np.linalg.norm(p - q) > min_gap for q in pts):
            pts.append(p)
    return np.array(pts)


def wobbly_loop(n: int = 26, noise: float = 0.12, seed: int = 11) -> np.ndarray:
    """``n`` points at random angles on the closed curve ``r = 2.8 + 0.4 cos(2 theta + 0.5)``, radial noise."""
    rng = np.random.default_rng(seed)
    th = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = 2.8 + 0.4 * np.cos(2 * th + 0.5) + noise * rng.standard_normal(n)
    return np.stack([r * np.cos(th), r * np.sin(th)], axis=1)
