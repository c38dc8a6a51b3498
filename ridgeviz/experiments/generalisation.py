"""Generalisation measured: where the final samples of each model go (copies, new on the ridge, new off it).

For the three 2-D sets in general position of :data:`~ridgeviz.experiments.common.GENERAL_SETS` and each model
(the exact score, the null model, MLPs at several training lengths / widths / weight decays around the
generalising recipe, the shipped generalising MLP, random features at several p and tau), the fractions of the
final samples that are copies, new on the ridge, new off the ridge or where the ridge is undefined
(:class:`~ridgeviz.experiments.common.OutcomeRule`), over independent seeds (training and sampling), with 95%
intervals. The chance level of "on the ridge" is the same samples rotated about the data's mean.
"""

from __future__ import annotations

import math
import time

import numpy as np
import plotly.graph_objects as go

from ..core.density import SmoothedEmpirical, as_numpy
from ..core.outcomes import CATEGORIES, OutcomeRule, classify_samples, fractions
from ..core.schedules import get_schedule
from ..core.tracing import default_bounds, polylines_to_xy, trace_ridges
from ..models.recipes import GENERALISING_ASSET, GENERALISING_RECIPE
from ..viz.figures import DATA_COLOR, RIDGE_COLOR
from .checks import interval, make_check
from .common import GENERAL_SETS, reverse_run, rotate_about_mean
from .executor import Task
from .models2d import build, label, rf_models
from .result import COLORS, Context, Experiment, line_figure, panel_grid, points_trace, square_axes

EXACT, NULL, RECIPE, SHIPPED = {"kind": "exact"}, {"kind": "null"}, {"kind": "mlp"}, {"kind": "shipped"}
# variants: the recipe with one field changed, per set, run with variant_seeds seeds (unchecked rows of the table
# unless variant_seeds >= 5); rf: random features (sets, p, taus). The quick size keeps what the checks need within
# about two CPU minutes; the full size runs the length / width / weight-decay sweep on every set.
SIZES = {
    "tiny": dict(sets=["thirteen"], seeds=3, variant_seeds=3, M=128, steps=60, variants={},
                 rf=dict(sets=["thirteen"], p=[64], taus=[math.inf])),
    "quick": dict(sets=list(GENERAL_SETS), seeds=5, variant_seeds=3, M=200, steps=100,
                  variants={"thirteen": [{"steps": 300}, {"hidden": 256}, {"weight_decay": 1.0}]},
                  rf=dict(sets=["thirteen"], p=[256], taus=[10.0, 1000.0, math.inf])),
    "full": dict(sets=list(GENERAL_SETS), seeds=10, variant_seeds=10, M=1024, steps=200,
                 variants={s: [{"steps": 300}, {"steps": 3000}, {"steps": 8000}, {"hidden": 32}, {"hidden": 256},
                               {"weight_decay": 0.1}, {"weight_decay": 1.0}, {"weighting": "h"}]
                           for s in GENERAL_SETS},
                 # the authors' scale; each seed draws its own features (10 feature draws)
                 rf=dict(sets=list(GENERAL_SETS), p=[2000], K=128, taus=[1.0, 10.0, 100.0, 1000.0, math.inf])),
}
ON_THRESHOLD = 0.35  # "many new samples on the ridge"
COPY_FEW, COPY_MOST = 0.5, 0.9


def outcome_task(set_name: str, spec: dict, seed: int, M: int, steps: int) -> list[dict]:
    """Build (train) the model of ``spec`` on one set, sample it, sort its final samples: one dict per model."""
    start = time.process_time()
    X, sched = np.array(GENERAL_SETS[set_name]), get_schedule("ou")
    dens, rule = SmoothedEmpirical(X, sched), OutcomeRule.for_data(X, sched)
    if spec["kind"] == "rf":
        fitted = rf_models(X, sched, spec["p"], spec["taus"], seed)
        models = [({"kind": "rf", "p": spec["p"], "tau": tau}, m) for tau, m in fitted.items()]
    else:
        models = [(spec, build(spec, X, sched, seed))]
    out = []
    for s, model in models:
        final = as_numpy(reverse_run(model, sched, M, 2, steps, seed).final)
        rotated = classify_samples(dens, rotate_about_mean(X, final, seed), rule)
        out.append({"label": label(s), "fractions": fractions(classify_samples(dens, final, rule)),
                    "rotated_on": fractions(rotated)["new on ridge"], "final": final.astype(np.float32),
                    "cpu_seconds": time.process_time() - start})
    return out


def _is_variant(spec: dict) -> bool:
    return spec["kind"] == "mlp" and len(spec) > 1


def _specs(cfg, set_name) -> list[dict]:
    specs = [EXACT, NULL, RECIPE] + [{"kind": "mlp", **v} for v in cfg["variants"].get(set_name, [])]
    if set_name in cfg["rf"]["sets"]:
        specs += [{"kind": "rf", "p": p, "taus": cfg["rf"]["taus"]} for p in cfg["rf"]["p"]]
    if set_name == "thirteen" and GENERALISING_ASSET.is_file():
        specs.insert(3, SHIPPED)
    return specs


def run(ctx: Context) -> Experiment:
    """Copies, new samples on the ridge and off it, per model and set, with 95% intervals over seeds."""
    cfg = ctx.pick(SIZES)
    seeds = ctx.seeds(cfg["seeds"])
    sched = get_schedule("ou")
    ex = Experiment("generalisation", "Generalisation measured: copies, new samples on the ridge, new samples off it",
                    {"sets": cfg["sets"], "schedule": "ou (T = 10, t_min = 1e-3)", "sampler": "em",
                     "particles": cfg["M"], "steps": cfg["steps"], "seeds": seeds,
                     "seeds of the MLP variants": seeds[:cfg["variant_seeds"]],
                     "generalising recipe (ridgeviz)": GENERALISING_RECIPE, "random features": cfg["rf"],
                     "MLP variants (recipe with one field changed)": cfg["variants"]})
    jobs = [(s, spec, seed) for s in cfg["sets"] for spec in _specs(cfg, s)
            for seed in (seeds[:cfg["variant_seeds"]] if _is_variant(spec) else seeds)]
    results = ctx.executor.map([Task(outcome_task, dict(set_name=s, spec=spec, seed=seed, M=cfg["M"],
                                                        steps=cfg["steps"])) for s, spec, seed in jobs])
    table = {}  # set -> label -> {"fractions": [per seed], "rotated_on": [...], "final": seed-0 samples}
    for (s, _, _), outs in zip(jobs, results):
        for o in outs:
            row = table.setdefault(s, {}).setdefault(o["label"], {"fractions": [], "rotated_on": [], "final": None})
            row["fractions"].append(o["fractions"])
            row["rotated_on"].append(o["rotated_on"])
            row["final"] = o["final"] if row["final"] is None else row["final"]
    rows = []
    for s in cfg["sets"]:
        rule = OutcomeRule.for_data(np.asarray(GENERAL_SETS[s]), sched)
        ex.numbers[s] = {"rule": vars(rule), "models": {}}
        for lab, r in table[s].items():
            stats = {c: interval([f[c] for f in r["fractions"]]) for c in CATEGORIES}
            stats["on ridge, rotated (chance)"] = interval(r["rotated_on"])
            ex.numbers[s]["models"][lab] = {k: {"mean": v[0], "interval": [v[1], v[2]]} for k, v in stats.items()}
            rows.append([s, lab, len(r["fractions"])]
                        + [_cell(stats[c]) for c in (*CATEGORIES, "on ridge, rotated (chance)")])
        ex.checks += _checks(s, table[s])
        ex.figures.append((f"samples_{s}", _samples_figure(s, table[s], rule),
                           f"{s}: final samples (first seed) of the exact score, the null model, the generalising "
                           f"recipe and random features over the ridge R_t* at t* = {rule.t_ridge:.3g} (purple, "
                           "scaled back by 1/alpha_t*) and the training points (black crosses)."))
        ex.arrays.update({f"{s}/{lab}": r["final"] for lab, r in table[s].items()})
    ex.tables.append(("Fractions of the final samples, mean [95% interval] over seeds (outcome rule in the notes)",
                      ["set", "model", "seeds", *CATEGORIES, "on ridge when rotated (chance)"], rows))
    if "thirteen" in table:
        ex.figures.append(("copies_vs_training", _training_figure(table["thirteen"], cfg),
                           "13 points: copies and new on-ridge samples of the recipe against its training length."))
    ex.notes += [_rule_note(cfg["sets"], sched),
                 "The paper's question is where samples go when a model does not memorise. ridgeviz's answer on these "
                 "sets: the exact score copies, the null model's samples all end at the origin (off the ridge), and "
                 "an MLP trained by the generalising recipe puts many new samples on the ridge and copies few; "
                 "longer training or more width moves it toward copying. Whether random features do the same at "
                 "these p is in the table: on these sets their samples end mostly off the ridge."]
    return ex


def _cell(stat) -> str:
    m, lo, hi = stat
    return f"{m:.2f} [{max(lo, 0):.2f}, {min(hi, 1):.2f}]"


def _checks(s: str, rows: dict) -> list:
    def values(lab, key="new on ridge"):
        return [f[key] for f in rows[lab]["fractions"]]

    exact, null, recipe = label(EXACT), label(NULL), label(RECIPE)
    out = [
        make_check(f"{s}: the exact score copies the training points", "fraction of copies", values(exact, "copy"),
                   "null model (A = 0)", values(null, "copy"), direction=">", threshold=COPY_MOST),
        make_check(f"{s}: the generalising recipe makes many new samples on the ridge", "fraction new on ridge",
                   values(recipe), "the same samples rotated about the data mean", rows[recipe]["rotated_on"],
                   direction=">", threshold=ON_THRESHOLD),
        make_check(f"{s}: the generalising recipe copies few training points", "fraction of copies",
                   values(recipe, "copy"), "exact score", values(exact, "copy"), direction="<", threshold=COPY_FEW),
    ]
    shipped = label(SHIPPED)
    if shipped in rows:
        out += [make_check(f"{s}: the shipped MLP makes many new samples on the ridge (sampling seeds)",
                           "fraction new on ridge", values(shipped), "its samples rotated about the data mean",
                           rows[shipped]["rotated_on"], direction=">", threshold=ON_THRESHOLD),
                make_check(f"{s}: the shipped MLP copies few training points", "fraction of copies",
                           values(shipped, "copy"), "exact score", values(exact, "copy"), direction="<",
                           threshold=COPY_FEW)]
    long = [lab for lab in rows if lab.startswith("MLP recipe, steps") and int(lab.split()[-1]) > 2000]
    short = [lab for lab in rows if lab.startswith("MLP recipe, steps") and int(lab.split()[-1]) < 1000]
    if long and short and len(rows[long[-1]]["fractions"]) >= 5:
        out.append(make_check(f"{s}: longer training memorises ({long[-1].split(', ')[1]})", "fraction of copies",
                              values(long[-1], "copy"), f"recipe stopped early ({short[0].split(', ')[1]})",
                              values(short[0], "copy"), direction=">", threshold=COPY_FEW))
    rf = [lab for lab in rows if lab.startswith("random features") and lab.endswith("tau=inf")]
    if rf:
        best = rf[-1]  # the most features
        out.append(make_check(f"{s}: random features ({best.split('features ')[1]}) make many new samples on the "
                              "ridge", "fraction new on ridge", values(best), "the same samples rotated",
                              rows[best]["rotated_on"], direction=">", threshold=ON_THRESHOLD))
    return out


def _rule_note(sets, sched) -> str:
    parts = []
    for s in sets:
        r = OutcomeRule.for_data(np.asarray(GENERAL_SETS[s]), sched)
        parts.append(f"{s}: copy radius {r.copy_radius:.3f}, t* = {r.t_ridge:.3g}, tube {r.tube:.3f}")
    return ("Outcome rule (ridgeviz): a copy lies within s_min/6 of a training point (s_min: the smallest spacing); "
            "a new sample is on the ridge when alpha_t* x lies within sqrt(h_t*)/2 of R_t*^1 (SCMS, ridge defined "
            "and concave there) at the t* where sigma_t*/alpha_t* (data units) is a third of the median "
            "nearest-neighbour spacing; "
            "'ridge undefined' when its projection ends where the normal space is undefined. " + "; ".join(parts)
            + ". Thresholds of the checks (ridgeviz): many on the ridge > 0.35, few copies < 0.5, copies > 0.9.")


def _samples_figure(s, rows, rule) -> go.Figure:
    X = np.array(GENERAL_SETS[s])
    dens = SmoothedEmpirical(X, get_schedule("ou"))
    a = float(dens.schedule.alpha(rule.t_ridge))
    lx, ly = polylines_to_xy(trace_ridges(dens, [rule.t_ridge], 1, bounds=default_bounds(a * X))[0])
    labs = [lab for lab in rows if not lab.startswith("MLP recipe,")][:6]
    fig, bounds = panel_grid(labs, 3), default_bounds(X)
    for i, lab in enumerate(labs):
        rc = dict(row=i // 3 + 1, col=i % 3 + 1)
        fig.add_trace(go.Scatter(x=np.asarray(lx) / a, y=np.asarray(ly) / a, mode="lines", name="ridge R_t*",
                                 legendgroup="ridge", showlegend=i == 0, line=dict(color=RIDGE_COLOR, width=2)), **rc)
        fig.add_trace(points_trace(rows[lab]["final"], "samples", COLORS[0], 3, i == 0), **rc)
        fig.add_trace(points_trace(X, "training points", DATA_COLOR, 8, i == 0, "x"), **rc)
        square_axes(fig, i, 3, bounds)
    fig.update_layout(height=360 * ((len(labs) + 2) // 3) + 60, width=1000, template="plotly_white",
                      title=f"{s}: final samples per model", legend=dict(orientation="h", y=-0.08))
    return fig


def _training_figure(rows, cfg) -> go.Figure:
    steps = sorted([GENERALISING_RECIPE["steps"]] + [v["steps"] for v in cfg["variants"].get("thirteen", [])
                                                     if set(v) == {"steps"}])
    labs = [label({"kind": "mlp", "steps": n}) for n in steps]
    series, bands = [], {}
    for key, name in (("copy", "copies"), ("new on ridge", "new on ridge")):
        stats = [interval([f[key] for f in rows[lab]["fractions"]]) for lab in labs]
        series.append((name, steps, [m for m, _, _ in stats]))
        bands[name] = ([lo for _, lo, _ in stats], [hi for _, _, hi in stats])
    return line_figure("13 points: the recipe against its training length (95% intervals)", "DSM steps",
                       "fraction of final samples", series, log_x=True, bands=bands)
