"""Shipped precomputed results: each answers its page's default request on this code, identified by its inputs (not
by numbers computed at run time); the one loader (ridgeviz/app/shipped.py) never shows a stale or broken file."""

import logging
from pathlib import Path

import numpy as np
import pytest

from ridgeviz.app import shipped
from ridgeviz.core.schedules import ScheduleConfig
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.utils.results import read_meta, write_result
from ridgeviz.views import lecture as lv
from ridgeviz.views import mnist_default as md
from ridgeviz.views import random_features as rs
from ridgeviz.views import side_by_side as sbs
from ridgeviz.views import trajectories as tj
from ridgeviz.views.assets import ASSET_GROUPS, rebuild_command

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def _mnist_default():
    from ridgeviz.data.mnist import load_digits
    from ridgeviz.latent.vae import shipped_vae_path

    spec = md.DEFAULT_SPEC
    return md.made_from(md.DEFAULT_CONFIG, load_digits(spec).images, shipped_vae_path(spec.classes))


# every precomputed view, and the request its page makes by default (what a visitor gets without pressing Run)
DEFAULT_REQUESTS = {
    "demo_thirteen_ou.npz": lambda: tj.made_from(*tj.demo_inputs()),
    "rf_sweep_two_points.npz": lambda: rs.made_from(MODE_SETS["two-points"], ScheduleConfig(), rs.RFConfig()),
    "side_by_side_home.npz": lambda: sbs.made_from(sbs.HOME),
    "lecture.npz": lambda: lv.made_from(lv.LECTURE),
    "mnist_default_view.npz": _mnist_default,
}


def test_every_precomputed_view_is_checked_here():
    views = {f for a in ASSET_GROUPS.values() for f in a.files if f.endswith(".npz") and f != "mnist_subset.npz"}
    assert views == set(DEFAULT_REQUESTS)


@pytest.mark.parametrize("name", sorted(DEFAULT_REQUESTS))
def test_shipped_view_answers_its_default_request(name):
    """Fails when the code, the settings or an input changed since the file was made: rebuild it."""
    got = read_meta(ASSETS / name)["made_from"]
    assert got == DEFAULT_REQUESTS[name](), f"rebuild it: {rebuild_command(name)}"


def test_the_mnist_view_is_identified_by_files_and_settings_not_by_latents():
    """The latents are computed by the VAE on the machine that opens the page and differ in the last bits between
    CPU families; the shipped view is identified by what they are computed from."""
    import inspect

    assert "X" not in inspect.signature(md.made_from).parameters
    want = _mnist_default()
    assert set(want["inputs"]) == {"digits", "vae"}
    from ridgeviz.data.mnist import load_digits

    images = load_digits(md.DEFAULT_SPEC).images.copy()
    images[0, 0, 0] ^= 1  # one pixel of one digit: another input
    assert md.made_from(md.DEFAULT_CONFIG, images, ASSETS / "vae_mnist_ones.safetensors") != want
    assert md.made_from(md.DEFAULT_CONFIG, images, ASSETS / "vae_mnist.safetensors")["inputs"]["vae"] != \
        want["inputs"]["vae"]


# -- the loader ------------------------------------------------------------------------------------------------------
MADE = {"settings": {"n": 3, "pair": [1, 2]}, "inputs": {"data": "d1"}, "code": "abc"}


class Loaded:
    def __init__(self, path):
        self.meta = read_meta(path)


@pytest.fixture
def asset(tmp_path):
    def write(made, name="view.npz"):
        path = tmp_path / name
        path.write_bytes(write_result("test", 1, {"x": np.zeros(3)}, {"extra": 1}, made_from=made))
        return path
    return write


def test_a_file_made_from_this_request_is_used(asset):
    res = shipped.current(asset(MADE), Loaded, {**MADE, "settings": {"n": 3, "pair": (1, 2)}}, "rebuild-it")
    assert res is not None and res.meta["extra"] == 1  # tuples and lists compare after the JSON round trip


def test_another_request_is_not_answered_and_not_logged(asset, caplog):
    with caplog.at_level(logging.WARNING):
        assert shipped.current(asset(MADE), Loaded, {**MADE, "settings": {"n": 4, "pair": [1, 2]}}) is None
        assert shipped.current(asset(MADE, "b.npz"), Loaded, {**MADE, "inputs": {"data": "d2"}}) is None
    assert not caplog.text  # the visitor asked for something else: nothing is wrong with the file


def test_a_stale_file_is_refused_with_the_rebuild_command(asset, caplog):
    with caplog.at_level(logging.WARNING):
        assert shipped.current(asset(MADE, "stale.npz"), Loaded, {**MADE, "code": "new"}, "python -m x assets") is None
    assert "other code" in caplog.text and "python -m x assets" in caplog.text


def test_missing_and_unreadable_files_are_refused(asset, tmp_path):
    assert shipped.current(tmp_path / "none.npz", Loaded, MADE, "r") is None
    assert shipped.current(asset(None, "nomade.npz"), Loaded, MADE, "r") is None

    def raises(exc):
        def reader(path):
            raise exc
        return reader

    for i, exc in enumerate((EOFError("cut"), KeyError("x"), ValueError("bad"))):
        assert shipped.current(asset(MADE, f"r{i}.npz"), raises(exc), MADE, "r") is None


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty"])
def test_a_corrupt_copy_of_a_shipped_file_falls_back_to_computing(tmp_path, caplog, damage):
    data = (ASSETS / "side_by_side_home.npz").read_bytes()
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped":
        data = data[:200] + bytes(b ^ 0xFF for b in data[200:400]) + data[400:]
    else:
        data = b""
    path = tmp_path / "side_by_side_home.npz"
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING):
        assert shipped.current(path, sbs.SideBySide.from_npz, sbs.made_from(sbs.HOME)) is None
    assert "python -m ridgeviz assets home" in caplog.text  # the command that rebuilds it, in the server log
