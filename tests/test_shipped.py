"""The one loader of shipped precomputed results (ridgeviz/app/shipped.py): a stale or broken file is never shown."""

import json
import logging
from types import SimpleNamespace

import pytest

from ridgeviz.app import shipped


def reader(path):
    meta = json.loads(open(path).read())
    if "broken" in meta:
        raise ValueError("not an npz")
    return SimpleNamespace(config=meta)


@pytest.fixture
def asset(tmp_path):
    def write(meta, name="view.json"):
        path = tmp_path / name
        path.write_text(json.dumps(meta))
        return path
    return write


def test_a_file_made_for_these_settings_is_used(asset):
    path = asset({"code": "abc", "settings": {"n": 3, "pair": [1, 2]}, "extra": 1})
    res = shipped.current(path, reader, {"code": "abc", "settings": {"n": 3, "pair": (1, 2)}}, "rebuild-it")
    assert res is not None and res.config["extra"] == 1  # tuples and lists compare after the JSON round trip


def test_a_stale_file_is_refused_with_the_rebuild_command(asset, caplog):
    path = asset({"code": "old", "settings": {"n": 3}}, "stale.json")
    with caplog.at_level(logging.WARNING):
        assert shipped.current(path, reader, {"code": "new", "settings": {"n": 3}}, "python -m x assets") is None
    assert "other code" in caplog.text and "python -m x assets" in caplog.text


def test_missing_and_unreadable_files_are_refused(asset, tmp_path):
    assert shipped.current(tmp_path / "none.json", reader, {"code": "a"}, "r") is None
    assert shipped.current(asset({"broken": 1}, "broken.json"), reader, {"code": "a"}, "r") is None
    assert shipped.current(asset({"settings": 1}, "nocode.json"), reader, {"code": "a"}, "r") is None
