"""The README's first command on a stock Debian machine: a fresh clone, Debian's own /usr/bin/python3 (externally
managed, PEP 668), ``bash scripts/install.sh`` makes .venv/, and the app starts from it.

Slow (a few minutes: every wheel is installed into a new environment); it runs in the default suite. pip reads
the machine's own configuration, so the environment gets the same wheels (and constraints) as the system's pip.
"""

import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from browser_util import streamlit_server

ROOT = Path(__file__).resolve().parents[1]
DEBIAN_PYTHON = Path("/usr/bin/python3")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def readme_commands() -> list[str]:
    """The code lines of the README's "The two commands" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_has_exactly_two_commands_using_the_project_environment():
    run, test = readme_commands()
    assert run == "bash scripts/install.sh && .venv/bin/streamlit run app.py"
    assert test == "bash scripts/install.sh --with-browser && .venv/bin/python -m pytest"


@pytest.mark.skipif(not DEBIAN_PYTHON.exists() or shutil.which("git") is None, reason="needs /usr/bin/python3 and git")
def test_install_from_a_fresh_clone_with_debians_python_then_start_the_app(tmp_path):
    clone = tmp_path / "ridgeviz"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "CONDA_PREFIX")}
    env["PATH"] = "/usr/bin:/bin"  # python3 is Debian's, not a user-installed one
    install_cmd = readme_commands()[0].split(" && ")[0]
    start = time.perf_counter()
    res = subprocess.run(install_cmd, shell=True, cwd=clone, env=env, capture_output=True, text=True, timeout=1300)
    print(f"install: {time.perf_counter() - start:.0f} s")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "creating the project environment .venv (/usr/bin/python3" in res.stdout
    venv_python = clone / ".venv" / "bin" / "python"
    base = subprocess.run([str(venv_python), "-c", "import sys; print(sys.base_prefix, sys.prefix)"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert base[0] == "/usr" and Path(base[1]) == clone / ".venv"
    # the app runs in it: one script run of the home page, then the README's run command serving it
    probe = ("from streamlit.testing.v1 import AppTest; at = AppTest.from_file('app.py', default_timeout=120).run(); "
             "assert not at.exception and not at.error; print(len(at.get('plotly_chart')))")
    out = subprocess.run([str(venv_python), "-c", probe], cwd=clone, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "1", out.stderr[-3000:]
    run_cmd = readme_commands()[0].split(" && ")[1].split()
    with streamlit_server(timeout=120, command=run_cmd, cwd=clone, env=env) as url:  # fails if it does not start
        with urllib.request.urlopen(url + "/", timeout=10) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
