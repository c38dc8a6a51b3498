"""Text that overlaps or is cut off in Plotly figures, found in a real browser from the SVG text elements' boxes.

Every visible ``<text>`` of every drawn Plotly chart on a page (titles, axis titles, tick labels, legend entries,
annotations, slider and button labels) is measured with ``getBoundingClientRect``; two boxes of one figure that
overlap by more than a pixel both ways, or a box that sticks out of its figure by more than a pixel, is a problem.
Transparent text (Plotly's hidden slider tick labels) and empty text are left out. Used by
``tests/test_projector.py`` and ``benchmarks/bench_browser.py``.
"""

from __future__ import annotations

TOLERANCE = 1.0  # pixels: rounding of text metrics between Chromium builds

_MEASURE = """() => [...document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot')]
  .filter(plot => plot.offsetParent !== null)
  .map((plot, i) => {
    const frame = plot.getBoundingClientRect();
    const name = (plot.closest('[class*=st-key-]') || {className: ''}).className.match(/st-key-(\\S+)/);
    const texts = [...plot.querySelectorAll('text')].filter(t => {
      if (!t.textContent.trim() || t.closest('.hoverlayer')) return false;
      const s = getComputedStyle(t);
      if (s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) === 0) return false;
      if (/rgba\\([^)]*,\\s*0\\)$/.test(s.fill) || s.fill === 'none' || parseFloat(s.fillOpacity) === 0) return false;
      let el = t;
      while (el && el !== plot) {  // inside a hidden group (closed menus, unused layers)
        const g = getComputedStyle(el);
        if (g.display === 'none' || g.visibility === 'hidden' || parseFloat(g.opacity) === 0) return false;
        el = el.parentElement;
      }
      const r = t.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    }).map(t => { const r = t.getBoundingClientRect();
      return {text: t.textContent.trim().slice(0, 60), cls: t.getAttribute('class') || '',
              x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; });
    return {figure: name ? name[1] : `figure ${i + 1}`,
            frame: {x0: frame.left, y0: frame.top, x1: frame.right, y1: frame.bottom}, texts};
  })"""


def measure(page) -> list[dict]:
    """``[{figure, frame, texts}]`` for every visible Plotly chart on ``page`` (a Playwright page)."""
    return page.evaluate(_MEASURE)


def _overlap(a: dict, b: dict) -> bool:
    return min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > TOLERANCE and \
        min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > TOLERANCE


def _outside(box: dict, frame: dict) -> bool:
    return (box["x0"] < frame["x0"] - TOLERANCE or box["y0"] < frame["y0"] - TOLERANCE
            or box["x1"] > frame["x1"] + TOLERANCE or box["y1"] > frame["y1"] + TOLERANCE)


def problems(figures: list[dict]) -> dict[str, list[str]]:
    """``{figure: [what is wrong, ...]}`` for the figures of :func:`measure` with overlapping or cut-off text."""
    out = {}
    for fig in figures:
        texts, found = fig["texts"], []
        for i, a in enumerate(texts):
            if _outside(a, fig["frame"]):
                found.append(f"cut off: {a['text']!r}")
            found += [f"overlap: {a['text']!r} and {b['text']!r}" for b in texts[i + 1:] if _overlap(a, b)]
        if found:
            out[fig["figure"]] = found
    return out


def report(page_name: str, found: dict[str, list[str]]) -> str:
    """The problems of one page as lines of text, by figure."""
    lines = [f"{page_name}:"]
    for fig, items in found.items():
        lines += [f"  {fig}:"] + [f"    {item}" for item in items]
    return "\n".join(lines)
