"""Projector mode and the lecture in a real browser (Playwright and Debian's Chromium, a server this module starts).

At 1280x720 with projector mode on: the lecture walked with the keyboard, each step's figure drawn within
:data:`STEP_SECONDS` of the key press on a warm server; on every page no text of any figure overlaps another or is
cut off (from the SVG text elements' boxes, ``tests/text_boxes.py``); the setting survives a reload and travels in
the link; the home page's Play button and both panels fit the screen without scrolling. Screenshots of every
lecture step go to test-output/screenshots/ (``python tests/test_projector.py`` copies them to docs/lecture/).
"""

import os
import shutil
import time

import browser_util as bu
import pytest
import text_boxes as tb

from ridgeviz.views import lecture as lv

reason = bu.missing()
pytestmark = [pytest.mark.skipif(reason is not None, reason=reason or ""), pytest.mark.timeout(600)]

SCREEN = {"width": 1280, "height": 720}
STEP_SECONDS = float(os.environ.get("RIDGEVIZ_STEP_SECONDS", "3"))  # the budget per lecture step
DRAWN = ".main-svg .scatterlayer .trace, .main-svg .heatmaplayer .hm"


def step_drawn(page, key: str, timeout: float = 60.0) -> None:
    """Wait until the figure of lecture step ``key`` has drawn its data."""
    page.wait_for_selector(f".st-key-lecture_{key} :is({DRAWN})", state="attached", timeout=timeout * 1000)


def walk_lecture(page, base: str, shots: bool = True) -> dict:
    """Open step 1 in projector mode, then press → through the steps: ``{step: seconds from the key to the
    figure}``; checks the title and the link at each step and saves a screenshot of each."""
    page.goto(f"{base}/Lecture?step=1&projector=1")
    step_drawn(page, lv.STEPS[0].key, timeout=120)
    bu.wait_idle(page)
    seconds = {}
    for n, spec in enumerate(lv.STEPS, start=1):
        if n > 1:
            start = time.perf_counter()
            page.keyboard.press("ArrowRight")
            step_drawn(page, spec.key)
            seconds[n] = time.perf_counter() - start
            bu.wait_idle(page)
        bu.wait_charts(page)
        assert page.locator("h1").first.inner_text().startswith(f"{n} / {len(lv.STEPS)}")
        assert f"step={n}" in page.url and "projector=1" in page.url
        if shots:
            page.screenshot(path=str(bu.SHOTS / f"lecture-step-{n}.png"))
    return seconds


def test_the_lecture_walks_with_the_keyboard_in_projector_mode(server, browser):
    context = browser.new_context(viewport=SCREEN)
    page = context.new_page()
    walk_lecture(page, server, shots=False)  # warms the server: the file and every figure are read and built
    seconds = walk_lecture(page, server)
    print("lecture steps (s from → to the figure):", {k: round(v, 2) for k, v in seconds.items()})
    assert max(seconds.values()) <= STEP_SECONDS, seconds
    page.keyboard.press("ArrowLeft")
    step_drawn(page, lv.STEPS[-2].key)
    bu.wait_idle(page)
    assert f"step={len(lv.STEPS) - 1}" in page.url
    page.reload()  # the link keeps the step
    step_drawn(page, lv.STEPS[-2].key, timeout=60)
    assert page.locator("h1").first.inner_text().startswith(f"{len(lv.STEPS) - 1} /")
    assert page.locator("[data-testid=stException]").count() == 0
    context.close()


def test_the_go_deeper_link_opens_the_full_page_with_the_steps_model(server, browser):
    context = browser.new_context(viewport=SCREEN)
    page = context.new_page()
    page.goto(f"{server}/Lecture?step=3&projector=1")
    bu.wait_idle(page)
    link = page.locator("[data-testid=stLinkButton] a").first
    href = link.get_attribute("href")
    assert href.startswith("Trajectories?") and "model=exact" in href and "projector=1" in href
    page.goto(f"{server}/{href}")
    bu.wait_idle(page)
    assert "exact score" in page.locator("[data-testid=stCaptionContainer]").first.inner_text()
    assert page.get_by_role("switch", name="Projector mode").is_checked()
    context.close()


def page_urls() -> list[tuple[str, str]]:
    pages = [(name, path) for name, path in bu.page_paths().items() if "lecture" not in name]
    return pages + [(f"lecture_step_{n}", f"Lecture?step={n}") for n in range(1, len(lv.STEPS) + 1)]


def show_figures(page) -> None:
    """Wait for the page's figures, pressing Run where a page shows none until then (a stale or missing
    precomputed default)."""
    run = page.get_by_role("button", name="Run", exact=True)
    page.wait_for_selector("[data-testid=stPlotlyChart] .main-svg, [data-testid=stButton] button", timeout=120_000)
    bu.wait_idle(page, timeout=300)
    if page.locator("[data-testid=stPlotlyChart]").count() == 0 and run.count():
        run.first.click()
        page.wait_for_selector("[data-testid=stPlotlyChart] .main-svg", timeout=300_000)
        bu.wait_idle(page, timeout=300)
    bu.wait_charts(page, timeout=120)


@pytest.mark.parametrize("name, path", page_urls())
def test_no_figure_text_overlaps_or_is_cut_off_in_projector_mode(server, browser, name, path):
    context = browser.new_context(viewport=SCREEN)
    page = context.new_page()
    page.goto(f"{server}/{path}{'&' if '?' in path else '?'}projector=1")
    bu.wait_idle(page, timeout=300)
    show_figures(page)
    figures = tb.measure(page)
    found = tb.problems(figures)
    page.screenshot(path=str(bu.SHOTS / f"projector-{name}.png"), full_page=True)
    context.close()
    assert not found, tb.report(name, found)
    assert figures, f"{name}: no figure drawn"


def test_projector_mode_survives_a_reload_and_travels_in_the_link(server, browser):
    context = browser.new_context(viewport=SCREEN)
    page = context.new_page()
    page.goto(server)
    bu.wait_idle(page)
    prose = "[data-testid=stMain] [data-testid=stMarkdownContainer] p"
    small = float(page.locator(prose).first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    page.get_by_role("switch", name="Projector mode").click(force=True)
    page.wait_for_function("() => location.search.includes('projector=1')", timeout=30_000)
    bu.wait_idle(page)
    large = float(page.locator(prose).first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert large >= 1.2 * small  # prose scales too, not only the figures
    page.reload()
    bu.wait_idle(page)
    assert page.get_by_role("switch", name="Projector mode").is_checked() and "projector=1" in page.url
    page.locator("[data-testid=stSidebarNavLink]", has_text="Score model").click()
    page.wait_for_url("**/Score_model**", timeout=30_000)
    bu.wait_idle(page)
    assert "projector=1" in page.url and page.get_by_role("switch", name="Projector mode").is_checked()
    shared = page.url
    other = browser.new_context(viewport=SCREEN).new_page()  # a link sent to someone else
    other.goto(shared)
    bu.wait_idle(other)
    assert other.get_by_role("switch", name="Projector mode").is_checked()
    other.context.close()
    context.close()


@pytest.mark.parametrize("size", [(1440, 900), (1280, 720)])
@pytest.mark.parametrize("projector", [False, True])
def test_home_shows_play_and_both_panels_without_scrolling(server, browser, size, projector):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.goto(server + ("?projector=1" if projector else ""))
    page.wait_for_selector(".st-key-home_side_by_side .main-svg .scatterlayer", timeout=120_000)
    bu.wait_idle(page)
    boxes = page.evaluate("""() => { const fig = document.querySelector('.st-key-home_side_by_side');
        const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
        return {play: r(fig.querySelector('.updatemenu-button')),
                panels: [...fig.querySelectorAll('.draglayer .nsewdrag')].map(r)}; }""")
    panels = boxes["panels"]
    assert len(panels) == 2, boxes
    for box in [boxes["play"], *panels]:
        assert box[1] >= 0 and box[3] <= size[1] and box[2] <= size[0], (box, size)
    context.close()


if __name__ == "__main__":  # the README's lecture screenshots: docs/lecture/step-N.png at 1280x720, projector on
    from playwright.sync_api import sync_playwright

    out = bu.ROOT / "docs" / "lecture"
    out.mkdir(parents=True, exist_ok=True)
    bu.SHOTS.mkdir(parents=True, exist_ok=True)
    with bu.streamlit_server() as url, sync_playwright() as p:
        b = bu.launch(p)
        walk_lecture(b.new_context(viewport=SCREEN).new_page(), url)
        b.close()
    for n in range(1, len(lv.STEPS) + 1):
        shutil.copy(bu.SHOTS / f"lecture-step-{n}.png", out / f"step-{n}.png")
    print(f"wrote {len(lv.STEPS)} screenshots to {out}")
