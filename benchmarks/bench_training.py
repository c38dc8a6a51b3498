"""Benchmark: MLP denoising-score-matching throughput on the CPU for the 2-D default (13 points, OU).

Measured in one run: steps per second of :func:`ridgeviz.train_mlp` with the default
:class:`~ridgeviz.TrainConfig` (batch 256, 4 x 128 SiLU, Adam), without evaluations, at 1 thread and at the
machine's default thread count (their ratio shows what intra-op threading buys for such small tensors), and the
whole default run (4,000 steps with its eight score-error evaluations) with the relative score error it reaches
at t in [0.05, 1].

Run: ``python benchmarks/bench_training.py [--steps 500] [--full/--no-full]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ridgeviz as rv
from ridgeviz.data.datasets import MODE_SETS


def throughput(steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    cfg = dataclasses.replace(rv.TrainConfig(), steps=steps, eval_every=10**9, device="cpu")
    res = rv.train_mlp(MODE_SETS["thirteen"], rv.get_schedule("ou"), cfg)
    return res.steps_done / res.seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500, help="steps per throughput measurement")
    ap.add_argument("--no-full", action="store_true", help="skip the full default run")
    args = ap.parse_args()
    default_threads = torch.get_num_threads()
    throughput(50, 1)  # warm-up
    rates = {t: throughput(args.steps, t) for t in sorted({1, default_threads})}
    out = {"steps_per_second": {str(t): r for t, r in rates.items()}}
    print("MLP DSM on the CPU, 13 points, OU, batch 256, 4 x 128")
    for t, r in rates.items():
        print(f"  {t} thread(s): {r:7.1f} steps/s")
    if default_threads != 1:
        print(f"  ratio {default_threads} threads / 1 thread: {rates[default_threads] / rates[1]:.2f}")
    if not args.no_full:
        torch.set_num_threads(default_threads)
        res = rv.train_mlp(MODE_SETS["thirteen"], rv.get_schedule("ou"), rv.TrainConfig(device="cpu"))
        mid = (res.eval_times >= 0.05) & (res.eval_times <= 1.0)
        out.update(full_seconds=res.seconds, full_steps=res.steps_done,
                   full_mid_error_max=float(res.error_relative[-1][mid].max()))
        print(f"  default run ({res.steps_done} steps, {default_threads} threads): {res.seconds:.1f} s, relative score"
              f" error at t in [0.05, 1] <= {out['full_mid_error_max']:.3f}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
