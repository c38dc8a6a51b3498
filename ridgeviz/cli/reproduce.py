"""``reproduce``: regenerate the paper's experiments as figures, tables and a report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def cmd_reproduce(args) -> int:
    from ..experiments.base import reproduce

    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    start = time.perf_counter()
    done = reproduce(args.experiments, args.out, mode=mode, seed=args.seed)
    failed = [f"{name}: {claim}" for name, ex in done.items() for claim, ok in ex.checks.items() if not ok]
    total = sum(len(ex.checks) for ex in done.values())
    print(f"wrote {Path(args.out) / 'report.md'} ({mode}, {time.perf_counter() - start:.0f} s); "
          f"{total - len(failed)} of {total} directional claims reproduced")
    for line in failed:
        print(f"claim not reproduced: {line}")
    return 0


def _summary(fn) -> str:
    """The first line of an experiment's docstring."""
    return (fn.__doc__ or "").strip().split("\n")[0]


def register(sub) -> None:
    from ..experiments.base import EXPERIMENTS

    p = sub.add_parser("reproduce", help="regenerate the paper's experiments (figures, numbers, report.md)",
                       description="Run the paper's experiments headlessly. Experiments: " + ", ".join(EXPERIMENTS),
                       epilog="\n".join(f"  {name:<12} {_summary(fn)}" for name, fn in EXPERIMENTS.items()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                   help=f"which to run (default: all of {', '.join(EXPERIMENTS)})")
    p.add_argument("--out", type=Path, default=Path("reproduction"), help="output folder (default: reproduction/)")
    p.add_argument("--quick", action="store_true", help="reduced sizes: everything in minutes on two CPU cores")
    p.add_argument("--tiny", action="store_true", help="smallest sizes (seconds; used by the tests)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_reproduce)
