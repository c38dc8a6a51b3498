"""Speed budgets measured in Chromium: time to the first drawn figure, as a user sees it.

    python benchmarks/bench_browser.py [--runs 5]

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
- the reference, in the same run: a one-chart Streamlit page (``st.title`` and a 3-point Plotly chart) on its
  own server, first visit and warm; the floor that Streamlit itself and the browser set on this machine.
Prints each run, the range (min-max) over runs and each time over the reference's; the machine's load varies,
so ranges and ratios, not pass/fail.
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
REFERENCE_APP = """import plotly.graph_objects as go
import streamlit as st

st.title("reference")
st.plotly_chart(go.Figure(go.Scatter(y=[1, 3, 2])), key="c")
"""
BUDGETS = {"home_first_visit": 3.0, "home_warm": 1.5, "home_warm_cached": 1.5, "data_warm": 2.0,
           "data_warm_cached": 2.0, "trajectories_run": 2.0}


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
    page.get_by_text("MLP network", exact=True).click()
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


def one_run(playwright, train_steps: int = 0) -> dict:
    with bu.streamlit_server() as base:
        browser = bu.launch(playwright)
        try:
            out = {"home_first_visit": first_figure(browser, base)}
            out["home_warm"], out["home_warm_cached"] = first_figure(browser, base, again=True)
            first_figure(browser, f"{base}/Data_and_bandwidth")  # computes and caches the sweep
            out["data_warm"], out["data_warm_cached"] = first_figure(browser, f"{base}/Data_and_bandwidth", again=True)
            out["trajectories_run"] = trajectories_run(browser, base)
            if train_steps:
                out["training_watched"], out["training_watched_own"] = watched_training(browser, base, train_steps)
                out["training_cli"], out["training_cli_own"] = cli_training(train_steps)
            with reference_server() as ref:
                out["reference_first_visit"] = first_figure(browser, ref)
                out["reference_warm"], out["reference_warm_cached"] = first_figure(browser, ref, again=True)
        finally:
            browser.close()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=4000,
                        help="steps of the watched training and its command-line twin (0: skip)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    (ROOT / "test-output").mkdir(exist_ok=True)
    runs = []
    with sync_playwright() as p:
        for i in range(args.runs):
            runs.append(one_run(p, args.train_steps))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[-1].items()), flush=True)
    print("\nrange over runs (min-max), budget, and over the one-chart reference page in the same run:")
    for key, budget in BUDGETS.items():
        values = [r[key] for r in runs]
        ref = ("reference_first_visit" if key == "home_first_visit" else
               "reference_warm_cached" if key.endswith("cached") else "reference_warm")
        ratios = [r[key] / r[ref] for r in runs]
        print(f"  {key:18s} {min(values):.2f}-{max(values):.2f} s   (budget {budget:.1f} s)   "
              f"{min(ratios):.2f}-{max(ratios):.2f} x {ref}")
    for key in ("reference_first_visit", "reference_warm", "reference_warm_cached"):
        values = [r[key] for r in runs]
        print(f"  {key:18s} {min(values):.2f}-{max(values):.2f} s")
    if args.train_steps:
        watched = [r["training_watched"] / r["training_cli"] for r in runs]
        own = [r["training_watched_own"] / r["training_cli_own"] for r in runs]
        print(f"\nwatched training, {args.train_steps} steps of the generalising recipe (goal: at most 1.5):")
        print(f"  the watched-training ratio against the command line (click to result / whole command): "
              f"{min(watched):.2f}-{max(watched):.2f}")
        print(f"  training seconds alone (as each reports them), app / command line: {min(own):.2f}-{max(own):.2f}")
        for key in ("training_watched", "training_cli", "training_watched_own", "training_cli_own"):
            values = [r[key] for r in runs]
            print(f"  {key:22s} {min(values):.2f}-{max(values):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
