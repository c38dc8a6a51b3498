"""Everyday mistakes on the command line end with status 2 and one line on stderr, never a traceback.

The table runs ``ridgeviz.cli.main`` in this process (fast); two cases also run ``python -m ridgeviz`` as a real
process, and ``--debug`` is checked to show the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from ridgeviz.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    np.save(d / "pts.npy", np.random.default_rng(0).normal(size=(6, 2)))
    (d / "trunc.npy").write_bytes((d / "pts.npy").read_bytes()[:90])
    (d / "afile").write_text("not a folder")
    (d / "text.csv").write_text("x,y\n1,abc\n")

    def trajectory(name, config, **arrays):
        base = dict(xs=np.zeros((3, 2, 2)), times=np.array([1.0, 0.5, 0.1]), drifts=np.zeros((2, 2, 2)),
                    scores=np.zeros((2, 2, 2)), data=np.random.default_rng(1).normal(size=(4, 2)),
                    config=np.array(json.dumps(config)))
        np.savez(d / name, **{**base, **arrays})

    good = {"schedule": {"name": "ou", "T": 10.0, "t_min": 1e-3}, "method": "em",
            "model": {"kind": "exact", "dim": 1, "normal": 0.0, "tangential": 0.0}}
    trajectory("nokeys.npz", {"method": "em"})
    trajectory("listcfg.npz", [1, 2])
    trajectory("badmodel.npz", {**good, "model": {"kind": "exact", "dim": "one", "normal": 0, "tangential": 0}})
    trajectory("badsched.npz", {**good, "schedule": {"name": "ou", "T": "ten", "t_min": 1e-3}})
    trajectory("badshape.npz", good, drifts=np.zeros((5, 2, 2)))
    trajectory("nan.npz", good, xs=np.full((3, 2, 2), np.nan))
    (d / "vae.safetensors").write_bytes(st_save({"w": torch.zeros(1)}, metadata={"ridgeviz": "null"}))
    return d


CASES = [
    # missing or unreadable inputs
    ("ridge --data {d}/missing.npy --out {o}", "--data: cannot read"),
    ("ridge --points {d}/missing.csv --out {o}", "--points: cannot read"),
    ("ridge --data {d}/trunc.npy --out {o}", "--data"),
    ("ridge --data {d}/text.csv --out {o}", "column 2 is not a number"),
    ("ridge --data {d} --out {o}", "--data"),
    ("analyze {d}/missing.npz --out {o}", "trajectory: cannot read"),
    ("analyze {d}/trunc.npy --out {o}", "not a readable .npz"),
    ("mnist --vae {d}/missing.safetensors --out {d}/m --n 20 --samples 4 --steps 4", "--vae: checkpoint: cannot read"),
    ("mnist --vae {d}/vae.safetensors --out {d}/m --n 20 --samples 4 --steps 4", "--vae: checkpoint config"),
    ("train --data {d}/missing.npy --out {d}/t", "--data: cannot read"),
    # impossible outputs
    ("ridge --out /proc/ridgeviz-nope/x.npz", "--out: cannot write to"),
    ("ridge --out {d}/afile/x.npz", "is a file, not a folder"),
    ("ridge --out {d}", "is a folder"),
    ("sample --out /dev/null/x.npz --steps 2 --particles 2", "--out"),
    ("sample --out /dev/null --steps 2 --particles 2", "--out: cannot write to /dev/null: it is a character device"),
    ("train --out {d}/afile --steps 2", "--out"),
    ("rf --out /proc/ridgeviz-nope", "--out"),
    # sizes beyond the budget or the allowed range
    ("ridge --grid-size 100000 --out {o}", "argument --grid-size: must be an integer in [2, 1000]"),
    ("ridge --grid-size 1000 --out {o}", "would need about"),
    ("sample --steps 1000000000000 --out {o}", "argument --steps"),
    ("sample --particles 1000000000000 --out {o}", "argument --particles"),
    ("sample --steps 1000000 --particles 1000000 --out {o}", "Reduce --steps or --particles"),
    ("train --steps 200000 --hidden 4096 --depth 8 --out {d}/t", "RIDGEVIZ_MAX_MINUTES"),
    ("rf --features 8192 --time-features 512 --out {d}/r", "Reduce --features"),
    ("--max-memory-gb -1 ridge --out {o}", "--max-memory-gb"),
    ("ridge --out {o} --max-minutes nan", "--max-minutes"),
    # bad values
    ("ridge --schedule vp-cosine --t 0.995 --out {o}", "t must be"),
    ("ridge --T 1e308 --out {o}", "T must be"),
    ("ridge --t-min 5e-324 --out {o}", "t_min must be"),
    ("ridge --dim 5 --out {o}", "dim must be an integer in [0, 1]"),
    ("ridge --tol -1 --out {o}", "tol must be"),
    ("sample --normal 1e308 --out {o}", "normal must be"),
    ("sample --dataset nope --out {o}", "--dataset"),
    ("ridge --bogus", "unrecognized arguments"),
    # a trajectory config missing keys or of the wrong type
    ("analyze {d}/nokeys.npz --out {o}", "lacks 'schedule'"),
    ("analyze {d}/listcfg.npz --out {o}", "config must be a JSON object"),
    ("analyze {d}/badmodel.npz --out {o}", "model dim must be an integer"),
    ("analyze {d}/badsched.npz --out {o}", "T must be"),
    ("analyze {d}/badshape.npz --out {o}", "drifts must be"),
    ("analyze {d}/nan.npz --out {o}", "non-finite"),
]


def run(argv):
    try:
        return main(argv)
    except SystemExit as exc:  # argparse
        return exc.code


@pytest.mark.parametrize("command, words", CASES, ids=[c for c, _ in CASES])
def test_everyday_mistakes_exit_2_with_one_line(command, words, files, tmp_path, capfd):
    argv = command.format(d=files, o=tmp_path / "out.npz").split()
    assert run(argv) == 2
    err = capfd.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert words in lines[0], lines[0]


def _process(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ridgeviz", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_a_real_process_exits_2_and_debug_shows_the_traceback(tmp_path):
    proc = _process("ridge", "--data", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "o.npz"))
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --data: cannot read")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = _process("--debug", "ridge", "--data", str(tmp_path / "missing.npy"))
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ValueError" in proc.stderr


def test_limits_can_be_raised_on_purpose(tmp_path, capfd):
    argv = ["sample", "--steps", "2000", "--particles", "120000", "--out", str(tmp_path / "o.npz"), "--model", "exact"]
    assert run(argv) == 2 and "RIDGEVIZ_MAX_MEMORY_GB" in capfd.readouterr().err
    assert run(["--max-memory-gb", "1e-3", "ridge", "--out", str(tmp_path / "r.npz")]) == 2
    assert "limit is 1 MB" in capfd.readouterr().err
    assert run(["ridge", "--out", str(tmp_path / "r.npz")]) == 0  # the flag held for one run only
    assert (tmp_path / "r.json").is_file()


def test_threads_variable_is_validated(tmp_path):
    proc = _process("ridge", "--out", str(tmp_path / "o.npz"), env={"RIDGEVIZ_THREADS": "100000"})
    assert proc.returncode == 2 and "RIDGEVIZ_THREADS must be an integer in [1," in proc.stderr


# -- special files given to every file argument ---------------------------------------------------------------------
def _parsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices.items())


def _file_arguments():
    """``(command, action)`` for every argument of every command whose type is a path, found from the parsers (a
    new file argument is covered without editing this test)."""
    return [(name, a) for name, p in _parsers() for a in p._actions if a.type is Path]


def _argv(command, action, special, tmp_path):
    """A command line that passes ``special`` to ``action`` and harmless values to the command's other required
    arguments (outputs go to ``tmp_path``)."""
    argv = [command]
    for a in next(p for c, p in _parsers() if c == command)._actions:
        value = special if a.dest == action.dest else None
        if value is None and a.type is Path and (a.required or not a.option_strings or "--out" in a.option_strings):
            value = tmp_path / ("out.npz" if command in ("ridge", "sample", "analyze") else "out")
        if value is not None:
            argv += [str(value)] if not a.option_strings else [a.option_strings[0], str(value)]
    return argv


@pytest.fixture(scope="module")
def specials(tmp_path_factory):
    d = tmp_path_factory.mktemp("special")
    os.mkfifo(d / "fifo")
    (d / "link-to-zero").symlink_to("/dev/zero")
    (d / "link-to-fifo").symlink_to(d / "fifo")
    return {"zero": Path("/dev/zero"), "fifo": d / "fifo", "link-to-zero": d / "link-to-zero",
            "link-to-fifo": d / "link-to-fifo"}


FILE_ARGUMENTS = _file_arguments()


def test_the_file_arguments_were_found():
    found = {(c, a.dest) for c, a in FILE_ARGUMENTS}
    assert {("ridge", "data"), ("ridge", "points"), ("ridge", "out"), ("analyze", "trajectory"), ("mnist", "vae"),
            ("mnist", "mnist_dir"), ("train", "data"), ("reproduce", "out"), ("assets", "out")} <= found


@pytest.mark.parametrize("kind", ["zero", "fifo", "link-to-zero", "link-to-fifo"])
@pytest.mark.parametrize("command, action", FILE_ARGUMENTS, ids=[f"{c}:{a.dest}" for c, a in FILE_ARGUMENTS])
def test_devices_and_fifos_are_refused_at_once(command, action, kind, specials, tmp_path, capfd):
    # /dev/zero reads without end, opening a FIFO waits for a writer forever: both must be refused before opening,
    # within a second, with status 2 and a message naming the path
    argv = _argv(command, action, specials[kind], tmp_path)
    done = {}
    worker = threading.Thread(target=lambda: done.update(code=run(argv)), daemon=True)
    start = time.perf_counter()
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), f"{argv} still running after 60 s"
    assert done["code"] == 2, argv
    err = capfd.readouterr().err
    assert str(specials[kind]) in err and "Traceback" not in err, err
    if run(argv) == 2:  # a second time, modules loaded: the refusal itself must be quick
        start = time.perf_counter()
        assert run(argv) == 2
    assert time.perf_counter() - start < 1.0
