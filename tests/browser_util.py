"""Helpers for the real-browser tests: start ``streamlit run app.py`` on a free port, drive Debian's Chromium.

Usable from a shell too (``python tests/browser_util.py`` serves the app and prints its URL), which is how the
screenshots for the README are made.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("RIDGEVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "test-output" / "screenshots"


def page_paths() -> dict[str, str]:
    """Screenshot name -> URL path of every page in the app's navigation (``ridgeviz.app.nav.PAGES``)."""
    from ridgeviz.app.nav import PAGES

    return {Path(p.file).stem.lower(): p.url_path for p in PAGES}


def missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        return f"chromium not found at {CHROMIUM}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(timeout: float = 90.0, command=None, cwd=ROOT, env=None):
    """Run the app on a free port; yields its base URL; stops the server (only the process started here).

    ``command`` (default ``python -m streamlit run app.py``) is run in ``cwd`` with ``env``; the headless, port and
    usage-statistics options are added here.
    """
    port = free_port()
    log = open(ROOT / "test-output" / "streamlit.log", "w") if (ROOT / "test-output").is_dir() else subprocess.DEVNULL
    command = list(command or [sys.executable, "-m", "streamlit", "run", "app.py"])
    proc = subprocess.Popen(command + ["--server.headless", "true", "--server.port", str(port),
                                       "--browser.gatherUsageStats", "false"],
                            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start (exit code {proc.poll()})")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log is not subprocess.DEVNULL:
            log.close()


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                      args=CHROMIUM_ARGS)


def wait_idle(page, timeout: float = 120.0) -> None:
    """Wait until Streamlit has finished running the page script (``stApp``'s script state is notRunning)."""
    time.sleep(0.3)  # let a rerun that an action just requested begin
    page.wait_for_function("""() => { const a = document.querySelector('[data-testid=stApp]');
        return a !== null && a.getAttribute('data-test-script-state') === 'notRunning'; }""", timeout=timeout * 1000)


def wait_charts(page, timeout: float = 60.0) -> None:
    """Wait until every visible Plotly chart on the page has drawn its SVG (charts in closed tabs are skipped)."""
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')]
        .every(c => c.offsetParent === null || c.querySelector(
            '.main-svg .scatterlayer, .main-svg .heatmaplayer, .main-svg .contourlayer, .main-svg .imagelayer'))""",
                           timeout=timeout * 1000)
    time.sleep(0.3)


if __name__ == "__main__":
    (ROOT / "test-output").mkdir(exist_ok=True)
    with streamlit_server() as base:
        print(base, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)


def page_imports_torch(script: str, query: dict | None = None) -> bool:
    """Whether running the Streamlit ``script`` (a path under the project, in a fresh interpreter, with the link's
    ``query`` parameters) imports torch; fails with the page's errors when it raises or shows an error box."""
    import os
    import subprocess
    import sys

    setq = "".join(f"at.query_params[{k!r}] = {v!r}; " for k, v in (query or {}).items())
    code = ("import sys; from streamlit.testing.v1 import AppTest; "
            f"at = AppTest.from_file({script!r}, default_timeout=120); {setq}at.run(); "
            "assert not at.exception and not at.error, [e.value for e in at.exception]; "
            "print('torch' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1] == "True"

