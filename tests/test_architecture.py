"""The house rules of docs/architecture.md, checked: layers, no import cycles, small modules, thin pages,
streamlit only in the app layer, a lint-clean tree."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ridgeviz"
# each package may import from the packages of lower rank (and from itself); the root facade may import anything
RANK = {"utils": 0, "core": 1, "data": 2, "models": 3, "latent": 4, "views": 5, "viz": 6, "experiments": 7,
        "app": 8, "cli": 8, "__init__": 9, "__main__": 9}
MAX_MODULE_LINES, MAX_PAGE_LINES = 400, 120
APP_UI_FREE = {"ridgeviz.app", "ridgeviz.app.io"}  # the app package and its helpers that need no streamlit


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_module(name: str) -> bool:
    p = ROOT.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _module_level(tree: ast.Module) -> set:
    """The import statements outside function bodies: those that run when the module is imported, and the
    type-only ones under ``if TYPE_CHECKING:`` (a cycle through a type name is a cycle of the design, even though
    Python never runs that import)."""
    found, stack = set(), list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.add(id(node))
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> tuple[dict, dict]:
    """``(every import, module-level imports)``: module -> set of ridgeviz modules it imports."""
    every, top = defaultdict(set), defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        tree = ast.parse(path.read_text())
        top_nodes = _module_level(tree)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.ImportFrom):
                src = _resolve(node, module, path.name == "__init__.py")
                targets = [f"{src}.{a.name}" if _is_module(f"{src}.{a.name}") else src for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in (t for t in targets if t.startswith("ridgeviz")):
                every[module].add(target)
                if id(node) in top_nodes:
                    top[module].add(target)
    return every, top


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_has_a_rank():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages <= set(RANK), f"add {packages - set(RANK)} to RANK and docs/architecture.md"


def test_packages_import_only_from_lower_layers():
    every, _ = import_graph()
    bad = [f"{a} -> {b}" for a, targets in every.items() for b in targets
           if _layer(a) != _layer(b) and RANK[_layer(b)] >= RANK[_layer(a)]]
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(bad))


def test_module_level_imports_include_type_only_ones():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from a import b\ntry:\n    import c\n"
                     "except ImportError:\n    pass\ndef f():\n    import d\nclass E:\n    import g\n")
    names = {n.names[0].name for n in ast.walk(tree) if id(n) in _module_level(tree)}
    assert names == {"TYPE_CHECKING", "b", "c", "g"}  # not d, which runs only when f is called


def test_no_import_cycles():
    _, top = import_graph()
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(top.get(m, ())):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(top):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_private_names_stay_in_their_module():
    """A helper another module needs is public (or moves to where it belongs), never imported by its private name."""
    offenders = []
    for path in [*PACKAGE.rglob("*.py"), ROOT / "app.py", *(ROOT / "app_pages").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "ridgeviz"):
                offenders += [f"{path.relative_to(ROOT)}: {a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert not offenders, offenders


def test_modules_are_small_and_pages_thin():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split by concept): {long}"
    pages = [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py"))]
    fat = {p.name: n for p in pages if (n := len(p.read_text().splitlines())) > MAX_PAGE_LINES}
    assert not fat, f"pages over {MAX_PAGE_LINES} lines (move logic to ridgeviz/app): {fat}"


def test_streamlit_is_imported_only_by_the_app_layer():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if _layer(_module_name(path)) == "app" and _module_name(path) not in APP_UI_FREE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "streamlit"]
    assert not offenders, offenders


def test_importing_the_library_loads_neither_streamlit_nor_torch_until_used():
    """Every module outside the app layer (and the app package's UI-free part) imports without streamlit, checked
    one by one in a fresh interpreter so the first offender is named; ``import ridgeviz`` alone loads nothing."""
    modules = sorted(m for p in PACKAGE.rglob("*.py") if _layer(m := _module_name(p)) not in ("app", "__main__")
                     or m in APP_UI_FREE)
    prog = ("import importlib, json, sys\n"
            "import ridgeviz\n"
            "bare = sorted(m for m in ('torch', 'streamlit') if m in sys.modules)\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "    if 'streamlit' in sys.modules:\n"
            "        print(json.dumps({'bad': name, 'bare': bare})); break\n"
            "else:\n"
            "    print(json.dumps({'bad': None, 'bare': bare}))\n")
    res = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         check=False)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["bad"] is None, f"{out['bad']} imports streamlit"
    assert out["bare"] == [], f"import ridgeviz loaded {out['bare']}"


def test_public_api_names_resolve():
    import ridgeviz as rv

    for name in rv.__all__:
        assert getattr(rv, name) is not None, name


@pytest.mark.skipif(shutil.which("ruff") is None and subprocess.run(
    [sys.executable, "-m", "ruff", "--version"], capture_output=True, check=False).returncode != 0,
    reason="ruff is not installed")
def test_ruff_is_clean():
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "."], cwd=ROOT,
                         capture_output=True, text=True, check=False, timeout=120)
    assert res.returncode == 0, res.stdout[-3000:]
