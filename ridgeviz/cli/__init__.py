"""Command line: ``python -m ridgeviz COMMAND ...``; every figure of the app can be regenerated headlessly.

Each module in this package defines ``register(subparsers)``, which adds its commands and sets
``func(args) -> int`` on them; modules are discovered automatically, so a new command is a new file.

Errors: bad input, a file that cannot be read or written and a request beyond the work budget end the command
with status 2 and one line on stderr (``error: --out: cannot write to /x/y.npz (Permission denied)``); anything
unexpected with status 1 and one line. ``--debug`` shows the traceback instead. SIGTERM ends a command with status
143 after it has cleaned up (temporary files removed, worker processes stopped); outputs are written whole or not
at all (:mod:`ridgeviz.utils.files`), and every file argument must name a regular file (not a device or a FIFO).
``--max-memory-gb`` and ``--max-minutes`` raise (or lower) the work budget of :mod:`ridgeviz.utils.limits` for this
run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import threading


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (status 2), like every other error of the command line."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _add_common(p, default) -> None:
    g = p.add_argument_group("errors and limits")
    g.add_argument("--debug", action="store_true", default=default if default is not None else False,
                   help="show the traceback of an error instead of one line")
    g.add_argument("--max-memory-gb", type=float, metavar="GB", default=default,
                   help="memory one request may use (default 4, or $RIDGEVIZ_MAX_MEMORY_GB)")
    g.add_argument("--max-minutes", type=float, metavar="MIN", default=default,
                   help="estimated computing time one request may take (default 10, or $RIDGEVIZ_MAX_MINUTES)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m ridgeviz",
        description="ridgeviz: the ridge of the smoothed empirical density and how diffusion samples reach, "
                    "align with and slide along it (He, Qiu & Tao, arXiv 2602.06021).")
    _add_common(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    for command in sub.choices.values():  # the same options after the command (not overriding ones before it)
        _add_common(command, argparse.SUPPRESS)
    return parser


def _apply_limits(args) -> None:
    """Turn ``--max-memory-gb`` / ``--max-minutes`` into the environment the work budget reads (validated)."""
    from ..utils.limits import ENV_MEMORY, ENV_MINUTES, limits

    for value, env in ((args.max_memory_gb, ENV_MEMORY), (args.max_minutes, ENV_MINUTES)):
        if value is not None:
            os.environ[env] = repr(value)
    try:
        limits()
    except ValueError as exc:
        raise ValueError(str(exc).replace(ENV_MEMORY, "--max-memory-gb / " + ENV_MEMORY)
                         .replace(ENV_MINUTES, "--max-minutes / " + ENV_MINUTES)) from None


def _one_line(exc: BaseException) -> str:
    """An expected error as one sentence: OS errors name the file and the reason."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    if isinstance(exc, MemoryError):
        return "out of memory; reduce the sizes of the request"
    return " ".join(str(exc).split()) or type(exc).__name__


class Terminated(BaseException):
    """SIGTERM, raised where the command is, so it unwinds like Ctrl-C: ``finally`` blocks remove temporary files
    and worker processes are stopped (Python's default for SIGTERM is to die without unwinding)."""


def _terminate(signum, frame):
    raise Terminated()


def _on_sigterm():
    """Install :func:`_terminate` for SIGTERM (main thread only); returns the handler to put back, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def main(argv=None) -> int:
    from ..utils.threads import configure_threads

    parser = build_parser()
    args = parser.parse_args(argv)
    saved = {k: os.environ.get(k) for k in ("RIDGEVIZ_MAX_MEMORY_GB", "RIDGEVIZ_MAX_MINUTES")}
    previous = _on_sigterm()
    try:
        _apply_limits(args)
        configure_threads()
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("error: terminated (SIGTERM); nothing was left half-written", file=sys.stderr)
        return 128 + signal.SIGTERM
    except (ValueError, OSError, MemoryError) as exc:  # bad input, unreadable/unwritable files, the budget
        if args.debug:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line, the traceback on request
        if args.debug:
            raise
        print(f"error: internal error ({type(exc).__name__}: {_one_line(exc)[:200]}); rerun with --debug to see "
              "the traceback", file=sys.stderr)
        return 1
    finally:  # the flags and the handler hold for this run only (main may be called again in the same process)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
