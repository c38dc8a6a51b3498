"""Benchmark: density + Hessian + eigendecomposition at MNIST-latent scale, as a share of the matrix-multiply floor.

ridgeviz: ``ridgeviz.local_frame`` (score and Hessian from the posterior moments as matrix products,
:mod:`ridgeviz.core.posterior`, then a batched symmetric eigendecomposition), float64, M = 2,000 queries,
N = 6,742 points (the digit-1 class of MNIST), D = 32, t = 0.1 (OU).

**The floor** is the time of the *dense formulation* -- softmax weights, the centred covariance as the products
``(w Y)^T Y``, ``2 M N D^2 + 4 M N D`` flops -- at this machine's float64 GEMM rate, measured in the same run
(the best of three 2048^3 products with the same threads). ``of floor`` = floor / measured time, so 100% means
the whole pass ran in the time the dense covariance products alone would take at the GEMM rate. ridgeviz does
less arithmetic than that formulation (the upper triangle of the second moments: ``2 M N (1 + D + D(D+1)/2)``
flops), so it can exceed 100%; its own GEMM efficiency is printed too.

The GEMM rate and ridgeviz are timed alternately ``--repeats`` times (one GEMM-rate measurement before each run),
and each run's share uses the rate measured next to it: on a shared machine both slow down together. The range
over runs and the best run are printed.

Reference, run once on ``--ref-queries`` queries and scaled by M (what one writes first in NumPy): broadcast
differences ``x - a x_i``, softmax weights, ``np.einsum`` for the posterior covariance, ``np.linalg.eigh``;
also with the covariance as one BLAS product per chunk. Their eigenvalues check ridgeviz's.

Run with ``OMP_WAIT_POLICY=PASSIVE`` on a shared machine: ``python benchmarks/bench_density.py [--quick]
[--threads T] [--repeats R] [--device cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ridgeviz as rv


def make_problem(M: int, N: int, D: int, t: float, seed: int = 0):
    """Clustered data ``(N, D)`` (ten Gaussian clusters, like digit classes in a latent) and queries near it."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(10, D)) * 2.0
    data = centres[rng.integers(0, 10, N)] + rng.normal(size=(N, D))
    sched = rv.get_schedule("ou")
    a, s = float(sched.alpha(t)), float(sched.sigma(t))
    x = a * data[rng.integers(0, N, M)] + s * rng.normal(size=(M, D))
    return sched, data, x


def reference_frame(data, x, a, h, chunk: int, blas: bool = False):
    """Straightforward NumPy: broadcast differences, softmax, einsum covariance, eigh; eigenvalues descending."""
    D = data.shape[1]
    vals = np.empty((len(x), D))
    for i in range(0, len(x), chunk):
        xc = x[i:i + chunk]
        diff = xc[:, None, :] - a * data[None, :, :]  # (c, N, D)
        logits = -np.sum(diff * diff, axis=-1) / (2 * h)
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(axis=1, keepdims=True)
        den = w @ data
        Y = data[None, :, :] - den[:, None, :]
        if blas:
            cov = np.matmul(np.ascontiguousarray((w[:, :, None] * Y).transpose(0, 2, 1)), Y)
        else:
            cov = np.einsum("mn,mni,mnj->mij", w, Y, Y)
        H = (a * a / (h * h)) * cov - np.eye(D) / h
        vals[i:i + chunk] = np.linalg.eigh(H)[0][:, ::-1]
    return vals


def gemm_rate(device: str, n: int = 2048, reps: int = 3) -> tuple[float, float]:
    """float64 GEMM rate in flop/s of wall and of process CPU time (best of ``reps`` n x n products)."""
    a = torch.randn(n, n, dtype=torch.float64, device=device)
    b = torch.randn(n, n, dtype=torch.float64, device=device)
    a @ b
    best, best_cpu = np.inf, np.inf
    for _ in range(reps):
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        a @ b
        _sync(device)
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    return 2 * n**3 / best, 2 * n**3 / best_cpu


def _sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str = "cpu"):
    """``(result, wall seconds, process CPU seconds)`` of one call."""
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="M=200, N=2000 instead of M=2000, N=6742")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="where ridgeviz runs (the reference is always NumPy)")
    p.add_argument("--t", type=float, default=0.1, help="diffusion time of the queries (OU)")
    p.add_argument("--repeats", type=int, default=5, help="alternating GEMM-rate / ridgeviz runs")
    p.add_argument("--ref-queries", type=int, default=100, help="queries the NumPy references run on (scaled)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    M, N, D = (200, 2000, 32) if args.quick else (2000, 6742, 32)
    sched, data, x = make_problem(M, N, D, args.t)
    a, h = float(sched.alpha(args.t)), float(sched.h(args.t))
    dens = rv.SmoothedEmpirical(torch.as_tensor(data, device=args.device), sched)
    xq = torch.as_tensor(x, device=args.device)
    rv.local_frame(dens, xq, args.t, 1)  # warm-up: library loading, first kernels, the cached moment basis
    floor_flops = 2 * M * N * D**2 + 4 * M * N * D
    own_flops = 2 * M * N * (1 + D + D * (D + 1) // 2) + 2 * M * N * (D + 2)
    runs = []
    for _ in range(args.repeats):
        rate, rate_cpu = gemm_rate(args.device)
        frame, wall, cpu = timed(lambda: rv.local_frame(dens, xq, args.t, 1), args.device)
        runs.append((floor_flops / rate / wall, wall, cpu, rate, floor_flops / rate_cpu / cpu))
    share, wall, cpu, rate, _ = max(runs)
    lam = frame.eigenvalues.cpu().numpy()

    k = min(args.ref_queries, M)
    chunk = max(1, 2**21 // (N * D))
    ref, t_ref, c_ref = timed(lambda: reference_frame(data, x[:k], a, h, chunk))
    ref_blas, t_blas, c_blas = timed(lambda: reference_frame(data, x[:k], a, h, chunk, blas=True))
    scale = M / k
    t_ref, c_ref, t_blas, c_blas = t_ref * scale, c_ref * scale, t_blas * scale, c_blas * scale

    print(f"density + Hessian + eigh, float64: M={M} queries, N={N} points, D={D}, t={args.t} (OU), "
          f"device {args.device}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"float64 GEMM rate (beside the best run): {rate / 1e9:.1f} GFLOP/s; dense floor "
          f"{floor_flops / 1e9:.1f} GFLOP -> {floor_flops / rate:.3f} s")
    print(f"{'implementation':<44} {'wall [s]':>9} {'CPU [s]':>8} {'speed-up':>9} {'of floor':>9}")
    rows = [(f"NumPy reference, einsum (x{scale:.0f} from {k} queries)", t_ref, c_ref),
            (f"NumPy, covariance by BLAS (x{scale:.0f} from {k} queries)", t_blas, c_blas),
            ("ridgeviz.local_frame (best run)", wall, cpu)]
    for name, sec, c in rows:
        print(f"{name:<44} {sec:9.3f} {c:8.3f} {t_ref / sec:8.1f}x {floor_flops / rate / sec:9.1%}")
    shares, cpu_shares = sorted(r[0] for r in runs), sorted(r[4] for r in runs)
    print(f"ridgeviz share of the dense floor over {len(runs)} runs: {shares[0]:.0%} - {shares[-1]:.0%}, median "
          f"{shares[len(shares) // 2]:.0%} (each against the GEMM rate measured beside it; wall "
          f"{min(r[1] for r in runs):.3f} - {max(r[1] for r in runs):.3f} s); in process CPU time "
          f"{cpu_shares[0]:.0%} - {cpu_shares[-1]:.0%}; target >= 50%: {'met' if share >= 0.5 else 'missed'}")
    print(f"ridgeviz's own arithmetic: {own_flops / 1e9:.1f} GFLOP -> {own_flops / wall / 1e9:.1f} GFLOP/s, "
          f"{own_flops / wall / rate:.0%} of the GEMM rate (eigendecomposition included in the time)")
    print(f"max |eigenvalue difference| on the first {k} queries: {np.abs(lam[:k] - ref).max():.3e} "
          f"(ridgeviz vs einsum reference), {np.abs(ref_blas - ref).max():.3e} (BLAS vs einsum); "
          f"largest |eigenvalue| {np.abs(ref).max():.3e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
