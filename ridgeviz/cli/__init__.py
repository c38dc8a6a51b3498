"""Command line: ``python -m ridgeviz COMMAND ...``; every figure of the app can be regenerated headlessly.

Each module in this package defines ``register(subparsers)``, which adds its commands and sets
``func(args) -> int`` on them; modules are discovered automatically, so a new command is a new file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ridgeviz",
        description="ridgeviz: the ridge of the smoothed empirical density and how diffusion samples reach, "
                    "align with and slide along it (He, Qiu & Tao, arXiv 2602.06021).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv=None) -> int:
    from ..utils.threads import configure_threads

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_threads()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:  # bad input: a message, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
