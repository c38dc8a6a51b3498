"""The report writer: ``DIR/<experiment>/`` (figures, ``numbers.json``, ``arrays.npz``) and ``DIR/report.md``.

``numbers.json`` holds ``settings``, ``numbers`` and ``checks``: a list of objects with the keys of
:class:`~ridgeviz.experiments.checks.Check` (claim, statistic, value, control, control_value, passed,
control_failed, intervals, seeds, ...). ``report.md`` shows each experiment's checks as one table.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from ..utils.results import dumps, to_json
from .checks import CHECK_HEADER
from .result import Experiment

PLOTLY_JS = "plotly.min.js"  # one copy in the output folder; every figure loads it (works offline)


def table_md(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
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


def _json_default(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    return float(v)


def numbers_payload(ex: Experiment) -> dict:
    """The JSON object written to ``numbers.json`` (the NaN policy of :mod:`ridgeviz.utils.results`)."""
    raw = json.loads(json.dumps({"settings": ex.settings, "numbers": ex.numbers}, default=_json_default))
    return to_json({**raw, "checks": [c.to_json() for c in ex.checks]})


def write_experiment(ex: Experiment, out: Path, seconds: float, png: bool = False) -> list[str]:
    """Write one experiment's files under ``out/<name>/`` (PNG copies of the figures when ``png`` and kaleido
    can export them: seconds per figure); return its section of the report."""
    d = out / ex.name
    d.mkdir(parents=True, exist_ok=True)
    lines = [f"## {ex.title}", "", "Settings: " + ", ".join(f"{k} = {v}" for k, v in ex.settings.items()), ""]
    if ex.checks:
        lines += [f"**Checks** ({sum(c.passed for c in ex.checks)} of {len(ex.checks)} pass; a check passes when "
                  "the model holds the claim on its whole 95% interval and the negative control fails it on "
                  "its whole interval):", "", table_md(CHECK_HEADER, [c.row() for c in ex.checks]), ""]
    for caption, header, rows in ex.tables:
        lines += [f"**{caption}**", "", table_md(header, rows), ""]
    for stem, fig, caption in ex.figures:
        fig.write_html(d / f"{stem}.html", include_plotlyjs=f"../{PLOTLY_JS}", full_html=True)
        wrote = png and _write_png(fig, d / f"{stem}.png")
        lines.append(f"- [{stem}]({ex.name}/{stem}.html){f' ([png]({ex.name}/{stem}.png))' if wrote else ''}: "
                     f"{caption}")
    lines.append("")
    lines += [line for note in ex.notes for line in (note, "")]
    (d / "numbers.json").write_text(dumps(numbers_payload(ex), indent=2) + "\n")
    raw = [f"[numbers.json]({ex.name}/numbers.json)"]
    if ex.arrays:
        np.savez_compressed(d / "arrays.npz", **{k: np.asarray(v) for k, v in ex.arrays.items()})
        raw.append(f"[arrays.npz]({ex.name}/arrays.npz) ({len(ex.arrays)} arrays)")
    return lines + ["Raw numbers: " + ", ".join(raw), "", f"_({ex.name}: {seconds:.1f} s)_", ""]


def write_report(out: Path, header: list[str], summary_rows: list, body: list[str]) -> Path:
    """``out/report.md``: the header, a summary table (experiment, checks passed, seconds) and the sections."""
    path = out / "report.md"
    text = header + [table_md(["experiment", "checks passed", "controls that fail", "seconds"], summary_rows), ""]
    path.write_text("\n".join(text + body) + "\n")
    return path
