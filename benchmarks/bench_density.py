"""Benchmark: density + Hessian + eigendecomposition at MNIST-latent scale against a straightforward NumPy version.

ridgeviz: ``ridgeviz.local_frame`` (one chunked softmax pass giving score and centred-covariance Hessian, then
a batched symmetric eigendecomposition), float64. Reference: what one writes first in NumPy -- broadcast differences
``x - a x_i``, softmax weights, ``np.einsum`` for the posterior covariance, chunked to fit in memory,
``np.linalg.eigh``. Also measured in the same run: the reference with the covariance as one matrix product
(``(w Y)^T Y``, BLAS), and this machine's float64 GEMM rate (a large torch matmul), so the Hessian pass can be
reported as a fraction of peak with ``2 M N D^2 + 4 M N D`` flops.

On a busy machine run with ``OMP_WAIT_POLICY=PASSIVE`` (or ``--threads 1``): torch's OpenMP threads spin-wait by
default, and with other processes competing for the cores small-tensor work ran 10-15x slower here.

Run: ``python benchmarks/bench_density.py [--quick] [--threads T] [--device cpu|cuda]``.
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

import ridgeviz as rv  # noqa: E402


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
    N, D = data.shape
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


def gemm_rate(device: str, n: int = 2048, reps: int = 3) -> float:
    """float64 GEMM rate in flop/s (best of ``reps`` n x n products)."""
    a = torch.randn(n, n, dtype=torch.float64, device=device)
    b = torch.randn(n, n, dtype=torch.float64, device=device)
    a @ b
    best = np.inf
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def _sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def best_of(fn, reps: int, device: str = "cpu"):
    """``(result, wall seconds, process CPU seconds)`` of the fastest of ``reps`` calls."""
    out, best = None, (np.inf, np.inf)
    for _ in range(reps):
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        _sync(device)
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
    return out, *best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="M=200, N=2000 instead of M=2000, N=6742")
    p.add_argument("--threads", type=int, default=None, help="torch/BLAS threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="where ridgeviz runs (the reference is always NumPy)")
    p.add_argument("--t", type=float, default=0.1, help="diffusion time of the queries (OU)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    M, N, D = (200, 2000, 32) if args.quick else (2000, 6742, 32)
    sched, data, x = make_problem(M, N, D, args.t)
    a, h = float(sched.alpha(args.t)), float(sched.h(args.t))
    dens = rv.SmoothedEmpirical(torch.as_tensor(data, device=args.device), sched)
    chunk = max(1, dens.chunk_elements // (N * D))  # the reference gets ridgeviz's temporary budget
    xq = torch.as_tensor(x, device=args.device)
    rv.local_frame(dens, xq[:8], args.t, 1)  # warm-up (library loading, first kernels)
    frame, t_lib, c_lib = best_of(lambda: rv.local_frame(dens, xq, args.t, 1), 3, args.device)
    lam = frame.eigenvalues.cpu().numpy()
    ref, t_ref, c_ref = best_of(lambda: reference_frame(data, x, a, h, chunk), 1)
    ref_blas, t_blas, c_blas = best_of(lambda: reference_frame(data, x, a, h, chunk, blas=True), 2)
    peak = gemm_rate(args.device)
    flops = 2 * M * N * D**2 + 4 * M * N * D

    scale = np.abs(ref).max()
    print(f"density + Hessian + eigh, float64: M={M} queries, N={N} points, D={D}, t={args.t} (OU), "
          f"device {args.device}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; "
          f"float64 GEMM rate {peak / 1e9:.1f} GFLOP/s")
    print(f"{'implementation':<40} {'wall [s]':>9} {'CPU [s]':>8} {'speed-up':>9} {'GFLOP/s':>8} {'of GEMM':>8}")
    rows = [("NumPy reference (einsum covariance)", t_ref, c_ref),
            ("NumPy, covariance by matmul (BLAS)", t_blas, c_blas), ("ridgeviz.local_frame", t_lib, c_lib)]
    for name, sec, cpu in rows:
        rate = flops / sec
        print(f"{name:<40} {sec:9.3f} {cpu:8.3f} {t_ref / sec:8.1f}x {rate / 1e9:8.2f} {rate / peak:8.1%}")
    print(f"speed-up over the einsum reference: {t_ref / t_lib:.1f}x (target >= 10x: "
          f"{'met' if t_ref / t_lib >= 10 else 'missed'})")
    print(f"max |eigenvalue difference|: {np.abs(lam - ref).max():.3e} (ridgeviz vs einsum reference), "
          f"{np.abs(ref_blas - ref).max():.3e} (BLAS vs einsum reference); largest |eigenvalue| {scale:.3e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
