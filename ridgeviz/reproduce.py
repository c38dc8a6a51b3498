"""Reproduce the paper headlessly: each experiment returns figures, tables and numbers; a report gathers them.

``python -m ridgeviz reproduce [EXPERIMENT ...] --out DIR [--quick]`` writes ``DIR/<experiment>/`` (standalone
HTML figures, ``numbers.json``) and ``DIR/report.md``. Every experiment states its settings (seeds, sizes,
steps, schedule) in the report so a run is repeatable, and records the directional claims it checks in
``checks`` (name -> bool), which the tests assert.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch
from scipy.integrate import solve_ivp

from .data import MODE_SETS, data_scale, embed_in_subspace
from .decomposition import decompose_error
from .density import SmoothedEmpirical, as_numpy
from .models import ExactScore, InjectedErrorScore
from .phases import PhaseRule, label_phases
from .sampling import prior_sample, sample
from .schedules import get_schedule


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
    return ex


def _highdim_run(X, normal, tangential, M, steps, seed, direction):
    sched = get_schedule("ou")
    dens = SmoothedEmpirical(X, sched)
    model = InjectedErrorScore(dens, 1, normal, tangential, direction=direction)
    gen = torch.Generator().manual_seed(seed)
    tr = sample(model, prior_sample(sched, M, X.shape[1], gen), sched.time_grid(steps), "euler", generator=gen)
    return dens, model, tr


def _masked_mean(a, ok) -> float:
    return float(a[ok].mean()) if ok.any() else math.nan


def _masked_median(a, ok) -> float:
    return float(np.median(a[ok])) if ok.any() else math.nan


def exp_highdim(mode: str, seed: int) -> Experiment:
    """The two-point bridge embedded isometrically in R^D: the injection results hold in high dimension."""
    M, steps = {"tiny": (48, 40), "quick": (256, 100), "full": (1024, 300)}[mode]
    dims = [8] if mode == "tiny" else [8, 32, 128]
    level = 1.0
    ex = Experiment("highdim", "High-dimensional synthetic: two modes in a random plane of R^D",
                    {"dataset": "two-points embedded by a random orthonormal basis", "dims": dims,
                     "schedule": "ou", "sampler": "euler", "particles": M, "steps": steps, "seed": seed,
                     "error size": level,
                     "distance": "to the line through the two modes (their 1-D ridge, exactly)"})
    rows = []
    for D in dims:
        X, basis = embed_in_subspace(np.array(MODE_SETS["two-points"]), D, seed)
        axis = basis[:, 0] * np.sign(X[1] @ basis[:, 0] - X[0] @ basis[:, 0])
        res = {}
        for name, (en, et) in {"none": (0, 0), "normal": (level, 0), "tangential": (0, level)}.items():
            dens, model, tr = _highdim_run(X, en, et, M, steps, seed, axis)
            dec = decompose_error(model, dens, tr, 1, distance="proxy")
            window = (tr.times >= 0.05) & (tr.times <= 0.5)
            ok = ~dec.undefined[window]  # the error split is reported where the normal space is defined
            xs = as_numpy(tr.xs[window])
            off_line = xs - (xs @ axis)[..., None] * axis  # the ridge of (+-3, 0) is the whole line through them
            res[name] = {"fraction_toward_direction": float((as_numpy(tr.final) @ axis > 0).mean()),
                         "mean_distance_in_window": float(np.linalg.norm(off_line, axis=-1).mean()),
                         "error_normal": _masked_median(dec.error_normal[window], ok),
                         "error_tangential": _masked_median(dec.error_tangential[window], ok),
                         "defined_fraction": float(ok.mean())}
        ex.numbers[f"D{D}"] = res
        rows += [[D, name, f"{r['fraction_toward_direction']:.3f}", f"{r['mean_distance_in_window']:.4f}",
                  f"{r['error_normal']:.3f}", f"{r['error_tangential']:.3f}", f"{r['defined_fraction']:.2f}"]
                 for name, r in res.items()]
        ex.checks[f"D={D}: tangential error moves mass"] = (
            res["tangential"]["fraction_toward_direction"] > res["none"]["fraction_toward_direction"] + 0.2)
        ex.checks[f"D={D}: normal error does not move mass"] = (
            abs(res["normal"]["fraction_toward_direction"] - res["none"]["fraction_toward_direction"]) < 0.05)
        ex.checks[f"D={D}: normal error raises the distance to the ridge"] = (
            res["normal"]["mean_distance_in_window"] > 1.5 * res["none"]["mean_distance_in_window"])
    ex.tables.append(("Injected errors in R^D: mean distance to the ridge and median error norms (the latter "
                      "where the normal space is defined) over t in [0.05, 0.5]",
                      ["D", "injected", "fraction at the + mode", "distance to ridge", "normal error",
                       "tangential error", "ridge defined"], rows))
    series = [(name, dims, [ex.numbers[f"D{D}"][name]["mean_distance_in_window"] for D in dims])
              for name in ("none", "normal", "tangential")]
    ex.figures.append(("distance_vs_dim", _line_figure("Distance to the ridge against ambient dimension", "D",
                                                       "mean distance (t in [0.05, 0.5])", series),
                       "The normal error sets the distance to the ridge in every dimension; the tangential error "
                       "does not raise it."))
    return ex


EXPERIMENTS = {"injection": exp_injection, "reach": exp_reach, "highdim": exp_highdim}


def _table_md(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def write_experiment(ex: Experiment, out: Path) -> list[str]:
    """Write the figures and numbers of one experiment under ``out/<name>/``; return the report lines."""
    d = out / ex.name
    d.mkdir(parents=True, exist_ok=True)
    lines = [f"## {ex.title}", "", "Settings: " + ", ".join(f"{k} = {v}" for k, v in ex.settings.items()), ""]
    for stem, fig, caption in ex.figures:
        fig.write_html(d / f"{stem}.html", include_plotlyjs="cdn", full_html=True)
        lines += [f"- [{stem}]({ex.name}/{stem}.html): {caption}"]
    lines.append("")
    for caption, header, rows in ex.tables:
        lines += [f"**{caption}**", "", _table_md(header, rows), ""]
    if ex.checks:
        lines += ["Checks of the paper's directional claims:", ""]
        lines += [f"- {'PASS' if ok else 'FAIL'}: {claim}" for claim, ok in ex.checks.items()] + [""]
    lines += ex.notes
    payload = {"settings": ex.settings, "numbers": ex.numbers, "checks": ex.checks}
    (d / "numbers.json").write_text(json.dumps(payload, indent=2, default=float) + "\n")
    return lines


MODES = ("tiny", "quick", "full")


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
    report = ["# ridgeviz: reproduction of He, Qiu & Tao (arXiv 2602.06021)", "",
              f"Mode: {mode}; seed {seed}; torch {torch.__version__}.", ""]
    done = {}
    for name in names:
        t0 = time.perf_counter()
        ex = EXPERIMENTS[name](mode, seed)
        report += write_experiment(ex, out)
        report.append(f"_({name}: {time.perf_counter() - t0:.1f} s)_\n")
        progress(f"{name}: {time.perf_counter() - t0:.1f} s, checks {ex.checks}")
        done[name] = ex
    (out / "report.md").write_text("\n".join(report) + "\n")
    return done
