"""The README stays true: its Python API block runs as printed (with a shorter training), and every command of its
command-line block exists."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def block(opening: str) -> str:
    start = README.index(opening) + len(opening)
    return README[start:README.index("```", start)]


def test_the_api_block_runs(tmp_path, monkeypatch):
    code = block("```python\nimport torch, ridgeviz as rv")
    assert "steps=4000" in code and '"model.safetensors"' in code
    monkeypatch.chdir(tmp_path)
    code = "import torch, ridgeviz as rv" + code.replace("steps=4000", "steps=20")
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "model.safetensors").is_file()


@pytest.mark.parametrize("command", sorted(set(re.findall(r"^python -m ridgeviz (\w[\w-]*)",
                                                          block("```bash\npython -m ridgeviz ridge"), re.M))))
def test_each_command_line_command_exists(command):
    out = subprocess.run([sys.executable, "-m", "ridgeviz", command, "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "usage: python -m ridgeviz" in out.stdout, out.stderr
