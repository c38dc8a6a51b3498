"""Speed budgets measured in Chromium: time to the first drawn figure, as a user sees it.

    python benchmarks/bench_browser.py [--runs 5]

Each run starts a fresh server (``streamlit run app.py``) and measures, with Playwright driving the system's
Chromium:
- home, first visit: the server's first page load until the home figure's SVG is drawn;
- home, warm: a new browser session on the same server (imports and caches warm);
- Data and bandwidth, warm: its second visit (the sweep was computed on the first);
- Trajectories' Run on the default settings: from the click until the script is idle and the chart redrawn.
Prints each run and the range (min-max) over runs; the machine's load varies, so ranges, not pass/fail.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import browser_util as bu  # noqa: E402

PLOT = "[data-testid=stPlotlyChart] .main-svg"
BUDGETS = {"home_first_visit": 3.0, "home_warm": 1.5, "data_warm": 2.0, "trajectories_run": 2.0}


def first_figure(browser, url: str) -> float:
    """Seconds from navigation until the first Plotly chart has drawn its SVG, in a new browser session."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(PLOT, timeout=180_000)
    seconds = time.perf_counter() - start
    bu.wait_idle(page)
    context.close()
    return seconds


def trajectories_run(browser, base: str) -> float:
    """Seconds from pressing Run on the default Trajectories settings until the page is idle and redrawn."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{base}/Trajectories")
    page.wait_for_selector(PLOT, timeout=180_000)
    bu.wait_idle(page)
    page.evaluate("() => { document.querySelector('.js-plotly-plot').dataset.old = '1'; }")
    start = time.perf_counter()
    page.get_by_role("button", name="Run").click()
    page.wait_for_function("""() => { const a = document.querySelector('[data-testid=stApp]');
        const gd = document.querySelector('.js-plotly-plot');
        return a.getAttribute('data-test-script-state') === 'notRunning' && gd && !gd.dataset.old
            && gd.querySelector('.main-svg'); }""", timeout=180_000)
    seconds = time.perf_counter() - start
    context.close()
    return seconds


def one_run(playwright) -> dict:
    with bu.streamlit_server() as base:
        browser = bu.launch(playwright)
        try:
            out = {"home_first_visit": first_figure(browser, base), "home_warm": first_figure(browser, base)}
            first_figure(browser, f"{base}/Data_and_bandwidth")  # computes and caches the sweep
            out["data_warm"] = first_figure(browser, f"{base}/Data_and_bandwidth")
            out["trajectories_run"] = trajectories_run(browser, base)
        finally:
            browser.close()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    (ROOT / "test-output").mkdir(exist_ok=True)
    runs = []
    with sync_playwright() as p:
        for i in range(args.runs):
            runs.append(one_run(p))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[-1].items()), flush=True)
    print("\nrange over runs (min-max), budget:")
    for key, budget in BUDGETS.items():
        values = [r[key] for r in runs]
        print(f"  {key:18s} {min(values):.2f}-{max(values):.2f} s   (budget {budget:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
