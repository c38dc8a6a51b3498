"""Benchmark: the default 2-D pipeline, stage by stage (target: < 2 s in total).

13 points (``MODE_SETS["thirteen"]``), OU schedule, ``InjectedErrorScore(dim=1, normal=0.5, tangential=0.5)``,
512 particles, 200 Euler-Maruyama steps; then the ridge polylines at every animation frame time (the app's
default: at most 100 frames, a 20 x 20 seed lattice), the error decomposition (distance by SCMS projection,
``distance="auto"`` in 2-D) and the phase labels. Prints the wall time of each stage, its share of the total and
the process CPU time (all threads; on a shared machine the wall time also counts waiting for a core).

On a busy machine run with ``OMP_WAIT_POLICY=PASSIVE`` (or ``--threads 1``): torch's OpenMP threads spin-wait by
default, and with other processes competing for the cores small-tensor work ran 10-15x slower here.

Run: ``python benchmarks/bench_pipeline.py [--particles 512] [--steps 200] [--frames 100] [--grid 20] [--threads T]``.
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
from ridgeviz.data.datasets import MODE_SETS


def frame_indices(n: int, max_frames: int) -> np.ndarray:
    """At most ``max_frames`` step indices in ``[0, n)``, first and last included (as the app animates)."""
    return np.arange(n) if n <= max_frames else np.unique(np.linspace(0, n - 1, max_frames).round().astype(int))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--particles", type=int, default=512)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--frames", type=int, default=100, help="ridge frames (the app's default cap)")
    p.add_argument("--grid", type=int, default=20, help="seed lattice per frame (the app's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    stages: list[tuple[str, float, float]] = []

    def timed(name, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        stages.append((name, time.perf_counter() - t0, time.process_time() - c0))
        return out

    sched = rv.get_schedule("ou")
    dens = timed("density", lambda: rv.SmoothedEmpirical(MODE_SETS["thirteen"], sched))
    model = rv.InjectedErrorScore(dens, dim=1, normal=0.5, tangential=0.5)
    times = sched.time_grid(args.steps)
    g = torch.Generator().manual_seed(args.seed)
    x_T = rv.prior_sample(sched, args.particles, 2, g)
    traj = timed(f"sample (em, {args.particles} x {args.steps} steps)",
                 lambda: rv.sample(model, x_T, times, "em", generator=g))
    frames = frame_indices(len(times), args.frames)
    ridges = timed(f"trace_ridges ({len(frames)} frames, {args.grid}x{args.grid} seeds)",
                   lambda: rv.trace_ridges(dens, times[frames], 1, grid=args.grid))
    dec = timed("decompose_error (projection distance)", lambda: rv.decompose_error(model, dens, traj, 1))
    lab = timed("label_phases (geometry reused)", lambda: rv.label_phases(dens, traj, 1, geometry=dec))
    total = sum(s for _, s, _ in stages)
    total_cpu = sum(c for _, _, c in stages)

    print(f"ridgeviz pipeline benchmark: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"{'stage':<52} {'wall [s]':>9} {'share':>7} {'CPU [s]':>8}")
    for name, sec, cpu in stages:
        print(f"{name:<52} {sec:9.3f} {sec / total:7.1%} {cpu:8.3f}")
    print(f"{'total':<52} {total:9.3f} {'':>7} {total_cpu:8.3f}   target < 2 s: {'met' if total < 2 else 'missed'}")
    n_lines = sum(len(r) for r in ridges)
    dist = dec.distance[np.isfinite(dec.distance)]
    print(f"checks: {n_lines} polylines over {len(frames)} frames; phase shares over all steps "
          + ", ".join(f"{k} {v:.2f}" for k, v in lab.shares().items())
          + f"; median distance to the ridge where defined {np.median(dist) if dist.size else float('nan'):.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
