"""Property tests over the loaders: any bytes give a validated array (or model) or a ValueError, never another
exception, and a file that declares more than the budget is refused before it is read (under a memory cap)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as st_save

import ridgeviz as rv
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.data.uploads import load_array_file
from ridgeviz.models.checkpoints import load_model, save_model

FUZZ = settings(max_examples=int(os.environ.get("RIDGEVIZ_FUZZ_EXAMPLES", "60")), deadline=3000,
                suppress_health_check=[HealthCheck.too_slow])
ROOT = Path(__file__).resolve().parents[1]


def _npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _npz(compressed: bool, **arrays) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


GOOD = {
    "a.npy": _npy(np.random.default_rng(0).normal(size=(12, 3))),
    "f.npy": _npy(np.asfortranarray(np.arange(12, dtype=np.int32).reshape(4, 3))),
    "a.npz": _npz(True, data=np.random.default_rng(1).normal(size=(12, 3))),
    "b.npz": _npz(False, x=np.random.default_rng(2).normal(size=(12, 2))),
    "a.csv": b"x,y\n1,2\n3,4\n# comment\n5,6e-3\n",
}


@st.composite
def mutated(draw, originals):
    """A valid file with a few bytes flipped, inserted, deleted or the tail cut."""
    name = draw(st.sampled_from(sorted(originals)))
    raw = bytearray(originals[name])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 3))
        i = draw(st.integers(0, max(0, len(raw) - 1)))
        if op == 0 and raw:
            raw[i] = draw(st.integers(0, 255))
        elif op == 1:
            raw[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == 2:
            del raw[i:i + draw(st.integers(1, 16))]
        else:
            del raw[i:]
    return name, bytes(raw)


@FUZZ
@given(case=mutated(GOOD))
def test_mutated_array_files(case):
    name, raw = case
    try:
        out = load_array_file(raw, name)
    except ValueError as exc:
        assert str(exc).startswith(name), exc
        return
    assert out.dtype == np.float64 and out.ndim == 2 and np.isfinite(out).all()


@FUZZ
@given(raw=st.binary(max_size=300), ext=st.sampled_from([".npy", ".npz", ".csv"]))
def test_random_bytes(raw, ext):
    prefix = {".npy": b"\x93NUMPY", ".npz": b"PK\x03\x04", ".csv": b""}[ext]
    for data in (raw, prefix + raw):
        try:
            load_array_file(data, "f" + ext)
        except ValueError as exc:
            assert str(exc).startswith("f" + ext), exc


def test_declared_sizes_are_priced_before_reading():
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 100), }"
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    huge = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x00" * 64
    with pytest.raises(ValueError, match=r"huge.npy holds 1e\+13 values; the limit is"):
        load_array_file(huge, "huge.npy")
    # 200,000 x 4,096 zeros compress to a few MB: the member's declared size is refused before inflating
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("data.npy", "w", force_zip64=True) as fh:
            head = _npy(np.zeros((0,)))[:128].replace(b"(0,)", b"(200000, 4096)".ljust(4))
            fh.write(head)
            for _ in range(64):
                fh.write(b"\x00" * (2**20))
    with pytest.raises(ValueError, match=r"bomb.npz \(member data.npy\).*the limit is"):
        load_array_file(buf.getvalue(), "bomb.npz")


# -- checkpoints ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    sched = rv.get_schedule("ou")
    dens = rv.SmoothedEmpirical(MODE_SETS["thirteen"], sched)
    rf = rv.RandomFeatureModel(2, 16, 2, sched.T)
    models = {"exact": rv.ExactScore(dens), "injected": rv.InjectedErrorScore(dens, 1, 0.2, 0.3),
              "mlp": rv.MLPScore(sched, 2, hidden=8, depth=2, time_features=4),
              "rf": rv.RandomFeatureScore(rf, rf.A0, sched)}
    folder = tmp_path_factory.mktemp("ckpt")
    return {name: save_model(folder / name, m).read_bytes() for name, m in models.items()}


@settings(max_examples=int(os.environ.get("RIDGEVIZ_FUZZ_EXAMPLES", "60")), deadline=3000,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_checkpoints(checkpoints, data):
    _, raw = data.draw(mutated(checkpoints))
    try:
        model = load_model(raw)
    except ValueError:
        return
    out = model(torch.zeros(3, 2, dtype=torch.float64), 0.5)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("meta", ["[1, 2]", '"a string"', "null", "3", "{"])
def test_checkpoint_config_must_be_an_object(meta):
    with pytest.raises(ValueError, match="checkpoint config"):
        load_model(st_save({"w": torch.zeros(1)}, metadata={"ridgeviz": meta}))


CRAFTED = textwrap.dedent("""
    import json, resource, sys, time
    import torch
    from safetensors.torch import save
    import ridgeviz as rv
    from ridgeviz.models.checkpoints import load_model
    cfg = {"kind": "mlp", "version": "0", "schedule": rv.get_schedule().to_dict(),
           "architecture": {"D": 2, "hidden": int(sys.argv[1]), "depth": int(sys.argv[2]), "time_features": 16,
                            "prediction": "epsilon", "data_var": 1.0}}
    blob = save({"data_var": torch.tensor(1.0)}, metadata={"ridgeviz": json.dumps(cfg)})
    start = time.perf_counter()
    try:
        load_model(blob)
    except ValueError as exc:
        print("refused:", exc)
    print(f"bytes {len(blob)} seconds {time.perf_counter() - start:.3f}")
""")


@pytest.mark.parametrize("hidden, depth, words", [(20000, 8, "would need about 11.2 GB"),
                                                  (2000, 8, "lacks tensor 'net.0.weight'")])
def test_crafted_checkpoint_under_a_memory_cap(hidden, depth, words):
    """A 1.3 kB checkpoint declaring a 10 GB network is refused before a module is built, within 1.5 GB of
    address space (the loader used to build every layer first)."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**29, 3 * 2**29))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "RIDGEVIZ_MAX_MEMORY_GB": "4"}
    proc = subprocess.run([sys.executable, "-c", CRAFTED, str(hidden), str(depth)], capture_output=True, text=True,
                          env=env, preexec_fn=cap, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "refused:" in proc.stdout and words in proc.stdout, proc.stdout
    assert float(proc.stdout.split("seconds")[-1]) < 5


def test_checkpoint_header_cannot_declare_more_than_the_file():
    blob = bytearray(st_save({"w": torch.zeros(4)}, metadata={"ridgeviz": json.dumps({"kind": "exact"})}))
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    header["w"]["shape"] = [10**6, 10**6]
    text = json.dumps(header).encode()
    forged = len(text).to_bytes(8, "little") + text + bytes(blob[8 + n:])
    with pytest.raises(ValueError, match="declared inconsistently"):
        load_model(forged)


def _forged_header(entries: int) -> bytes:
    """A safetensors blob whose header lists ``entries`` one-value float64 tensors."""
    meta = json.dumps({"__metadata__": {"ridgeviz": json.dumps({"kind": "exact"})}}).encode()
    items = b",".join(b'"t%d":{"dtype":"F64","shape":[1],"data_offsets":[%d,%d]}' % (i, 8 * i, 8 * i + 8)
                      for i in range(entries))
    text = meta[:-1] + b"," + items + b"}"
    return len(text).to_bytes(8, "little") + text + bytes(8 * entries)


def test_checkpoint_headers_are_capped_before_they_are_parsed():
    from ridgeviz.models.checkpoints import MAX_HEADER_BYTES, MAX_HEADER_ENTRIES

    with pytest.raises(ValueError, match="header declares .* bytes; the limit is"):
        load_model(_forged_header(600_000))  # 35 MB of header (8.5 s to refuse entry by entry): refused from its
        # length prefix, before it is parsed
    with pytest.raises(ValueError, match=f"lists 2,001 entries; the limit is {MAX_HEADER_ENTRIES:,}"):
        load_model(_forged_header(2_000))  # within the byte cap: refused before any entry is checked
    assert len(_forged_header(2_000)) < MAX_HEADER_BYTES
    with pytest.raises(ValueError, match="no 'architecture'"):
        load_model(_forged_header(MAX_HEADER_ENTRIES))  # at the cap: read, then refused for what it holds


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_exact_checkpoints_hold_at_most_the_point_limit_whatever_the_dtype(dtype, tmp_path):
    from ridgeviz.data.uploads import MAX_POINTS
    from ridgeviz.models.checkpoints import save_checkpoint

    cfg = {"kind": "exact", "schedule": rv.get_schedule().to_dict(), "architecture": {"D": 1, "N": MAX_POINTS + 1}}
    path = save_checkpoint(tmp_path / "many", {"data": torch.zeros(MAX_POINTS + 1, 1, dtype=dtype)}, cfg)
    with pytest.raises(ValueError, match=r"'N' must be an integer in \[1, 200000\]"):
        load_model(path)
    ok = save_checkpoint(tmp_path / "ok", {"data": torch.randn(50, 1).to(dtype)}, {**cfg, "architecture": {"D": 1,
                                                                                                          "N": 50}})
    assert load_model(ok).dens.N == 50


@pytest.mark.parametrize("kind", ["zero", "fifo", "link"])
def test_special_files_are_refused_before_they_are_opened(kind, tmp_path):
    from ridgeviz.data.mnist import read_idx
    from ridgeviz.latent.vae import load_vae

    path = Path("/dev/zero")
    if kind != "zero":
        os.mkfifo(tmp_path / "fifo")
        path = tmp_path / "fifo"
    if kind == "link":
        (tmp_path / "link.npy").symlink_to(path)
        path = tmp_path / "link.npy"
    for load in (lambda p: load_array_file(p, "x.csv", name="--data"), load_model, load_vae, read_idx):
        with pytest.raises(ValueError, match="not a regular file"):
            load(path)


def test_csv_uploads_are_parsed_as_a_stream():
    """49.8 MB of one-value lines took 3.2 GB (65x the file) before any limit applied: the parser now checks the
    limits as rows arrive, so the file is refused after 200,001 rows, in a small fraction of its size."""
    from conftest import peak_rss_child

    setup = "from ridgeviz.data.uploads import load_array_file\nraw = b'1\\n' * 24_900_000"
    code = ("try:\n    load_array_file(raw, 'ones.csv')\nexcept ValueError as exc:\n"
            "    assert 'at most 200,000' in str(exc), exc\nelse:\n    raise AssertionError('accepted')")
    before, after = peak_rss_child(setup, code)
    assert after - before < 50_000  # kB; measured 1.7 MB
