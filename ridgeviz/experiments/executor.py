"""One executor for the independent runs of every experiment (seeds, datasets, model variants).

A task is a module-level function and its keyword arguments (both picklable); it returns a small JSON-able
result (numbers, small arrays). :class:`Executor` runs a list of tasks in local worker processes (the default,
``workers = cpu_count``, at most :data:`MAX_WORKERS`) or, with ``workers=1``, one after the other in this
process (the test suite's tiny runs, and machines where processes do not pay). Results come back in task order,
so the same tasks give the same results whatever the number of workers. Each worker runs torch with one thread
(``ridgeviz.utils.threads``): on two busy cores, two one-thread processes beat one two-thread process.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

MAX_WORKERS = 8


@dataclass(frozen=True)
class Task:
    """``fn(**kwargs)``; ``fn`` must be defined at module level (workers import it by name)."""

    fn: object
    kwargs: dict = field(default_factory=dict)

    def __call__(self):
        return self.fn(**self.kwargs)


def _die_with_parent() -> None:
    """Linux: ask the kernel to send this worker SIGTERM when its parent dies (even by SIGKILL), so no worker is
    left orphaned; exit at once if the parent is already gone."""
    parent = multiprocessing.parent_process()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown is all there is
        return
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)


def _stop_workers(pool) -> None:
    """Terminate the pool's worker processes now (the parent is unwinding after an error or a signal): a
    shutdown alone would wait for their running tasks to finish."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.terminate()


def _init_worker() -> None:
    from ..utils.threads import prepare_process

    _die_with_parent()
    prepare_process()
    import torch

    torch.set_num_threads(1)


def _run(task: Task):
    return task()


class Executor:
    """Run tasks in ``workers`` local processes (``1``: in this process). Use as a context manager."""

    def __init__(self, workers: int | None = None):
        cores = os.cpu_count() or 1
        workers = cores if workers is None else workers
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be an integer from 1 to {MAX_WORKERS}; got {workers!r}")
        self.workers = workers
        self._pool = None

    def __enter__(self) -> Executor:
        if self.workers > 1:
            ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's thread pools
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self._pool is not None:
            if exc_type is not None:
                _stop_workers(self._pool)
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, tasks: list[Task]) -> list:
        """Results of ``tasks`` in their order."""
        tasks = list(tasks)
        if self._pool is None:
            return [t() for t in tasks]
        return list(self._pool.map(_run, tasks))
