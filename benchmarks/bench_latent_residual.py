"""Benchmark: ridge-residual histograms in the MNIST latent (the "ridge deviation evolution").

    python benchmarks/bench_latent_residual.py [--quick] [--full-reference] [--ref-times 2] [--device cuda]

Target (issue 5): 2,000 samples at 11 recorded times, N = 6,742 training latents (the digit-1 class of full
MNIST), D = 32, d = 25, in <= 10 s on two CPU cores within 2 GB. The training latents are synthetic with the
spectrum of the shipped VAE's digit-1 latents (Gaussian with their covariance), the samples are
``alpha_t x_i + sigma_t z`` at the paper's recorded times 10, 10^0.6, ..., 1e-3. ``ridgeviz.latent_analysis.
ridge_deviation`` is timed against the straightforward reference, the core's ``ridgeviz.ridge_residual`` (float64
torch, centred covariance by batched products, ``torch.linalg.eigh``), run in the same process on
``--ref-times`` of the 11 times and scaled by 11 / ref-times (``--full-reference`` runs all 11). Memory is the
growth of the peak resident set (VmHWM) during the fast call.
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
from ridgeviz.latent.analysis import record_steps, ridge_deviation


def hwm_mib() -> float:
    with open("/proc/self/status") as fh:
        return int(next(ln for ln in fh if ln.startswith("VmHWM:")).split()[1]) / 1024


def latent_like(N: int, rng) -> np.ndarray:
    """N synthetic latents with the covariance of the shipped VAE's encoder means of the shipped ones."""
    from ridgeviz.data.mnist import DigitsSpec, load_digits
    from ridgeviz.latent.vae import encode_latents, load_vae

    root = Path(__file__).resolve().parents[1]
    vae = load_vae(root / "assets" / "vae_mnist.safetensors")[0]
    Z = encode_latents(vae, load_digits(DigitsSpec("shipped", classes=(1,))).pixels())
    L = np.linalg.cholesky(np.cov(Z.T) + 1e-9 * np.eye(Z.shape[1]))
    return Z.mean(0) + rng.standard_normal((N, Z.shape[1])) @ L.T


def accuracy(dens, xs, times, dim) -> None:
    """Fast versus reference: residual where the ridge is defined (also at d = 1, where more of it is), gap."""
    from ridgeviz.latent.analysis import latent_frames

    for d in sorted({dim, 1}):
        worst, gap_err, n_ok = 0.0, 0.0, 0
        for r in (2, 5, len(times) - 1):
            x = xs[r][:200]
            frame = rv.local_frame(dens, x, float(times[r]), d)
            fast = latent_frames(dens, x, float(times[r]), d)
            res, gap = frame.residual.cpu().numpy(), frame.scaled_gap.cpu().numpy()
            ok = gap >= 1e-3
            gap_err = max(gap_err, float(np.abs(fast.scaled_gap - gap).max()))
            if ok.any():
                n_ok += int(ok.sum())
                worst = max(worst, float(np.max(np.abs(fast.residual[ok] - res[ok]) / res[ok].max())))
        print(f"d = {d:2d}: max |fast - reference| / max residual where defined ({n_ok} of 600 points): {worst:.1e}; "
              f"max scaled-gap difference {gap_err:.1e}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="N = 1,000, M = 300 (a smoke run)")
    ap.add_argument("--full-reference", action="store_true", help="run the reference at all 11 times")
    ap.add_argument("--ref-times", type=int, default=2, help="times the reference runs at (scaled to 11)")
    ap.add_argument("--dim", type=int, default=25)
    ap.add_argument("--device", default="cpu", help="where the density lives (cpu or cuda)")
    args = ap.parse_args(argv)
    N, M = (1000, 300) if args.quick else (6742, 2000)
    rng = np.random.default_rng(0)
    X = latent_like(N, rng)
    sched = rv.get_schedule("ou")
    times = sched.time_grid(100)[record_steps(sched.time_grid(100), 11)]
    idx = rng.integers(0, N, size=(len(times), M))
    xs = np.stack([float(sched.alpha(t)) * X[i] + math.sqrt(float(sched.h(t))) * rng.standard_normal((M, X.shape[1]))
                   for t, i in zip(times, idx)])
    dens = rv.SmoothedEmpirical(X, sched, device=args.device)
    print(f"N = {N} latents, D = {X.shape[1]}, M = {M} samples, {len(times)} times, d = {args.dim}, "
          f"device {args.device}, torch threads = {torch.get_num_threads()}")

    ridge_deviation(dens, xs[:2, :8], times[:2], args.dim)  # warm-up: first calls load kernels and LAPACK
    rv.ridge_residual(dens, xs[0, :8], float(times[0]), args.dim)
    before = hwm_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    dev = ridge_deviation(dens, xs, times, args.dim)
    fast, fast_cpu = time.perf_counter() - t0, time.process_time() - c0
    grown = hwm_mib() - before

    ref_rows = range(len(times)) if args.full_reference else np.linspace(0, len(times) - 1, args.ref_times).round()
    ref_rows = sorted({int(r) for r in ref_rows})
    t0, c0 = time.perf_counter(), time.process_time()
    ref = {r: rv.ridge_residual(dens, xs[r], float(times[r]), args.dim).cpu().numpy() for r in ref_rows}
    scale = len(times) / len(ref_rows)
    ref_time, ref_cpu = (time.perf_counter() - t0) * scale, (time.process_time() - c0) * scale

    print(f"{'method':<44} {'wall (s)':>9} {'CPU (s)':>9}")
    print(f"{'ridgeviz.latent_analysis.ridge_deviation':<44} {fast:9.2f} {fast_cpu:9.2f}")
    scaled = "" if args.full_reference else f" (run at {len(ref_rows)} times, x{scale:.1f})"
    print(f"{'reference: ridgeviz.ridge_residual per time' + scaled:<44} {ref_time:9.2f} {ref_cpu:9.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other processes slow the wall time)")
    print(f"speed-up: {ref_time / fast:.1f}x (CPU time: {ref_cpu / fast_cpu:.1f}x)   "
          f"peak memory growth: {grown:.0f} MiB   "
          f"target: <= 10 s and <= 2048 MiB -> {'met' if fast <= 10 and grown <= 2048 else 'MISSED'}")
    accuracy(dens, xs, times, args.dim)
    print("fraction of samples with a defined normal space per time: "
          + " ".join(f"{t:.3g}:{1 - u:.2f}" for t, u in zip(times, dev.undefined.mean(1))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
