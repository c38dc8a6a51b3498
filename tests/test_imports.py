"""Only the app layer (ridgeviz.app's UI modules, app.py, app_pages/) imports streamlit: the library and the command
line stay headless, and so do the package ridgeviz.app itself and its UI-free helpers."""

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import ridgeviz

ROOT = Path(__file__).resolve().parents[1]
UI_FREE = {"ridgeviz.app", "ridgeviz.app.io"}  # the app package and its helpers that need no streamlit


def _all_modules() -> set[str]:
    return {"ridgeviz", *(m.name for m in pkgutil.walk_packages(ridgeviz.__path__, prefix="ridgeviz."))}


def _ui_modules() -> set[str]:
    return {m for m in _all_modules() if m.startswith("ridgeviz.app.") and m not in UI_FREE}


def _modules() -> list[str]:
    """Every module that must not import streamlit (__main__ runs the command line on import)."""
    return sorted(_all_modules() - _ui_modules() - {"ridgeviz.__main__"})


def test_every_library_module_is_found():
    mods = _modules()
    for core in ("ridgeviz.core.schedules", "ridgeviz.core.density", "ridgeviz.core.ridge", "ridgeviz.core.tracing",
                 "ridgeviz.models.score", "ridgeviz.core.sampling", "ridgeviz.core.decomposition",
                 "ridgeviz.core.phases", "ridgeviz.data.datasets", "ridgeviz.models.checkpoints", "ridgeviz.cli"):
        assert core in mods
    assert UI_FREE <= set(mods) and "ridgeviz.app.state" not in mods


def test_no_module_but_ui_imports_streamlit():
    # one fresh interpreter; after each import, record whether streamlit has been loaded, so the first
    # module that pulls it in is named in the failure
    prog = (
        "import importlib, json, sys\n"
        f"mods = {_modules()!r}\n"
        "bad = []\n"
        "for name in mods:\n"
        "    importlib.import_module(name)\n"
        "    if 'streamlit' in sys.modules:\n"
        "        bad.append(name)\n"
        "        break\n"
        "print(json.dumps({'bad': bad, 'loaded': sorted(m for m in sys.modules if m.startswith('ridgeviz'))}))\n"
    )
    res = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["bad"] == [], f"{out['bad'][0]} imports streamlit"
    assert set(_modules()) <= set(out["loaded"])
    assert not _ui_modules() & set(out["loaded"])
