"""The README and docs/ stay true: the Python API blocks run as printed (with a shorter training), every command of
the command-line blocks exists, the README stays short and links every docs/ page, and every relative link
resolves."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
API = (ROOT / "docs" / "api.md").read_text()
PAGES = sorted((ROOT / "docs").glob("*.md"))
API_OPENING, CLI_OPENING = "```python\nimport torch, ridgeviz as rv", "```bash\npython -m ridgeviz ridge"


def block(text: str, opening: str) -> str:
    start = text.index(opening) + len(opening)
    return text[start:text.index("```", start)]


@pytest.mark.parametrize("name", ["README.md", "docs/api.md"])
def test_the_api_block_runs(name, tmp_path, monkeypatch):
    code = block((ROOT / name).read_text(), API_OPENING)
    assert "steps=4000" in code and '"model.safetensors"' in code
    monkeypatch.chdir(tmp_path)
    code = "import torch, ridgeviz as rv" + code.replace("steps=4000", "steps=20")
    exec(compile(code, name, "exec"), {})
    assert (tmp_path / "model.safetensors").is_file()


def test_the_docs_command_line_block_is_the_readme_one():
    assert block(API, CLI_OPENING) == block(README, CLI_OPENING)


@pytest.mark.parametrize("command", sorted(set(re.findall(r"^python -m ridgeviz (\w[\w-]*)",
                                                          block(README, CLI_OPENING), re.M))))
def test_each_command_line_command_exists(command):
    out = subprocess.run([sys.executable, "-m", "ridgeviz", command, "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "usage: python -m ridgeviz" in out.stdout, out.stderr


def test_the_readme_reads_in_a_minute():
    assert len(README.splitlines()) <= 160


def test_the_readme_links_every_docs_page():
    linked = {target.split("#")[0] for _, target in links(README)}
    assert {f"docs/{p.name}" for p in PAGES} <= linked


def links(text: str) -> list[tuple[str, str]]:
    """The (text, target) of every Markdown link and image outside code (fenced blocks and `spans`)."""
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))
    return re.findall(r"!?\[([^\]]*)\]\(([^)\s]+)\)", prose)


def anchors(md: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped, spaces as hyphens."""
    heads = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", md.read_text(), flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def relative_links():
    for md in [ROOT / "README.md", *PAGES]:
        for _, target in links(md.read_text()):
            if not re.match(r"[a-z]+:", target):
                yield pytest.param(md, target, id=f"{md.relative_to(ROOT)}->{target}")


@pytest.mark.parametrize(("md", "target"), list(relative_links()))
def test_every_relative_link_resolves(md, target):
    path, _, anchor = target.partition("#")
    dest = (md.parent / path).resolve() if path else md
    assert dest.is_file(), f"{md.relative_to(ROOT)}: {target} does not exist"
    if anchor and dest.suffix == ".md":
        assert anchor in anchors(dest), f"{md.relative_to(ROOT)}: no heading #{anchor} in {dest.name}"
