"""The guided lecture: seven steps from the data to random features, one figure each, ready to project (no torch)."""

import streamlit as st

from ridgeviz.app import lecture as lc
from ridgeviz.app.figures import presentation, show
from ridgeviz.app.state import guard
from ridgeviz.views import lecture as lv

step = lc.current_step()
spec = lv.STEPS[step - 1]
head = st.columns([6, 1.5, 1.5], vertical_alignment="bottom")
head[0].title(f"{step} / {len(lv.STEPS)} · {spec.title}", anchor=False)
head[1].button("◀ Previous", key="lecture_prev", on_click=lc.go, args=(-1,), disabled=step == 1,
               shortcut="Left", width="stretch", help="the previous step (← key)")
head[2].button("Next ▶", key="lecture_next", on_click=lc.go, args=(1,), disabled=step == len(lv.STEPS),
               shortcut="Right", type="primary", width="stretch", help="the next step (→ key)")

with guard("the lecture"):
    lec = lc.lecture()
    show(lc.figure(spec.key, presentation(), _lec=lec), f"lecture_{spec.key}", styled=True)
    st.markdown(lv.caption(lec, spec.key))
    st.link_button(f"Go deeper: open the {spec.page.replace('_', ' ')} page with these settings ↗",
                   lc.full_page_link(spec))
