"""Shared fixtures and slow, obviously-correct references for the numerical-core tests.

The references here are deliberately naive: an explicit float64 log-sum over the Gaussian mixture
``p_t(x) = (1/N) sum_i N(x; alpha_t x_i, h_t I)`` differentiated by autograd, and a per-point SCMS loop in
NumPy. Fast library code is compared against them.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import browser_util as bu
import numpy as np
import pytest
import torch

import ridgeviz as rv
from ridgeviz.data.datasets import MODE_SETS

# The tests use small tensors. On a busy 2-core machine torch's second intra-op thread mostly spin-waits:
# measured for the numerical-core tests at load ~5, 56 s with 2 threads and 25 s with 1 (the sampler tests
# 30x slower). Set RIDGEVIZ_TEST_THREADS to use more.
torch.set_num_threads(int(os.environ.get("RIDGEVIZ_TEST_THREADS", "1")))

# The app's heavy work runs below the pages' CPU priority (ridgeviz/app/priority.py). On a machine shared with other
# work at ordinary priority that starves it, and the app's measured rates and the estimates calibrated from them
# would then depend on that other work: measured here, five app tests failed beside a reproduction run and passed
# with this set. The suite keeps heavy work at ordinary priority (servers it starts inherit this);
# tests/test_serving.py sets the variable where it tests the priority itself.
os.environ.setdefault("RIDGEVIZ_HEAVY_NICE", "0")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or ``"unknown"``."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "unknown")
    except OSError:
        return "unknown"


def pytest_report_header(config):
    """The CPU and kernel paths decide the last bits of float results (tests/test_portable.py): print them."""
    return (f"CPU: {cpu_model()}; torch kernels: {torch.backends.cpu.get_cpu_capability()}; "
            f"MKL_CBWR={os.environ.get('MKL_CBWR', 'unset')}; torch threads: {torch.get_num_threads()}")


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
    """``log (1/N sum_i N(x; a x_i, h I))`` for one point ``x: (D,)``, summed explicitly over ``data: (N, D)``."""
    N, D = data.shape
    terms = -((x[None, :] - a * data) ** 2).sum(-1) / (2 * h)  # (N,) log N(x; a x_i, h I) + const
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


def ref_hessian_extended(data, sched, x, t) -> np.ndarray:
    """Reference Hessian ``-I/h + (a^2/h^2) sum_i w_i (x_i - D)(x_i - D)^T`` in extended precision (np.longdouble).

    Autograd differentiates the log-sum-exp through its uncentred form, which loses about
    ``log10(|x - a x_i|^2 / h)`` digits when the posterior is split between far-apart points; this
    term-by-term centred sum in 80-bit arithmetic is the tight reference for those cases. ``x: (M, D)``.
    """
    L = np.longdouble
    X = np.asarray(data, dtype=L)
    a, h = np.exp(L(float(sched.log_alpha(t)))), L(float(sched.h(t)))
    out = []
    for xm in np.asarray(x, dtype=L):
        logits = -((xm - a * X) ** 2).sum(1) / (2 * h)
        w = np.exp(logits - logits.max())
        w /= w.sum()
        Y = X - (w[:, None] * X).sum(0)
        out.append(a * a / (h * h) * np.einsum("i,ij,ik->jk", w, Y, Y) - np.eye(X.shape[1], dtype=L) / h)
    return np.array(out)


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


def peak_rss_child(setup: str, code: str, timeout: float = 120.0) -> tuple[int, int]:
    """Run ``setup`` then ``code`` in a fresh Python; return VmHWM (kB, /proc/self/status) after each.

    The peak resident set is read from the kernel, since tracemalloc does not see torch's allocations;
    the difference is the peak growth caused by ``code`` alone.
    """
    prog = "\n".join([
        "import numpy as np, torch, ridgeviz as rv",
        f"torch.set_num_threads({torch.get_num_threads()})",
        "def hwm():",
        "    return int(next(ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')).split()[1])",
        textwrap.dedent(setup),
        "before = hwm()",
        textwrap.dedent(code),
        "print('HWM', before, hwm())",
    ])
    res = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=timeout,
                         cwd=str(Path(__file__).resolve().parents[1]))
    assert res.returncode == 0, res.stderr
    _, before, after = [ln for ln in res.stdout.splitlines() if ln.startswith("HWM")][-1].split()
    return int(before), int(after)


_MAIN = sys.modules.get("__main__")  # pytest's own, recorded before any test runs


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's AppTest runs a page as ``__main__`` and leaves it in ``sys.modules``; a spawned worker process
    (reproduce's executor) would then re-run that page on start-up. Put pytest's ``__main__`` back around every
    test (before too: module-scoped fixtures run AppTest before this fixture)."""
    if _MAIN is not None:
        sys.modules["__main__"] = _MAIN
    yield
    if _MAIN is not None:
        sys.modules["__main__"] = _MAIN


# -- the real-browser tests' server and Chromium (test_browser.py, test_projector.py) ---------------------------
@pytest.fixture(scope="module")
def server():
    """A Streamlit server of this checkout for one test module: its URL."""
    bu.SHOTS.mkdir(parents=True, exist_ok=True)
    with bu.streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, for one test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = bu.launch(p)
        yield b
        b.close()
