"""Core commands: ``ridge`` (residual, projection, polylines), ``sample`` (a trajectory file), ``analyze``.

Files: inputs ``.npy``/``.npz``/``.csv`` (points), outputs ``.npz`` (arrays) plus a ``.json`` summary beside it.
A trajectory file stores its dataset, schedule and model settings, so ``analyze`` needs nothing else.
Every command checks its ``--out`` and prices its work (:mod:`ridgeviz.utils.limits`) before computing anything.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from ..core.decomposition import DISTANCE_NOTES, decompose_error
from ..core.density import SmoothedEmpirical, as_numpy
from ..core.laws import LAW_NAMES, ridge_laws
from ..core.phases import PhaseRule, label_phases, phase_sensitivity
from ..core.ridge import GAP_TOL, project_to_ridge, suggest_ridge_dim
from ..core.sampling import SAMPLERS, Trajectory, prior_sample, sample
from ..core.schedules import GRID_KINDS, MAX_GRID_STEPS, SCHEDULES, Schedule, get_schedule
from ..core.tracing import polylines_to_xy, trace_ridge
from ..core.vocabulary import PHASE_MEANINGS, PHASES
from ..data import datasets as rdata
from ..data.uploads import load_array_file
from ..models.factory import ModelConfig, build_model
from ..models.kinds import closed_form_kinds, kind_label
from ..models.score import MAGNITUDE
from ..utils.files import atomic_path, atomic_write, open_regular, writable_target
from ..utils.limits import Cost, limits, require
from ..utils.results import dumps
from ..utils.validation import SEED, Array, Instance, Integer, Options, check
from ..views.budget import analyze_cost, ridge_command_cost, sample_cost


def constrained(constraint):
    """An argparse ``type`` accepting what ``constraint`` accepts (an ``Integer`` or ``Real`` of
    :mod:`ridgeviz.utils.validation`), refused at parse time with the allowed range."""
    number = int if isinstance(constraint, Integer) else float

    def parse(text: str):
        try:
            return constraint.convert(number(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {constraint.describe()}; got {text!r}") from None

    return parse


def int_in(lo: int, hi: int | None):
    """An argparse ``type`` for integers in ``[lo, hi]``."""
    return constrained(Integer(lo, hi))


def field_type(config_cls, name: str):
    """An argparse ``type`` for ``config_cls``'s field ``name``: its own constraint, so both accept the same."""
    return constrained(config_cls.CONSTRAINTS[name])


def check_out(path: Path, flag: str = "--out", folder: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work is done (a folder is created)."""
    path = Path(path)
    target = path if folder else path.parent
    blocker = next((p for p in (target, *target.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ValueError(f"{flag}: cannot write to {path} ({blocker} is a file, not a folder)")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{flag}: cannot write to {path} ({exc.strerror or exc})") from None
    if not folder and path.is_dir():
        raise ValueError(f"{flag}: {path} is a folder; name a file")
    if not os.access(target, os.W_OK):
        raise ValueError(f"{flag}: cannot write to {path} (Permission denied)")
    return path


def add_data_args(p) -> None:
    """Dataset and schedule options shared by commands."""
    g = p.add_argument_group("data and schedule")
    g.add_argument("--dataset", default="thirteen",
                   help=f"built-in 2-D mode set: {', '.join(rdata.MODE_SETS)} (default: thirteen)")
    g.add_argument("--data", type=Path, help="your own points instead (.npy, .npz or .csv, shape (N, D))")
    g.add_argument("--schedule", default="ou", choices=sorted(SCHEDULES), help="noise schedule (default: ou)")
    g.add_argument("--T", type=float, help="final time (default: the schedule's)")
    g.add_argument("--t-min", type=float, help="smallest time (default: the schedule's)")
    g.add_argument("--grid", choices=GRID_KINDS, help="time-grid kind (default: the schedule's)")


def load_data(args) -> np.ndarray:
    if args.data is not None:
        return load_array_file(args.data, args.data.name, name="--data")
    if args.dataset not in rdata.MODE_SETS:
        raise ValueError(f"--dataset: unknown set {args.dataset!r}; choose one of {list(rdata.MODE_SETS)}")
    return np.array(rdata.MODE_SETS[args.dataset], dtype=np.float64)


def schedule_from(args):
    return get_schedule(args.schedule, T=args.T, t_min=args.t_min, grid=args.grid)


def out_file(args) -> Path:
    """``--out`` as the ``.npz`` it names, checked writable (a device such as /dev/null, a FIFO or a folder is
    refused as it is named: no suffix is added to it)."""
    out = Path(args.out)
    if out.name in ("", ".", "..") or out.is_dir():
        raise ValueError(f"--out: {out} is a folder; name a file (e.g. {out / 'result.npz'})")
    npz = check_out(out.with_suffix(".npz"))
    writable_target(out, "--out")
    return writable_target(npz, "--out")


def write_outputs(out: Path, arrays: dict, summary: dict) -> None:
    """``out.npz`` (arrays) and ``out.json`` (summary), each written whole or not at all."""
    out = Path(out).with_suffix(".npz")
    with atomic_path(out, "--out") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    atomic_write(out.with_suffix(".json"), dumps(summary, indent=2, default=float) + "\n", "--out")
    print(f"wrote {out} and {out.with_suffix('.json')}")


def cmd_ridge(args) -> int:
    out = out_file(args)
    X = load_data(args)
    dens = SmoothedEmpirical(X, schedule_from(args))
    pts = load_array_file(args.points, args.points.name, name="--points") if args.points else X
    require(ridge_command_cost(X.shape, len(pts), args.max_iter, args.grid_size), "this ridge command",
            "the number of points, --max-iter or --grid-size")
    dim = args.dim if args.dim is not None else suggest_ridge_dim(dens, X, args.t)[0]
    proj = project_to_ridge(dens, pts, args.t, dim, tol=args.tol, max_iter=args.max_iter)
    arrays = {"points": pts, "projected": as_numpy(proj.points), "converged": as_numpy(proj.converged),
              "residual": as_numpy(proj.residual), "scaled_gap": as_numpy(proj.scaled_gap),
              "undefined": as_numpy(proj.undefined), "iterations": as_numpy(proj.iterations)}
    summary = {"t": args.t, "dim": dim, "points": len(pts), "converged": int(proj.converged.sum()),
               "on_ridge": int(proj.on_ridge.sum()), "undefined": int(proj.undefined.sum())}
    if X.shape[1] == 2:
        lines = trace_ridge(dens, args.t, dim, grid=args.grid_size)
        arrays["polyline_x"], arrays["polyline_y"] = polylines_to_xy(lines)
        summary["polylines"] = len(lines)
    write_outputs(out, arrays, summary)
    return 0


def cmd_sample(args) -> int:
    out = out_file(args)
    X = load_data(args)
    sched = schedule_from(args)
    dens = SmoothedEmpirical(X, sched)
    model_cfg = ModelConfig(args.model, args.dim, args.normal, args.tangential)
    require(sample_cost(X.shape, args.steps, args.particles, model_cfg),
            f"sampling {args.particles} particles over {args.steps} steps", "--steps or --particles")
    model = build_model(model_cfg, dens)
    gen = torch.Generator().manual_seed(args.seed)
    x_T = prior_sample(sched, args.particles, X.shape[1], gen)
    traj = sample(model, x_T, sched.time_grid(args.steps), args.method, generator=gen)
    config = {"schedule": sched.to_dict(),
              "model": {"kind": args.model, "dim": args.dim, "normal": args.normal, "tangential": args.tangential},
              "method": args.method, "steps": args.steps, "particles": args.particles, "seed": args.seed}
    arrays = {"xs": as_numpy(traj.xs), "times": traj.times, "drifts": as_numpy(traj.drifts),
              "scores": as_numpy(traj.scores), "data": X, "config": np.array(json.dumps(config))}
    write_outputs(out, arrays, config)
    return 0


_TRAJECTORY_KEYS = ("xs", "times", "drifts", "scores", "data", "config")


def load_trajectory(path: Path):
    """``(Trajectory, data, config)`` from a file written by ``sample``; every defect is a ``ValueError``."""
    name = f"trajectory {path}"
    with open_regular(path, "trajectory", limits().bytes) as fh:  # a regular file within the memory budget
        try:
            if fh.read(4) != b"PK\x03\x04":  # a zip archive, or nothing is loaded (not even a plain .npy)
                raise ValueError("not a zip archive")
            fh.seek(0)
            f = np.load(fh, allow_pickle=False)
            files, sizes = list(f.files), {i.filename.removesuffix(".npy"): i.file_size for i in f.zip.infolist()}
        except Exception as exc:  # not an .npz, or a damaged one: np.load and zipfile raise many kinds of errors
            raise ValueError(f"{name}: not a readable .npz file ({type(exc).__name__})") from None
        arrays = _trajectory_arrays(f, files, sizes, name)
    try:
        config = json.loads(str(arrays["config"]))
    except json.JSONDecodeError:
        raise ValueError(f"{name}: its config is not JSON") from None
    config = _trajectory_config(config, name)
    xs = check(f"{name}: xs", arrays["xs"], Array((None, None, None), at_least=(2, 1, 1), label="(K+1, M, D)"))
    K1, M, D = xs.shape
    times = check(f"{name}: times", arrays["times"], Array((K1,), lo=0.0, lo_open=True))
    drifts = check(f"{name}: drifts", arrays["drifts"], Array((K1 - 1, M, D)))
    scores = check(f"{name}: scores", arrays["scores"], Array((K1 - 1, M, D)))
    data = check(f"{name}: data", arrays["data"], Array((None, D), at_least=(1, 1)))
    traj = Trajectory(torch.as_tensor(xs), times, config["method"], torch.as_tensor(drifts), torch.as_tensor(scores))
    return traj, data, config


def _trajectory_arrays(f, files, sizes, name: str) -> dict:
    """The arrays of an open trajectory ``.npz``, their declared sizes priced before any is inflated."""
    with f:
        missing = set(_TRAJECTORY_KEYS) - set(files)
        if missing:
            raise ValueError(f"{name}: not a ridgeviz trajectory file (missing {sorted(missing)})")
        for key in _TRAJECTORY_KEYS:  # declared sizes first: nothing is inflated beyond the budget
            require(Cost(float(sizes.get(key, 0))), f"{name}: {key}", "the file", time=False)
        try:
            return {key: f[key] for key in _TRAJECTORY_KEYS}
        except Exception as exc:
            raise ValueError(f"{name}: the archive is damaged ({type(exc).__name__})") from None


def _trajectory_config(config, name: str) -> dict:
    """The JSON config of a trajectory file, checked key by key."""
    check(f"{name}: config", config, Instance(dict, "a JSON object"))
    for key in ("schedule", "model", "method"):
        if key not in config:
            raise ValueError(f"{name}: its config lacks {key!r}")
    check(f"{name}: config method", config["method"], Options(tuple(SAMPLERS)))
    m = check(f"{name}: config model", config["model"], Instance(dict, "a JSON object"))
    for key, constraint in (("kind", Options(closed_form_kinds())), ("dim", Integer(0, None)),
                            ("normal", MAGNITUDE), ("tangential", MAGNITUDE)):
        if key not in m:
            raise ValueError(f"{name}: its model config lacks {key!r}")
        m[key] = check(f"{name}: model {key}", m[key], constraint)
    return config


def cmd_analyze(args) -> int:
    out = out_file(args)
    traj, X, config = load_trajectory(args.trajectory)
    try:
        sched = Schedule.from_dict(config["schedule"])
    except ValueError as exc:
        raise ValueError(f"trajectory {args.trajectory}: {exc}") from None
    dens = SmoothedEmpirical(X, sched)
    m = config["model"]
    dim = args.dim if args.dim is not None else m["dim"]
    points = traj.xs.shape[0] * traj.xs.shape[1]
    projection = args.distance == "projection" or (args.distance == "auto" and X.shape[1] <= 3)
    require(analyze_cost(X.shape, points, projection), f"analysing {points} trajectory points",
            "the trajectory (fewer steps or samples)")
    model = build_model(ModelConfig(m["kind"], dim, m["normal"], m["tangential"]), dens)
    if dim == m["dim"]:
        # the file's scores came from this closed-form model (same kind, sizes, frame dimension, data and schedule):
        # tag them with it, so the decomposition reuses them (the contract in core.sampling.Trajectory)
        traj.score_model = model
    dec = decompose_error(model, dens, traj, dim, distance=args.distance, frame=args.frame)
    rule = PhaseRule(tube=args.tube, tube_sigmas=args.tube_sigmas, align_halflives=args.align_halflives,
                     hold_ratio=args.hold_ratio, settle=args.settle, approach=args.approach, window=args.window,
                     gap_tol=args.gap_tol)
    ph = label_phases(dens, traj, dim, rule=rule, geometry=dec)
    arrays = {name: getattr(dec, name) for name in
              ("times", "distance", "distance_all", "residual", "scaled_gap", "ridge_gap", "undefined",
               "drift_normal", "drift_tangential", "step_normal", "step_tangential", "relaxation", "error_push",
               "exact_pull", "error_normal", "error_tangential", "error_total")}
    arrays.update(labels=ph.labels, phase_fractions=ph.fractions(), reach_times=ph.reach_times(), tube=ph.tube_t)
    summary = {"dim": dim, "phases": list(PHASES), "phase_meanings": PHASE_MEANINGS, "rule": rule.describe(X),
               **ph.summary(), "distance_kind": dec.distance_kind, "distance": DISTANCE_NOTES[dec.distance_kind],
               "frame": dec.frame, "undefined_fraction": float(dec.undefined.mean()),
               "means_where_defined": dec.mean_where_defined(),
               "sensitivity": phase_sensitivity(X, dec, rule).table()}
    if args.laws:
        laws = ridge_laws(dens, traj, dim, geometry=dec, start=ph.aligned_step)
        arrays.update({f"law_{k}": getattr(laws, k) for k in LAW_NAMES})
        summary["laws"] = laws.agreement()
    write_outputs(out, arrays, summary)
    return 0


def register(sub) -> None:
    p = sub.add_parser("ridge", help="ridge residual, SCMS projection and (2-D) polylines at one time",
                       description="Project points onto the ridge R_t^dim of the smoothed empirical density.")
    add_data_args(p)
    p.add_argument("--t", type=float, default=0.5, help="diffusion time (default 0.5)")
    p.add_argument("--dim", type=int, help="ridge dimension d (default: suggested from the spectral gap)")
    p.add_argument("--points", type=Path, help="points to project (.npy/.npz/.csv; default: the training data)")
    p.add_argument("--tol", type=float, default=1e-6, help="SCMS tolerance, in bandwidths (default 1e-6)")
    p.add_argument("--max-iter", type=int_in(1, 100_000), default=300, help="SCMS iteration cap (default 300)")
    p.add_argument("--grid-size", type=int_in(2, 1000), default=24, help="seed lattice for polylines, 2-D only")
    p.add_argument("--out", type=Path, default=Path("ridge.npz"), help="output .npz (a .json summary beside it)")
    p.set_defaults(func=cmd_ridge)

    p = sub.add_parser("sample", help="run a reverse sampler and save the whole trajectory",
                       description="Sample from the prior N(0, h_T I) down to t_min, keeping every step.")
    add_data_args(p)
    p.add_argument("--model", default="injected", choices=closed_form_kinds(),
                   help="a closed-form model: " + "; ".join(f"{k}: {kind_label(k)}" for k in closed_form_kinds()))
    p.add_argument("--dim", type=int, default=1, help="ridge dimension for the injected error's frame")
    p.add_argument("--normal", type=float, default=0.0, help="injected normal error size (score units)")
    p.add_argument("--tangential", type=float, default=0.5, help="injected tangential error size")
    p.add_argument("--method", default="em", choices=sorted(SAMPLERS), help="sampler (default: em)")
    p.add_argument("--steps", type=int_in(1, MAX_GRID_STEPS), default=200, help="number of steps K (default 200)")
    p.add_argument("--particles", type=int_in(1, 10**7), default=512, help="number of samples M (default 512)")
    p.add_argument("--seed", type=int_in(0, SEED.hi), default=0, help="random seed")
    p.add_argument("--out", type=Path, default=Path("trajectory.npz"))
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("analyze", help="error decomposition and reach/align/held/slide phases of a trajectory file",
                       description="Split the score error and the drift into normal/tangential parts and label phases "
                                   "(reach, align, held, slide, to a training point, no ridge: ridgeviz.core.phases). "
                                   "Error means leave out points where the ridge is undefined.")
    p.add_argument("trajectory", type=Path, help="a file written by `sample`")
    p.add_argument("--dim", type=int, help="ridge dimension (default: the one the trajectory was made with)")
    p.add_argument("--distance", default="auto", choices=["auto", "projection", "proxy"],
                   help="distance to the ridge: SCMS projection (auto for D <= 3) or the residual proxy h_t r")
    p.add_argument("--frame", default="point", choices=["point", "projection"],
                   help="ridge frame for the splits: at the sample (default) or at its SCMS projection")
    p.add_argument("--tube", type=float, help="tube floor for 'reach' (default 0.1 x data scale)")
    p.add_argument("--tube-sigmas", type=float, default=1.0, help="tube = max(floor, this x sqrt(h_t)) (default 1)")
    p.add_argument("--align-halflives", type=float, default=1.0,
                   help="align ends when the offset's excess over its level has halved this many times (default 1)")
    p.add_argument("--settle", type=float, default=2.0,
                   help="no align when the sample arrives within this x its level (default 2)")
    p.add_argument("--hold-ratio", type=float, default=3.0,
                   help="held while the error's push against the exact pull is within this factor of it (default 3)")
    p.add_argument("--approach", type=float, default=0.2,
                   help="to a training point when the distance to it shrinks by this share over the window "
                        "(default 0.2)")
    p.add_argument("--window", type=float, default=0.05, help="labels decided over this share of the run (0.05)")
    p.add_argument("--gap-tol", type=float, default=GAP_TOL, help=f"ridge defined where h_t x gap >= this ({GAP_TOL})")
    p.add_argument("--laws", action="store_true", help="also the align and slide laws (predicted and measured)")
    p.add_argument("--out", type=Path, default=Path("analysis.npz"))
    p.set_defaults(func=cmd_analyze)
