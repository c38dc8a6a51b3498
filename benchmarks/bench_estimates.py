"""Prices against what the computation really does: estimate vs measured peak memory and seconds.

    python benchmarks/bench_estimates.py [--cases trajectories,cli-sample] [--quick]

Every price of :mod:`ridgeviz.views.budget` (the app's pages and the command line) is run at two or three sizes,
each in a fresh process (one torch thread, as the app and the command line run) after a warm-up run at the
smallest size (imports and first-call set-up are not the computation's), and compared with its estimate:
- memory: the process's peak resident set during the computation less its resident set just before it
  (``resource.getrusage``'s ``ru_maxrss`` when the computation raised it, else a 2 ms sampler of
  ``/proc/self/statm``), against the price's bytes;
- time: wall seconds against the price's reference seconds.
Prints ratios measured / estimated (a price should be an upper bound of the right order: memory ratios at most
about 1, time ratios of order 1 on this machine), and a reference rate measured in the same run: the operations
:func:`ridgeviz.utils.limits.density_cost` counts, per second, on a fixed density pass (the prices assume 1e9).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _measure(run) -> tuple[float, float]:
    """``(peak extra bytes, seconds)`` of ``run()`` in this process."""
    import gc

    gc.collect()
    base, before = _rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak, stop = [base], threading.Event()

    def sampler():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    stop.set()
    th.join()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    top = after if after > before else max(peak[0], _rss())
    return max(top - base, 0.0), seconds


# -- the cases: (sizes, build(size) -> (Cost, run)) -------------------------------------------------------------------
def _points(N: int, D: int = 2, seed: int = 0):
    import numpy as np

    from ridgeviz.data.datasets import MODE_SETS

    if N == 13 and D == 2:
        return MODE_SETS["thirteen"].copy()
    return np.random.default_rng(seed).normal(size=(N, D)) * 3


def case_trajectories(size):
    from ridgeviz.core.schedules import ScheduleConfig
    from ridgeviz.models.factory import ModelConfig
    from ridgeviz.views import budget
    from ridgeviz.views.trajectories import TrajectoryConfig, run_trajectories

    particles, N, kind = size
    X, sched, cfg, model = _points(N), ScheduleConfig(steps=100), TrajectoryConfig(particles=particles), \
        ModelConfig(kind)
    return budget.trajectories_cost(X.shape, sched, cfg, model), lambda: run_trajectories(X, sched, cfg, None, model)


def case_bandwidth(N):
    from ridgeviz.core.schedules import ScheduleConfig
    from ridgeviz.views import bandwidth as bw
    from ridgeviz.views import budget

    X, sched = _points(N), ScheduleConfig().schedule()

    def run():
        sweep = bw.bandwidth_sweep(X, sched, 1)
        bw.bandwidth_fields(X, sweep, 1, "data")

    return budget.bandwidth_cost(X.shape), run


def case_profile(N):
    import numpy as np

    from ridgeviz.core.density import SmoothedEmpirical
    from ridgeviz.core.schedules import ScheduleConfig
    from ridgeviz.models.factory import ModelConfig, build_model
    from ridgeviz.views import budget
    from ridgeviz.views.trajectories import error_profile

    X, sched, cfg = _points(N), ScheduleConfig().schedule(), ModelConfig("injected")
    dens = SmoothedEmpirical(X, sched)
    times = np.geomspace(sched.t_min, sched.T, budget.PROFILE_TIMES)
    return budget.profile_cost(X.shape, cfg), lambda: error_profile(build_model(cfg, dens), dens, times, 1)


def case_training(size):
    from ridgeviz.core.schedules import get_schedule
    from ridgeviz.models.recipes import recipe_config
    from ridgeviz.models.training import train_mlp
    from ridgeviz.views import budget

    steps, hidden = size
    X, cfg = _points(13), recipe_config(steps=steps, hidden=hidden)
    cfg = type(cfg)(**{**cfg.__dict__, "eval_every": max(steps // 20, 1), "eval_times": 8, "probe_size": 128})
    return budget.training_cost(X.shape, cfg), lambda: train_mlp(X, get_schedule("ou"), cfg)


def case_random_features(features):
    from ridgeviz.core.schedules import ScheduleConfig
    from ridgeviz.views import budget
    from ridgeviz.views.random_features import RFConfig, rf_tau_sweep

    X, sched = _points(2, seed=1), ScheduleConfig()
    cfg = RFConfig(features=features, particles=64, steps=50, taus=(1.0, float("inf")))
    return budget.rf_cost(X.shape, cfg), lambda: rf_tau_sweep(X, sched, cfg)


def case_latent(N):
    from ridgeviz.core.schedules import ScheduleConfig
    from ridgeviz.views import budget
    from ridgeviz.views.mnist import LatentConfig, run_latent

    X = _points(N, 32)
    cfg = LatentConfig(schedule=ScheduleConfig(steps=50), samples=200)
    return budget.latent_cost(X.shape, cfg), lambda: run_latent(X, cfg)


def case_compare(particles):
    from ridgeviz.views import budget
    from ridgeviz.views.side_by_side import HOME, SideBySideConfig, run_side_by_side

    cfg = SideBySideConfig(HOME.dataset, HOME.left, HOME.right, particles=particles)
    return budget.side_by_side_cost(cfg), lambda: run_side_by_side(cfg)


def _cli(args):
    from ridgeviz.cli import main

    def run():
        if main(args) != 0:
            raise RuntimeError(f"the command {args} failed")

    return run


def case_cli_sample(size):
    import numpy as np

    from ridgeviz.models.factory import ModelConfig
    from ridgeviz.views import budget

    particles, N, kind = size
    tmp = Path(tempfile.mkdtemp())
    np.save(tmp / "data.npy", _points(N))
    args = ["sample", "--data", str(tmp / "data.npy"), "--model", kind, "--steps", "200", "--particles",
            str(particles), "--out", str(tmp / "out.npz")]
    return budget.sample_cost((N, 2), 200, particles, ModelConfig(kind)), _cli(args)


def case_cli_ridge(size):
    import numpy as np

    from ridgeviz.views import budget

    points, max_iter = size
    tmp = Path(tempfile.mkdtemp())
    np.save(tmp / "data.npy", _points(13))
    np.save(tmp / "points.npy", np.random.default_rng(2).uniform(-12, 12, size=(points, 2)))
    args = ["ridge", "--data", str(tmp / "data.npy"), "--points", str(tmp / "points.npy"), "--t", "0.05",
            "--max-iter", str(max_iter), "--grid-size", "40", "--out", str(tmp / "out.npz")]
    return budget.ridge_command_cost((13, 2), points, max_iter, 40), _cli(args)


CASES = {
    "trajectories": (case_trajectories, [(64, 13, "injected"), (256, 13, "injected"), (256, 400, "exact")]),
    "bandwidth": (case_bandwidth, [13, 200]),
    "profile": (case_profile, [13, 400, 2000]),
    "training": (case_training, [(300, 64), (1000, 64), (1000, 128)]),
    "random-features": (case_random_features, [128, 512]),
    "latent": (case_latent, [500, 2000]),
    "compare": (case_compare, [64, 256]),
    "cli-sample": (case_cli_sample, [(2000, 13, "exact"), (8000, 13, "exact"), (2000, 13, "injected")]),
    "cli-ridge": (case_cli_ridge, [(200, 300), (1000, 300)]),
}
QUICK = {name: sizes[:1] for name, (_, sizes) in CASES.items()}


def reference_rate() -> float:
    """Operations per second that ``density_cost`` counts, on a fixed density pass (3,000 x 3,000, D = 8)."""
    import torch

    from ridgeviz.core.density import SmoothedEmpirical
    from ridgeviz.core.schedules import get_schedule
    from ridgeviz.utils.limits import density_cost

    X = torch.randn(3000, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    dens = SmoothedEmpirical(X, get_schedule("ou"))
    dens.score(X[:100], 0.1)
    start = time.perf_counter()
    dens.score(X, 0.1)
    return density_cost(3000, 3000, 8).flops / (time.perf_counter() - start)


def child(case: str, index: int) -> dict:
    from ridgeviz.utils.threads import configure_threads, prepare_process

    prepare_process()  # the edges' OpenMP policy, before torch loads
    configure_threads()
    build, sizes = CASES[case]
    build(sizes[0])[1]()  # warm-up at the smallest size: imports and first-call set-up are not the computation's
    cost, run = build(sizes[index])
    peak, seconds = _measure(run)
    return {"case": case, "size": str(sizes[index]), "est_bytes": cost.bytes, "est_seconds": cost.seconds,
            "peak_bytes": peak, "seconds": seconds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    ap.add_argument("--quick", action="store_true", help="the first size of each case only")
    ap.add_argument("--child", nargs=2, metavar=("CASE", "INDEX"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(args.child[0], int(args.child[1]))), flush=True)
        return 0
    from ridgeviz.utils.threads import configure_threads

    configure_threads()
    print(f"reference: density_cost's operations run at {reference_rate() / 1e9:.2f} x 1e9 per second here "
          "(the prices assume 1e9); ratios are measured / estimated")
    print(f"{'case':16s} {'size':22s} {'est MB':>9s} {'peak MB':>9s} {'mem ratio':>9s} {'est s':>8s} {'s':>8s} "
          f"{'time ratio':>10s}")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for case in args.cases.split(","):
        sizes = (QUICK if args.quick else {k: v[1] for k, v in CASES.items()})[case]
        for i in range(len(sizes)):
            proc = subprocess.run([sys.executable, __file__, "--child", case, str(i)], capture_output=True, text=True,
                                  env=env, cwd=ROOT)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(f"{case:16s} {sizes[i]!s:22s} failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(line[7:])
            print(f"{case:16s} {r['size']:22s} {r['est_bytes'] / 1e6:9.1f} {r['peak_bytes'] / 1e6:9.1f} "
                  f"{r['peak_bytes'] / max(r['est_bytes'], 1):9.2f} {r['est_seconds']:8.2f} {r['seconds']:8.2f} "
                  f"{r['seconds'] / max(r['est_seconds'], 1e-9):10.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
