"""The app's frame: page config, navigation (``st.navigation``), the URL's settings and remembered widgets.

``app.py`` (the entrypoint) calls :func:`start` and runs the page it returns. The pages live in
``app_pages/`` rather than ``pages/``: Streamlit treats a ``pages/`` folder as the legacy multipage layout and
would run a page there without this frame on a server's first request.
"""

from __future__ import annotations

from typing import NamedTuple

import streamlit as st

from ..utils.paths import PROJECT_ROOT
from .figures import presentation_toggle
from .links import load_query_params
from .state import restore_widgets

PAGES_DIR = PROJECT_ROOT / "app_pages"
LECTURE = "Lecture"  # the lecture's url path


class PageSpec(NamedTuple):
    file: str  # in app_pages/
    title: str
    icon: str
    url_path: str  # "" for the home page


PAGES = (
    PageSpec("0_Home.py", "Home", ":material/home:", ""),
    PageSpec("1_Lecture.py", "Lecture", ":material/school:", LECTURE),
    PageSpec("1_Data_and_bandwidth.py", "Data and bandwidth", ":material/blur_on:", "Data_and_bandwidth"),
    PageSpec("2_Score_model.py", "Score model", ":material/model_training:", "Score_model"),
    PageSpec("3_Trajectories.py", "Trajectories", ":material/timeline:", "Trajectories"),
    PageSpec("4_Random_features.py", "Random features", ":material/scatter_plot:", "Random_features"),
    PageSpec("6_MNIST_latent.py", "MNIST latent", ":material/draw:", "MNIST_latent"),
)


def start():
    """Set up this run (page config, the link's settings once per session, remembered widgets, navigation).

    Returns the ``StreamlitPage`` to run.
    """
    st.set_page_config(page_title="ridgeviz", layout="wide")
    load_query_params()
    restore_widgets()
    pages = [st.Page(PAGES_DIR / p.file, title=p.title, icon=p.icon, url_path=p.url_path or None,
                     default=not p.url_path) for p in PAGES]
    page = st.navigation(pages)
    # the lecture opens full width (the sidebar's button brings the navigation back)
    st.set_page_config(page_title=f"{page.title} · ridgeviz",
                       initial_sidebar_state="collapsed" if page.url_path == LECTURE else "auto")
    presentation_toggle()
    return page
