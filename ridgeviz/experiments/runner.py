"""``reproduce``: run the registered experiments through one executor and write the report.

``python -m ridgeviz reproduce [EXPERIMENT ...] --out DIR [--quick | --tiny | --full] [--workers N]
[--executor local|dask] [--scheduler ADDRESS]`` writes ``DIR/<experiment>/`` (HTML figures, ``numbers.json`` with
the checks and their controls, ``arrays.npz``), ``DIR/report.md`` and ``DIR/tasks.json`` (each task's wall and CPU
time and its worker's peak memory). Every experiment states its settings so a run is repeatable. Each task's result
is kept in ``DIR/.tasks/`` as it arrives, so an interrupted run started again with the same settings skips the
tasks it finished (``fresh=True`` recomputes them).
"""

from __future__ import annotations

import json
import resource
import shutil
import time
from pathlib import Path

import torch

from .executor import Executor
from .registry import EXPERIMENTS
from .report import PLOTLY_JS, write_experiment, write_report
from .result import MODES, Context, Experiment

STORE = ".tasks"  # per-task results of a run, for resuming it


def reproduce(names, out, mode: str = "full", seed: int = 0, workers: int | None = None,
              progress=print, executor: str = "local", scheduler: str | None = None, fresh: bool = False,
              task_progress=None, store=None) -> dict[str, Experiment]:
    """Run the named experiments (all by default) at ``mode`` size; write ``out/report.md``; return them.

    ``mode``: "full" (larger sizes and more seeds, CUDA when present), "quick" (minutes on two CPU cores) or
    "tiny" (the test suite's). ``workers``: processes for the independent runs (default: the CPU count; with the
    local executor 1 runs them in this process). ``executor``: "local" or "dask" (``scheduler``: a Dask address;
    none starts a LocalCluster). ``fresh``: ignore the results stored by an earlier run. ``task_progress``: the
    executor's progress (True: a text bar on stderr). ``store``: the folder of per-task results (default
    ``out/.tasks``; a caller that writes ``out`` elsewhere first and swaps it in keeps the store outside).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    names = list(names) or list(EXPERIMENTS)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"experiment: unknown {unknown}; choose from {list(EXPERIMENTS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from plotly.offline import get_plotlyjs

    (out / PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
    body, done, rows = [], {}, []
    start, cpu0 = time.perf_counter(), _cpu_seconds()
    store = out / STORE if store is None else Path(store)
    if fresh and store.is_dir():
        shutil.rmtree(store)
    with Executor(workers, executor, scheduler, store=store, progress=task_progress) as executor:
        ctx = Context(mode, seed, executor)
        for name in names:
            t0 = time.perf_counter()
            ex = EXPERIMENTS[name](ctx)
            seconds = time.perf_counter() - t0
            body += write_experiment(ex, out, seconds, png=mode == "full")
            passed = sum(c.passed for c in ex.checks)
            controls = sum(c.control_failed for c in ex.checks)
            rows.append([name, f"{passed} / {len(ex.checks)}", f"{controls} / {len(ex.checks)}", f"{seconds:.1f}"])
            progress(f"{name}: {seconds:.1f} s, {passed} of {len(ex.checks)} checks pass"
                     + "".join(f"\n  FAIL: {c.claim}" for c in ex.failed()))
            done[name] = ex
        workers_used, kind = executor.workers, executor.kind
        task_cpu = _write_task_stats(out, executor)
    cpu = _cpu_seconds() - cpu0  # the workers have been joined: their CPU time is in RUSAGE_CHILDREN
    total = sum(len(e.checks) for e in done.values())
    rows.append(["total", f"{sum(c.passed for e in done.values() for c in e.checks)} / {total}",
                 f"{sum(c.control_failed for e in done.values() for c in e.checks)} / {total}",
                 f"{time.perf_counter() - start:.1f}"])
    header = [
        "# ridgeviz: reproduction of He, Qiu & Tao (arXiv 2602.06021)", "",
        f"Mode: {mode}; seed {seed}; executor {kind}, {workers_used} worker process(es); torch {torch.__version__}; "
        f"wall {time.perf_counter() - start:.0f} s, CPU {cpu:.0f} s (this machine's processes), {task_cpu:.0f} s in "
        f"the tasks run (`tasks.json`). Command: "
        f"`python -m ridgeviz reproduce {' '.join(names)} --seed {seed} --{mode}`.",
        "",
        "Provenance: *the paper* means a claim of the paper's abstract; *the authors' code* means a setting taken "
        "from their pre-submission code; everything else (rules, thresholds, sets, recipes) is *ridgeviz*'s choice "
        "and says so. Every check states a claim, its statistic over independent seeds with a 95% interval, and "
        "a negative control for which the claim must fail; it passes only when the model holds the claim and the "
        "control fails it. Figures are HTML pages that load `plotly.min.js` from this folder (offline); the full "
        "run adds PNG copies where kaleido can export them.", ""]
    write_report(out, header, rows, body)
    return done


def _write_task_stats(out: Path, executor) -> float:
    """``out/tasks.json``: every task's wall and CPU seconds and its worker's peak memory (stored ones marked);
    returns the CPU seconds of the tasks run."""
    run = [r for r in executor.stats if not r["cached"]]
    payload = {"executor": executor.kind, "workers": executor.workers, "tasks": executor.stats,
               "retried": executor.retried, "ran": len(run), "stored": len(executor.stats) - len(run)}
    (out / "tasks.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return sum(r["cpu_s"] for r in run)


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its joined child processes."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))
