"""``reproduce``: test the paper's claims with ridgeviz's experiments:
figures, tables, checks with controls and a report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..utils.files import staged_folder


def cmd_reproduce(args) -> int:
    from ..experiments.runner import reproduce

    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    start = time.perf_counter()
    with staged_folder(args.out) as staged:  # a run killed midway leaves --out as it was, not half replaced
        done = reproduce(args.experiments, staged, mode=mode, seed=args.seed, workers=args.workers)
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
    p.add_argument("--seed", type=int, default=0, help="base seed: run k of an experiment uses 1000 * seed + k")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes for the independent runs (default: the CPU count; 1: in process)")
    p.set_defaults(func=cmd_reproduce)
