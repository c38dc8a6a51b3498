"""Shared fixtures and slow, obviously-correct references for the numerical-core tests.

The references here are deliberately naive: an explicit float64 log-sum over the Gaussian mixture
``p_t(x) = (1/N) sum_i N(x; alpha_t x_i, h_t I)`` differentiated by autograd, and a per-point SCMS loop in
NumPy. Fast library code is compared against them.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import ridgeviz as rv
from ridgeviz.data import MODE_SETS


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a test that takes several seconds (deselect with -m 'not slow')")


# -- data and densities -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ou():
    """The paper's Ornstein-Uhlenbeck schedule: alpha = exp(-t), h = 1 - exp(-2t), T = 10, t_min = 1e-3."""
    return rv.get_schedule("ou")


@pytest.fixture(scope="session")
def two_points(ou):
    """The two points (+-3, 0) under OU: the ridge is the segment between them."""
    return rv.SmoothedEmpirical(MODE_SETS["two-points"], ou)


@pytest.fixture(scope="session")
def thirteen(ou):
    return rv.SmoothedEmpirical(MODE_SETS["thirteen"], ou)


def ring(n: int = 40, radius: float = 3.0) -> np.ndarray:
    """``n`` points evenly spaced on a circle: ``(n, 2)``."""
    ang = 2 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(ang), np.sin(ang)], axis=1)


@pytest.fixture(scope="session")
def ring_density(ou):
    return rv.SmoothedEmpirical(ring(), ou)


# -- slow references ----------------------------------------------------------------------------------------
def ref_log_prob(data: torch.Tensor, a: float, h: float, x: torch.Tensor) -> torch.Tensor:
    """``log (1/N sum_i N(x; a x_i, h I))`` for one point ``x: (D,)`` by an explicit sum over ``data: (N, D)``."""
    N, D = data.shape
    terms = torch.stack([-((x - a * data[i]) ** 2).sum() / (2 * h) for i in range(N)])
    return torch.logsumexp(terms, 0) - math.log(N) - 0.5 * D * math.log(2 * math.pi * h)


def ref_derivatives(data, sched, x, t):
    """Reference ``(log p, score, hessian)`` at ``x: (M, D)``, time ``t`` (float), by autograd of ref_log_prob."""
    data = torch.as_tensor(np.asarray(data), dtype=torch.float64)
    a, h = float(sched.alpha(t)), float(sched.h(t))
    lp, sc, he = [], [], []
    for xi in torch.as_tensor(np.asarray(x), dtype=torch.float64):
        def f(z):
            return ref_log_prob(data, a, h, z)
        z = xi.clone().requires_grad_(True)
        val = f(z)
        (g,) = torch.autograd.grad(val, z)
        lp.append(val.detach())
        sc.append(g)
        he.append(torch.autograd.functional.hessian(f, xi.clone()))
    return torch.stack(lp), torch.stack(sc), torch.stack(he)


def naive_scms(data: np.ndarray, a: float, h: float, x0: np.ndarray, dim: int, iters: int = 500,
               tol: float = 1e-10) -> np.ndarray:
    """Plain per-point SCMS in float64 NumPy with explicit loops: ``x <- x + P_perp(x)(a D(x) - x)``.

    The weights, denoiser and (centred) Hessian are built term by term; the normal projector comes from
    ``np.linalg.eigh`` with the eigenvalues sorted in descending order.
    """
    out = []
    N, D = data.shape
    for x in np.array(x0, dtype=np.float64):
        for _ in range(iters):
            logits = np.array([-np.sum((x - a * data[i]) ** 2) / (2 * h) for i in range(N)])
            w = np.exp(logits - logits.max())
            w /= w.sum()
            den = sum(w[i] * data[i] for i in range(N))
            cov = sum(w[i] * np.outer(data[i] - den, data[i] - den) for i in range(N))
            hess = a * a / (h * h) * cov - np.eye(D) / h
            vals, vecs = np.linalg.eigh(hess)
            vn = vecs[:, np.argsort(vals)[::-1][dim:]]
            step = vn @ (vn.T @ (a * den - x))
            x = x + step
            if np.linalg.norm(step) < tol:
                break
        out.append(x)
    return np.array(out)


def peak_rss_child(code: str, timeout: float = 120.0) -> tuple[int, int]:
    """Run ``code`` in a fresh Python; return ``(VmHWM before, VmHWM after)`` in kB from /proc/self/status.

    ``code`` runs after the imports it needs; the baseline is read after importing torch and ridgeviz, so
    the difference is the peak growth caused by ``code`` alone.
    """
    prog = textwrap.dedent("""
        import numpy as np, torch, ridgeviz as rv
        def hwm():
            for line in open('/proc/self/status'):
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
        before = hwm()
    """) + textwrap.dedent(code) + "\nprint('HWM', before, hwm())\n"
    res = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=timeout,
                         cwd=str(Path(__file__).resolve().parents[1]))
    assert res.returncode == 0, res.stderr
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("HWM")][-1]
    _, before, after = line.split()
    return int(before), int(after)
