"""The Streamlit app layer: the only package that imports streamlit (this package itself and ``io`` do not).

Modules: ``nav`` (page config, navigation, the frame of every page), ``state`` (persistent widgets, the store,
error guards, progress, kept results), ``links`` (the query-string mirror), ``sidebar`` (dataset + schedule),
``models`` (the session's score model), ``compute`` (cached wrappers over :mod:`ridgeviz.views`), ``export``
(download rows), ``training`` (live MLP training in a background thread), ``mnist`` (the MNIST page's caches),
``io`` (UI-free table, CSV and checkpoint helpers). Pages in ``app_pages/`` read widgets, build a config, call
these and draw a figure from :mod:`ridgeviz.viz`.
"""

from ..utils.threads import prepare_process

prepare_process()  # the app is an edge: torch's OpenMP policy must be set before torch loads
