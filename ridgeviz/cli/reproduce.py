"""``reproduce``: test the paper's claims with ridgeviz's experiments:
figures, tables, checks with controls and a report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..utils.files import staged_folder


def cmd_reproduce(args) -> int:
    from ..experiments.runner import STORE, reproduce

    if args.scheduler and args.executor != "dask":
        raise ValueError("--scheduler: an address is only used with --executor dask")
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    start = time.perf_counter()
    with staged_folder(args.out) as staged:  # a run killed midway leaves --out as it was, not half replaced
        # the per-task results live in the real folder, so an interrupted run can resume from them
        done = reproduce(args.experiments, staged, mode=mode, seed=args.seed, workers=args.workers,
                         executor=args.executor, scheduler=args.scheduler, fresh=args.fresh, task_progress=True,
                         store=Path(args.out) / STORE)
    checks = [(name, c) for name, ex in done.items() for c in ex.checks]
    passed = sum(c.passed for _, c in checks)
    controls = sum(c.control_failed for _, c in checks)
    print(f"wrote {Path(args.out) / 'report.md'} ({mode}, {time.perf_counter() - start:.0f} s); "
          f"{passed} of {len(checks)} checks pass; {controls} of {len(checks)} negative controls fail their claim")
    for name, c in checks:
        if not c.passed:
            why = "the control also holds the claim" if c.model_holds else "the model does not hold the claim"
            print(f"check not passed ({why}): {name}: {c.claim}")
    return 0


def register(sub) -> None:
    from ..experiments.registry import EXPERIMENTS, summary

    p = sub.add_parser("reproduce", help="test the paper's claims: experiments, checks with negative controls, report",
                       description="Run the experiments headlessly. Each check states a claim, its statistic over "
                                   "independent seeds with a 95% interval and a negative control that must fail it. "
                                   "Experiments: " + ", ".join(EXPERIMENTS),
                       epilog="\n".join(f"  {name:<15} {summary(name)}" for name in EXPERIMENTS),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                   help=f"which to run (default: all of {', '.join(EXPERIMENTS)})")
    p.add_argument("--out", type=Path, default=Path("reproduction"), help="output folder (default: reproduction/)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="reduced sizes, 5 seeds: minutes on two CPU cores")
    size.add_argument("--tiny", action="store_true", help="smallest sizes, 3 seeds (seconds; used by the tests)")
    size.add_argument("--full", action="store_true",
                      help="the authors' scale, 10 seeds (the default when no size is given; docs/cluster.md)")
    p.add_argument("--seed", type=int, default=0, help="base seed: run k of an experiment uses 1000 * seed + k")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes for the independent runs (default: the CPU count; 1 with the local "
                        "executor: in process)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="local processes (default) or Dask distributed (docs/cluster.md)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask scheduler address (default: DASK_SCHEDULER_ADDRESS, else a LocalCluster of --workers)")
    p.add_argument("--fresh", action="store_true",
                   help="recompute every task (default: reuse the results a stopped run stored under OUT/.tasks)")
    p.set_defaults(func=cmd_reproduce)
