"""A classroom on one server: many browser sessions at once, most watching, a few pressing the heavy buttons.

    python benchmarks/bench_load.py --sessions 30 [--browsers 30] [--particles 2048] [--train-steps 4000]
    python benchmarks/bench_load.py --visits 10

One app server (``streamlit run app.py``, as ``tests/browser_util.py`` starts it) and one Chromium with one
browser context per session (a context is a separate session: its own cookies and websocket). Sessions arrive
``--stagger`` seconds apart, as a class opening a link. The mix:
- viewers (about four in five): :data:`ROTATION` in turn (the lecture's first step, Home, the lecture again, Data
  and bandwidth: most on the lecture and home), each measured from navigation to its first drawn figure, then
  left open. With
  ``--browsers K`` only K viewers run in Chromium and the others speak Streamlit's websocket protocol from
  Python ("wire" viewers, timed until the figure arrives): on a small machine the browsers' own drawing takes
  most of the CPU the server needs, and a class's browsers run on the students' machines;
- heavy sessions (about one in five, at least two): half run Trajectories with ``--particles`` particles
  (the page's Run), half train the Score model page's MLP (the generalising recipe, ``--train-steps`` steps).
  Each is measured from its click to the result, and to the first message the page shows about it (queue place
  and time, or a refusal): "an honest message".
Reported: per kind of session the time to the first figure and to a result (min / median / max), every queue or
refusal message with the second it appeared, and the server's resident memory (the server and its training
workers) after a warm-up visit (baseline), at its peak, and 10 s and 60 s after every session has closed.
Also reported: the CPU seconds the server (with its workers) and Chromium used during the class, and the memory
torch and the compute modules add to a process (the part of the server's memory that stays once a heavy page has
run). ``--visits N`` instead times N wire visits of each view one at a time on an idle server and charges each the
server's CPU seconds: the cost a view's first figure is tuned by.
Targets: every lecture and Home view within 5 s at 30 sessions; no heavy request left more than 2 minutes without
an honest message; memory back to the baseline afterwards. Printed as measured, with no pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import browser_util as bu  # noqa: E402

VIEWS = [("lecture", "Lecture"), ("home", ""), ("data", "Data_and_bandwidth")]  # (name, URL path)
ROTATION = ("lecture", "home", "lecture", "data")  # the viewers' pages in turn
PLOT = "[data-testid=stPlotlyChart] .main-svg"
MESSAGE = re.compile(r"(number \d+ in line|Queued|server is busy|Waiting for your own|should start|was cancelled|"
                     r"did not run|Another visitor is computing|Computing [^\n]*expected)[^\n]*")
DONE_TRAINING = re.compile(r"\d+ steps in [\d.]+ s on ")


class Memory:
    """The server's resident memory with its children (training workers), sampled every half second."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.baseline, self._stop = pid, 0.0, 0.0, threading.Event()
        self.browser_cpu: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> float:
        total = 0.0
        for pid in [self.pid] + _children(self.pid):
            with contextlib.suppress(OSError):
                found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
                total += int(found.group(1)) * 1024 if found else 0  # a process that is exiting has none
        return total

    def _run(self):
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, self.now())
            for pid in _browser_pids():  # a renderer's CPU seconds as last seen (renderers end with their context)
                self.browser_cpu[pid] = max(self.browser_cpu.get(pid, 0.0), _cpu_seconds(pid, children=False))

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far of the server with its workers (finished workers included) and of Chromium."""
        return _cpu_seconds(self.pid), sum(self.browser_cpu.values())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()


def _children(pid: int) -> list[int]:
    out = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out += [int(c) for c in (task / "children").read_text().split()]
    return out + [g for c in out for g in _children(c)]


@contextlib.contextmanager
def server():
    """``(base URL, pid)`` of a fresh app server on a free port (only the process started here is stopped)."""
    port = bu.free_port()
    log = open(ROOT / "test-output" / "bench_load_server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            with contextlib.suppress(OSError), urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                break
            time.sleep(0.3)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def _first_figure(page, url: str) -> float:
    start = time.perf_counter()
    await page.goto(url, timeout=600_000)
    await page.wait_for_selector(PLOT, timeout=900_000)
    return time.perf_counter() - start


async def _idle(page, timeout: float = 900.0) -> None:
    await asyncio.sleep(0.3)
    await page.wait_for_function("""() => { const a = document.querySelector('[data-testid=stApp]');
        return a !== null && a.getAttribute('data-test-script-state') === 'notRunning'; }""", timeout=timeout * 1000)


async def _watch(page, start: float, done, limit: float) -> dict:
    """Poll the page every half second after a click: the first queue/refusal message and when ``done(text)``."""
    out = {"messages": [], "result": None}
    seen = set()
    while time.perf_counter() - start < limit:
        text = await page.evaluate("() => document.body.innerText")
        for m in MESSAGE.finditer(text):
            key = re.sub(r"\d+", "#", m.group(0))[:60]
            if key not in seen:
                seen.add(key)
                out["messages"].append((round(time.perf_counter() - start, 1), m.group(0)[:160]))
        if await done(text):
            out["result"] = time.perf_counter() - start
            return out
        await asyncio.sleep(0.5)
    return out


async def viewer(browser, base: str, name: str, path: str) -> dict:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    try:
        return {"kind": name, "first_figure": await _first_figure(page, f"{base}/{path}"), "context": context}
    except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
        return {"kind": name, "error": f"{type(exc).__name__}: {str(exc)[:120]}", "context": context}


async def wire_viewer(base: str, name: str, path: str) -> dict:
    """A viewer without a browser: Streamlit's own websocket protocol, measured until the page's first figure
    arrives from the server (what a student's browser would start drawing; no drawing here, so the server's
    share of the time, without the browsers' CPU on this machine)."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    start = time.perf_counter()
    try:
        async with websockets.connect(base.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"],
                                      origin=base, max_size=None) as ws:
            msg = BackMsg()
            msg.rerun_script.page_name = path
            await ws.send(msg.SerializeToString())
            while True:
                fm = ForwardMsg()
                fm.ParseFromString(await asyncio.wait_for(ws.recv(), 900))
                element = fm.delta.new_element if fm.WhichOneof("type") == "delta" else None
                if element is not None and element.WhichOneof("type") == "plotly_chart":
                    return {"kind": f"{name} (wire)", "first_figure": time.perf_counter() - start}
                if fm.WhichOneof("type") == "script_finished":
                    return {"kind": f"{name} (wire)", "error": "the page finished without a figure"}
    except Exception as exc:  # noqa: BLE001
        return {"kind": f"{name} (wire)", "error": f"{type(exc).__name__}: {str(exc)[:120]}"}


async def trajectories(browser, base: str, particles: int, limit: float) -> dict:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    out = {"kind": "trajectories", "context": context}
    try:
        out["first_figure"] = await _first_figure(page, f"{base}/Trajectories")
        await _idle(page)
        box = page.get_by_label("particles", exact=True)
        await box.fill(str(particles))
        await box.press("Tab")
        await page.evaluate("""() => { window.__ran = false; const a = document.querySelector('[data-testid=stApp]');
            new MutationObserver(() => { if (a.getAttribute('data-test-script-state') === 'running')
                window.__ran = true; }).observe(a, {attributes: true, attributeFilter: ['data-test-script-state']});
            }""")
        start = time.perf_counter()
        await page.get_by_role("button", name="Run", exact=True).click()

        async def done(text):
            return await page.evaluate("""() => window.__ran && document.querySelector('[data-testid=stApp]')
                .getAttribute('data-test-script-state') === 'notRunning'""")

        out.update(await _watch(page, start, done, limit))
        text = await page.evaluate("() => document.body.innerText")
        out["refused"] = "server is busy" in text or "cancelled" in text
    except Exception as exc:  # noqa: BLE001
        out["error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    return out


async def training(browser, base: str, steps: int, limit: float) -> dict:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    out = {"kind": "training", "context": context}
    try:
        out["first_figure"] = await _first_figure(page, f"{base}/Score_model")
        await _idle(page)
        from ridgeviz.models.kinds import kind_label

        await page.get_by_text(kind_label("mlp"), exact=True).click()  # the Score model page's radio option
        box = page.locator("[data-testid=stForm]").get_by_label("steps", exact=True)
        await box.wait_for(timeout=600_000)
        await _idle(page)
        await box.fill(str(steps))
        await box.press("Tab")
        start = time.perf_counter()
        await page.get_by_role("button", name="Train", exact=True).click()

        async def done(text):
            return bool(DONE_TRAINING.search(text)) or "did not run" in text or "server is busy" in text

        out.update(await _watch(page, start, done, limit))
        text = await page.evaluate("() => document.body.innerText")
        out["refused"] = "server is busy" in text or "did not run" in text
    except Exception as exc:  # noqa: BLE001
        out["error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    return out


def mix(n: int, heavy: int | None = None) -> list[str]:
    """The classroom: ``heavy`` sessions (default about one in five, at least two), half trajectories and half
    training, spread evenly among the arrivals; the viewers take :data:`ROTATION` in turn."""
    heavy = min(n, max(2, round(n / 5)) if heavy is None else heavy)
    at = {round((k + 0.5) * n / heavy) for k in range(heavy)}
    kinds, views = iter(["trajectories", "training"] * heavy), iter(ROTATION * n)
    return [next(kinds) if i in at else next(views) for i in range(n)]


async def classroom(args, base: str, memory: Memory) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=bu.CHROMIUM if Path(bu.CHROMIUM).exists() else None,
                                          args=bu.CHROMIUM_ARGS)
        for _, path in VIEWS:  # warm-up: the server's first visit of each view (imports, shipped files, caches)
            warm = await viewer(browser, base, "warm-up", path)
            await warm["context"].close()
        memory.baseline = memory.now()
        memory.cpu_start, memory.wall_start = memory.cpu(), time.perf_counter()
        paths, tasks, browsers = dict(VIEWS), [], 0
        for name in mix(args.sessions, args.heavy):
            if name == "trajectories":
                coro = trajectories(browser, base, args.particles, args.limit)
            elif name == "training":
                coro = training(browser, base, args.train_steps, args.limit)
            elif browsers < args.browsers:
                coro = viewer(browser, base, name, paths[name])
                browsers += 1
            else:
                coro = wire_viewer(base, name, paths[name])
            tasks.append(asyncio.create_task(coro))
            await asyncio.sleep(args.stagger)
        results = await asyncio.gather(*tasks)
        await asyncio.sleep(1.0)  # one more sample of the renderers
        memory.cpu_end, memory.wall_end = memory.cpu(), time.perf_counter()
        for r in results:
            if "context" in r:
                await r.pop("context").close()
        await browser.close()
    return results


def _span(values) -> str:
    if not values:
        return "-"
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f} s (n = {len(values)})"


def _code_memory() -> float:
    """Resident bytes that importing torch and the app's compute modules adds to a process with streamlit and
    plotly loaded (what the server keeps once any heavy page has run, whatever its caches hold)."""
    code = ("import os, streamlit, plotly.graph_objects, numpy\n"
            "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
            "a = rss(); import torch, ridgeviz.app.compute, ridgeviz.views.trajectories; print(rss() - a)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    return float(out.stdout.strip() or "nan")


def report(args, results: list[dict], memory: Memory, after: dict) -> None:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown CPU")
    print(f"{args.sessions} sessions on one server; {os.cpu_count()} cores ({cpu}); load average before "
          f"{args.load_before:.2f}; {time.strftime('%Y-%m-%d %H:%M')}")
    for kind in [v[0] for v in VIEWS] + [f"{v[0]} (wire)" for v in VIEWS] + ["trajectories", "training"]:
        rows = [r for r in results if r["kind"] == kind]
        if not rows:
            continue
        firsts = [r["first_figure"] for r in rows if "first_figure" in r]
        print(f"  {kind:16s} first figure min / median / max: {_span(firsts)}")
        done = [r["result"] for r in rows if r.get("result") is not None and not r.get("refused")]
        if kind in ("trajectories", "training"):
            told = [min([m[0] for m in r["messages"]] + ([r["result"]] if r.get("result") else [])) for r in rows
                    if r.get("messages") or r.get("result")]
            print(f"  {'':16s} click to result: {_span(done)}; click to first message or result: {_span(told)}; "
                  f"refused or cancelled: {sum(bool(r.get('refused')) for r in rows)}; "
                  f"no result within {args.limit:.0f} s: {sum(r.get('result') is None for r in rows)}")
            for r in rows:
                for t, m in r.get("messages", [])[:3]:
                    print(f"      at {t:6.1f} s: {m}")
        for r in rows:
            if "error" in r:
                print(f"      error: {r['error']}")
    wall = memory.wall_end - memory.wall_start
    (s0, b0), (s1, b1) = memory.cpu_start, memory.cpu_end
    print(f"  CPU seconds during the class ({wall:.0f} s of wall time, {os.cpu_count() * wall:.0f} CPU seconds on "
          f"{os.cpu_count()} cores): the server with its workers {s1 - s0:.0f} s, Chromium {b1 - b0:.0f} s")
    print(f"  memory that torch and the compute modules add to a process when a heavy page first loads them: "
          f"{_code_memory() / 1e6:.0f} MB (measured in a separate process; the warm-up views load no torch)")
    print(f"  server memory (with its training workers): baseline {memory.baseline / 1e6:.0f} MB after a warm-up "
          f"visit, peak {memory.peak / 1e6:.0f} MB, {after[10] / 1e6:.0f} MB 10 s and {after[60] / 1e6:.0f} MB 60 s "
          "after every session closed")


def _cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU seconds of ``pid`` (``/proc/PID/stat``), with its finished children (``cutime``,
    ``cstime``) and its live ones when ``children``."""
    total = 0.0
    for p in [pid] + (_children(pid) if children else []):
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if p == pid else 0)
            total += ticks / os.sysconf("SC_CLK_TCK")
    return total


def _browser_pids() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if d.name.isdigit() and (d / "comm").read_text().startswith(("chrom", "headless")):
                out.append(int(d.name))
    return out


def visits(args) -> None:
    """The server's own cost of one view: ``--visits`` wire visits of each view, one after another on an otherwise
    idle server, each timed to its first figure and charged the server's CPU seconds (utime + stime) it took.

    At 30 arrivals in 7.5 s on two cores, the views keep within 5 s only if a visit costs the server well under
    ``2 x 7.5 / 30 = 0.5`` CPU seconds: this is the number the first views are tuned by."""
    with server() as (base, pid):
        for _, path in VIEWS:  # warm-up: imports, shipped files, caches
            asyncio.run(wire_viewer(base, "warm-up", path))
        print(f"{args.visits} wire visits of each view, one at a time; {os.cpu_count()} cores; load average "
              f"{os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')}")
        for name, path in VIEWS:
            cpu, wall = [], []
            for _ in range(args.visits):
                before = _cpu_seconds(pid)
                r = asyncio.run(wire_viewer(base, name, path))
                time.sleep(0.2)  # the rest of the script run (after the figure) is charged to this visit
                cpu.append(_cpu_seconds(pid) - before)
                wall.append(r.get("first_figure", float("nan")))
            print(f"  {name:8s} server CPU per visit median {statistics.median(cpu):.3f} s (min {min(cpu):.3f}, "
                  f"max {max(cpu):.3f}); first figure median {statistics.median(wall):.3f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--particles", type=int, default=2048, help="particles of each Trajectories run")
    ap.add_argument("--train-steps", type=int, default=4000, help="steps of each MLP training")
    ap.add_argument("--stagger", type=float, default=0.25, help="seconds between two arrivals")
    ap.add_argument("--limit", type=float, default=900.0, help="seconds a heavy session is watched after its click")
    ap.add_argument("--heavy", type=int, default=None, help="heavy sessions (default: about one in five)")
    ap.add_argument("--browsers", type=int, default=None,
                    help="viewers in Chromium (default: all); the other viewers speak Streamlit's websocket protocol "
                         "without drawing (the heavy sessions are always in Chromium)")
    ap.add_argument("--visits", type=int, default=0,
                    help="instead of a classroom: this many wire visits of each view, one at a time, each charged "
                         "the server's CPU seconds")
    args = ap.parse_args(argv)
    (ROOT / "test-output").mkdir(exist_ok=True)
    if args.visits:
        visits(args)
        return 0
    args.browsers = args.sessions if args.browsers is None else args.browsers
    args.load_before = os.getloadavg()[0]
    with server() as (base, pid), Memory(pid) as memory:
        results = asyncio.run(classroom(args, base, memory))
        time.sleep(10)
        after = {10: memory.now()}
        time.sleep(50)
        after[60] = memory.now()
    report(args, results, memory, after)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
