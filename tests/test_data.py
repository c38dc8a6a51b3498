"""Tests for ridgeviz.data: mode sets, generated datasets, embeddings, validation and file loading."""
import dataclasses
import io
import itertools

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from ridgeviz.core.scale import data_scale
from ridgeviz.data.datasets import (
    KINDS,
    MODE_SETS,
    SKLEARN_NAMES,
    DatasetSpec,
    dataset_fingerprint,
    embed_in_subspace,
    load_array_file,
    make_dataset,
    validate_array,
)

EXPECTED_MODES = {
    "two-points": [(-3, 0), (3, 0)],
    "three-points": [(0, 0), (5, 0), (0, 5)],
    "square": [(0, 0), (5, 0), (0, 5), (5, 5)],
    "square-centre": [(0, 0), (5, 0), (0, 5), (5, 5), (2.5, 2.5)],
    "triangle-side": [(0, 0), (5, 0), (0, 5), (2.5, 2.5)],
    "grid-3x3": [(x, y) for x in (0, 2.5, 5) for y in (0, 2.5, 5)],
    "thirteen": [(-3.2, 2.8), (-2.3, 3.2), (1.6, 2.4), (2.5, 3.0), (2.3, 1.9), (-3.0, -1.2), (-3.5, -2.0),
                 (1.2, -2.7), (2.0, -3.3), (2.6, -2.5), (-0.2, 0.2), (3.8, -0.2), (-0.8, -3.7)],
}

ALL_SPECS = (
    [DatasetSpec("preset", name) for name in MODE_SETS]
    + [DatasetSpec("noisy", name, n=50, noise=0.3) for name in MODE_SETS]
    + [DatasetSpec("sklearn", name, n=60, noise=0.05) for name in SKLEARN_NAMES]
    + [DatasetSpec("ring", "ring", n=40, noise=0.1)]
    + [DatasetSpec("highdim", name, dim=7, offsubspace_noise=0.1) for name in MODE_SETS]
)


@pytest.mark.parametrize("name", sorted(EXPECTED_MODES))
def test_mode_set_coordinates(name):
    np.testing.assert_array_equal(MODE_SETS[name], np.array(EXPECTED_MODES[name], dtype=np.float64))
    assert MODE_SETS[name].dtype == np.float64


def test_mode_sets_complete_and_thirteen_in_box():
    assert set(MODE_SETS) == set(EXPECTED_MODES)
    thirteen = MODE_SETS["thirteen"]
    assert thirteen.shape == (13, 2) and np.abs(thirteen).max() <= 4
    nearest = np.sort(np.linalg.norm(thirteen[:, None] - thirteen[None], axis=-1), axis=1)[:, 1]
    assert np.sum(nearest < 1.5) == 10 and np.sum(nearest > 2.0) == 3  # 2 pairs + 2 triples, 3 isolated


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: f"{s.kind}-{s.name}")
def test_make_dataset_shape_dtype_determinism(spec):
    X = make_dataset(spec)
    expected_n = len(MODE_SETS[spec.name]) if spec.kind in ("preset", "highdim") else spec.n
    assert X.shape == (expected_n, spec.dim if spec.kind == "highdim" else 2)
    assert X.dtype == np.float64 and X.flags.c_contiguous and np.isfinite(X).all()
    np.testing.assert_array_equal(X, make_dataset(spec))
    X[0, 0] = 1e9  # the caller owns its copy: module constants are untouched
    assert make_dataset(spec)[0, 0] != 1e9


@pytest.mark.parametrize("spec", [s for s in ALL_SPECS if s.kind != "preset"], ids=lambda s: f"{s.kind}-{s.name}")
def test_seed_changes_random_datasets(spec):
    assert not np.array_equal(make_dataset(spec), make_dataset(dataclasses.replace(spec, seed=1)))


def test_preset_ignores_n_and_seed():
    a = make_dataset(DatasetSpec("preset", "square", n=10, seed=3))
    np.testing.assert_array_equal(a, MODE_SETS["square"])


def test_noisy_points_near_modes_and_ring_on_circle():
    X = make_dataset(DatasetSpec("noisy", "three-points", n=500, noise=0.01, seed=2))
    d = np.linalg.norm(X[:, None, :] - MODE_SETS["three-points"][None], axis=-1).min(axis=1)
    assert d.max() < 0.1
    R = make_dataset(DatasetSpec("ring", "", n=12, radius=2.0))
    np.testing.assert_allclose(np.linalg.norm(R, axis=1), 2.0)


def test_swiss_roll_scaled():
    X = make_dataset(DatasetSpec("sklearn", "swiss-roll", n=2000))
    assert np.abs(X).max() <= 4.0 + 1e-12 and np.abs(X).max() > 3.0


@pytest.mark.parametrize("name", ["two-points", "square-centre", "grid-3x3", "thirteen"])
def test_highdim_isometric_rank_two(name):
    X = make_dataset(DatasetSpec("highdim", name, dim=20, seed=4))
    assert X.shape == (len(MODE_SETS[name]), 20)
    s = np.linalg.svd(X, compute_uv=False)
    assert np.sum(s > 1e-10 * s[0]) == np.linalg.matrix_rank(MODE_SETS[name]) <= 2  # two-points: collinear, 1
    np.testing.assert_allclose(pdist(X), pdist(MODE_SETS[name]), atol=1e-12)


def test_embed_basis_orthonormal_and_noise_off_subspace():
    pts = MODE_SETS["grid-3x3"]
    X0, B0 = embed_in_subspace(pts, 16, seed=5)
    X1, B1 = embed_in_subspace(pts, 16, seed=5, offsubspace_noise=0.5)
    np.testing.assert_allclose(B0.T @ B0, np.eye(2), atol=1e-12)
    np.testing.assert_array_equal(B0, B1)  # same seed, same subspace for any noise level
    np.testing.assert_allclose(X1 @ B1, pts, atol=1e-12)  # noise has no in-subspace part
    off = X1 - X1 @ B1 @ B1.T
    assert np.linalg.norm(off, axis=1).min() > 0.5
    assert np.sum(np.linalg.svd(X1, compute_uv=False) > 1e-8) > 2
    _, B2 = embed_in_subspace(pts, 16, seed=6)
    assert not np.allclose(B0, B2)


def test_highdim_with_noise_is_embedded_noisy_cloud():
    spec = DatasetSpec("highdim", "square", n=30, noise=0.2, dim=5, seed=9)
    cloud = make_dataset(DatasetSpec("noisy", "square", n=30, noise=0.2, seed=9))
    np.testing.assert_allclose(make_dataset(spec), embed_in_subspace(cloud, 5, 9)[0])


def test_spec_hashable_and_normalised():
    a = DatasetSpec("noisy", "square", n=np.int64(10), noise=1)
    b = DatasetSpec("noisy", "square", n=10, noise=1.0)
    assert a == b and hash(a) == hash(b) and type(a.n) is int and type(a.noise) is float
    assert DatasetSpec("ring", "").name == "ring"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.n = 3


@pytest.mark.parametrize("kwargs, field", [
    (dict(kind="bogus", name="square"), "kind"),
    (dict(kind="preset", name="pentagon"), "name"),
    (dict(kind="sklearn", name="square"), "name"),
    (dict(kind="ring", name="moons"), "name"),
    (dict(kind="noisy", name="square", n=1), "n"),
    (dict(kind="noisy", name="square", n=100_001), "n"),
    (dict(kind="noisy", name="square", n=2.5), "n"),
    (dict(kind="noisy", name="square", noise=-0.1), "noise"),
    (dict(kind="noisy", name="square", noise=float("nan")), "noise"),
    (dict(kind="highdim", name="square", dim=1), "dim"),
    (dict(kind="highdim", name="square", dim=1025), "dim"),
    (dict(kind="preset", name="square", seed=-1), "seed"),
    (dict(kind="highdim", name="square", offsubspace_noise=float("inf")), "offsubspace_noise"),
    (dict(kind="ring", name="ring", radius=0.0), "radius"),
])
def test_spec_validation_names_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field} "):
        DatasetSpec(**kwargs)


@pytest.mark.parametrize("arr, words", [
    (np.zeros(5), ["data", "2-D", "(5,)"]),
    (np.zeros((2, 3, 4)), ["data", "2-D", "(2, 3, 4)"]),
    (np.zeros((1, 3)), ["data", "at least 2 rows", "got 1"]),
    (np.zeros((3, 0)), ["data", "at least 1 column"]),
    (np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, np.nan]]), ["data", "2 non-finite", "row 1"]),
    (np.array([[0.0, 1.0], [2.0, 3.0], [np.inf, 4.0]]), ["data", "1 non-finite", "row 2"]),
    (np.array([["a", "b"], ["c", "d"]]), ["data", "numeric", "<U1"]),
    (np.array([[1, None], [2, 3]], dtype=object), ["data", "numeric", "object"]),
    (np.ones((3, 2), dtype=bool), ["data", "numeric", "bool"]),
    (np.ones((3, 2), dtype=complex), ["data", "real"]),
    (np.zeros((11, 2)), ["data", "11 points", "limit is 10"]),
    (np.zeros((3, 6)), ["data", "6 dimensions", "limit is 5"]),
    ([[1.0, 2.0], [3.0]], ["data", "could not be read"]),
])
def test_validate_array_failures(arr, words):
    with pytest.raises(ValueError) as info:
        validate_array(arr, max_points=10, max_dim=5)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_validate_array_ok_returns_float64_copy():
    a = np.arange(6, dtype=np.int32).reshape(3, 2)[:, ::-1]
    out = validate_array(a, name="upload")
    assert out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, a)
    out[0, 0] = -1
    assert a[0, 0] == 1
    with pytest.raises(ValueError, match="^upload must be a 2-D"):
        validate_array(np.zeros(3), name="upload")


CSV_OK = ["1,2\n3,4\n5,6\n", "x,y\n1,2\n3,4\n5,6\n", "\ufeff# comment\n x , y \n1, 2\n\n3 ,4\n5,6"]


@pytest.mark.parametrize("text", CSV_OK)
def test_csv_with_and_without_header(text, tmp_path):
    expected = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float64)
    np.testing.assert_array_equal(load_array_file(text.encode(), "pts.csv"), expected)
    path = tmp_path / "pts.csv"
    path.write_text(text, encoding="utf-8")
    np.testing.assert_array_equal(load_array_file(path, "pts.csv"), expected)


def test_csv_single_column():
    assert load_array_file(b"v\n1\n2\n3\n", "a.csv").shape == (3, 1)


@pytest.mark.parametrize("text, words", [
    ("x,y\n1,2\n3,abc\n", ["line 3", "column 2", "'abc'"]),
    ("1,abc\n1,2\n", ["line 1", "column 2", "'abc'"]),
    ("1,2\n3,\n", ["line 2", "column 2", "empty"]),
    ("1,2\n3,4,5\n", ["line 2", "3 columns"]),
    ("1 2\n3 4\n", ["commas"]),
    ("x,y\n", ["no data rows"]),
    ("1,2\nnan,4\n", ["non-finite", "row 1"]),
])
def test_csv_errors(text, words):
    with pytest.raises(ValueError) as info:
        load_array_file(text.encode(), "bad.csv")
    msg = str(info.value)
    assert "bad.csv" in msg
    for word in words:
        assert word in msg, (word, msg)


def test_npy_roundtrip_and_pickle_refused(tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, np.arange(8.0).reshape(4, 2))
    np.testing.assert_array_equal(load_array_file(str(good), "good.npy"), np.arange(8.0).reshape(4, 2))
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([[1, "a"], [None, 2]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="bad.npy.*pickled or object"):
        load_array_file(bad, "bad.npy")
    with pytest.raises(ValueError, match="not a valid .npy.*pickle"):
        load_array_file(__import__("pickle").dumps([1, 2]), "p.npy")


def test_npz_selection():
    def npz(**arrays):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    a, b = np.ones((3, 2)), np.zeros((4, 2))
    np.testing.assert_array_equal(load_array_file(npz(x=a), "one.npz"), a)
    np.testing.assert_array_equal(load_array_file(npz(x=a, data=b), "named.npz"), b)
    with pytest.raises(ValueError, match=r"amb.npz holds 2 arrays"):
        load_array_file(npz(x=a, y=b), "amb.npz")
    with pytest.raises(ValueError, match="pickled or object"):
        load_array_file(npz(data=np.array([None, 1], dtype=object)), "obj.npz")


def test_size_limit_and_extension(tmp_path):
    raw = b"1,2\n3,4\n" * 100
    path = tmp_path / "big.csv"
    path.write_bytes(raw)
    for src in (raw, path, io.BytesIO(raw)):
        with pytest.raises(ValueError, match=r"big.csv is .*bytes; the limit is 100 bytes"):
            load_array_file(src, "big.csv", max_bytes=100)
    assert load_array_file(raw, "big.csv", max_bytes=len(raw)).shape == (200, 2)
    with pytest.raises(ValueError, match=r"'\.txt'"):
        load_array_file(raw, "points.txt")
    with pytest.raises(ValueError, match="extension"):
        load_array_file(raw, "points")


def test_data_scale():
    assert data_scale(MODE_SETS["two-points"]) == pytest.approx(3.0)
    assert data_scale(np.ones((4, 3))) == 1.0
    X = np.random.default_rng(0).standard_normal((50, 3))
    ref = np.sqrt(np.mean([np.sum((x - X.mean(0)) ** 2) for x in X]))
    assert data_scale(X) == pytest.approx(ref)


def test_fingerprint():
    X = MODE_SETS["square"].copy()
    fp = dataset_fingerprint(X)
    assert len(fp) == 64 and fp == dataset_fingerprint(X.astype(np.float32).astype(np.float64))
    assert fp == dataset_fingerprint(np.asfortranarray(X))
    Y = X.copy()
    Y[2, 1] += 1e-12
    assert dataset_fingerprint(Y) != fp
    assert dataset_fingerprint(X.reshape(2, 4)) != fp  # same bytes, other shape
    fps = {dataset_fingerprint(make_dataset(s)) for s in ALL_SPECS}
    assert len(fps) == len(ALL_SPECS)


def test_kinds_registry_covered():
    assert {s.kind for s in ALL_SPECS} == set(KINDS)
    assert all(isinstance(x, str) for x in itertools.chain(KINDS, SKLEARN_NAMES))
