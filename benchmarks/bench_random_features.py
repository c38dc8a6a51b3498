"""Benchmark: random-feature moments U, V by deterministic quadrature against the authors' plain Monte Carlo.

Problem: p = 2,000 features, K = 128 frequencies, the two points (+-3, 0), OU with T = 10 (the authors' code's
setting). The authors' estimator uses 2,000 time intervals x 2,000 noise draws per training point (8 M feature
evaluations, 982 s measured here with their code). Measured in one run:

- time: the default :class:`~ridgeviz.random_features.Quadrature` at full size, and Monte Carlo at the full time
  density with ``--mc-noise`` draws, scaled by the work to 2,000 draws (both run the same code path, so the
  cost per node is the same); the two are timed alternately ``--repeats`` times and the fastest of each kept,
  which makes the ratio robust to other load on the machine;
- accuracy, on the moments of the first ``--sub`` features (a sub-block of U and rows of V, the same
  quantity): relative Frobenius errors against a high-precision quadrature reference. The Monte Carlo error at
  the authors' density is predicted as ``sqrt(bias^2 + var_m * m / 2000)``: ``bias`` is its time
  discretisation (midpoint rule over 2,000 intervals with an exact noise expectation), ``var_m`` the squared
  error of runs with ``m`` draws less that bias, averaged over ``--mc-seeds`` seeds;
- stability of W(inf) = V U^+ (and W(tau)) under a change of quadrature resolution, over pseudo-inverse
  thresholds ``rcond``: relative change of the weights and of the fitted function (``|dA|_U / |A|_U``).

Run: ``python benchmarks/bench_random_features.py [--quick] [--threads T] [--skip-stability]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ridgeviz as rv
from ridgeviz.models.random_features import RandomFeatureModel, gradient_flow
from ridgeviz.models.rf_moments import Moments, Quadrature, feature_moments, monte_carlo_moments

REFERENCE = Quadrature(panels_per_period=6, time_nodes=6, refine=10, radial_nodes=16, directions=16)
FINER = Quadrature(panels_per_period=3, time_nodes=5, radial_nodes=10, directions=8)
AUTHORS_TIMES, AUTHORS_NOISE = 2000, 2000


def rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


def sub_model(rf: RandomFeatureModel, k: int) -> RandomFeatureModel:
    """The first ``k`` features of ``rf`` (their moments are a sub-block of rf's, up to the factor p/k)."""
    return RandomFeatureModel.from_tensors(rf.W_x[:k], rf.W_t[:k], rf.b[:k], rf.A0[:, :k], rf.T, rf.init_scale)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def midpoint_exact_noise(rf, data, sched, n_times: int) -> Moments:
    """Monte Carlo's time discretisation alone: midpoint rule in t, a fine noise rule (its bias, no variance)."""
    import ridgeviz.models.random_features as rfm

    class Midpoint(Quadrature):
        def time_rule(self, T, K, t_min):
            dt = (T - t_min) / n_times
            return t_min + (np.arange(n_times) + 0.5) * dt, np.full(n_times, dt)

    q = Midpoint(radial_nodes=REFERENCE.radial_nodes, directions=REFERENCE.directions)
    return rfm.feature_moments(rf, data, sched, q)


def accuracy(rf, data, sched, args) -> dict:
    sub = sub_model(rf, args.sub)
    ref, t_ref = timed(lambda: feature_moments(sub, data, sched, REFERENCE))
    quad = feature_moments(sub, data, sched)
    out = {"reference_nodes": ref.nodes, "reference_seconds": t_ref,
           "quadrature_error_U": rel(quad.U, ref.U), "quadrature_error_V": rel(quad.V, ref.V)}
    bias = midpoint_exact_noise(sub, data, sched, AUTHORS_TIMES)
    bU, bV = rel(bias.U, ref.U), rel(bias.V, ref.V)
    errs = []
    for seed in range(args.mc_seeds):
        mc = monte_carlo_moments(sub, data, sched, AUTHORS_TIMES, args.mc_noise,
                                 generator=torch.Generator().manual_seed(100 + seed))
        errs.append((rel(mc.U, ref.U), rel(mc.V, ref.V)))
    eU, eV = (float(np.sqrt(np.mean(np.square(e)))) for e in zip(*errs))
    scale = args.mc_noise / AUTHORS_NOISE
    out.update(mc_time_bias_U=bU, mc_time_bias_V=bV, mc_error_U_at_m=eU, mc_error_V_at_m=eV,
               mc_predicted_error_U=math.sqrt(bU**2 + max(eU**2 - bU**2, 0) * scale),
               mc_predicted_error_V=math.sqrt(bV**2 + max(eV**2 - bV**2, 0) * scale))
    return out


def stability(rf, data, sched, quad: Moments) -> list[dict]:
    finer = feature_moments(rf, data, sched, FINER)
    lam = finer.spectrum()[0]
    rows = []
    for rcond in (0.0, 1e-9, 1e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4):
        for tau in (100.0, 1000.0, math.inf):
            a1, a2 = gradient_flow(quad, rf.A0, tau, rcond), gradient_flow(finer, rf.A0, tau, rcond)
            d = a1 - a2
            fn = math.sqrt(float(((d @ finer.U) * d).sum()) / float(((a2 @ finer.U) * a2).sum()))
            rows.append({"rcond": rcond, "tau": "inf" if math.isinf(tau) else tau, "weight_change": rel(a1, a2),
                         "function_change": fn, "loss": finer.loss(a2), "rank": int((lam > rcond * lam.max()).sum())})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="p = 200, K = 16 (a smoke test)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--mc-noise", type=int, default=25, help="Monte Carlo draws per time in the reduced run")
    ap.add_argument("--repeats", type=int, default=2, help="alternate timings; the fastest of each is kept")
    ap.add_argument("--mc-seeds", type=int, default=2)
    ap.add_argument("--sub", type=int, default=300, help="features used for the accuracy study")
    ap.add_argument("--skip-stability", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    p, K = (200, 16) if args.quick else (2000, 128)
    args.sub = min(args.sub, p)
    data, sched = np.array([[-3.0, 0.0], [3.0, 0.0]]), rv.get_schedule("ou")
    rf = RandomFeatureModel(2, p, K, sched.T, generator=torch.Generator().manual_seed(0))
    t_quad = t_mc = math.inf
    for _ in range(args.repeats):
        quad, t = timed(lambda: feature_moments(rf, data, sched))
        t_quad = min(t_quad, t)
        _, t = timed(lambda: monte_carlo_moments(rf, data, sched, AUTHORS_TIMES, args.mc_noise,
                                                 generator=torch.Generator().manual_seed(0)))
        t_mc = min(t_mc, t)
    t_mc_full = t_mc * AUTHORS_NOISE / args.mc_noise
    res = {"p": p, "K": K, "threads": torch.get_num_threads(), "quadrature_nodes": quad.nodes,
           "node_ratio": 2 * AUTHORS_TIMES * AUTHORS_NOISE / quad.nodes,
           "quadrature_seconds": t_quad, "mc_nodes_full": 2 * AUTHORS_TIMES * AUTHORS_NOISE,
           "mc_seconds_reduced": t_mc, "mc_noise_reduced": args.mc_noise, "mc_seconds_full_scaled": t_mc_full,
           "time_ratio": t_mc_full / t_quad, "eig_U_max": float(quad.spectrum()[0].max()),
           "eig_U_min": float(quad.spectrum()[0].min())}
    res.update(accuracy(rf, data, sched, args))
    print(f"U, V at p = {p}, K = {K}, two points, T = 10 ({res['threads']} threads)")
    print(f"  quadrature : {quad.nodes:>9,} nodes {t_quad:8.1f} s   error U {res['quadrature_error_U']:.1e} "
          f"V {res['quadrature_error_V']:.1e}")
    print(f"  Monte Carlo: {res['mc_nodes_full']:>9,} nodes {t_mc_full:8.1f} s (scaled from {t_mc:.1f} s at "
          f"{args.mc_noise} draws)   predicted error U {res['mc_predicted_error_U']:.1e} "
          f"V {res['mc_predicted_error_V']:.1e} (time bias U {res['mc_time_bias_U']:.1e})")
    print(f"  time ratio MC / quadrature: {res['time_ratio']:.0f}x (node ratio {res['node_ratio']:.0f}x);  "
          "error ratio MC / quadrature: U "
          f"{res['mc_predicted_error_U'] / res['quadrature_error_U']:.2f}, "
          f"V {res['mc_predicted_error_V'] / res['quadrature_error_V']:.2f}")
    if not args.skip_stability:
        res["stability"] = stability(rf, data, sched, quad)
        print("  W(tau) change between the default and a 3x finer quadrature:")
        for row in res["stability"]:
            print(f"    rcond {row['rcond']:7.0e} tau {row['tau']!s:>6}: weights {row['weight_change']:.2e} "
                  f"function {row['function_change']:.2e} loss {row['loss']:.4f} rank {row['rank']}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
