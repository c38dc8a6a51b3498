"""ridgeviz: the app's entrypoint (`streamlit run app.py`). It frames every page and runs the one asked for."""

from ridgeviz.app import nav

nav.start().run()
