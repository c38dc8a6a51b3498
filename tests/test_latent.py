"""Tests for the MNIST latent experiment: the VAE, the latent ridge residuals, the pipeline, the page and command."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import ridgeviz as rv
from ridgeviz.cli import main as cli_main
from ridgeviz.core.outcomes import nearest_training
from ridgeviz.core.phases import NO_RIDGE
from ridgeviz.core.schedules import ScheduleConfig
from ridgeviz.data.mnist import DigitsSpec, load_digits
from ridgeviz.latent.analysis import (
    BETWEEN,
    CATEGORIES,
    OFF,
    ON,
    UNDEFINED,
    classify,
    latent_frames,
    pick_gallery,
    record_steps,
    ridge_deviation,
)
from ridgeviz.latent.vae import (
    SHIPPED_ONES_VAE,
    SHIPPED_VAE,
    VAE,
    VAEConfig,
    VAETrainConfig,
    decode_latents,
    encode_latents,
    load_vae,
    per_dimension_kl,
    reconstruction_error,
    save_vae,
    train_vae,
    vae_loss,
)
from ridgeviz.views.mnist import LatentConfig, gallery_panels, run_latent
from ridgeviz.viz.figures import trajectory_figure
from ridgeviz.viz.latent import deviation_figure, gallery_figure, spectrum_figure

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist-10k"
SMALL = LatentConfig(schedule=ScheduleConfig(steps=20), samples=48, tracked=6, gallery=4, seed=3)


@pytest.fixture(scope="module")
def ones():
    """The shipped subset's 1,127 ones as pixels, and the shipped (all-digit) VAE."""
    return load_digits(DigitsSpec("shipped", classes=(1,))), load_vae(SHIPPED_VAE)[0]


@pytest.fixture(scope="module")
def tiny_pixels():
    return load_digits(DigitsSpec("shipped", classes=(), n=64)).pixels()


# -- the VAE ---------------------------------------------------------------------------------------------------
def test_vae_architecture_is_the_papers():
    vae = VAE()
    shapes = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    assert [s for k, s in shapes.items() if k.endswith("weight")] == [
        (400, 784), (200, 400), (64, 200), (200, 32), (400, 200), (784, 400)]
    x = torch.rand(5, 784)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 32) and vae.decode_logits(mu).shape == (5, 784)


def test_vae_loss_matches_explicit_formula():
    g = torch.Generator().manual_seed(0)
    vae = VAE(VAEConfig(20, (8, 6), 3), g)
    x, eps = torch.rand(4, 20, generator=g), torch.randn(4, 3, generator=g)
    loss, bce, kl = vae_loss(vae, x, eps, beta=0.5)
    mu, logvar = (v.double() for v in vae.encode(x))
    p = torch.sigmoid(vae.decode_logits(mu.float() + torch.exp(0.5 * logvar.float()) * eps)).double()
    bce_ref = -(x * torch.log(p) + (1 - x) * torch.log1p(-p)).sum(-1).mean()
    pairs = zip(mu.flatten().tolist(), logvar.flatten().tolist())
    kl_ref = sum(0.5 * (m * m + math.exp(lv) - 1 - lv) for m, lv in pairs) / 4
    assert bce.item() == pytest.approx(bce_ref.item(), rel=1e-5)
    assert kl.item() == pytest.approx(kl_ref, rel=1e-5)
    assert loss.item() == pytest.approx(bce_ref.item() + 0.5 * kl_ref, rel=1e-5)


def test_train_vae_is_seeded_learns_and_stops(tiny_pixels):
    cfg = VAETrainConfig(epochs=2, batch_size=16, seed=1)
    a, b = train_vae(tiny_pixels, cfg, device="cpu"), train_vae(tiny_pixels, cfg, device="cpu")
    for (k, va), vb in zip(a.vae.state_dict().items(), b.vae.state_dict().values()):
        assert torch.equal(va, vb), k
    assert not torch.equal(VAE(generator=torch.Generator().manual_seed(2)).head.weight, VAE().head.weight)
    assert a.loss.shape == (2,) and a.loss[-1] < a.loss[0] and not a.stopped
    seen = []
    stopped = train_vae(tiny_pixels, cfg, device="cpu", callback=lambda e, loss, info: seen.append(e) or False)
    assert stopped.stopped and seen == [0] and len(stopped.loss) == 1


@pytest.mark.parametrize("bad,message", [
    (np.full((4, 784), 2.0), r"in \[0, 1\]"), (np.zeros(784), r"\(N, P\) array"), (np.full((4, 784), np.nan), "finite"),
])
def test_train_vae_bad_pixels(bad, message):
    with pytest.raises(ValueError, match=message):
        train_vae(bad, VAETrainConfig(epochs=1))


@pytest.mark.parametrize("kwargs", [{"epochs": 0}, {"lr": -1.0}, {"batch_size": 2.5}, {"seed": -1}])
def test_train_config_validation(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        VAETrainConfig(**kwargs)


def test_vae_round_trip_on_a_tiny_subset(tmp_path, tiny_pixels):
    res = train_vae(tiny_pixels, VAETrainConfig(epochs=2, batch_size=32), device="cpu")
    z = encode_latents(res.vae, tiny_pixels)
    assert z.shape == (64, 32) and z.dtype == np.float64
    path = save_vae(tmp_path / "vae", res.vae, {"note": "tiny"})
    vae, config = load_vae(path)
    assert config["kind"] == "vae" and config["note"] == "tiny" and path.with_suffix(".json").is_file()
    np.testing.assert_array_equal(encode_latents(vae, tiny_pixels), z)  # float32 storage: bit-identical
    img = decode_latents(vae, z[:5])
    assert img.shape == (5, 784) and img.min() >= 0 and img.max() <= 1
    half, _ = load_vae(save_vae(tmp_path / "half", res.vae, storage_dtype="float16"))
    np.testing.assert_allclose(encode_latents(half, tiny_pixels), z, atol=2e-2)
    assert (tmp_path / "half.safetensors").stat().st_size < 0.6 * path.stat().st_size


def test_load_vae_refuses_bad_checkpoints(tmp_path):
    from ridgeviz.models.checkpoints import save_checkpoint

    path = save_vae(tmp_path / "v", VAE(VAEConfig(10, (6,), 2)))
    data = path.read_bytes()
    with pytest.raises(ValueError, match="truncated|corrupt"):
        load_vae(data[: len(data) - 40])
    other = save_checkpoint(tmp_path / "o", {"w": torch.zeros(2)}, {"kind": "mlp"})
    with pytest.raises(ValueError, match="holds a 'mlp' model; expected 'vae'"):
        load_vae(other)
    tensors = {k: v for k, v in VAE(VAEConfig(10, (6,), 2)).state_dict().items()}
    lying = save_checkpoint(tmp_path / "l", tensors, {"kind": "vae", "architecture": {
        "input_dim": 10, "hidden": [7], "latent_dim": 2}})
    with pytest.raises(ValueError, match="has shape"):
        load_vae(lying)
    with pytest.raises(ValueError, match="storage_dtype"):
        save_vae(tmp_path / "x", VAE(VAEConfig(10, (6,), 2)), storage_dtype="int8")


def test_checkpoint_whose_header_length_ends_in_0x80_loads(tmp_path):
    """Found by a VAE checkpoint: a header length of 0x..80 starts like the pickle opcode PROTO (0x80)."""
    vae = VAE(VAEConfig(10, (6,), 2))
    for pad in range(256):
        path = save_vae(tmp_path / "v", vae, {"pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    assert load_vae(path)[1]["pad"] == "x" * pad


def test_per_dimension_kl_matches_the_explicit_formula(tiny_pixels):
    vae = VAE(VAEConfig(latent_dim=5), torch.Generator().manual_seed(2))
    kl = per_dimension_kl(vae, tiny_pixels)
    with torch.no_grad():
        mu, logvar = (v.double() for v in vae.encode(torch.as_tensor(tiny_pixels)))
    ref = [np.mean([0.5 * (float(m[j]) ** 2 + math.exp(float(lv[j])) - 1 - float(lv[j])) for m, lv in zip(mu, logvar)])
           for j in range(5)]
    np.testing.assert_allclose(kl, ref, rtol=1e-6)


def test_shipped_ones_vae_has_few_active_dimensions_and_reconstructs_the_ones(ones):
    digits, _ = ones
    vae, config = load_vae(SHIPPED_ONES_VAE)
    assert SHIPPED_ONES_VAE.stat().st_size < 2 * 2**20 and config["data"]["n"] == len(digits.labels) == 1127
    assert reconstruction_error(vae, digits.pixels()) < 0.03  # measured 0.024 mean absolute pixel error
    kl = per_dimension_kl(vae, digits.pixels())
    assert 2 <= int((kl > 0.5).sum()) <= 8 and int((kl < 0.05).sum()) >= 16  # most coordinates collapse to the prior


def test_shipped_vae_reconstructs_the_subset(ones):
    digits, vae = ones
    assert SHIPPED_VAE.stat().st_size < 2 * 2**20
    assert reconstruction_error(vae, digits.pixels()) < 0.06  # measured 0.046 mean absolute pixel error


# -- latent residuals against float64 references -----------------------------------------------------------------
def reference_frames(data, a, h, x, dim):
    """Residual, scaled gap and l_{d+1} by explicit per-point float64 loops (centred covariance, np.linalg.eigh)."""
    out = []
    for xm in x:
        logits = np.array([-np.sum((xm - a * xi) ** 2) / (2 * h) for xi in data])
        w = np.exp(logits - logits.max())
        w /= w.sum()
        den = sum(wi * xi for wi, xi in zip(w, data))
        cov = sum(wi * np.outer(xi - den, xi - den) for wi, xi in zip(w, data))
        vals, vecs = np.linalg.eigh(a * a / h**2 * cov - np.eye(len(xm)) / h)
        vals, vecs = vals[::-1], vecs[:, ::-1]
        g = (a * den - xm) / h
        normal = vecs[:, dim:]
        gap = h * ((vals[dim - 1] if dim else 0.0) - vals[dim])
        out.append((np.linalg.norm(normal.T @ g), gap, vals[dim]))
    return np.array(out).T


@pytest.mark.parametrize("t,dim", [(2.0, 0), (2.0, 5), (0.3, 2), (0.3, 5), (0.05, 0), (0.05, 2)])
def test_latent_frames_match_the_float64_loop(t, dim):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((40, 7)) * np.linspace(0.2, 1.5, 7) + 3.0
    sched = rv.get_schedule("ou")
    a, h = float(sched.alpha(t)), float(sched.h(t))
    x = a * data[rng.integers(0, 40, 15)] + math.sqrt(h) * rng.standard_normal((15, 7))
    fast = latent_frames(rv.SmoothedEmpirical(data, sched), x, t, dim, chunk=4)
    res, gap, curv = reference_frames(data, a, h, x, dim)
    ok = gap > 1e-3  # where the normal space is defined the residual is well conditioned
    assert ok.sum() >= 3
    np.testing.assert_allclose(fast.residual[ok], res[ok], rtol=1e-9, atol=1e-9 * np.abs(res).max())
    np.testing.assert_allclose(fast.scaled_gap, gap, atol=1e-10)
    np.testing.assert_allclose(fast.normal_curvature * h, curv * h, atol=1e-10)


def test_ridge_deviation_in_32d_equals_the_core_residual():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((150, 32)) * np.geomspace(1.5, 0.05, 32)
    sched = rv.get_schedule("ou")
    dens = rv.SmoothedEmpirical(data, sched)
    times = np.array([3.0, 0.5, 0.1, 0.02])
    xs = np.stack([float(sched.alpha(t)) * data[rng.integers(0, 150, 30)]
                   + math.sqrt(float(sched.h(t))) * rng.standard_normal((30, 32)) for t in times])
    dev = ridge_deviation(dens, xs, times, 6)
    for r, t in enumerate(times):
        frame = rv.local_frame(dens, xs[r], t, 6)
        ok = frame.scaled_gap.numpy() > 1e-3
        ref = frame.residual.numpy()
        np.testing.assert_allclose(dev.residual[r][ok], ref[ok], rtol=1e-8, atol=1e-10 * ref.max())
        np.testing.assert_allclose(dev.scaled_gap[r], frame.scaled_gap.numpy(), atol=1e-10)
    assert dev.undefined.any() and (~dev.undefined).any()  # both kinds present, none dropped
    np.testing.assert_allclose(dev.length, dev.h[:, None] * dev.residual)
    np.testing.assert_allclose(dev.normalised.max(axis=1), 1.0)
    edges, counts = dev.histograms(10)
    assert edges[0] == 0 and edges[-1] == 1 and (counts.sum(1) == 30).all()
    assert [row["t"] for row in dev.summary()] == times.tolist()


def test_record_steps_on_the_papers_grid():
    times = rv.get_schedule("ou").time_grid(100)
    idx = record_steps(times, 11)
    assert idx.tolist() == list(range(0, 101, 10))
    np.testing.assert_allclose(times[idx], 10.0 ** (1 - 0.4 * np.arange(11)), rtol=1e-12)
    assert record_steps(times[:6], 11).tolist() == list(range(6))  # fewer steps than records: every step


def test_classify_by_the_papers_thresholds():
    norm = np.array([0.1, 0.1, 0.55, 0.9, 0.1, 0.9])
    undefined = np.array([False, False, False, False, True, True])
    concave = np.array([True, False, True, True, True, True])
    assert classify(norm, undefined, concave).tolist() == [ON, OFF, BETWEEN, OFF, UNDEFINED, UNDEFINED]
    with pytest.raises(ValueError, match="thresholds"):
        classify(norm, undefined, concave, on=0.7, off=0.6)


def test_nearest_training_against_brute_force():
    rng = np.random.default_rng(2)
    train, z = rng.standard_normal((80, 5)), rng.standard_normal((30, 5))
    z[0] = train[17]  # an exact copy
    idx, dist, second = nearest_training(train, z, chunk=7)
    full = np.linalg.norm(z[:, None] - train[None], axis=-1)
    np.testing.assert_array_equal(idx, full.argmin(1))
    np.testing.assert_allclose(dist, full.min(1), atol=1e-14)
    np.testing.assert_allclose(second, np.sort(full, axis=1)[:, 1])
    assert idx[0] == 17 and dist[0] == 0.0


def test_pick_gallery_spans_the_group():
    codes = np.array([ON, OFF, ON, ON, ON, BETWEEN, ON])
    values = np.array([0.4, 0.9, 0.1, 0.3, 0.2, 0.55, 0.0])
    assert pick_gallery(codes, values, ON, 3).tolist() == [6, 4, 0]  # lowest, middle, highest
    assert pick_gallery(codes, values, UNDEFINED, 3).tolist() == []


# -- the pipeline ----------------------------------------------------------------------------------------------
def test_pipeline_end_to_end_on_the_shipped_subset(ones):
    digits, vae = ones
    X = encode_latents(vae, digits.pixels())
    run = run_latent(X, SMALL)
    tiny = dataclasses.replace(SMALL, samples=6, tracked=2, schedule=ScheduleConfig(steps=10))
    np.testing.assert_array_equal(run_latent(X, tiny).codes, run_latent(X, tiny).codes)  # seeded
    assert not np.array_equal(run_latent(X, tiny).final, run_latent(X, dataclasses.replace(tiny, seed=4)).final)
    M = SMALL.samples
    assert run.deviation.residual.shape == (11, M) and run.final.shape == (M, 32)
    s = json.loads(json.dumps(run.stats))
    assert sum(s["final"]["counts"].values()) == M and s["dim"] == run.dim == run.suggested_dim
    assert s["final"]["t"] == pytest.approx(1e-3)
    assert len(s["evolution"]) == 11 and s["evolution"][0]["t"] == 10.0
    defined = [v for v in s["tracked"]["error_normal_mean"] if v == v]  # NaN where the ridge is undefined
    assert len(defined) >= 5 and defined == [0.0] * len(defined)  # the exact model has no error
    # the exact score memorises: after the last denoising step every sample is a training latent
    assert s["memorisation"]["copies"] > 0.95
    assert run.denoised.shape == (M, 32)
    panels = gallery_panels(run, lambda z: decode_latents(vae, z), digits.pixels())
    for panel in panels.values():
        assert panel["samples"].shape == panel["nearest"].shape and len(panel["captions"]) == len(panel["samples"])
    figs = [deviation_figure(run.deviation), deviation_figure(run.deviation, value="length"),
            gallery_figure(panels), spectrum_figure(run.gaps, run.dim, run.suggested_dim), trajectory_figure(
                run.trajectories)]
    assert all(len(f.data) > 0 or f.layout.annotations for f in figs)


def test_pipeline_injected_error_and_chosen_dim(ones):
    digits, vae = ones
    X = encode_latents(vae, digits.pixels())
    cfg = dataclasses.replace(SMALL, model="injected", normal=1.0, tangential=2.0, dim=3, t_eval=0.1, samples=12,
                              tracked=4)
    run = run_latent(X, cfg)
    assert run.dim == 3 and run.stats["final"]["t"] == pytest.approx(0.1)
    # where the ridge is defined (not labelled "no ridge") the injected error has exactly the requested sizes
    tr = run.trajectories
    defined = tr.labels != NO_RIDGE
    assert defined.sum() > 10
    np.testing.assert_allclose(tr.error_normal[defined], 1.0, rtol=1e-5)
    np.testing.assert_allclose(tr.error_tangential[defined], 2.0, rtol=1e-5)
    with pytest.raises(ValueError, match=r"dim must be an integer in \[0, 31\]"):
        run_latent(X, dataclasses.replace(SMALL, dim=32))
    with pytest.raises(ValueError, match="no model was passed"):
        run_latent(X, dataclasses.replace(SMALL, model="given"))


def test_pipeline_with_the_mlp_score_network(ones):
    digits, vae = ones
    X = encode_latents(vae, digits.pixels())
    stages = []
    run = run_latent(X, dataclasses.replace(SMALL, model="mlp", mlp_steps=30, samples=16, tracked=3),
                     progress=lambda stage, frac: stages.append(stage))
    tr = run.stats["training"]
    assert tr["steps"] == 30 and tr["batch_size"] == 1024 and len(tr["error_relative"]) == 4
    assert "training the score network" in stages and np.isfinite(run.final).all()
    assert np.nanmax(run.trajectories.error_normal) > 0  # an untrained-ish network is not the exact score


@pytest.mark.parametrize("kwargs,message", [
    ({"model": "vae"}, "model must be"), ({"mlp_steps": 0}, "mlp_steps"), ({"samples": 1}, "samples"),
    ({"on": 0.7, "off": 0.6}, "thresholds"),
    ({"t_eval": -1.0}, "t_eval"), ({"sampler": "rk4"}, "sampler"), ({"dim": -1}, "dim"),
])
def test_latent_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LatentConfig(**kwargs)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason=f"real MNIST files not present at {SHARED_MNIST}")
def test_pipeline_on_the_real_digits(ones):
    _, vae = ones
    digits = load_digits(DigitsSpec("folder", str(SHARED_MNIST), classes=(1,), n=400))
    assert len(digits.labels) == 400 and set(digits.labels) == {1}
    X = encode_latents(vae, digits.pixels())
    assert np.abs(X.mean(0)).max() < 3 and 0.2 < X.std(0).max() < 3  # the shipped VAE encodes unseen ones sanely
    run = run_latent(X, dataclasses.replace(SMALL, samples=32))
    assert run.stats["N"] == 400 and np.isfinite(run.deviation.residual).all()


# -- the command and the page ----------------------------------------------------------------------------------
def test_mnist_command_writes_figures_and_stats(tmp_path, capsys):
    rc = cli_main(["mnist", "--out", str(tmp_path), "--samples", "24", "--steps", "20", "--tracked", "4",
                   "--gallery", "3", "--quiet", "--cdn", "--classes", "1,7", "--n", "100"])
    assert rc == 0
    for name in ("deviation", "spectrum", "gallery", "trajectories"):
        assert (tmp_path / f"{name}.html").stat().st_size > 1000
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["data"]["classes"] == [1, 7] and stats["data"]["n"] == 100 and stats["N"] == 100
    with np.load(tmp_path / "run.npz") as z:
        assert z["residual"].shape == (11, 24) and z["latents"].shape == (100, 32)
    assert "wrote" in capsys.readouterr().out
    assert cli_main(["mnist", "--out", str(tmp_path), "--classes", "one"]) == 2
    assert "--classes must be" in capsys.readouterr().err


def test_page_opens_and_runs():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app_pages" / "6_MNIST_latent.py"), default_timeout=120).run()
    assert not at.exception and not at.error
    assert "1127 digits" in at.caption[0].value  # opens on the shipped default view: results without Run
    assert sum(int(m.value) for m in at.metric if m.label in CATEGORIES) == 500
    at.number_input(key="mn_samples").set_value(40)
    at.number_input(key="mn_steps").set_value(20)
    at.button(key="FormSubmitter:mn_form-Run").click().run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert sum(int(metrics[c]) for c in CATEGORIES) == 40
    # no free path: without the operator's RIDGEVIZ_MNIST_FOLDERS the app offers no folder source at all
    assert "folder" not in at.selectbox(key="mn_source").options


def test_suggest_latent_dim_probes_every_latent_up_to_the_cap():
    from ridgeviz.core.ridge import suggest_ridge_dim
    from ridgeviz.latent.analysis import suggest_latent_dim

    rng = np.random.default_rng(5)
    X = np.c_[rng.standard_normal((300, 2)) * [3.0, 1.0], 0.05 * rng.standard_normal((300, 3))]  # a flat 2-D sheet
    dens = rv.SmoothedEmpirical(X, rv.get_schedule("ou"))
    a = float(dens.schedule.alpha(0.1))
    dim, gaps = suggest_latent_dim(dens, 0.1)
    ref_dim, ref_gaps = suggest_ridge_dim(dens, torch.as_tensor(X * a), 0.1)  # every latent, by hand
    assert dim == ref_dim
    np.testing.assert_allclose(gaps, ref_gaps, rtol=1e-12)
    capped, _ = suggest_latent_dim(dens, 0.1, max_probe=100)  # every third latent
    assert capped == suggest_ridge_dim(dens, torch.as_tensor(X[::3] * a), 0.1)[0]
