"""The one result-file format (ridgeviz/utils/results.py): NaN policy, polyline packing, round trips, refusals."""

import io
import json
import math

import numpy as np
import pytest

from ridgeviz.utils.results import (
    as_float,
    dumps,
    pack_polylines,
    read_meta,
    read_result,
    to_json,
    unpack_polylines,
    write_result,
)


def test_nan_policy_is_strict_json_and_keeps_infinity():
    value = {"a": np.float32(np.nan), "b": (1, np.int64(2), np.inf), 3: [-math.inf, np.array([0.5, np.nan])],
             "ok": np.bool_(True), "s": "text"}
    out = to_json(value)
    assert out == {"a": None, "b": [1, 2, "inf"], "3": ["-inf", [0.5, None]], "ok": True, "s": "text"}
    text = dumps(value)
    assert "NaN" not in text and "Infinity" not in text and json.loads(text) == out
    assert [as_float(v) for v in (None, "inf", "-inf", 2)] == pytest.approx([math.nan, math.inf, -math.inf, 2.0],
                                                                             nan_ok=True)
    with pytest.raises(ValueError):
        as_float("soon")


def test_polylines_round_trip_with_empty_groups():
    rng = np.random.default_rng(0)
    groups = [[rng.normal(size=(3, 2)), rng.normal(size=(1, 2))], [], [rng.normal(size=(4, 2))], [], []]
    points, rows = pack_polylines(groups)
    assert points.dtype == np.float32 and points.shape == (8, 2) and rows[-1].tolist() == [5, 0]
    back = unpack_polylines(points, rows)
    assert [len(g) for g in back] == [2, 0, 1, 0, 0]
    for g, h in zip(groups, back):
        for a, b in zip(g, h):
            np.testing.assert_allclose(b, a, rtol=1e-6)  # stored as float32
    assert unpack_polylines(*pack_polylines([])) == []
    with pytest.raises(ValueError, match="polyline"):
        unpack_polylines(points[:5], rows)


def test_a_result_round_trips_with_its_provenance():
    arrays = {"x": np.arange(6.0).reshape(3, 2), "codes": np.array([1, 0, 2], np.int8)}
    made = {"settings": {"n": 3}, "inputs": {"data": "abc"}, "code": "0123"}
    data = write_result("demo", 4, arrays, {"tube": math.nan, "taus": (1.0, math.inf)}, {"lines": [[np.ones((2, 2))]]},
                        made_from=made)
    f = read_result(io.BytesIO(data), "demo", 4)
    assert set(f.arrays) == {"x", "codes"} and f.arrays["codes"].dtype == np.int8
    np.testing.assert_array_equal(f.arrays["x"], arrays["x"])
    assert f.meta["tube"] is None and f.meta["taus"] == [1.0, "inf"] and f.made_from == made
    assert len(f.polylines["lines"]) == 1 and read_meta(data)["kind"] == "demo"


def test_other_kinds_versions_and_damaged_files_are_refused(tmp_path):
    data = write_result("demo", 1, {"x": np.zeros(3)}, {})
    with pytest.raises(ValueError, match="format 1; this code reads 'demo' format 2"):
        read_result(data, "demo", 2)
    with pytest.raises(ValueError, match="'other'"):
        read_result(data, "other", 1)
    for bad in (data[: len(data) // 2], data[:30], b"not a zip file at all", b""):
        with pytest.raises(ValueError, match="result file"):
            read_result(bad, "demo", 1)
    big = write_result("demo", 1, {"x": np.random.default_rng(0).normal(size=20000)}, {"a": 1})
    for at in (40, 100, len(big) // 3, len(big) - 300):  # flipped bytes: zlib, CRC and zip-directory failures
        flipped = bytearray(big)
        flipped[at:at + 40] = bytes(b ^ 0xFF for b in flipped[at:at + 40])
        with pytest.raises(ValueError, match="result file"):
            read_result(bytes(flipped), "demo", 1)
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    with pytest.raises(ValueError, match="single .npy"):
        read_result(buf.getvalue(), "demo", 1)
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros(3))
    with pytest.raises(ValueError, match="no 'meta'"):
        read_result(buf.getvalue(), "demo", 1)
    with pytest.raises(ValueError, match="named"):
        write_result("demo", 1, {"meta": np.zeros(1)}, {})
    with pytest.raises(ValueError, match="result file"):
        read_result(tmp_path / "missing.npz", "demo", 1)
