"""Benchmark: the authors' whole 2-D random-feature experiment at their settings, end to end (target: <= 1 minute).

Settings (the authors' 2-D script): the two points (+-3, 0), OU with T = 10, p = 2,000 random features,
K = 128 Fourier time frequencies, 2,000 samples and 2,000 Euler-Maruyama steps (geometric grid to t = 1e-3) for
each of 5 training times tau (ridgeviz's choice of values: 1, 10, 100, 1,000, inf). Steps timed:

1. the feature moments U, V once (ridgeviz's deterministic quadrature);
2. the readout A(tau) by gradient flow for each tau (one eigendecomposition of U, shared);
3. the 5 reverse runs through ``ridgeviz.sample`` (the score evaluates the time term ``W_t phi(t)`` once per
   step, not once per particle);
4. the ridge residual (d = 1) of each run's final samples, and the share of them away from both points.

**Plain per-particle evaluation**, the reference for the ratio: the same model evaluated as
``relu(W_x x + W_t phi(t_m) + b) / sqrt(p) @ A^T`` with ``t`` expanded to every particle (what ridgeviz did before
issue 14: ``M x p x (2K+1)`` work per step for the time term alone). At full size it would run for minutes, so it
is timed on ``--plain-steps`` steps of one tau and scaled by the work (steps x taus); both run in the same process.
The two give the same samples to rounding (checked on the reduced run).

Run: ``OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_rf_experiment.py [--threads T] [--quick]``.
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
from ridgeviz.models.rf_moments import feature_moments

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--quick", action="store_true", help="p = 500, K = 32, 500 samples x 500 steps")
    ap.add_argument("--plain-steps", type=int, default=20, help="steps of the plain reference run (scaled up)")
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
    start = time.perf_counter()

    moments, t_mom = clock(lambda: feature_moments(rf, data, sched))
    models, t_fit = clock(lambda: {tau: fit_random_features(rf, data, sched, tau, moments=moments) for tau in TAUS})
    finals, t_run = {}, {}
    for tau in TAUS:  # keep only the final samples (each whole trajectory with drifts and scores is 190 MB)
        traj, t_run[tau] = clock(lambda tau=tau: rv.sample(models[tau], x_T, times, "em",
                                                           generator=torch.Generator().manual_seed(2)))
        finals[tau] = traj.final
        del traj
    res, t_res = clock(lambda: {tau: rv.ridge_residual(dens, finals[tau], float(times[-1]), 1) for tau in TAUS})
    total = time.perf_counter() - start

    k = min(args.plain_steps, steps)
    tau0 = TAUS[0]
    for model in (models[tau0], PlainScore(models[tau0])):  # warm-up of both before the side-by-side timing
        rv.sample(model, x_T, times[:3], "em", generator=torch.Generator().manual_seed(2))
    fast, t_fast = clock(lambda: rv.sample(models[tau0], x_T, times[:k + 1], "em",
                                           generator=torch.Generator().manual_seed(2)))
    plain, t_plain = clock(lambda: rv.sample(PlainScore(models[tau0]), x_T, times[:k + 1], "em",
                                             generator=torch.Generator().manual_seed(2)))
    scale = (steps / k) * len(TAUS)
    sampling = sum(t_run.values())

    print(f"2-D random-feature experiment: (+-3, 0), OU T = 10, p = {p}, K = {K}, {M} samples x {steps} EM steps, "
          f"taus {', '.join(tau_label(t) for t in TAUS)}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"  moments U, V (once, {moments.nodes:,} quadrature nodes): {t_mom:7.2f} s")
    print(f"  readouts A(tau) for {len(TAUS)} taus:                        {t_fit:7.2f} s")
    for tau in TAUS:
        print(f"  sampling tau = {tau_label(tau):>5}: {t_run[tau]:7.2f} s   final residual median "
              f"{float(res[tau].median()):.3g}, away from both points {inter_mode_mass(finals[tau], data):.1%}")
    print(f"  residuals of the final samples:                       {t_res:7.2f} s")
    print(f"total: {total:.1f} s (target <= 60 s: {'met' if total <= 60 else 'missed'}); sampling {sampling:.1f} s "
          f"= {sampling / (len(TAUS) * steps) * 1e3:.2f} ms per step of {M} particles")
    print(f"plain per-particle evaluation, {k} steps of tau = {tau_label(tau0)}: {t_plain:.2f} s (ridgeviz "
          f"{t_fast:.2f} s on the same steps: {t_plain / t_fast:.1f}x); scaled by work to the {len(TAUS)} x "
          f"{steps} steps: {t_plain * scale:.0f} s against ridgeviz's {sampling:.1f} s sampling = "
          f"{t_plain * scale / sampling:.1f}x")
    print(f"same samples to rounding: max |ridgeviz - plain| after {k} steps "
          f"{float((fast.xs - plain.xs).abs().max()):.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
