"""Benchmark: the authors' whole 2-D random-feature experiment at their settings, end to end (target: <= 15 s).

Settings (the authors' 2-D script): the two points (+-3, 0), OU with T = 10, p = 2,000 random features,
K = 128 Fourier time frequencies, 2,000 samples and 2,000 Euler-Maruyama steps (geometric grid to t = 1e-3) for
each of 5 training times tau (ridgeviz's choice of values: 1, 10, 100, 1,000, inf). Steps timed:

1. the feature moments U, V once (ridgeviz's deterministic quadrature on the authors' [t_min, T]);
2. the readout A(tau) by gradient flow for each tau (one eigendecomposition of U, shared);
3. the 5 reverse runs in lockstep (``ridgeviz.models.rf_sampler.em_finals``: the time term once per step for all
   taus, the fused readout loop of ``ridgeviz.models.rf_kernels`` for each, final samples only);
4. the ridge residual (d = 1) of each run's final samples, and the share of them away from both points.

**Share of the GEMM rate.** One step is ``4 M p D`` flops (``2 M p D`` for ``W_x x``, as many for ``A relu(.)``;
the bias, relu and the EM update are not counted), 32 MFLOP at M = p = 2,000, D = 2. The float64 GEMM rate is
measured beside it in the same process (a 2,000 x 2,000 product, best of 5, before and after the experiment);
the report gives the step's rate as a share of it (target >= 40%).

**References**, on ``--plain-steps`` steps of one tau and scaled by the work (steps x taus): the plain
per-particle evaluation ``relu(W_x x + W_t phi(t_m) + b) / sqrt(p) @ A^T`` (what ridgeviz did first),
and ``ridgeviz.sample`` with the model's own score (what this benchmark timed before the lockstep sampler). The lockstep
sampler gives the plain evaluation's samples to rounding (printed). The optional float32 path (``--float32``)
reruns tau = inf in float32 and states its error against float64.

Run: ``OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_rf_experiment.py [--threads T] [--quick] [--float32]``.
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
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.models.random_features import RandomFeatureModel, fit_random_features
from ridgeviz.models.rf_analysis import inter_mode_mass, tau_label
from ridgeviz.models.rf_kernels import fused_kernel, readout_fused
from ridgeviz.models.rf_moments import feature_moments
from ridgeviz.models.rf_sampler import em_finals

TAUS = (1.0, 10.0, 100.0, 1000.0, math.inf)


class PlainScore:
    """The random-feature score with the time term computed for every particle (the reference)."""

    def __init__(self, model):
        self.model, self.schedule = model, model.schedule

    def __call__(self, x, t):
        rf = self.model.rf
        tt = torch.as_tensor(t, dtype=torch.float64).reshape(-1).expand(x.shape[0])
        pre = x @ rf.W_x.T + rf.time_embedding(tt) @ rf.W_t.T + rf.b
        return ((torch.relu(pre) / math.sqrt(rf.p)) @ self.model.A.T - x) / self.schedule.h(tt)[:, None]


def clock(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def gemm_rate(n: int = 2000, repeats: int = 5) -> float:
    """Float64 GEMM rate of this process (flop/s): an ``n x n`` product, the fastest of ``repeats``."""
    a, b = (torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(i)) for i in (0, 1))
    a @ b
    return 2.0 * n**3 / min(clock(lambda: a @ b)[1] for _ in range(repeats))


def moment_flops(nodes: int, p: int) -> float:
    """Flops of U's products: ``2 p^2`` per node over the column blocks on and above the diagonal."""
    from ridgeviz.models.rf_moments import U_BLOCK

    b = math.ceil(p / U_BLOCK)
    return 2.0 * nodes * p * p * (b * (b + 1) / 2) / (b * b)


def readout_time(model, x, t: float, repeats: int = 20) -> float:
    """Seconds of one readout ``A f(x, t)`` of ``model`` at the samples ``x``: the fastest of ``repeats``."""
    c, weights = model.rf.time_rows(t, 1)[0][0], model.fused_weights()
    readout_fused(x, c, weights)
    return min(clock(lambda: readout_fused(x, c, weights))[1] for _ in range(repeats))


def lockstep(models, x_T, times, taus):
    return em_finals({tau: models[tau] for tau in taus}, x_T, times,
                     {tau: torch.Generator().manual_seed(2) for tau in taus})


def references(models, x_T, times, k, scale, sampling, tau0):
    """Plain per-particle evaluation and ``ridgeviz.sample`` on ``k`` steps of ``tau0``, against the lockstep run."""
    sub = times[:k + 1]
    for model in (models[tau0], PlainScore(models[tau0])):  # warm-up before the side-by-side timing
        rv.sample(model, x_T, sub[:3], "em", generator=torch.Generator().manual_seed(2))
    fast, t_fast = clock(lambda: lockstep(models, x_T, sub, [tau0])[tau0])
    old, t_old = clock(lambda: rv.sample(models[tau0], x_T, sub, "em", generator=torch.Generator().manual_seed(2)))
    plain, t_plain = clock(lambda: rv.sample(PlainScore(models[tau0]), x_T, sub, "em",
                                             generator=torch.Generator().manual_seed(2)).final)
    print(f"references on {k} steps of tau = {tau_label(tau0)}, scaled by work to the whole run (x{scale:.0f}):")
    print(f"  plain per-particle evaluation: {t_plain:.2f} s -> {t_plain * scale:.0f} s = "
          f"{t_plain * scale / sampling:.1f}x the lockstep sampling ({t_plain / t_fast:.1f}x on these steps)")
    print(f"  ridgeviz.sample with the model's score: {t_old:.2f} s -> {t_old * scale:.1f} s = "
          f"{t_old * scale / sampling:.1f}x")
    print(f"  same samples: max |lockstep - plain| after {k} steps {float((fast - plain).abs().max()):.1e}, "
          f"|lockstep - ridgeviz.sample| {float((fast - old.final).abs().max()):.1e}")


def float32_error(models, x_T, times, finals, data):
    from ridgeviz.models.random_features import RandomFeatureScore

    m = models[math.inf]
    m32 = RandomFeatureScore(m.rf, m.A, m.schedule, math.inf, precision="float32")
    (f32,), t32 = clock(lambda: tuple(lockstep({math.inf: m32}, x_T, times, [math.inf]).values()))
    f64 = finals[math.inf]
    d = (f32 - f64).norm(dim=1)
    print(f"float32 path, tau = inf, {len(times) - 1} steps: {t32:.2f} s; final samples against float64: median "
          f"|difference| {float(d.median()):.1e}, max {float(d.max()):.1e} (data scale 3); share away from both "
          f"points {inter_mode_mass(f32, data):.1%} against {inter_mode_mass(f64, data):.1%}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--quick", action="store_true", help="p = 500, K = 32, 500 samples x 500 steps")
    ap.add_argument("--plain-steps", type=int, default=20, help="steps of the reference runs (scaled up)")
    ap.add_argument("--float32", action="store_true", help="also run tau = inf in float32 and state its error")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    p, K, M, steps = (500, 32, 500, 500) if args.quick else (2000, 128, 2000, 2000)
    data = np.asarray(MODE_SETS["two-points"], dtype=np.float64)
    sched = rv.get_schedule("ou")
    dens = rv.SmoothedEmpirical(data, sched)
    rf = RandomFeatureModel(2, p, K, sched.T, generator=torch.Generator().manual_seed(0))
    times = sched.time_grid(steps)
    x_T = rv.prior_sample(sched, M, 2, torch.Generator().manual_seed(1))
    fused_kernel()  # compile (or load from numba's cache) before the clock starts
    gemm_before = gemm_rate()
    start = time.perf_counter()
    moments, t_mom = clock(lambda: feature_moments(rf, data, sched))
    models, t_fit = clock(lambda: {tau: fit_random_features(rf, data, sched, tau, moments=moments) for tau in TAUS})
    finals, sampling = clock(lambda: lockstep(models, x_T, times, TAUS))
    res, t_res = clock(lambda: {tau: rv.ridge_residual(dens, finals[tau], float(times[-1]), 1) for tau in TAUS})
    total = time.perf_counter() - start
    gemm = 0.5 * (gemm_before + gemm_rate())
    per_step = sampling / (len(TAUS) * steps)
    rate = 4.0 * M * p * 2 / per_step

    print(f"2-D random-feature experiment: (+-3, 0), OU T = 10, p = {p}, K = {K}, {M} samples x {steps} EM steps, "
          f"taus {', '.join(tau_label(t) for t in TAUS)}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"  moments U, V (once, {moments.nodes:,} quadrature nodes): {t_mom:7.2f} s = "
          f"{moment_flops(moments.nodes, p) / t_mom / 1e9:.1f} GFLOP/s in U's products, "
          f"{moment_flops(moments.nodes, p) / t_mom / gemm:.0%} of the GEMM rate")
    print(f"  readouts A(tau) for {len(TAUS)} taus:                        {t_fit:7.2f} s")
    print(f"  sampling, {len(TAUS)} taus in lockstep:                       {sampling:7.2f} s")
    for tau in TAUS:
        print(f"    tau = {tau_label(tau):>5}: final residual median {float(res[tau].median()):.3g}, away from both "
              f"points {inter_mode_mass(finals[tau], data):.1%}, loss {moments.loss(models[tau].A):.4f}")
    print(f"  residuals of the final samples:                       {t_res:7.2f} s")
    print(f"total: {total:.1f} s (target <= 15 s: {'met' if total <= 15 else 'missed'})")
    print(f"step: {per_step * 1e3:.3f} ms per step of {M} particles x {p} features = {rate / 1e9:.1f} GFLOP/s; "
          f"float64 GEMM beside it {gemm / 1e9:.1f} GFLOP/s (before {gemm_before / 1e9:.1f}): "
          f"{rate / gemm:.0%} of the GEMM rate (target >= 40%)")
    kernel = readout_time(models[math.inf], finals[math.inf], float(times[steps // 2]))
    print(f"readout alone (the fused loop, best of 20 at t = {float(times[steps // 2]):.3g}): {kernel * 1e3:.3f} ms = "
          f"{4.0 * M * p * 2 / kernel / 1e9:.1f} GFLOP/s, {4.0 * M * p * 2 / kernel / gemm:.0%} of the GEMM rate; the "
          f"rest of a step ({(per_step - kernel) * 1e3:.3f} ms) is the noise draw and the EM update")
    k = min(args.plain_steps, steps)
    references(models, x_T, times, k, (steps / k) * len(TAUS), sampling, TAUS[0])
    if args.float32:
        float32_error(models, x_T, times, finals, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
