"""The app's MLP training in a process of its own: ``python -m ridgeviz.app.train_worker FOLDER``.

Training in a thread of the server shared the interpreter lock with every page of every session: each rerun
and each progress redraw held up the trainer and the reverse. In its own process the trainer runs as fast as
from the command line when the machine has a core for it; it runs below the pages' CPU priority
(:mod:`ridgeviz.app.priority`: ``RIDGEVIZ_HEAVY_NICE``), so a busy class's pages stay quick.

Protocol (UI-free; :mod:`ridgeviz.app.training` is the other end). ``FOLDER`` holds ``job.json`` (the
schedule's dict and the :class:`~ridgeviz.models.training.TrainConfig`'s fields) and ``data.npy``. The worker
writes JSON lines to stdout: ``{"ready": seconds}`` once torch is loaded, then ``{"losses": [...],
"evals": [[step, normal, tangential], ...], "seconds": s}`` at most every :data:`FLUSH_SECONDS`, and at the end
``{"status", "message", "seconds", "device", "steps_done"}`` after saving the model to
``FOLDER/model.safetensors``. A line ``stop`` on stdin ends training after the
current step (status ``cancelled``, the model so far is saved).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from .priority import lower_process

FLUSH_SECONDS = 0.25


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class _Progress:
    """The trainer's callback: buffers the curves, flushes them as JSON lines, stops when told to."""

    def __init__(self, stop: threading.Event):
        self.stop, self.losses, self.evals, self.last = stop, [], [], time.perf_counter()

    def __call__(self, step: int, loss: float, info: dict) -> bool:
        self.losses.append(float(loss))
        if "error_normal" in info:
            self.evals.append([step, float(info["error_normal"].mean()), float(info["error_tangential"].mean())])
        if time.perf_counter() - self.last >= FLUSH_SECONDS:
            self.flush(info.get("seconds", 0.0))
        return not self.stop.is_set()

    def flush(self, seconds: float) -> None:
        if self.losses or self.evals:
            _emit({"losses": self.losses, "evals": self.evals, "seconds": seconds})
        self.losses, self.evals, self.last = [], [], time.perf_counter()


def _listen(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()  # "stop", or the server closed the pipe (it ended): either way, end training


def main(argv=None) -> int:
    start = time.perf_counter()
    folder = Path((argv or sys.argv[1:])[0])
    stop = threading.Event()
    threading.Thread(target=_listen, args=(stop,), daemon=True).start()
    try:
        lower_process()
    except ValueError as exc:  # a bad RIDGEVIZ_HEAVY_NICE: the server checked it before starting this worker
        print(json.dumps({"status": "failed", "message": str(exc)}), flush=True)
        return 2
    import numpy as np

    from ..core.schedules import Schedule
    from ..models.checkpoints import save_model
    from ..models.training import TrainConfig, train_mlp
    from ..utils.threads import configure_threads

    configure_threads()
    job = json.loads((folder / "job.json").read_text())
    X = np.load(folder / "data.npy", allow_pickle=False)
    cfg, schedule = TrainConfig(**job["config"]), Schedule.from_dict(job["schedule"])
    _emit({"ready": time.perf_counter() - start})
    progress = _Progress(stop)
    try:
        res = train_mlp(X, schedule, cfg, callback=progress)
    except ValueError as exc:
        progress.flush(0.0)
        _emit({"status": "failed", "message": str(exc)})
        return 0
    progress.flush(res.seconds)
    save_model(folder / "model.safetensors", res.model)
    _emit({"status": res.status, "message": res.message, "seconds": res.seconds, "device": res.device,
           "steps_done": res.steps_done})
    return 0


if __name__ == "__main__":
    from ..utils.threads import prepare_process

    prepare_process()
    raise SystemExit(main())
