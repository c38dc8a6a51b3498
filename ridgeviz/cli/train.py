"""``python -m ridgeviz train`` (MLP by denoising score matching) and ``python -m ridgeviz rf`` (random features).

``train`` writes ``--out/mlp_<dataset>_<schedule>.safetensors`` (+ ``.json``), ``loss.csv`` (step, loss) and
``train_log.json`` (status, timings, score error against the exact score over training).
``rf`` computes the feature moments once, fits the closed-form gradient flow at every ``--tau`` (``inf``
allowed), writes ``rf_<dataset>_tau<tau>.safetensors`` for each and ``rf_split.json``: per tau, the mean
architectural-bias and optimisation errors (normal / tangential) along the tau model's own trajectories and
the inter-mode mass.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..data.datasets import DatasetSpec, dataset_fingerprint, make_dataset
from ..data.uploads import load_array_file
from ..utils.files import atomic_write
from ..utils.limits import require
from ..utils.results import dumps
from ..views.budget import rf_cost, training_cost
from .core import add_data_args, check_out, field_type, int_in, schedule_from


def dataset_from(args) -> tuple[np.ndarray, dict, str]:
    """``(points, description, short name)`` from ``--data`` or the ``--dataset`` preset."""
    if args.data is not None:
        return load_array_file(args.data, args.data.name, name="--data"), {"file": args.data.name}, args.data.stem
    try:
        spec = DatasetSpec("preset", args.dataset)
    except ValueError as exc:
        raise ValueError(f"--dataset: {exc}") from None
    return make_dataset(spec), {"kind": "preset", "name": spec.name}, spec.name.replace("-", "_")


def cmd_train(args) -> int:
    from ..models.checkpoints import save_model
    from ..models.training import TrainConfig, train_mlp

    out = check_out(args.out, folder=True)
    X, described, name = dataset_from(args)
    sched = schedule_from(args)
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, hidden=args.hidden, depth=args.depth,
                      prediction=args.prediction, weighting=args.weighting, ema=args.ema, seed=args.seed,
                      device=args.device, eval_every=max(1, min(args.eval_every, args.steps)),
                      ridge_dim=min(args.dim, X.shape[1] - 1))
    require(training_cost(X.shape, cfg), f"training {args.steps} steps", "--steps, --batch-size, --hidden or --depth")

    def progress(step, loss, info):
        if not args.quiet and (step % max(1, args.steps // 10) == 0 or step == args.steps):
            extra = f", relative score error {np.mean(info['error_relative']):.3f}" if "error_relative" in info else ""
            print(f"  step {step}/{args.steps}: loss {loss:.4f}{extra}", flush=True)

    res = train_mlp(X, sched, cfg, callback=progress)
    log = {"status": res.status, "message": res.message, "seconds": res.seconds, "device": res.device,
           "steps_done": res.steps_done, "dataset": described, "eval_steps": res.eval_steps.tolist(),
           "eval_times": res.eval_times.tolist(), "error_normal": res.error_normal.tolist(),
           "error_tangential": res.error_tangential.tolist(), "error_relative": res.error_relative.tolist()}
    atomic_write(out / "train_log.json", dumps(log, indent=2) + "\n", "--out")
    table = io.StringIO()
    np.savetxt(table, np.column_stack([np.arange(1, res.steps_done + 1), res.losses]), delimiter=",",
               header="step,loss", comments="", fmt=["%d", "%.8g"])
    atomic_write(out / "loss.csv", table.getvalue(), "--out")
    if res.status == "diverged":
        raise ValueError(res.message)
    path = save_model(out / f"mlp_{name}_{sched.name.replace('-', '_')}.safetensors", res.model,
                      {"dataset": described})
    print(f"{res.status} in {res.seconds:.1f} s on {res.device}: wrote {path}, {out / 'loss.csv'}, "
          f"{out / 'train_log.json'}")
    return 0


def cmd_rf(args) -> int:
    from ..core.schedules import ScheduleConfig
    from ..models.checkpoints import save_model
    from ..models.rf_analysis import tau_label
    from ..views.random_features import RFConfig, fit_models, parse_taus, rf_tau_sweep

    out = check_out(args.out, folder=True)
    X, described, name = dataset_from(args)
    sched_cfg = ScheduleConfig(name=args.schedule, T=args.T, t_min=args.t_min, grid=args.grid)
    cfg = RFConfig(features=args.features, time_features=args.time_features, seed=args.seed, particles=args.samples,
                   steps=args.sample_steps, dim=min(args.dim, X.shape[1] - 1), taus=parse_taus(args.tau, name="--tau"),
                   init_scale=args.init_scale)
    require(rf_cost(X.shape, cfg), "the random-feature sweep",
            "--features, --time-features, --samples, --sample-steps or the taus")
    models = fit_models(X, sched_cfg, cfg)  # the same fit and sweep as the Random features page
    sweep = rf_tau_sweep(X, sched_cfg, cfg, models)
    written = [save_model(out / f"rf_{name}_tau{tau_label(tau)}.safetensors", models[tau],
                          {"dataset": described, "seed": args.seed}) for tau in cfg.taus]
    report = {"dataset": described, "dataset_fingerprint": dataset_fingerprint(X), **sweep.config["settings"],
              "tube": sweep.config["tube"], "loss": {tau_label(t): m.train_info["loss"] for t, m in models.items()},
              "table": {k: col for k, col in sweep.table().items() if k != "taus"}, **sweep.config["summary"]}
    atomic_write(out / "rf_split.json", dumps(report, indent=2) + "\n", "--out")
    print(f"wrote {len(written)} checkpoints and {out / 'rf_split.json'}")
    for i, tau in enumerate(sweep.taus):
        print(f"  tau {tau_label(tau):>6}: inter-mode mass {sweep.inter_mode[i]:.3f}, mean error where the ridge is "
              f"defined: bias normal {sweep.bias_normal[i]:.3f} tangential {sweep.bias_tangential[i]:.3f}, "
              f"optimisation normal {sweep.opt_normal[i]:.3f} tangential {sweep.opt_tangential[i]:.3f}")
    return 0


def register(sub) -> None:
    from ..views.random_features import RFConfig

    p = sub.add_parser("train", help="train the MLP score network by denoising score matching",
                       description="Train an MLP score network; writes a checkpoint, loss.csv and train_log.json.")
    add_data_args(p)
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=int_in(1, 10**7), default=4000)
    g.add_argument("--batch-size", type=int_in(1, 2**20), default=256)
    g.add_argument("--lr", type=float, default=5e-3)
    g.add_argument("--hidden", type=int_in(1, 65536), default=128)
    g.add_argument("--depth", type=int_in(1, 256), default=4)
    g.add_argument("--prediction", default="epsilon", choices=["epsilon", "x0", "score"])
    g.add_argument("--weighting", default="h", choices=["1", "h", "h2"], help="loss weight over time")
    g.add_argument("--ema", type=float, default=0.0, help="EMA decay of the weights (0: off)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    g.add_argument("--eval-every", type=int_in(1, None), default=500, help="steps between score-error evaluations")
    g.add_argument("--dim", type=int_in(0, 65536), default=1, help="ridge dimension for the normal/tangential split")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("rf", help="random-feature model: closed-form gradient flow at several training times",
                       description="Fit the paper's random-feature model at each --tau; writes checkpoints and "
                                   "rf_split.json (architectural bias vs optimisation error, inter-mode mass).")
    add_data_args(p)
    p.set_defaults(dataset="two-points")
    g = p.add_argument_group("random features")
    d = RFConfig()  # the Random features page's defaults: equal settings give equal numbers
    g.add_argument("--tau", nargs="+", default=[str(t) for t in d.taus], help="training times ('inf' ok)")
    g.add_argument("--features", type=field_type(RFConfig, "features"), default=d.features,
                   help="number of random features p")
    g.add_argument("--time-features", type=field_type(RFConfig, "time_features"), default=d.time_features,
                   help="number of Fourier frequencies K")
    g.add_argument("--init-scale", type=field_type(RFConfig, "init_scale"), default=d.init_scale,
                   help="initial readout A0 ~ N(0, scale^2)")
    g.add_argument("--seed", type=field_type(RFConfig, "seed"), default=d.seed)
    g.add_argument("--samples", type=field_type(RFConfig, "particles"), default=d.particles,
                   help="trajectories per tau")
    g.add_argument("--sample-steps", type=field_type(RFConfig, "steps"), default=d.steps, help="sampler steps")
    g.add_argument("--dim", type=int_in(0, 65536), default=1, help="ridge dimension")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(func=cmd_rf)
