"""One executor for the independent runs of every experiment (seeds, feature draws, tau, models, data sets).

A task is a module-level function and its keyword arguments: configs and seeds, never arrays (a worker builds its
data from them and caches what it loads, once per process); it returns a small result (numbers, small arrays).
:class:`Executor` runs a list of tasks through one interface, ``concurrent.futures``, on one of:

- ``kind="local"`` (the default): local worker processes (``workers`` of them, default the CPU count), or with
  ``workers=1`` one after the other in this process (the test suite's tiny runs);
- ``kind="dask"``: a Dask distributed cluster, at ``scheduler`` (an address such as ``tcp://host:8786``) or at the
  standard ``DASK_SCHEDULER_ADDRESS``; without either, a ``LocalCluster`` of ``workers`` one-thread processes
  (docs/cluster.md: Slurm/PBS through dask-jobqueue, Kubernetes).

Results come back in task order, so the same tasks give the same numbers whatever the executor and the number of
workers (tested). Each worker runs torch with one thread. A task that raises, or whose worker dies, is submitted
once more and reported by name; a second failure stops the run with the task's name. With a ``store`` folder each
result is written as it arrives (:mod:`ridgeviz.experiments.task_store`: atomic, keyed by the function, its
arguments and the code fingerprint), so a re-run skips what is complete and valid. Each task's wall and CPU time and
its process's peak resident memory while it ran go to ``stats`` (``reproduce`` writes them to ``DIR/tasks.json``).
Worker processes die with their parent: they ask the kernel for SIGTERM when it exits (Linux), and the pool is shut
down and its processes ended on the way out of the ``with`` block.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import socket
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

from .task_store import TaskStore, task_digest

MAX_WORKERS = 256
KINDS = ("local", "dask")


@dataclass(frozen=True)
class Task:
    """``fn(**kwargs)``; ``fn`` must be defined at module level (workers import it by name)."""

    fn: object
    kwargs: dict = field(default_factory=dict)

    def __call__(self):
        return self.fn(**self.kwargs)

    @property
    def fn_name(self) -> str:
        return f"{self.fn.__module__}.{self.fn.__qualname__}"

    @property
    def name(self) -> str:
        """``module.function(key=value, ...)`` with the short arguments: how a failure is reported."""
        short = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items() if len(repr(v)) <= 40)
        return f"{self.fn.__qualname__}({short})"


class TaskFailed(RuntimeError):
    """A task failed twice (or its worker died twice); the message names it."""


def _die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent exits (PR_SET_PDEATHSIG), and exit at once if the
    parent is already gone (it died before the request); a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = multiprocessing.parent_process()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)


_PREPARED = []


def prepare_worker() -> None:
    """Once per worker process: die with the parent, the OpenMP policy, torch on one thread."""
    if _PREPARED:
        return
    _PREPARED.append(True)
    _die_with_parent()
    from ..utils.threads import prepare_process

    prepare_process()
    import torch

    torch.set_num_threads(1)


def _peak_rss_mib(reset: bool = False) -> float:
    """This process's peak resident memory in MiB: Linux's ``VmHWM``, which ``reset`` restarts from the current
    size (``clear_refs``), so the peak after a task is the task's own (with what the process already held);
    elsewhere ``ru_maxrss``, the process's peak so far."""
    try:
        if reset:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_task(task: Task, in_worker: bool = True) -> tuple:
    """Run ``task`` and measure it: ``(result, stats)`` (wall and CPU seconds, the peak resident memory of the
    process while it ran, MiB)."""
    if in_worker:
        prepare_worker()
    _peak_rss_mib(reset=True)
    wall, cpu = time.perf_counter(), time.process_time()
    result = task()
    stats = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
             "peak_rss_mib": _peak_rss_mib(), "worker": f"{socket.gethostname()}:{os.getpid()}"}
    return result, stats


class _InProcess:
    """A ``concurrent.futures``-style executor that runs each task at submission, in this process."""

    def submit(self, fn, *args):
        future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future, as a pool would
            future.set_exception(exc)
        return future

    def shutdown(self, **_):
        pass


def _check_workers(workers):
    cores = os.cpu_count() or 1
    workers = cores if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be an integer from 1 to {MAX_WORKERS}; got {workers!r}")
    return workers


class Executor:
    """Run tasks locally or on Dask (see the module docstring). Use as a context manager.

    ``progress``: True for a text bar on stderr, a callable ``(done, total, cached)``, or None.
    """

    def __init__(self, workers: int | None = None, kind: str = "local", scheduler: str | None = None,
                 store=None, progress=None, code: str | None = None):
        if kind not in KINDS:
            raise ValueError(f"executor must be one of {KINDS}; got {kind!r}")
        self.workers, self.kind = _check_workers(workers), kind
        self.scheduler = scheduler or (os.environ.get("DASK_SCHEDULER_ADDRESS") if kind == "dask" else None)
        if scheduler is not None and kind != "dask":
            raise ValueError("scheduler: an address is only used with executor 'dask'")
        self.store = TaskStore(store) if store is not None else None
        self.progress = _text_bar if progress is True else progress
        self._code = code
        self.stats: list[dict] = []  # one row per task run or loaded
        self.retried: list[str] = []  # names of tasks that failed once and were run again
        self._pool = self._cluster = self._client = self._config = None

    # -- life cycle -------------------------------------------------------------------------------------------
    def __enter__(self) -> Executor:
        if self.kind == "dask":
            self._pool = self._start_dask()
        elif self.workers > 1:
            self._pool = self._start_local()
        else:
            self._pool = _InProcess()
        return self

    def _start_local(self):
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's thread pools
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=prepare_worker)

    def _start_dask(self):
        import dask
        from distributed import Client, LocalCluster

        # a dead worker fails its task at once (KilledWorker); the retry below then runs it once more. This is a
        # scheduler setting: it holds for the LocalCluster started here; a remote scheduler keeps its own
        self._config = dask.config.set({"distributed.scheduler.allowed-failures": 0})
        if self.scheduler:
            self._client = Client(self.scheduler)
        else:
            import logging

            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=logging.ERROR)
            self._client = Client(self._cluster)
        return self._client.get_executor(pure=False)

    def __exit__(self, exc_type, *_) -> None:
        self.close(interrupted=exc_type is not None)

    def close(self, interrupted: bool = False) -> None:
        """Stop the pool or cluster; after an interruption local worker processes are ended, not waited for."""
        pool, self._pool = self._pool, None
        if isinstance(pool, ProcessPoolExecutor):
            procs = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=not interrupted, cancel_futures=True)
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        if self._config is not None:
            self._config.__exit__(None, None, None)  # restore the caller's Dask configuration
        self._client = self._cluster = self._config = None

    # -- running ----------------------------------------------------------------------------------------------
    def code(self) -> str:
        if self._code is None:
            from ..utils.provenance import code_fingerprint

            self._code = code_fingerprint(["ridgeviz"])
        return self._code

    def map(self, tasks: list[Task]) -> list:
        """Results of ``tasks`` in their order (stored results reused, the others run; see the module)."""
        tasks = list(tasks)
        if self._pool is None:
            if self.kind != "local" or self.workers != 1:
                raise RuntimeError("use the Executor as a context manager (with Executor(...) as ex)")
            self._pool = _InProcess()  # in process: nothing to start or stop
        results, todo, digests = [None] * len(tasks), [], {}
        for i, task in enumerate(tasks):
            if self.store is not None:
                digests[i] = task_digest(task.fn_name, task.kwargs, self.code())
                found, value = self.store.load(digests[i])
                if found:
                    results[i] = value
                    self.stats.append({"index": i, "task": task.name, "cached": True})
                    continue
            todo.append(i)
        cached = len(tasks) - len(todo)
        self._report(cached, len(tasks), cached)
        self._run(tasks, todo, results, digests, cached)
        return results

    def _submit(self, task):
        return self._pool.submit(run_task, task, not isinstance(self._pool, _InProcess))

    def _run(self, tasks, todo, results, digests, cached) -> None:
        attempts = {i: 1 for i in todo}
        pending = {self._submit(tasks[i]): i for i in todo}
        done_count = cached
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                i = pending.pop(fut)
                try:
                    result, stats = fut.result()
                except Exception as exc:  # noqa: BLE001 - any failure, a dead worker included, is retried once
                    if attempts[i] >= 2:
                        raise TaskFailed(f"task {tasks[i].name} failed twice: {type(exc).__name__}: {exc}") from exc
                    attempts[i] += 1
                    self.retried.append(tasks[i].name)
                    print(f"retrying task {tasks[i].name} after {type(exc).__name__}: {exc}", file=sys.stderr)
                    if self._broken():  # a dead local worker breaks the whole pool: start a fresh one
                        old, self._pool = self._pool, self._start_local()
                        old.shutdown(wait=False, cancel_futures=True)
                    pending[self._submit(tasks[i])] = i
                    continue
                results[i] = result
                if self.store is not None:
                    self.store.save(digests[i], tasks[i].name, result)
                self.stats.append({"index": i, "task": tasks[i].name, "cached": False, "attempts": attempts[i],
                                   **stats})
                done_count += 1
                self._report(done_count, len(tasks), cached)

    def _broken(self) -> bool:
        """Whether the local pool lost a worker (every further submission would fail at once)."""
        pool = self._pool
        return isinstance(pool, ProcessPoolExecutor) and bool(getattr(pool, "_broken", False))

    def _report(self, done, total, cached) -> None:
        if self.progress is not None and total:
            self.progress(done, total, cached)


def _text_bar(done: int, total: int, cached: int, width: int = 30) -> None:
    """``[#####.....] 12/40 tasks (3 stored)`` on stderr: redrawn in place on a terminal, else one line per 5%."""
    tty = sys.stderr.isatty()
    if not tty and done not in (cached, total) and done % max(1, total // 20):
        return
    fill = int(width * done / total)
    line = f"[{'#' * fill}{'.' * (width - fill)}] {done}/{total} tasks" + (f" ({cached} stored)" if cached else "")
    print(("\r" if tty else "") + line, end="" if tty and done < total else "\n", file=sys.stderr, flush=True)
