"""Reproduce the paper headlessly: each experiment returns figures, tables and numbers; a report gathers them.

``python -m ridgeviz reproduce [EXPERIMENT ...] --out DIR [--quick]`` writes ``DIR/<experiment>/`` (standalone
HTML figures, ``numbers.json``) and ``DIR/report.md``. Every experiment states its settings (seeds, sizes,
steps, schedule) in the report so a run is repeatable, and records the directional claims it checks in
``checks`` (name -> bool), which the tests assert.
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch
from scipy.integrate import solve_ivp

from ..core.decomposition import decompose_error
from ..core.density import SmoothedEmpirical, as_numpy
from ..core.phases import label_phases
from ..core.sampling import Trajectory, prior_sample, sample
from ..core.schedules import get_schedule
from ..data.datasets import MODE_SETS, embed_in_subspace
from ..models.score import ExactScore, InjectedErrorScore


@dataclass
class Experiment:
    """What one experiment produced."""

    name: str
    title: str
    settings: dict
    figures: list = field(default_factory=list)  # (file stem, go.Figure, caption)
    tables: list = field(default_factory=list)  # (caption, header list, rows)
    numbers: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    arrays: dict = field(default_factory=dict)  # name -> array, written to arrays.npz


def _line_figure(title, xlabel, ylabel, series, log_x=False):
    fig = go.Figure()
    for name, x, y in series:
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name))
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel, template="plotly_white",
                      xaxis_type="log" if log_x else "linear", width=720, height=440)
    return fig


def _two_point_run(normal, tangential, M, steps, seed, method="euler"):
    sched = get_schedule("ou")
    dens = SmoothedEmpirical(MODE_SETS["two-points"], sched)
    model = InjectedErrorScore(dens, 1, normal, tangential, direction=[1.0, 0.0], normal_direction=[0.0, 1.0])
    gen = torch.Generator().manual_seed(seed)
    x_T = prior_sample(sched, M, 2, gen)
    return sched, dens, sample(model, x_T, sched.time_grid(steps), method, generator=gen)


def _normal_offset_green(sched, times):
    """G(t): the normal offset forced by a unit normal error, zero at T (the ODE y' = y (1 - 1/h) + 1, reversed).

    On the two-point set every training point has y = 0, so the exact score's normal part is ``-y/h_t`` for
    every x and the probability-flow ODE for the normal coordinate is linear:
    ``dy/d(-t) = y (1 - 1/h_t) + e_n``. Hence the predicted offset is ``y_hom(t) + e_n G(t)``.
    """
    def rhs(s, y):  # s = -t runs forward
        t = -s
        return [y[0] * (1 - 1 / float(sched.h(t))) + 1.0]

    sol = solve_ivp(rhs, (-times[0], -times[-1]), [0.0], t_eval=-times, rtol=1e-10, atol=1e-12, method="LSODA")
    return sol.y[0]


def exp_injection(mode: str, seed: int) -> Experiment:
    """Controlled error injection on the two-point bridge (+-3, 0): align is set by e_n, slide by e_t."""
    M, steps = {"tiny": (64, 60), "quick": (256, 100), "full": (2048, 400)}[mode]
    levels = [0.0, 0.25, 0.5, 1.0, 2.0]
    ex = Experiment("injection", "Controlled error injection (two points at (+-3, 0), OU, probability-flow ODE)",
                    {"dataset": "two-points", "schedule": "ou", "sampler": "euler (probability-flow ODE)",
                     "particles": M, "steps": steps, "seed": seed, "levels": levels})
    # normal error: signed normal offset at intermediate times against the predicted linear response G(t)
    runs = {e: _two_point_run(e, 0.0, M, steps, seed) for e in levels}
    sched, _, base = runs[0.0]
    times = base.times
    G = _normal_offset_green(sched, times)
    window = (times >= 0.05) & (times <= 0.5)
    mean_y = {e: as_numpy(tr.xs[:, :, 1]).mean(axis=1) for e, (_, _, tr) in runs.items()}
    abs_y = {e: float(np.abs(as_numpy(tr.xs[window][:, :, 1])).mean()) for e, (_, _, tr) in runs.items()}
    slope_measured = np.polyfit(levels, [(mean_y[e] - mean_y[0.0])[window].mean() for e in levels], 1)[0]
    slope_predicted = float(G[window].mean())
    ex.numbers["normal"] = {"mean_abs_offset_in_window": abs_y, "slope_measured": float(slope_measured),
                            "slope_predicted": slope_predicted, "window": [0.05, 0.5]}
    ex.tables.append(("Normal error e_n: predicted and measured response of the normal offset, mean over t in [0.05, 0.5]",
                      ["quantity", "predicted", "measured", "relative difference"],
                      [["d(offset)/d(e_n)", f"{slope_predicted:.4f}", f"{slope_measured:.4f}",
                        f"{abs(slope_measured - slope_predicted) / abs(slope_predicted):.2%}"]]))
    ex.figures.append(("normal_offset", _line_figure(
        "Normal offset from the ridge under injected normal error", "t", "mean signed normal offset y",
        [(f"e_n = {e}", times, mean_y[e]) for e in levels] + [("predicted, e_n = 1", times, mean_y[0.0] + G)],
        log_x=True), "Mean signed distance from the bridge (y) along reverse time; the line named predicted is "
                     "y_hom(t) + e_n G(t) from the linear normal ODE."))
    # tangential error: mass moved between the modes and displacement along the ridge
    t_runs = {e: _two_point_run(0.0, e, M, steps, seed) for e in levels}
    x0 = as_numpy(base.final[:, 0])
    frac_right = {e: float((as_numpy(tr.final[:, 0]) > 0).mean()) for e, (_, _, tr) in t_runs.items()}
    moved = {e: float(((x0 < 0) & (as_numpy(tr.final[:, 0]) > 0)).mean()) for e, (_, _, tr) in t_runs.items()}
    n_frac = {e: float((as_numpy(tr.final[:, 0]) > 0).mean()) for e, (_, _, tr) in runs.items()}
    ex.numbers["tangential"] = {"fraction_right": frac_right, "mass_moved_left_to_right": moved}
    ex.numbers["normal_fraction_right"] = n_frac
    ex.tables.append(("Mass at the right mode (x > 0) against injected error size",
                      ["error size", "tangential error: fraction right", "mass moved left->right",
                       "normal error: fraction right", "normal error: mean |y|, t in [0.05, 0.5]"],
                      [[f"{e:g}", f"{frac_right[e]:.3f}", f"{moved[e]:.3f}", f"{n_frac[e]:.3f}", f"{abs_y[e]:.3f}"]
                       for e in levels]))
    ex.figures.append(("mass_moved", _line_figure(
        "Tangential error moves mass along the ridge; normal error does not", "error size",
        "fraction of samples at the right mode",
        [("tangential e_t", levels, [frac_right[e] for e in levels]),
         ("normal e_n", levels, [n_frac[e] for e in levels])]),
        "Fraction of final samples with x > 0. The tangential error slides samples along the bridge to the "
        "right mode; the same size of normal error leaves the split unchanged."))
    fr = [frac_right[e] for e in levels]
    ex.checks = {
        "tangential error moves mass": fr[-1] > fr[0] + 0.2 and all(b >= a - 0.02 for a, b in zip(fr, fr[1:])),
        "normal error does not move mass": max(abs(n_frac[e] - n_frac[0.0]) for e in levels) < 0.05,
        "normal distance grows with normal error": all(abs_y[b] > abs_y[a] for a, b in zip(levels, levels[1:])),
        "normal response matches the linear prediction": bool(abs(slope_measured - slope_predicted) < 0.1 * abs(slope_predicted)),
    }
    ex.notes.append("Paper (qualitative, its main claim): the distance to the ridge in the align phase is set by the "
                    "normal component of the score error, the motion along the ridge by the tangential one. The "
                    "predicted response G(t) is this tool's derivation for (+-3, 0) (DESIGN.md), not a number "
                    "from the paper.")
    return ex


def exp_reach(mode: str, seed: int) -> Experiment:
    """Reach times against the schedule and the data scale (two points at (+-3 s, 0), exact score, EM)."""
    M, steps = {"tiny": (64, 60), "quick": (128, 100), "full": (1024, 300)}[mode]
    scales = [0.5, 1.0, 2.0]
    schedules = ["ou"] if mode == "tiny" else ["ou", "vp-linear", "vp-cosine", "ve"]
    ex = Experiment("reach", "Reach: when samples enter the tube around the ridge",
                    {"dataset": "two-points scaled by s", "scales": scales, "schedules": schedules,
                     "model": "exact score", "sampler": "em", "particles": M, "steps": steps, "seed": seed,
                     "tube": "0.1 x data scale", "t_min": 1e-3})
    rows, series = [], []
    for name in schedules:
        medians = []
        for s in scales:
            sched = get_schedule(name, t_min=1e-3)
            dens = SmoothedEmpirical(s * np.array(MODE_SETS["two-points"]), sched)
            gen = torch.Generator().manual_seed(seed)
            tr = sample(ExactScore(dens), prior_sample(sched, M, 2, gen), sched.time_grid(steps), "em", generator=gen)
            ph = label_phases(dens, tr, 1)
            rt = ph.reach_times()
            med = float(np.nanmedian(rt)) if np.isfinite(rt).any() else math.nan
            medians.append(med / sched.T)
            rows.append([name, f"{s:g}", f"{np.isfinite(rt).mean():.2f}", f"{med:.4g}", f"{med / sched.T:.4g}",
                         f"{math.sqrt(float(sched.h(med))) / float(sched.alpha(med)):.3g}" if math.isfinite(med) else "-"])
            ex.numbers[f"{name}/scale{s:g}"] = {"reached": float(np.isfinite(rt).mean()), "median_reach_time": med}
        series.append((name, scales, medians))
    ex.tables.append(("Reach times (median over samples) by schedule and data scale",
                      ["schedule", "scale s", "fraction reached", "median reach t", "t / T",
                       "sigma/alpha at reach (noise-to-signal)"], rows))
    ex.figures.append(("reach_times", _line_figure("Median reach time (as a fraction of T) against data scale",
                                                   "data scale s", "median reach time / T", series),
                       "Larger data spread the modes further apart, so the ridge (and its tube) appear earlier in "
                       "reverse time, i.e. at larger t."))
    ou = [ex.numbers[f"ou/scale{s:g}"]["median_reach_time"] for s in scales]
    ex.checks = {"most samples reach the tube (ou)": all(ex.numbers[f"ou/scale{s:g}"]["reached"] > 0.5 for s in scales),
                 "reach time grows with the data scale (ou)": all(b > a for a, b in zip(ou, ou[1:]))}
    ex.notes.append("Paper (qualitative): samples first reach a neighbourhood of the ridge. The reach times "
                    "against schedule and data scale are this tool's measurement; the paper gives no such numbers.")
    return ex


def _highdim_run(X, normal, tangential, M, steps, seed, direction, normal_direction):
    sched = get_schedule("ou")
    dens = SmoothedEmpirical(X, sched)
    if normal == tangential == 0:  # the same drift as a zero injection, without a frame per step
        model = ExactScore(dens)
    else:
        model = InjectedErrorScore(dens, 1, normal, tangential, direction=direction, normal_direction=normal_direction)
    gen = torch.Generator().manual_seed(seed)
    tr = sample(model, prior_sample(sched, M, X.shape[1], gen), sched.time_grid(steps), "euler", generator=gen)
    return dens, model, tr


def _window(tr: Trajectory, lo: float, hi: float) -> tuple[Trajectory, np.ndarray]:
    """The steps of ``tr`` with ``lo <= t <= hi`` (a contiguous run of the decreasing grid) and their mask."""
    mask = (tr.times >= lo) & (tr.times <= hi)
    k = np.flatnonzero(mask)
    rows = slice(k[0], k[-1] + 1)
    steps = slice(k[0], k[-1])
    return Trajectory(tr.xs[rows], tr.times[rows], tr.method, tr.drifts[steps], tr.scores[steps]), mask


def _masked_median(a, ok) -> float:
    return float(np.median(a[ok])) if ok.any() else math.nan


def exp_highdim(mode: str, seed: int) -> Experiment:
    """The two-point bridge embedded isometrically in R^D: the injection results hold in high dimension.

    The normal error points along a fixed unit vector ``n`` orthogonal to the data's plane; the measured align
    level is the mean signed offset ``<x, n>`` (minus the error-free run's), compared with the 2-D linear
    response ``e_n G(t)``. The distance to the ridge itself is dominated in high D by the isotropic part of the
    offset (``~ sqrt((D-1) h_t)`` per sample, whatever e_n), so it is tabulated but not used as the check.
    """
    M, steps = {"tiny": (48, 60), "quick": (256, 100), "full": (1024, 300)}[mode]
    dims = [8] if mode == "tiny" else [8, 32, 128]
    particles = {D: M if (D <= 32 or mode == "full") else M // 4 for D in dims}  # D = 128: a frame costs ~D^3
    level, window = 1.0, (0.05, 0.5)
    ex = Experiment("highdim", "High-dimensional synthetic: two modes in a random plane of R^D",
                    {"dataset": "two-points embedded by a random orthonormal basis", "dims": dims,
                     "schedule": "ou", "sampler": "euler (probability-flow ODE)", "particles": particles,
                     "steps": steps, "seed": seed, "error size": level, "window": list(window),
                     "normal error direction": "a seeded unit vector orthogonal to the data's plane",
                     "distance": "to the line through the two modes (their 1-D ridge, exactly)"})
    rows = []
    for D in dims:
        X, basis = embed_in_subspace(np.array(MODE_SETS["two-points"]), D, seed)
        axis = basis[:, 0] * np.sign(X[1] @ basis[:, 0] - X[0] @ basis[:, 0])
        v = np.random.default_rng(seed + 1).standard_normal(D)
        n_dir = v - basis @ (basis.T @ v)
        n_dir /= np.linalg.norm(n_dir)
        res, offsets = {}, {}
        for name, (en, et) in {"none": (0, 0), "normal": (level, 0), "tangential": (0, level)}.items():
            dens, model, tr = _highdim_run(X, en, et, particles[D], steps, seed, axis, n_dir)
            sub, mask = _window(tr, *window)
            dec = decompose_error(model, dens, sub, 1, distance="proxy")
            ok = ~dec.undefined  # the error split is reported where the normal space is defined
            xs = as_numpy(sub.xs)
            off_line = xs - (xs @ axis)[..., None] * axis  # the ridge of (+-3, 0) is the whole line through them
            offsets[name] = (xs @ n_dir).mean(axis=1)  # (window steps,) mean signed offset along n
            res[name] = {"fraction_toward_direction": float((as_numpy(tr.final) @ axis > 0).mean()),
                         "mean_distance_in_window": float(np.linalg.norm(off_line, axis=-1).mean()),
                         "error_normal": _masked_median(dec.error_normal, ok),
                         "error_tangential": _masked_median(dec.error_tangential, ok),
                         "defined_fraction": float(ok.mean())}
        G = _normal_offset_green(get_schedule("ou"), tr.times)[mask]
        slope = float((offsets["normal"] - offsets["none"]).mean() / level)
        res["normal"].update(offset_slope_measured=slope, offset_slope_predicted=float(G.mean()))
        ex.numbers[f"D{D}"] = res
        rows += [[D, name, f"{r['fraction_toward_direction']:.3f}", f"{r['mean_distance_in_window']:.4f}",
                  f"{r['error_normal']:.3f}", f"{r['error_tangential']:.3f}", f"{r['defined_fraction']:.2f}"]
                 for name, r in res.items()]
        ex.checks[f"D={D}: tangential error moves mass"] = (
            res["tangential"]["fraction_toward_direction"] > res["none"]["fraction_toward_direction"] + 0.2)
        ex.checks[f"D={D}: normal error does not move mass"] = (
            abs(res["normal"]["fraction_toward_direction"] - res["none"]["fraction_toward_direction"]) < 0.05)
        ex.checks[f"D={D}: normal offset matches the linear prediction e_n G(t) (within 10%)"] = bool(
            abs(slope - G.mean()) < 0.1 * abs(G.mean()))
    ex.tables.append((f"Injected errors in R^D: mean distance to the ridge and median error norms (the latter "
                      f"where the normal space is defined) over t in [{window[0]}, {window[1]}]",
                      ["D", "injected", "fraction at the + mode", "distance to ridge", "normal error",
                       "tangential error", "ridge defined"], rows))
    ex.tables.append(("Normal error: mean signed offset along the error direction per unit e_n, against the 2-D "
                      "linear prediction G(t) (window mean)", ["D", "predicted", "measured", "relative difference"],
                      [[D, f"{n['offset_slope_predicted']:.4f}", f"{n['offset_slope_measured']:.4f}",
                        f"{abs(n['offset_slope_measured'] / n['offset_slope_predicted'] - 1):.2%}"]
                       for D, n in ((D, ex.numbers[f"D{D}"]["normal"]) for D in dims)]))
    series = [(name, dims, [ex.numbers[f"D{D}"][name]["mean_distance_in_window"] for D in dims])
              for name in ("none", "normal", "tangential")]
    ex.figures.append(("distance_vs_dim", _line_figure("Distance to the ridge against ambient dimension", "D",
                                                       "mean distance (t in [0.05, 0.5])", series),
                       "Mean distance to the line through the modes. In high D it is dominated by the isotropic "
                       "offset that every run shares (about sqrt((D-1) h_t)); the normal error's share is the "
                       "signed offset along its direction, in the second table."))
    ex.notes.append("Paper (qualitative): the reach-align-slide mechanism does not depend on the ambient dimension; "
                    "the slope G(t) is the same prediction as in the 2-D injection experiment.")
    return ex


# -- 7. MNIST latent --------------------------------------------------------------------------------------------


def exp_mnist(mode: str, seed: int) -> Experiment:
    """MNIST ones in the VAE's 32-D latent: ridge deviation evolution, on-/off-ridge split, galleries.

    :func:`ridgeviz.latent_experiment.run_latent` on the shipped assets, exact score against an MLP trained on the
    latents, at the paper's ridge dimension 25 and thresholds 0.5/0.6; the split with the eigengap filter
    (undefined normal space: own label) and without it, as the paper computes it.
    """
    from dataclasses import replace

    from ..core.schedules import ScheduleConfig
    from ..data.mnist import DigitsSpec, load_digits
    from ..latent.analysis import CATEGORIES, OFF, ON, PAPER_DIM, classify, pick_gallery
    from ..latent.vae import SHIPPED_VAE, decode_latents, encode_latents, load_vae
    from ..views.mnist import LatentConfig, gallery_panels, run_latent
    from ..viz.latent import deviation_figure, gallery_figure, spectrum_figure

    samples, steps, mlp_steps = {"tiny": (100, 100, 1000), "quick": (500, 100, 2000), "full": (2000, 200, 20000)}[mode]
    digits = load_digits(DigitsSpec("auto" if mode == "full" else "shipped", classes=(1,)))
    vae, _ = load_vae(SHIPPED_VAE)
    pixels = digits.pixels()
    Z = encode_latents(vae, pixels)
    base = LatentConfig(schedule=ScheduleConfig(steps=steps), samples=samples, dim=PAPER_DIM, seed=seed,
                        mlp_steps=mlp_steps, tracked=8)
    ex = Experiment("mnist", "MNIST latent: ridge deviation, on-/off-ridge split and galleries",
                    {"digits": f"class 1, {len(Z)} images: {digits.source}", "autoencoder": SHIPPED_VAE.name,
                     "latent D": Z.shape[1], "schedule": "ou (T = 10, t_min = 1e-3)", "steps": steps,
                     "sampler": base.sampler, "samples": samples, "ridge dim": PAPER_DIM,
                     "models": f"exact score; MLP on the latents ({mlp_steps} DSM steps, lr {base.mlp_lr:g}, "
                               "batch 1024)",
                     "thresholds": f"on < {base.on}, off > {base.off} (residual / batch max)",
                     "gap_tol": base.gap_tol, "seed": seed})
    runs = {m: run_latent(Z, replace(base, model=m)) for m in ("exact", "mlp")}
    rows = []
    for m, run in runs.items():
        dev, e, evo = run.deviation, run.eval_index, run.stats["evolution"]
        paper = classify(dev.normalised[e], np.zeros(dev.normalised.shape[1], bool), dev.concave[e], base.on, base.off)
        counts, copies = run.stats["final"]["counts"], run.stats["memorisation"]["copies"]
        paper_counts = {c: int((paper == i).sum()) for i, c in enumerate(CATEGORIES[:3])}
        gap = float(np.median(dev.scaled_gap[e]))
        ex.numbers[m] = {"counts": counts, "counts_gap_ignored": paper_counts, "copies": copies,
                         "suggested_dim": run.suggested_dim, "evolution": evo, "median_scaled_gap_at_t_min": gap,
                         "training": run.stats["training"]}
        rows.append([m, " / ".join(map(str, counts.values())), " / ".join(map(str, paper_counts.values())),
                     f"{copies:.3f}", f"{evo[0]['length_median']:.3f}", f"{evo[-1]['length_median']:.3f}",
                     f"{gap:.1e}"])
        galleries = {c: pick_gallery(paper, dev.normalised[e], code, base.gallery)
                     for c, code in (("on ridge", ON), ("off ridge", OFF))}
        panels = gallery_panels(replace(run, codes=paper, galleries=galleries), lambda z: decode_latents(vae, z),
                                pixels)
        ex.figures += [(f"deviation_{m}", deviation_figure(dev), f"{m}: ridge deviation evolution (residual / batch "
                        "max at each recorded time, t = 10 to 1e-3); grey: normal space undefined."),
                       (f"gallery_{m}", gallery_figure(panels, digits.shape), f"{m}: decoded on-/off-ridge samples "
                        "at t = 1e-3 (split with the eigengap ignored, as in the paper) above their nearest training "
                        "images.")]
        ex.checks[f"{m}: samples approach the ridge (median h_t r falls > 2x from t = 10 to 1e-3)"] = (
            evo[-1]["length_median"] < 0.5 * evo[0]["length_median"])
    ex.checks["the exact score memorises more than the trained network (copies exceed the MLP's by > 0.3)"] = (
        ex.numbers["exact"]["copies"] > ex.numbers["mlp"]["copies"] + 0.3)
    run = runs["exact"]
    ex.figures.append(("spectrum", spectrum_figure(run.gaps, run.dim, run.suggested_dim, PAPER_DIM, base.t_suggest),
                       "Median scaled Hessian gaps at training latents (t = 0.1): where the ridge dimension stands."))
    ex.tables.append(("On-/off-ridge split at t = 1e-3, copies, and the median ridge deviation h_t r at t = 10 and "
                      "1e-3",
                      ["model", "on / between / off / undefined", "gap ignored (paper): on / between / off", "copies",
                       "h r at t = 10", "h r at t = 1e-3", "median scaled gap at 1e-3"], rows))
    ex.arrays = {"latents": Z, "times": run.deviation.times, **{f"final_{m}": r.final for m, r in runs.items()},
                 **{f"residual_{m}": r.deviation.residual for m, r in runs.items()}}
    var = np.linalg.eigvalsh(np.cov(Z.T))[::-1]
    ex.numbers["latent_covariance_eigenvalues"] = var.tolist()
    ex.notes += [f"Latent covariance: {int((var > 0.01).sum())} of {len(var)} eigenvalues exceed 0.01; the "
                 f"{PAPER_DIM}th and {PAPER_DIM + 1}th are {var[PAPER_DIM - 1]:.1e} and {var[PAPER_DIM]:.1e}. "
                 f"Where the scaled gap h_t (l_{PAPER_DIM} - l_{PAPER_DIM + 1}) is below gap_tol = {base.gap_tol:g} "
                 f"the {PAPER_DIM}-dimensional ridge's normal space is undefined ('undefined' column); the 'gap "
                 "ignored' split, the paper's computation, classifies those samples by residuals dominated by "
                 f"rounding. Suggested ridge dimension here: {run.suggested_dim}.",
                 "Paper: shows these residual histograms from t = 10 to 1e-3, the on-/off-ridge counts at the "
                 "thresholds 0.5/0.6 and galleries of both groups (its numbers are not restated here); its claim "
                 "tested here is that samples reach the ridge as t decreases."]
    return ex


# The paper's order; reproduce_models adds opening, modes and rf-dynamics when it is imported (below).
ORDER = ("opening", "modes", "rf-dynamics", "injection", "reach", "highdim", "mnist")
EXPERIMENTS = {"injection": exp_injection, "reach": exp_reach, "highdim": exp_highdim, "mnist": exp_mnist}


def _table_md(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def _write_png(fig, path: Path) -> bool:
    """A static copy of ``fig`` when the optional exporter (kaleido and a browser) works; False otherwise."""
    if importlib.util.find_spec("kaleido") is None:
        return False
    try:
        fig.write_image(path)
    except Exception:  # kaleido raises several types when its browser is missing; the HTML is the figure
        return False
    return True


def write_experiment(ex: Experiment, out: Path) -> list[str]:
    """Write the figures and numbers of one experiment under ``out/<name>/``; return the report lines."""
    d = out / ex.name
    d.mkdir(parents=True, exist_ok=True)
    lines = [f"## {ex.title}", "", "Settings: " + ", ".join(f"{k} = {v}" for k, v in ex.settings.items()), ""]
    for stem, fig, caption in ex.figures:
        fig.write_html(d / f"{stem}.html", include_plotlyjs=f"../{PLOTLY_JS}", full_html=True)
        png = _write_png(fig, d / f"{stem}.png")
        lines += [f"- [{stem}]({ex.name}/{stem}.html){f' ([png]({ex.name}/{stem}.png))' if png else ''}: {caption}"]
    lines.append("")
    for caption, header, rows in ex.tables:
        lines += [f"**{caption}**", "", _table_md(header, rows), ""]
    if ex.checks:
        lines += ["Checks of the paper's directional claims:", ""]
        lines += [f"- {'PASS' if ok else 'FAIL'}: {claim}" for claim, ok in ex.checks.items()] + [""]
    lines += [line for note in ex.notes for line in (note, "")]
    payload = {"settings": ex.settings, "numbers": ex.numbers, "checks": ex.checks}
    (d / "numbers.json").write_text(json.dumps(payload, indent=2, default=float) + "\n")
    raw = [f"[numbers.json]({ex.name}/numbers.json)"]
    if ex.arrays:
        np.savez_compressed(d / "arrays.npz", **{k: np.asarray(v) for k, v in ex.arrays.items()})
        raw.append(f"[arrays.npz]({ex.name}/arrays.npz) ({', '.join(ex.arrays)})")
    return lines + ["Raw numbers: " + ", ".join(raw), ""]


MODES = ("tiny", "quick", "full")
PLOTLY_JS = "plotly.min.js"  # one copy in the output folder; every figure loads it (works offline)


def reproduce(names, out, mode: str = "full", seed: int = 0, progress=print) -> dict[str, Experiment]:
    """Run the named experiments (all by default) at ``mode`` size, write ``out/report.md``; return them.

    ``mode``: "full" (the paper's sizes, GPU when present), "quick" (minutes on two CPU cores) or "tiny"
    (seconds; for the test suite).
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
    body, done, rows, start = [], {}, [], time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        ex = EXPERIMENTS[name](mode, seed)
        body += write_experiment(ex, out)
        seconds = time.perf_counter() - t0
        body.append(f"_({name}: {seconds:.1f} s)_\n")
        failed = [claim for claim, ok in ex.checks.items() if not ok]
        rows.append([name, f"{len(ex.checks) - len(failed)} / {len(ex.checks)}", f"{seconds:.1f}"])
        progress(f"{name}: {seconds:.1f} s, {rows[-1][1]} checks pass" + "".join(f"\n  FAIL: {c}" for c in failed))
        done[name] = ex
    from .learned import device_for

    static = importlib.util.find_spec("kaleido") is not None
    passed = sum(ok for e in done.values() for ok in e.checks.values())
    header = ["# ridgeviz: reproduction of He, Qiu & Tao (arXiv 2602.06021)", "",
              f"Mode: {mode}; seed {seed}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
              f"device: {device_for(mode)}. "
              f"Command: `python -m ridgeviz reproduce {' '.join(names)} --seed {seed}"
              f"{'' if mode == 'full' else ' --' + mode}`.", "",
              f"Figures are HTML pages that load `{PLOTLY_JS}` from this folder (they work offline)"
              + ("; PNG copies where kaleido could export them." if static else
                 "; no static exporter (kaleido) is installed, so no PNG copies."),
              "The paper's own numbers are not restated: each experiment names the paper's qualitative claim it "
              "tests, and its checks say whether this run reproduced it.", "",
              _table_md(["experiment", "checks passed", "seconds"],
                        rows + [["total", f"{passed} / {sum(len(e.checks) for e in done.values())}",
                                 f"{time.perf_counter() - start:.1f}"]]), ""]
    (out / "report.md").write_text("\n".join(header + body) + "\n")
    return done


from . import learned as reproduce_models  # noqa: E402,F401 (registers its experiments; it imports Experiment from here)
