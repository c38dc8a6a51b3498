"""SmoothedEmpirical against a slow autograd reference, identities, chunking, stability, memory, bad input."""

import math

import numpy as np
import pytest
import torch
from conftest import peak_rss_child, ref_derivatives, ref_hessian_extended

import ridgeviz as rv

TIMES = [1e-4, 1e-2, 0.5, 3.0]


def _problem(D: int, t: float, seed: int = 0):
    """Random data ``(N, D)`` and queries: near training points, between pairs, and far away."""
    rng = np.random.default_rng(seed + D)
    N = 25 if D == 2 else 40
    data = rng.normal(size=(N, D)) * 2.0
    sched = rv.get_schedule("ou")
    a, s = float(sched.alpha(t)), float(sched.sigma(t))
    near = a * data[:3] + s * rng.normal(size=(3, D))
    # midpoints of close pairs: there the posterior covariance (and Hessian) is largest
    between = a * 0.5 * (data[3:6] + data[6:9]) + 0.01 * s * rng.normal(size=(3, D))
    far = rng.normal(size=(2, D)) * 4.0
    return sched, data, np.vstack([near, between, far])


def _rel(actual, desired):
    """Max abs difference relative to the reference's largest entry (per point)."""
    a, d = np.asarray(actual), np.asarray(desired)
    scale = np.abs(d).reshape(len(d), -1).max(1) + 1e-300
    return float((np.abs(a - d).reshape(len(d), -1).max(1) / scale).max())


@pytest.mark.parametrize("D", [2, 32])
@pytest.mark.parametrize("t", TIMES)
def test_log_prob_score_hessian_match_autograd_reference(D, t):
    sched, data, x = _problem(D, t)
    dens = rv.SmoothedEmpirical(data, sched)
    lp, sc, he = ref_derivatives(data, sched, x, t)
    ev = dens.evaluate(x, t, hessian=True)
    np.testing.assert_allclose(ev.log_prob.numpy(), lp.numpy(), rtol=1e-10, atol=1e-9)
    assert _rel(ev.score, sc) < 1e-9
    # autograd's second derivative of the log-sum-exp is the uncentred form: it loses ~log10(|x - a x_i|^2/h)
    # digits where the posterior is split between far-apart points (t = 1e-4: ~1e-7), so the tight check is
    # against the centred sum in extended precision
    assert _rel(ev.hessian, he) < 1e-6
    assert _rel(ev.hessian, ref_hessian_extended(data, sched, x, t).astype(np.float64)) < 1e-9
    # the convenience views are the same pass
    np.testing.assert_array_equal(dens.score(x, t).numpy(), ev.score.numpy())
    np.testing.assert_array_equal(dens.hessian(x, t).numpy(), ev.hessian.numpy())
    np.testing.assert_array_equal(dens.log_prob(x, t).numpy(), ev.log_prob.numpy())


@pytest.mark.parametrize("t", TIMES)
def test_denoise_and_weights_against_explicit_sum(t):
    sched, data, x = _problem(3, t, seed=5)
    dens = rv.SmoothedEmpirical(data, sched)
    a, h = float(sched.alpha(t)), float(sched.h(t))
    w_ref = np.empty((len(x), len(data)))
    for m, xm in enumerate(x):
        logits = np.array([-np.sum((xm - a * xi) ** 2) / (2 * h) for xi in data])
        e = np.exp(logits - logits.max())
        w_ref[m] = e / e.sum()
    w = dens.posterior_weights(x, t).numpy()
    np.testing.assert_allclose(w, w_ref, atol=1e-10)
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-13)
    assert np.all(w >= 0)
    np.testing.assert_allclose(dens.denoise(x, t).numpy(), w_ref @ data, atol=1e-9)
    # Tweedie: score = (a D - x) / h
    np.testing.assert_allclose(dens.score(x, t).numpy(), (a * (w_ref @ data) - x) / h, rtol=1e-8, atol=1e-8 / h)


def test_hessian_is_symmetric_and_bounded_below(thirteen):
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    for t in (0.01, 0.3, 2.0):
        H = thirteen.hessian(x, t)
        assert torch.equal(H, H.transpose(1, 2))
        # -I/h + (a^2/h^2) Cov with Cov PSD: every eigenvalue >= -1/h
        h = float(thirteen.schedule.h(t))
        assert torch.linalg.eigvalsh(H).min() >= -1 / h * (1 + 1e-12)


def test_vector_t_equals_per_point_scalar_calls(thirteen):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64) * 2
    t = np.array([1e-3, 0.02, 0.1, 0.5, 1.5, 4.0])
    ev = thirteen.evaluate(x, torch.tensor(t), hessian=True)
    for m in range(6):
        one = thirteen.evaluate(x[m:m + 1], float(t[m]), hessian=True)
        np.testing.assert_allclose(ev.log_prob[m].item(), one.log_prob.item(), rtol=1e-13)
        np.testing.assert_allclose(ev.score[m].numpy(), one.score[0].numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ev.hessian[m].numpy(), one.hessian[0].numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("chunk", [1, 7, 130])
def test_chunking_gives_identical_results(chunk):
    rng = np.random.default_rng(3)
    data, x = rng.normal(size=(30, 4)), rng.normal(size=(23, 4))
    sched = rv.get_schedule("ou")
    big = rv.SmoothedEmpirical(data, sched).evaluate(x, 0.2, hessian=True, weights=True)
    small = rv.SmoothedEmpirical(data, sched, chunk_elements=chunk).evaluate(x, 0.2, hessian=True, weights=True)
    for name in ("log_prob", "score", "denoised", "hessian", "weights"):
        np.testing.assert_allclose(getattr(small, name).numpy(), getattr(big, name).numpy(), rtol=1e-12,
                                   atol=1e-13, err_msg=name)


def test_permuting_the_data_changes_nothing():
    rng = np.random.default_rng(4)
    data, x = rng.normal(size=(40, 3)) * 2, rng.normal(size=(9, 3)) * 2
    sched = rv.get_schedule("ve")
    a = rv.SmoothedEmpirical(data, sched).evaluate(x, 0.3, hessian=True)
    b = rv.SmoothedEmpirical(data[rng.permutation(40)], sched).evaluate(x, 0.3, hessian=True)
    for name in ("log_prob", "score", "denoised", "hessian"):
        np.testing.assert_allclose(getattr(b, name).numpy(), getattr(a, name).numpy(), rtol=1e-11, atol=1e-11,
                                   err_msg=name)


def test_small_t_far_queries_are_finite_and_follow_the_nearest_point():
    rng = np.random.default_rng(5)
    data = rng.normal(size=(20, 5))
    sched = rv.get_schedule("ou")
    dens = rv.SmoothedEmpirical(data, sched)
    t = 1e-5
    x = np.vstack([rng.normal(size=(4, 5)) * 100, data[:2] + 1e-3, rng.normal(size=(2, 5)) * 1e4])
    ev = dens.evaluate(x, t, hessian=True, weights=True)
    for name in ("log_prob", "score", "denoised", "hessian", "weights"):
        assert torch.isfinite(getattr(ev, name)).all(), name
    # h = 2e-5: the posterior is one-hot on the nearest scaled training point
    a, h = float(sched.alpha(t)), float(sched.h(t))
    d2 = ((x[:, None, :] - a * data[None]) ** 2).sum(-1)
    nearest = data[d2.argmin(1)]
    np.testing.assert_allclose(ev.score.numpy(), (a * nearest - x) / h, rtol=1e-12)
    lp_ref = -d2.min(1) / (2 * h) - math.log(20) - 2.5 * math.log(2 * math.pi * h)
    np.testing.assert_allclose(ev.log_prob.numpy(), lp_ref, rtol=1e-12, atol=1e-9)  # |x|^2 eps / h
    np.testing.assert_allclose(ev.hessian.numpy(), np.broadcast_to(-np.eye(5) / h, (8, 5, 5)), rtol=1e-12)


@pytest.mark.slow
def test_peak_memory_bounded_at_mnist_scale():
    # N = 60,000, D = 32 (MNIST latent), score + Hessian. Chunking bounds every temporary by chunk_elements,
    # so the peak does not grow with M beyond the (M, D, D) output: M = 200 stands for M = 2,000 (measured with
    # the default 16 MiB chunks: +38 MB at M = 200, +53 MB at M = 2,000; +2.9 GB at M = 2,000 with 64 MiB chunks
    # before outputs were preallocated)
    setup = """
        g = torch.Generator().manual_seed(0)
        data = torch.randn(60000, 32, generator=g, dtype=torch.float64)
        x = 0.5 * data[:200] + 0.3 * torch.randn(200, 32, generator=g, dtype=torch.float64)
    """
    code = """
        dens = rv.SmoothedEmpirical(data, rv.get_schedule('ou'))
        ev = dens.evaluate(x, 0.5, hessian=True)
        assert torch.isfinite(ev.hessian).all() and ev.hessian.shape == (200, 32, 32)
    """
    before, after = peak_rss_child(setup, code, timeout=120)
    growth_mb = (after - before) / 1024
    assert growth_mb < 2048, f"peak RSS grew by {growth_mb:.0f} MB"
    assert growth_mb < 256, f"peak RSS grew by {growth_mb:.0f} MB: more than a few chunk-sized temporaries"


def test_many_chunks_do_not_fragment_the_heap():
    # 250 chunks of 8 queries: small per-chunk results kept alive between MB-sized temporaries used to fragment
    # glibc's heap (measured: +700 MB here); outputs preallocated once keep the growth at a few MB
    setup = """
        g = torch.Generator().manual_seed(0)
        data = torch.randn(20000, 32, generator=g, dtype=torch.float64)
        x = torch.randn(2000, 32, generator=g, dtype=torch.float64)
    """
    code = """
        dens = rv.SmoothedEmpirical(data, rv.get_schedule('ou'), chunk_elements=8 * 20000)
        ev = dens.evaluate(x, 0.5)
        assert torch.isfinite(ev.score).all()
    """
    before, after = peak_rss_child(setup, code, timeout=120)
    growth_mb = (after - before) / 1024
    assert growth_mb < 100, f"peak RSS grew by {growth_mb:.0f} MB over 250 chunks of (8, 20000) temporaries"


@pytest.mark.parametrize("make, param", [
    (lambda s: rv.SmoothedEmpirical(np.array([[0.0, np.nan]]), s), "data"),
    (lambda s: rv.SmoothedEmpirical(np.array([[0.0, np.inf]]), s), "data"),
    (lambda s: rv.SmoothedEmpirical(np.zeros(3), s), "data"),
    (lambda s: rv.SmoothedEmpirical(np.zeros((0, 2)), s), "data"),
    (lambda s: rv.SmoothedEmpirical(np.zeros((3, 2)), "ou"), "schedule"),
    (lambda s: rv.SmoothedEmpirical(np.zeros((3, 2)), s, chunk_elements=0), "chunk_elements"),
    (lambda s: rv.SmoothedEmpirical(np.zeros((3, 2)), s).score(np.zeros((4, 3)), 0.5), "x"),
    (lambda s: rv.SmoothedEmpirical(np.zeros((3, 2)), s).score(np.zeros(2), 0.5), "x"),
    (lambda s: rv.SmoothedEmpirical(np.zeros((3, 2)), s).score(np.zeros((4, 2)), 0.0), "t"),
    (lambda s: rv.SmoothedEmpirical(np.zeros((3, 2)), s).score(np.zeros((4, 2)), -1.0), "t"),
    (lambda s: rv.SmoothedEmpirical(np.zeros((3, 2)), s).score(np.zeros((4, 2)), float("nan")), "t"),
    (lambda s: rv.SmoothedEmpirical(np.zeros((3, 2)), s).score(np.zeros((4, 2)), np.ones(3)), "t"),
])
def test_bad_input_raises_naming_the_parameter(make, param):
    with pytest.raises(ValueError, match=rf"\b{param}\b"):
        make(rv.get_schedule("ou"))
