"""The explorer in a real browser: Playwright drives Debian's Chromium against a server this module starts.

Open the home page's side-by-side view and play it, scrub the bandwidth on the Data page with the figure's own
slider and see that no Streamlit rerun happens, download a PNG of a figure, visit every page with no exception
element, upload a bad CSV and see the error (the previous data stay), check that two browser sessions never
see each other's uploads, follow a clicked particle, and save a screenshot of every page under
test-output/screenshots/.
"""

import re
import struct
import time

import browser_util as bu
import pytest

reason = bu.missing()
pytestmark = [pytest.mark.skipif(reason is not None, reason=reason or ""), pytest.mark.timeout(300)]

PLOT = "[data-testid=stPlotlyChart] .main-svg"
EXCEPTION = "[data-testid=stException]"


def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    return context, context.new_page()


def slider_state(page, trace: str = "particles"):
    """The first chart's slider step, frame count and the first x of the named trace (or of the last trace)."""
    return page.evaluate("""(name) => { const gd = document.querySelector('.js-plotly-plot');
        const p = gd._fullData.find(t => t.name === name) || gd._fullData[gd._fullData.length - 1];
        return {active: gd._fullLayout.sliders[0].active, x0: p.x[0], frames: gd._transitionData._frames.length,
                steps: gd._fullLayout.sliders[0].steps.length, title: (gd.layout.title || {}).text || "",
                names: gd._fullData.map(t => t.name)}; }""", trace)


def panel_x0(page) -> list:
    """First particle's x in the left and right panels (the particles are the 3rd-last and the last trace)."""
    return page.evaluate("""() => { const d = document.querySelector('.js-plotly-plot')._fullData;
        return [d[d.length - 3].x[0], d[d.length - 1].x[0]]; }""")


def test_home_shows_the_side_by_side_view_and_play_advances_both_panels(server, browser):
    context, page = new_page(browser)
    start = time.time()
    page.goto(server)
    page.wait_for_selector(PLOT, timeout=90_000)
    print(f"home page: first figure after {time.time() - start:.1f} s")
    bu.wait_idle(page)
    titles = page.evaluate("() => document.querySelector('.js-plotly-plot').layout.annotations.map(a => a.text)")
    assert any("exact score" in t for t in titles) and sum("copies" in t for t in titles) == 2
    before = slider_state(page)
    last = before["frames"] - 1
    assert before["frames"] == before["steps"] >= 50 and before["active"] == last  # it opens on the outcome
    xs = panel_x0(page)
    page.locator(".updatemenu-button").first.click()  # ▶ Play: from the noise (t = T) towards the data
    page.wait_for_function("() => { const a = document.querySelector('.js-plotly-plot')._fullLayout.sliders[0]"
                           f".active; return a >= 25 && a < {last}; }}", timeout=30_000)
    page.locator(".updatemenu-button").nth(1).click()  # ❚❚ Pause
    assert all(a != b for a, b in zip(panel_x0(page), xs))  # both panels moved
    page.screenshot(path=str(bu.SHOTS / "home_playing.png"), full_page=True)
    assert page.locator(EXCEPTION).count() == 0
    context.close()


def test_bandwidth_scrubs_in_the_browser_without_a_rerun(server, browser):
    context, page = new_page(browser)
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(time.time())))
    page.goto(f"{server}/Data_and_bandwidth")
    page.wait_for_selector(PLOT, timeout=120_000)
    bu.wait_idle(page)
    before = slider_state(page, "ridge of p_t")
    assert before["frames"] == before["steps"] >= 100
    quiet_since = time.time()
    rail = page.locator(".slider-rail-rect").first
    box = rail.bounding_box()
    page.mouse.click(box["x"] + 0.85 * box["width"], box["y"] + box["height"] / 2)  # the figure's own slider
    page.wait_for_function(f"() => document.querySelector('.js-plotly-plot')._fullLayout.sliders[0].active "
                           f"!= {before['active']}", timeout=10_000)
    time.sleep(1.0)
    after = slider_state(page, "ridge of p_t")
    assert after["active"] > before["active"] and after["title"] != before["title"]
    assert "t = " in after["title"] and "√h_t" in after["title"]
    assert [t for t in sent if t > quiet_since] == []  # nothing went to the server: no rerun
    assert page.locator("[data-testid=stApp]").get_attribute("data-test-script-state") == "notRunning"
    page.screenshot(path=str(bu.SHOTS / "data_scrubbed.png"), full_page=True)
    context.close()


def test_png_export_downloads_an_image(server, browser):
    context, page = new_page(browser)
    page.goto(server)
    page.wait_for_selector(PLOT, timeout=90_000)
    bu.wait_idle(page)
    page.get_by_text("Export", exact=True).first.click()
    button = page.locator(".st-key-side_by_side_png button")
    button.wait_for(timeout=10_000)
    with page.expect_download(timeout=180_000) as info:
        button.click()
    path = bu.SHOTS / "export.png"
    info.value.save_as(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 1200 and height >= 600 and len(data) > 30_000, (width, height, len(data))
    context.close()


def test_every_page_renders_without_an_exception_and_is_screenshotted(server, browser):
    context, page = new_page(browser)
    for name, path in bu.page_paths().items():
        if "random_features" in name:
            path += "?set=two-points"  # the paper's set, whose sweep ships precomputed
        page.goto(f"{server}/{path}")
        bu.wait_idle(page)
        bu.wait_charts(page)
        assert page.locator(EXCEPTION).count() == 0, name
        page.screenshot(path=str(bu.SHOTS / f"{name}.png"), full_page=True)
    context.close()


def upload(page, name: str, content: bytes):
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": content})
    time.sleep(0.5)
    bu.wait_idle(page)


def caption_text(page) -> str:
    return " ".join(page.locator("[data-testid=stCaptionContainer]").all_inner_texts())


def wait_caption(page, needle: str, timeout: float = 30.0) -> None:
    """Wait until some caption contains ``needle`` (fails with the captions seen if none does in time)."""
    deadline = time.monotonic() + timeout
    while needle not in caption_text(page):
        assert time.monotonic() < deadline, f"no caption contains {needle!r}: {caption_text(page)!r}"
        time.sleep(0.2)


def test_bad_csv_shows_an_error_and_keeps_the_data(server, browser):
    context, page = new_page(browser)
    page.goto(f"{server}/Data_and_bandwidth")
    bu.wait_idle(page)
    assert "thirteen" in caption_text(page)
    upload(page, "bad.csv", b"x,y\n1,2\n3,abc\n")
    error = page.locator("[data-testid=stAlertContentError]")
    error.first.wait_for(timeout=30_000)
    assert re.search(r"bad\.csv: line 3, column 2 is not a number", error.first.inner_text())
    bu.wait_idle(page)  # the error appears mid-run; the data caption is written after it
    wait_caption(page, "thirteen")  # the previous data stay
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(bu.SHOTS / "data_bad_upload.png"), full_page=True)
    context.close()


def test_two_sessions_do_not_see_each_others_uploads(server, browser):
    ctx_a, a = new_page(browser)
    ctx_b, b = new_page(browser)
    a.goto(f"{server}/Data_and_bandwidth")
    b.goto(f"{server}/Data_and_bandwidth")
    bu.wait_idle(a)
    bu.wait_idle(b)
    upload(a, "mine.csv", b"0,0\n1,0\n0,1\n1,1\n3,3\n")
    a.wait_for_function("() => document.body.innerText.includes('mine.csv · N = 5 points in D = 2')", timeout=60_000)
    b.reload()
    bu.wait_idle(b)
    wait_caption(b, "thirteen")
    assert "mine.csv" not in b.locator("body").inner_text()
    assert a.locator(EXCEPTION).count() == 0 and b.locator(EXCEPTION).count() == 0
    ctx_a.close()
    ctx_b.close()


def test_clicking_a_particle_follows_its_trajectory(server, browser):
    context, page = new_page(browser)
    page.goto(f"{server}/Trajectories")
    page.wait_for_selector(PLOT, timeout=90_000)
    bu.wait_idle(page)
    followed = "() => document.querySelector('.js-plotly-plot')._fullData.some(t => t.name === 'particle 7')"

    def particles():  # re-found on every try: a rerun after a click rebuilds (and reorders) the traces
        traces = page.locator(".cartesianlayer .subplot.xy .scatterlayer .trace")
        counts = [traces.nth(i).locator("path.point").count() for i in range(traces.count())]
        return traces.nth(counts.index(max(counts))).locator("path.point")  # the 512 particles

    # one click only: a second click on the same point would toggle the selection off again
    particles().nth(7).click(force=True, timeout=15_000)
    try:
        page.wait_for_function(followed, timeout=60_000)
    except Exception:
        bu.wait_idle(page)
        if not page.evaluate(followed):
            # the click was lost (a busy machine re-rendering the chart): follow through the number input,
            # which drives the same selection state
            box = page.get_by_label("follow particle (-1: none; or click a particle)")
            box.fill("7")
            box.press("Enter")
            page.wait_for_function(followed, timeout=60_000)
    bu.wait_idle(page)
    assert page.get_by_label("follow particle (-1: none; or click a particle)").input_value() == "7"
    assert page.locator(EXCEPTION).count() == 0
    page.locator(".updatemenu-button").first.click()
    time.sleep(3)
    page.screenshot(path=str(bu.SHOTS / "trajectories_following.png"), full_page=True)
    context.close()
