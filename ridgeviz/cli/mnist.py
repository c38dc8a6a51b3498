"""``python -m ridgeviz mnist``: the MNIST latent-diffusion experiment without a browser.

Loads digits (the shipped subset by default; ``--mnist-dir`` or ``RIDGEVIZ_MNIST_DIR`` for MNIST's IDX files;
``--download`` for the official files), encodes them with the shipped VAE (or one trained with
``--train-vae``), samples in the 32-dimensional latent and writes to ``--out``:
``stats.json`` (the statistics), ``deviation.html`` (ridge deviation evolution), ``spectrum.html``,
``gallery.html`` (on/off-ridge samples with their nearest training images), ``trajectories.html``
(animation in the latent's principal plane with the error curves and phases) and ``run.npz`` (arrays).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from ..core.sampling import SAMPLERS
from ..core.schedules import SCHEDULES, ScheduleConfig
from ..data.mnist import ENV_VAR, DigitsSpec, load_digits
from ..latent.vae import SHIPPED_VAE
from ..utils.files import atomic_path, atomic_write
from ..utils.limits import require
from ..utils.results import dumps
from ..views.budget import latent_cost
from ..views.mnist import CHOICES, model_label
from .core import check_out, int_in


def _classes(text: str) -> tuple:
    if text.strip().lower() in ("all", ""):
        return ()
    try:
        return tuple(int(c) for c in text.split(","))
    except ValueError:
        raise ValueError(f"--classes must be comma-separated digits or 'all'; got {text!r}") from None


def _log(quiet):
    last = {}

    def report(stage, frac):
        if not quiet and (stage != last.get("stage") or frac >= 1.0):
            print(f"  {stage} ...", flush=True)
            last["stage"] = stage
    return report


def _vae(args, digits):
    from ..latent.vae import VAETrainConfig, load_vae, save_vae, train_vae

    if not args.train_vae:
        try:
            vae, cfg = load_vae(args.vae)
        except ValueError as exc:
            raise ValueError(f"--vae: {exc}") from None
        if vae.config.input_dim != int(np.prod(digits.shape)):
            raise ValueError(f"--vae: the checkpoint reads {vae.config.input_dim} pixels but the digits have "
                             f"{int(np.prod(digits.shape))}; pass --train-vae")
        return vae
    cfg = VAETrainConfig(epochs=args.vae_epochs, seed=args.seed)
    res = train_vae(digits.pixels(), cfg, device=args.device,
                    callback=lambda e, loss, info: None if args.quiet else print(f"  VAE epoch {e}: loss {loss:.2f}"))
    save_vae(args.out / "vae.safetensors", res.vae, {"data": {"source": digits.source, "n": len(digits.labels)},
                                                     "image_shape": list(digits.shape)})
    return res.vae


def cmd_mnist(args) -> int:
    from ..latent.vae import decode_latents, encode_latents
    from ..views.mnist import LatentConfig, gallery_panels, run_latent
    from ..viz.figures import trajectory_figure
    from ..viz.latent import deviation_figure, gallery_figure, spectrum_figure

    start = time.perf_counter()
    check_out(args.out, folder=True)
    source = "download" if args.download else ("folder" if args.mnist_dir else args.source)
    spec = DigitsSpec(source, str(args.mnist_dir) if args.mnist_dir else None, args.split, _classes(args.classes),
                      args.n)
    digits = load_digits(spec)
    if digits.note:
        print(f"note: {digits.note}")
    print(f"{len(digits.labels)} digits from the {digits.source}")
    vae = _vae(args, digits)
    pixels = digits.pixels()
    latents = encode_latents(vae, pixels)
    cfg = LatentConfig(schedule=ScheduleConfig(args.schedule, args.T, args.t_min, None, args.steps),
                       sampler=args.sampler, samples=args.samples, model=args.model, normal=args.normal,
                       tangential=args.tangential, mlp_steps=args.mlp_steps, mlp_lr=args.mlp_lr, dim=args.dim,
                       record=args.record, on=args.on, off=args.off,
                       tracked=args.tracked, gallery=args.gallery, seed=args.seed)
    require(latent_cost(latents.shape, cfg), f"the latent run with {args.samples} samples", "--samples, --steps or --n")
    run = run_latent(latents, cfg, progress=_log(args.quiet))
    panels = gallery_panels(run, lambda z: decode_latents(vae, z), pixels)
    figures = {"deviation": deviation_figure(run.deviation), "spectrum": spectrum_figure(run.gaps, run.dim,
               run.suggested_dim, t=cfg.t_suggest), "gallery": gallery_figure(panels, digits.shape),
               "trajectories": trajectory_figure(run.trajectories)}
    for name, fig in figures.items():  # every file whole or not at all (utils.files)
        atomic_write(args.out / f"{name}.html", fig.to_html(include_plotlyjs="cdn" if args.cdn else True), "--out")
    stats = {**run.stats, "data": {"source": digits.source, "note": digits.note, "classes": list(spec.classes),
                                   "n": len(digits.labels)}, "seconds": round(time.perf_counter() - start, 2)}
    atomic_write(args.out / "stats.json", dumps(stats, indent=2, default=float) + "\n", "--out")
    with atomic_path(args.out / "run.npz", "--out") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, latents=latents, labels=digits.labels, final=run.final, codes=run.codes,
                            nn_index=run.nn_index, nn_distance=run.nn_distance, times=run.deviation.times,
                            residual=run.deviation.residual, scaled_gap=run.deviation.scaled_gap,
                            normal_curvature=run.deviation.normal_curvature)
    counts = stats["final"]["counts"]
    print(f"d = {run.dim} (suggested {run.suggested_dim}); at t = {stats['final']['t']:g}: "
          + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f"; copies {100 * stats['memorisation']['copies']:.0f}%")
    print(f"wrote {', '.join(f'{n}.html' for n in figures)}, stats.json and run.npz to {args.out} "
          f"({stats['seconds']:.1f} s)")
    return 0


def register(sub) -> None:
    defaults = dataclasses.asdict(ScheduleConfig(steps=100))
    p = sub.add_parser("mnist", help="MNIST latent diffusion: residual evolution, on/off-ridge galleries",
                       description="Encode digits with the VAE, sample in the latent, and measure the samples "
                                   "against the ridge of the smoothed empirical density there.")
    g = p.add_argument_group("digits")
    g.add_argument("--source", default="auto", choices=["auto", "shipped", "digits8"],
                   help=f"auto: {ENV_VAR} if set, else the shipped subset; digits8: scikit-learn's 8x8 digits")
    g.add_argument("--mnist-dir", type=Path, help="folder with MNIST's IDX files (gzip or raw)")
    g.add_argument("--download", action="store_true",
                   help="download the official files (checksums verified); falls back to the subset offline")
    g.add_argument("--split", default="train", choices=["train", "test"])
    g.add_argument("--classes", default="1", help="classes, e.g. 1 or 3,8 or all (default: 1, as the authors' code)")
    g.add_argument("--n", type=int_in(1, 10**7), help="at most this many images, balanced over the classes")
    g = p.add_argument_group("autoencoder")
    g.add_argument("--vae", type=Path, default=SHIPPED_VAE, help="VAE checkpoint (default: the shipped one)")
    g.add_argument("--train-vae", action="store_true", help="train a VAE on the loaded digits instead")
    g.add_argument("--vae-epochs", type=int_in(1, 100_000), default=40)
    g.add_argument("--device", default="auto", help="auto, cpu or cuda (VAE training)")
    g = p.add_argument_group("diffusion in the latent")
    g.add_argument("--schedule", default=defaults["name"], choices=sorted(SCHEDULES))
    g.add_argument("--T", type=float)
    g.add_argument("--t-min", type=float)
    g.add_argument("--steps", type=int_in(2, 5000), default=defaults["steps"])
    g.add_argument("--sampler", default="em", choices=sorted(SAMPLERS))
    g.add_argument("--samples", type=int_in(2, 100_000), default=500, help="number of samples M")
    g.add_argument("--model", default="exact", choices=CHOICES,
                   help="; ".join(f"{k}: {model_label(k)}" for k in CHOICES))
    g.add_argument("--normal", type=float, default=0.0)
    g.add_argument("--tangential", type=float, default=0.0)
    g.add_argument("--mlp-steps", type=int_in(1, 10**6), default=1000, help="DSM steps of the MLP (batch 1024)")
    g.add_argument("--mlp-lr", type=float, default=1e-3, help="MLP learning rate (authors' code: 1e-4, more steps)")
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("analysis")
    g.add_argument("--dim", type=int, help="ridge dimension d (default: suggested; the authors' code uses 25 of 32)")
    g.add_argument("--record", type=int_in(2, 1000), default=11, help="recorded times from T to t_min (default 11)")
    g.add_argument("--on", type=float, default=0.5, help="on-ridge threshold on the normalised residual")
    g.add_argument("--off", type=float, default=0.6, help="off-ridge threshold on the normalised residual")
    g.add_argument("--tracked", type=int_in(1, 4096), default=32, help="trajectories decomposed and animated")
    g.add_argument("--gallery", type=int_in(1, 256), default=8, help="images per gallery")
    p.add_argument("--out", type=Path, default=Path("mnist-out"), help="output folder")
    p.add_argument("--cdn", action="store_true", help="load plotly.js from its CDN (smaller HTML files)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_mnist)
