"""Benchmark: ridge-residual histograms in the MNIST latent at full size (the "ridge deviation evolution").

    python benchmarks/bench_latent_residual.py [--n 60000] [--samples 2000] [--threads T] [--ref-queries 50]

Target: 2,000 samples at 11 recorded times, N = 60,000 training latents (all of MNIST's training set; not on this
machine, so synthesised), D = 32, d = 25, in under 60 s on this CPU with peak memory under 2 GB (``--n 6742``: the
digit-1 class, the size of the first latent runs). The training latents are Gaussian with the covariance of the
shipped VAE's encoder means of the shipped digits; the samples are ``alpha_t x_i + sigma_t z`` at the paper's
recorded times 10, 10^0.6, ..., 1e-3. Timed: ``ridgeviz.latent.analysis.ridge_deviation`` (the core's frame,
:func:`ridgeviz.local_frame`, per time). Memory: the peak resident set (VmHWM) before and after the call.

Reference, on ``--ref-queries`` samples at 3 of the times and scaled by work to 2,000 x 11: the straightforward
float64 torch computation -- explicit differences ``x - alpha x_i``, softmax, the centred covariance as one
batched product over all N points, ``torch.linalg.eigh`` -- which also checks the residuals: at d = 25 and,
since the synthetic Gaussian latents have almost no eigengap there, also at d = 1 (where more of them have one).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ridgeviz as rv
from ridgeviz.latent.analysis import latent_frames, record_steps, ridge_deviation


def hwm_mib() -> float:
    with open("/proc/self/status") as fh:
        return int(next(ln for ln in fh if ln.startswith("VmHWM:")).split()[1]) / 1024


def latent_like(N: int, rng) -> np.ndarray:
    """N synthetic latents with the covariance of the shipped VAE's encoder means of the shipped digits."""
    from ridgeviz.data.mnist import DigitsSpec, load_digits
    from ridgeviz.latent.vae import encode_latents, load_vae

    root = Path(__file__).resolve().parents[1]
    vae = load_vae(root / "assets" / "vae_mnist.safetensors")[0]
    Z = encode_latents(vae, load_digits(DigitsSpec("shipped", classes=(1,))).pixels())
    L = np.linalg.cholesky(np.cov(Z.T) + 1e-9 * np.eye(Z.shape[1]))
    return Z.mean(0) + rng.standard_normal((N, Z.shape[1])) @ L.T


def reference_residual(data: torch.Tensor, x: torch.Tensor, a: float, h: float, dim: int):
    """Straightforward float64: explicit differences, softmax, centred covariance by bmm, eigh; per query."""
    out, gaps = [], []
    for xm in x:
        diff = xm[None, :] - a * data
        w = torch.softmax(-(diff * diff).sum(-1) / (2 * h), 0)
        den = w @ data
        Y = (data - den) * w.sqrt()[:, None]
        H = (a * a / (h * h)) * (Y.T @ Y) - torch.eye(data.shape[1], dtype=data.dtype) / h
        vals, vecs = torch.linalg.eigh(H)  # ascending: the D - d smallest span the normal space
        g = (a * den - xm) / h
        out.append(float((vecs[:, : data.shape[1] - dim].T @ g).norm()))
        gaps.append(h * float(vals[data.shape[1] - dim] - vals[data.shape[1] - dim - 1]))
    return np.array(out), np.array(gaps)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=60000, help="training latents (60,000: all of MNIST)")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--dim", type=int, default=25)
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--ref-queries", type=int, default=50, help="samples per time the reference runs on")
    ap.add_argument("--device", default="cpu", help="where the density lives (cpu or cuda)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    N, M = args.n, args.samples
    rng = np.random.default_rng(0)
    X = latent_like(N, rng)
    sched = rv.get_schedule("ou")
    grid = sched.time_grid(100)
    times = grid[record_steps(grid, 11)]
    idx = rng.integers(0, N, size=(len(times), M))
    xs = np.stack([float(sched.alpha(t)) * X[i] + math.sqrt(float(sched.h(t))) * rng.standard_normal((M, X.shape[1]))
                   for t, i in zip(times, idx)])
    dens = rv.SmoothedEmpirical(X, sched, device=args.device)
    print(f"N = {N} latents, D = {X.shape[1]}, M = {M} samples, {len(times)} times, d = {args.dim}, device "
          f"{args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")

    ridge_deviation(dens, xs[:2, :8], times[:2], args.dim)  # warm-up: first calls load kernels and LAPACK
    before = hwm_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    dev = ridge_deviation(dens, xs, times, args.dim)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    after = hwm_mib()
    load = os.getloadavg()[0]

    k = min(args.ref_queries, M)
    rows = (0, len(times) // 2, len(times) - 1)
    data_t = torch.as_tensor(X)
    t0 = time.perf_counter()
    refs = {r: reference_residual(data_t, torch.as_tensor(xs[r, :k]), float(sched.alpha(times[r])),
                                  float(sched.h(times[r])), args.dim) for r in rows}
    ref_time = (time.perf_counter() - t0) * (M / k) * (len(times) / len(rows))

    print(f"ridgeviz.latent.analysis.ridge_deviation: {wall:.1f} s wall, {cpu:.1f} s CPU (load average {load:.1f}); "
          f"peak resident set {before:.0f} -> {after:.0f} MiB (+{after - before:.0f} MiB)")
    print(f"target: < 60 s and peak < 2048 MiB -> {'met' if wall < 60 and after < 2048 else 'MISSED'}")
    print(f"reference (explicit differences, dense centred covariance, eigh), {k} samples at {len(rows)} times scaled "
          f"by work: {ref_time:.0f} s = {ref_time / wall:.0f}x ridgeviz")
    for r in rows:
        t = float(times[r])
        for d, (res, gap), fast in ((args.dim, refs[r], dev.residual[r, :k]),
                                    (1, reference_residual(data_t, torch.as_tensor(xs[r, :k]), float(sched.alpha(t)),
                                                           float(sched.h(t)), 1),
                                     latent_frames(dens, xs[r, :k], t, 1).residual)):
            ok = gap > 1e-3  # where the normal space is defined the residual is well conditioned
            err = np.abs(fast - res)[ok].max() / res[ok].max() if ok.any() else float("nan")
            print(f"  t = {t:.3g}, d = {d:2d}: max |ridgeviz - reference| / max residual where the scaled gap > 1e-3 "
                  f"({ok.sum()} of {k}): {err:.1e}")
    print("fraction of samples with a defined normal space per time: "
          + " ".join(f"{t:.3g}:{1 - u:.2f}" for t, u in zip(times, dev.undefined.mean(1))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
