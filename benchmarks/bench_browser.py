"""Speed budgets measured in Chromium: time to the first drawn figure, as a user sees it.

    python benchmarks/bench_browser.py [--runs 5] [--only lecture,live,training] [--train-steps 4000]

Each run starts a fresh server (``streamlit run app.py``) and measures, with Playwright driving the system's
Chromium:
- home, first visit: the server's first page load until the home figure's SVG is drawn;
- home, warm: a new browser session on the same server (imports and caches warm), and ``_cached``: a second
  visit in that session (the browser has cached Streamlit's own scripts, as a returning user's has);
- Data and bandwidth, warm: its second visit (the sweep was computed on the first), likewise;
- Trajectories' Run on the default settings: from the click until the script is idle and the chart redrawn.
- watched training: the Score model page's MLP training (the generalising recipe with ``--train-steps`` steps)
  from the click on Train until the page shows the result, with the browser watching the live progress, against
  the same training from the command line (``python -m ridgeviz train``, wall time of the whole command) in the
  same run: "the watched-training ratio against the command line" (the goal is at most 1.5);
- the lecture's step times: ``/Lecture?step=1&projector=1`` at 1280x720, walked once to warm the server, then
  again: step 1 from navigation, each later step from the press of the → key until that step's figure has drawn
  its data (the selectors of ``tests/test_projector.py``; the issue's budget is 3 s a step);
- the live loop's round trip: Trajectories opened with ``--live-link`` (``steps=100``), ``--live-particles``
  particles and ``--live-frames`` frames (up to three Runs with new seeds set them and let the server measure
  its rate; each Run's time and the page's live caption are printed), then the sidebar's ``steps`` changed three
  times (by -4, +4, -8) to values not computed before; each from the change until the animation shows the new
  result, with no Run pressed. When the page's own estimate is not under its live threshold it says so ("not
  live") and measures nothing;
- the reference, in the same run: a one-chart Streamlit page (``st.title`` and a 3-point Plotly chart) on its
  own server, first visit and warm; the floor that Streamlit itself and the browser set on this machine.
Prints each run, the range (min-max) over runs and each time over the reference's; the machine's load varies,
so ranges and ratios, not pass/fail. ``--only`` runs some parts (:data:`PARTS`); the reference runs whenever home,
data or trajectories do (their ratios need it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import browser_util as bu  # noqa: E402

PLOT = "[data-testid=stPlotlyChart] .main-svg"
PLOT_DRAWN = ".main-svg .scatterlayer .trace"
REFERENCE_APP = """import plotly.graph_objects as go
import streamlit as st

st.title("reference")
st.plotly_chart(go.Figure(go.Scatter(y=[1, 3, 2])), key="c")
"""
BUDGETS = {"home_first_visit": 3.0, "home_warm": 1.5, "home_warm_cached": 1.5, "data_warm": 2.0,
           "data_warm_cached": 2.0, "trajectories_run": 2.0}
PARTS = ("home", "data", "trajectories", "training", "lecture", "live")
LECTURE_SCREEN = {"width": 1280, "height": 720}
LECTURE_SECONDS = 3.0  # the budget for each lecture step on a warm server
LIVE_STEPS = (-4, 4, -8)  # the sidebar's steps in turn, from the link's: each a setting not computed before
LIVE_WARMUP = 3  # Runs (new seeds) at most before the live loop is measured: the server measures its rate
STALE = "settings changed since this animation"  # the Trajectories page's warning when it waits for Run
# a digest of what the Trajectories chart draws (its traces and its slider's steps): changes when a new result shows
CHART_DIGEST = """() => { const gd = document.querySelector('.st-key-traj_chart .js-plotly-plot');
    if (!gd || !gd.data) return null;
    const s = JSON.stringify([gd.data.map(d => [d.x, d.y]), (gd.layout.sliders || []).map(x => x.steps.length),
        (gd._transitionData && gd._transitionData._frames || []).length]);
    let h = 0; for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0; return h + ':' + s.length; }"""


def _visit(page, url: str) -> float:
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(PLOT, timeout=180_000)
    seconds = time.perf_counter() - start
    bu.wait_idle(page)
    return seconds


def first_figure(browser, url: str, again: bool = False):
    """Seconds from navigation until the first Plotly chart has drawn its SVG, in a new browser session.

    With ``again``, also the seconds of a second visit in the same session (the browser has cached Streamlit's
    own scripts, as a returning user's browser has): returns ``(first, second)``.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    seconds = _visit(page, url)
    if again:
        seconds = (seconds, _visit(page, url))
    context.close()
    return seconds


def trajectories_run(browser, base: str) -> float:
    """Seconds from pressing Run on the default Trajectories settings until the page is idle and redrawn."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{base}/Trajectories")
    page.wait_for_selector(PLOT, timeout=180_000)
    bu.wait_idle(page)
    # note when the script starts running, so "idle again" means this Run's script run has finished
    page.evaluate("""() => { window.__ran = false; const a = document.querySelector('[data-testid=stApp]');
        new MutationObserver(() => { if (a.getAttribute('data-test-script-state') === 'running') window.__ran = true; })
            .observe(a, {attributes: true, attributeFilter: ['data-test-script-state']}); }""")
    start = time.perf_counter()
    page.get_by_role("button", name="Run").click()
    page.wait_for_function("""() => { const a = document.querySelector('[data-testid=stApp]');
        return window.__ran && a.getAttribute('data-test-script-state') === 'notRunning'
            && document.querySelector('[data-testid=stPlotlyChart] .main-svg .scatterlayer'); }""", timeout=180_000)
    seconds = time.perf_counter() - start
    context.close()
    return seconds


def lecture_steps(browser, base: str) -> dict[int, float]:
    """``{step: seconds}`` of the lecture at 1280x720 in projector mode on a warm server: step 1 from navigation,
    each later step from the → key until its figure has drawn its data. Prints any figure text that overlaps or is
    cut off at a step (``tests/text_boxes.py``), measured after the timing."""
    import test_projector as tp
    import text_boxes as tb

    from ridgeviz.views import lecture as lv

    context = browser.new_context(viewport=LECTURE_SCREEN)
    page = context.new_page()
    tp.walk_lecture(page, base, shots=False)  # warms the server: the lecture's file and every step's figure
    page.goto("about:blank")
    start = time.perf_counter()
    page.goto(f"{base}/Lecture?step=1&projector=1")
    tp.step_drawn(page, lv.STEPS[0].key, timeout=120)
    seconds = {1: time.perf_counter() - start}
    bu.wait_idle(page)
    for n, spec in enumerate(lv.STEPS[1:], start=2):
        bu.wait_charts(page)
        _text_problems(tb, page, f"lecture step {n - 1}")
        start = time.perf_counter()
        page.keyboard.press("ArrowRight")
        tp.step_drawn(page, spec.key)
        seconds[n] = time.perf_counter() - start
        bu.wait_idle(page)
        assert f"step={n}" in page.url, page.url
    bu.wait_charts(page)
    _text_problems(tb, page, f"lecture step {len(lv.STEPS)}")
    context.close()
    return seconds


def _text_problems(tb, page, name: str) -> None:
    found = tb.problems(tb.measure(page))
    if found:
        print(tb.report(name, found), flush=True)


def _run_trajectories(page, seed: int) -> tuple[float, str]:
    """Press Run with ``seed``: ``(seconds from the click until idle, the page's live caption after it)``."""
    box = page.locator("[data-testid=stForm]").get_by_label("seed", exact=True)
    box.fill(str(seed))
    box.press("Tab")
    start = time.perf_counter()
    page.get_by_role("button", name="Run", exact=True).click()
    bu.wait_idle(page, timeout=300)
    page.wait_for_selector(f".st-key-traj_chart :is({PLOT_DRAWN})", timeout=180_000)
    seconds = time.perf_counter() - start
    return seconds, page.get_by_text(re.compile(r"reruns by itself")).first.inner_text()


def live_loop(browser, base: str, particles: int, link: str, frames: int = 0) -> list[float] | str:
    """Seconds from each change of the sidebar's steps until the Trajectories animation shows the new result,
    with no Run pressed. Up to :data:`LIVE_WARMUP` Runs first (new seeds) set the particles and give the server its
    measured rate; when the page's estimate is still not under its live threshold, what it says instead."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{base}/Trajectories?{link}")
    page.wait_for_selector("[data-testid=stForm]", timeout=180_000)
    bu.wait_idle(page, timeout=300)
    for label, value in (("particles", particles), ("animation frames", frames)):
        if value:
            box = page.locator("[data-testid=stForm]").get_by_label(label, exact=True)
            box.fill(str(value))
            box.press("Tab")
    runs = []
    for seed in range(1, LIVE_WARMUP + 1):
        seconds, caption = _run_trajectories(page, seed)
        runs.append(f"Run {seconds:.1f} s, then the page says: {caption}")
        if caption.startswith("Live"):
            break
    print("  live loop warm-up: " + " | ".join(runs), flush=True)
    if not caption.startswith("Live"):
        context.close()
        return "not live after the warm-up Runs"
    seconds, steps = [], page.locator("[data-testid=stSidebar]").get_by_label("steps", exact=True)
    first = int(steps.input_value())
    for value in (first + d for d in LIVE_STEPS):
        before = page.evaluate(CHART_DIGEST)
        steps.fill(str(value))
        start = time.perf_counter()
        steps.press("Enter")
        page.wait_for_function(f"""(before) => {{ const d = ({CHART_DIGEST})();
            return (d !== null && d !== before) || document.body.innerText.includes('{STALE}'); }}""",
                               arg=before, timeout=180_000)
        seconds.append(time.perf_counter() - start)
        bu.wait_idle(page, timeout=300)
        if STALE in page.evaluate("() => document.body.innerText"):
            context.close()
            return f"not live after steps={value}: the page asks for Run ({seconds[-1]:.2f} s)"
    context.close()
    return seconds


def recipe_args(steps: int) -> list[str]:
    """The command line of the generalising recipe with ``steps`` steps and the app's evaluation schedule."""
    from ridgeviz.models.recipes import GENERALISING_RECIPE as R

    return ["--hidden", str(R["hidden"]), "--depth", str(R["depth"]), "--prediction", R["prediction"], "--weighting",
            R["weighting"], "--batch-size", str(R["batch_size"]), "--lr", str(R["lr"]), "--steps", str(steps),
            "--eval-every", str(max(steps // 20, 1)), "--device", "cpu", "--seed", "0"]


def cli_training(steps: int) -> tuple[float, float]:
    """``(wall seconds of the whole command, training seconds it reports)`` for the recipe from the command line."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ridgeviz", "train", *recipe_args(steps), "--out", tmp, "--quiet"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        return wall, json.loads((Path(tmp) / "train_log.json").read_text())["seconds"]


def watched_training(browser, base: str, steps: int) -> tuple[float, float]:
    """``(seconds from the click on Train until the page shows the result, training seconds it reports)``, with
    the page open and its live progress drawn all along (the browser watching)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{base}/Score_model")
    page.wait_for_selector(PLOT, timeout=180_000)
    bu.wait_idle(page)
    from ridgeviz.models.kinds import kind_label

    page.get_by_text(kind_label("mlp"), exact=True).click()  # the Score model page's radio option
    page.locator("[data-testid=stForm]").get_by_label("steps", exact=True).wait_for(timeout=120_000)
    bu.wait_idle(page)
    box = page.locator("[data-testid=stForm]").get_by_label("steps", exact=True)
    box.fill(str(steps))
    box.press("Tab")
    start = time.perf_counter()
    page.get_by_role("button", name="Train", exact=True).click()
    done = page.get_by_text(re.compile(r"\d+ steps in [\d.]+ s on "))
    done.wait_for(timeout=900_000)
    seconds = time.perf_counter() - start
    reported = float(re.search(r"steps in ([\d.]+) s", done.inner_text()).group(1))
    context.close()
    return seconds, reported


@contextlib.contextmanager
def reference_server():
    """The one-chart reference page on a free port (only the process started here is stopped)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "app.py").write_text(REFERENCE_APP)
        port = bu.free_port()
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                 "--server.port", str(port), "--browser.gatherUsageStats", "false"], cwd=tmp,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                with contextlib.suppress(OSError), urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                    break
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            proc.wait(10)


def one_run(playwright, parts: set[str], train_steps: int = 0, live_particles: int = 256,
            live_link: str = "steps=100", live_frames: int = 0) -> dict:
    """The measurements of ``parts`` (:data:`PARTS`) on a fresh server, and the reference when they need it."""
    out = {}
    with bu.streamlit_server() as base:
        browser = bu.launch(playwright)
        try:
            if "home" in parts:
                out["home_first_visit"] = first_figure(browser, base)
                out["home_warm"], out["home_warm_cached"] = first_figure(browser, base, again=True)
            if "data" in parts:
                first_figure(browser, f"{base}/Data_and_bandwidth")  # computes and caches the sweep
                out["data_warm"], out["data_warm_cached"] = first_figure(browser, f"{base}/Data_and_bandwidth",
                                                                         again=True)
            if "trajectories" in parts:
                out["trajectories_run"] = trajectories_run(browser, base)
            if "lecture" in parts:
                out.update({f"lecture_step_{n}": v for n, v in lecture_steps(browser, base).items()})
            if "live" in parts:
                live = live_loop(browser, base, live_particles, live_link, live_frames)
                if isinstance(live, str):
                    print(f"  live loop: {live}", flush=True)
                else:
                    out.update({f"live_round_trip_{i + 1}": v for i, v in enumerate(live)})
            if "training" in parts and train_steps:
                out["training_watched"], out["training_watched_own"] = watched_training(browser, base, train_steps)
                out["training_cli"], out["training_cli_own"] = cli_training(train_steps)
            if parts & {"home", "data", "trajectories"}:
                with reference_server() as ref:
                    out["reference_first_visit"] = first_figure(browser, ref)
                    out["reference_warm"], out["reference_warm_cached"] = first_figure(browser, ref, again=True)
        finally:
            browser.close()
    return out


def parse_parts(text: str) -> set[str]:
    """``"lecture,live"`` -> ``{"lecture", "live"}``; ``"all"`` -> every part; an unknown part is an error."""
    parts = set(PARTS) if text == "all" else {p.strip() for p in text.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"--only takes 'all' or parts among {', '.join(PARTS)}; got {text!r}")
    return parts


def _span(runs: list[dict], key: str) -> str:
    values = [r[key] for r in runs if key in r]
    return f"{min(values):.2f}-{max(values):.2f} s" if values else "-"


def report(runs: list[dict], parts: set[str], train_steps: int) -> None:
    """The ranges over runs, against the budgets and the reference in the same run."""
    print("\nrange over runs (min-max), budget, and over the one-chart reference page in the same run:")
    for key, budget in BUDGETS.items():
        have = [r for r in runs if key in r]
        if not have:
            continue
        ref = ("reference_first_visit" if key == "home_first_visit" else
               "reference_warm_cached" if key.endswith("cached") else "reference_warm")
        ratios = [r[key] / r[ref] for r in have]
        print(f"  {key:18s} {_span(have, key)}   (budget {budget:.1f} s)   "
              f"{min(ratios):.2f}-{max(ratios):.2f} x {ref}")
    for key in ("reference_first_visit", "reference_warm", "reference_warm_cached"):
        if any(key in r for r in runs):
            print(f"  {key:18s} {_span(runs, key)}")
    lecture = sorted({k for r in runs for k in r if k.startswith("lecture_step_")}, key=lambda k: int(k[13:]))
    if lecture:
        print(f"\nlecture at 1280x720, projector mode, warm server (step 1: from navigation; later steps: from the "
              f"→ key to the step's figure; budget {LECTURE_SECONDS:.0f} s a step):")
        for key in lecture:
            print(f"  step {key[13:]}: {_span(runs, key)}")
    live = [v for r in runs for k, v in r.items() if k.startswith("live_round_trip_")]
    if live:
        print(f"\nlive loop on Trajectories (sidebar steps changed, no Run; {len(live)} changes): "
              f"{min(live):.2f}-{max(live):.2f} s, median {sorted(live)[len(live) // 2]:.2f} s")
    if "training" in parts and train_steps and any("training_cli" in r for r in runs):
        watched = [r["training_watched"] / r["training_cli"] for r in runs]
        own = [r["training_watched_own"] / r["training_cli_own"] for r in runs]
        print(f"\nwatched training, {train_steps} steps of the generalising recipe (goal: at most 1.5):")
        print(f"  the watched-training ratio against the command line (click to result / whole command): "
              f"{min(watched):.2f}-{max(watched):.2f}")
        print(f"  training seconds alone (as each reports them), app / command line: {min(own):.2f}-{max(own):.2f}")
        for key in ("training_watched", "training_cli", "training_watched_own", "training_cli_own"):
            print(f"  {key:22s} {_span(runs, key)}")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--train-steps", type=int, default=4000,
                    help="steps of the watched training and its command-line twin (0: skip)")
    ap.add_argument("--only", type=parse_parts, default=set(PARTS),
                    help=f"comma-separated parts to run, among {', '.join(PARTS)} (default: all)")
    ap.add_argument("--live-particles", type=int, default=256,
                    help="particles of the live loop's Trajectories (the page's live threshold decides)")
    ap.add_argument("--live-link", default="steps=100",
                    help="the live loop's Trajectories link parameters, e.g. 'steps=100&model=exact' (default: the "
                         "page's default model, 100 steps)")
    ap.add_argument("--live-frames", type=int, default=0,
                    help="animation frames of the live loop's Trajectories (0: the page's default); each frame "
                         "traces the ridge, most of a small run's time")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from playwright.sync_api import sync_playwright

    (ROOT / "test-output").mkdir(exist_ok=True)
    runs = []
    with sync_playwright() as p:
        for i in range(args.runs):
            runs.append(one_run(p, args.only, args.train_steps, args.live_particles, args.live_link,
                                args.live_frames))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[-1].items()), flush=True)
    report(runs, args.only, args.train_steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
