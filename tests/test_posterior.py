"""The posterior-moment kernels behind SmoothedEmpirical.evaluate: every path against the 80-bit reference, the
rounding bound that chooses between them, tile centring against a control without it, and invariances."""

import math

import numpy as np
import pytest
import torch
from conftest import ref_hessian_extended

import ridgeviz as rv
import ridgeviz.core.posterior as pm

EPS = np.finfo(np.float64).eps


def _ring(n, radius=3.0, noise=0.1, seed=0, D=2, offset=0.0):
    rng = np.random.default_rng(seed)
    ang = rng.uniform(0, 2 * np.pi, n)
    x = np.zeros((n, D))
    x[:, 0], x[:, 1] = radius * np.cos(ang), radius * np.sin(ang)
    return x + noise * rng.normal(size=(n, D)) + offset


def _queries(data, sched, t, M, seed=1, spread=1.0):
    rng = np.random.default_rng(seed)
    a, s = float(sched.alpha(t)), float(sched.sigma(t))
    return a * data[rng.integers(0, len(data), M)] + spread * s * rng.normal(size=(M, data.shape[1]))


def _err(H, data, sched, x, t):
    """Max |H - reference| per point, relative to the Hessian's 1/h scale: (M,)."""
    ref = ref_hessian_extended(data, sched, x, t).astype(np.float64)
    return np.abs(np.asarray(H) - ref).reshape(len(x), -1).max(1) * float(sched.h(t))


@pytest.fixture
def calls(monkeypatch):
    """Count the calls of each kernel, so a test can check that the path it means to test really ran."""
    seen = {}
    for name in ("_tile_sums", "_wide_sums", "_heavy_cov", "centred", "centred_cov"):
        orig = getattr(pm.PosteriorMoments, name)

        def wrapped(self, *args, _orig=orig, _name=name, **kw):
            out = _orig(self, *args, **kw)
            if _name != "_heavy_cov" or out is not None:
                seen[_name] = seen.get(_name, 0) + 1
            return out
        monkeypatch.setattr(pm.PosteriorMoments, name, wrapped)
    return seen


def test_kd_order_is_a_permutation_of_compact_whole_leaves():
    X = _ring(1000, noise=0.3)
    order = pm.kd_order(X, 64)
    assert sorted(order.tolist()) == list(range(1000))
    tiles = [X[order[i:i + 64]] for i in range(0, 1000, 64)]
    assert [len(t) for t in tiles] == [64] * 15 + [40]
    spread = np.mean([((t - t.mean(0)) ** 2).sum(1).mean() for t in tiles])
    shuffled = X[np.random.default_rng(0).permutation(1000)]
    control = np.mean([((t - t.mean(0)) ** 2).sum(1).mean() for t in np.array_split(shuffled, 16)])
    assert spread < control / 20  # neighbours share a tile; a random split of the ring does not


def _weights_as_the_kernel_saw_them(post, q, n_tile, floor, tiled):
    """The unnormalised weights ``P = exp(L)`` the moment kernel computed for queries ``q``, recomputed with the
    same products (same tiles, same shapes: the same bits), and the points in the same order: ``(P (m, N), X)``."""
    keys = post.tiles[0] if tiled else post.keys
    parts = []
    for lo in range(0, keys.shape[0], n_tile):
        L = torch.mm(keys[lo:lo + n_tile], q.T)
        parts.append((L.clamp_min_(post.floor) if floor else L).exp_())
    P = torch.cat(parts).T[:, :post.N]  # padding rows (small D) carry no point
    return P.numpy(), keys[:post.N, :post.D].numpy()


def _exact_cov(P, X):
    """``Cov_w`` of weights ``P: (m, N)`` over points ``X: (N, D)`` in 80-bit arithmetic, centred term by term."""
    L = np.longdouble
    P, X = P.astype(L), X.astype(L)
    S = P.sum(1)
    mu = (P @ X) / S[:, None]
    Y = X[None] - mu[:, None, :]
    return np.einsum("mi,mij,mik->mjk", P, Y, Y) / S[:, None, None]


@pytest.mark.parametrize("D, N, kind", [(2, 1500, "ring"), (3, 400, "clusters"), (5, 300, "offset"),
                                        (32, 400, "clusters"), (16, 200, "offset")])
def test_rounding_bound_holds_for_the_moment_form(D, N, kind, monkeypatch):
    # step 3: the moment form's Cov_w, against the exact covariance of the very weights it summed (so the logits'
    # own rounding, which the dense centred product shares, is not counted), is within
    # gamma eps (E_w|X - c|^2 + trace Cov_w): the spread about the tile centres (the estimate that chooses the path)
    # plus an error relative to Cov_w itself; at every time from nearly-one-point posteriors to broad ones
    rng = np.random.default_rng(D + N)
    if kind == "ring":
        data = _ring(N, D=D)
    elif kind == "clusters":
        data = (rng.normal(size=(4, D)) * 5)[rng.integers(0, 4, N)] + 0.3 * rng.normal(size=(N, D))
    else:
        data = rng.normal(size=(N, D)) + 20.0
    monkeypatch.setattr(pm, "SPARSE_GUESS", 0.0)  # the moment form even where the posterior is sparse
    monkeypatch.setattr(pm, "RTOL_WIDE", math.inf)
    monkeypatch.setattr(pm, "RTOL_SMALL_D", math.inf)
    seen = []
    for name, tiled in (("_tile_sums", True), ("_wide_sums", False)):
        orig = getattr(pm.PosteriorMoments, name)

        def keep(self, *args, _orig=orig, _tiled=tiled, **kw):
            out = _orig(self, *args, **kw)
            q, n_tile, floor = (args[0], args[1], args[2]) if _tiled else (args[3], args[4], args[6])
            seen.append((self, q, n_tile, floor, _tiled, out))
            return out
        monkeypatch.setattr(pm.PosteriorMoments, name, keep)
    dens = rv.SmoothedEmpirical(data, rv.get_schedule("ou"))
    worst = 0.0
    for t in (3e-4, 3e-3, 0.03, 0.3, 2.0):
        seen.clear()
        dens.hessian(_queries(data, dens.schedule, t, 40, seed=int(t * 1e4)), t)
        for post, q, n_tile, floor, tiled, (_, _, cov, spread) in seen:
            P, X = _weights_as_the_kernel_saw_them(post, q, n_tile, floor, tiled)
            exact = _exact_cov(P, X)
            err = np.abs(cov.numpy() - exact).reshape(len(q), -1).max(1).astype(np.float64)
            trace = np.trace(exact, axis1=1, axis2=2).astype(np.float64)
            scale = post.moment_gamma(n_tile) * EPS
            assert np.all(err <= scale * (spread.numpy() + trace)), (t, float((err / (scale * spread)).max()))
            worst = max(worst, float((err / (scale * (spread.numpy() + trace))).max()))
    assert worst > 1e-3  # the bound is not vacuous: the error reaches a visible part of it


def test_tile_centring_beats_global_moments_on_a_ring(monkeypatch):
    # claim: per-tile centres cut the moment form's loss from the data's size to the tiles'; control: the same
    # moment form about the data's mean alone (tiles off) loses far more at small h
    data = _ring(2000, noise=0.3)
    sched = rv.get_schedule("ou")
    t = 0.02
    x = _queries(data, sched, t, 60)
    monkeypatch.setattr(pm, "RTOL_SMALL_D", math.inf)
    monkeypatch.setattr(pm, "RTOL_WIDE", math.inf)
    tiled = _err(rv.SmoothedEmpirical(data, sched).hessian(x, t), data, sched, x, t)
    monkeypatch.setattr(pm, "SMALL_D", 0)  # no tiles: the wide path's global moments
    monkeypatch.setattr(pm, "SPARSE_GUESS", 0.0)
    plain = _err(rv.SmoothedEmpirical(data, sched).hessian(x, t), data, sched, x, t)
    assert tiled.max() < 1e-13
    assert plain.max() > 10 * tiled.max()


@pytest.mark.parametrize("case", ["tiles", "wide", "sparse", "fallback", "far"])
def test_each_path_matches_the_extended_precision_reference(case, calls):
    sched = rv.get_schedule("ou")
    if case == "tiles":  # 2-D ring, moderate t: tile-centred moments
        data, t = _ring(1500, noise=0.3), 0.05
        x, path = _queries(data, sched, t, 50), "_tile_sums"
    elif case == "wide":  # 32-D, broad posteriors: global moments
        data, t = np.random.default_rng(2).normal(size=(600, 32)), 0.5
        x, path = _queries(data, sched, t, 50), "_wide_sums"
    elif case == "sparse":  # 32-D, small t: a few heavy points per query, centred exactly
        data, t = np.random.default_rng(3).normal(size=(3000, 32)), 2e-3
        x, path = _queries(data, sched, t, 50), "_heavy_cov"
    elif case == "fallback":  # data far from their mean, small h: the moment estimate fails, centred product
        data, t = _ring(300, radius=40.0, noise=2.0, D=3), 0.01
        x, path = _queries(data, sched, t, 50), "centred_cov"
    else:  # queries far from every point: the normaliser underflows, exact log-sum-exp
        data, t = np.random.default_rng(4).normal(size=(500, 5)), 1e-3
        x, path = np.random.default_rng(5).normal(size=(20, 5)) * 30, "centred"
    dens = rv.SmoothedEmpirical(data, sched)
    ev = dens.evaluate(x, t, hessian=True)
    assert calls.get(path, 0) > 0, calls
    assert _err(ev.hessian, data, sched, x, t).max() < 1e-11
    # score and log-density against the explicit sum
    a, h = float(sched.alpha(t)), float(sched.h(t))
    L = -((x[:, None, :] - a * data[None]) ** 2).sum(-1) / (2 * h)
    w = np.exp(L - L.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    np.testing.assert_allclose(ev.denoised.numpy(), w @ data, rtol=1e-10, atol=1e-10 * np.abs(data).max())
    lse = L.max(1) + np.log(np.exp(L - L.max(1, keepdims=True)).sum(1))
    ref_lp = lse - math.log(len(data)) - 0.5 * data.shape[1] * math.log(2 * math.pi * h)
    np.testing.assert_allclose(ev.log_prob.numpy(), ref_lp, rtol=1e-11)


@pytest.mark.parametrize("D, N, t", [(2, 800, 0.1), (2, 800, 1e-3), (32, 500, 0.5), (32, 2000, 2e-3)])
def test_score_is_the_same_with_or_without_the_hessian(D, N, t):
    # the exact score model and the frame's score must agree exactly (zero model error for the exact score)
    data = _ring(N, D=D) if D == 2 else np.random.default_rng(6).normal(size=(N, D))
    sched = rv.get_schedule("ou")
    dens = rv.SmoothedEmpirical(data, sched)
    x = _queries(data, sched, t, 64)
    full, plain = dens.evaluate(x, t, hessian=True), dens.evaluate(x, t)
    assert torch.equal(full.score, plain.score) and torch.equal(full.log_prob, plain.log_prob)


@pytest.mark.parametrize("D, N", [(2, 700), (32, 700)])
def test_tiles_and_chunks_change_only_rounding(D, N):
    data = _ring(N, D=D, noise=0.3) if D == 2 else np.random.default_rng(7).normal(size=(N, D))
    sched = rv.get_schedule("ou")
    x = _queries(data, sched, 0.2, 90)
    t = np.geomspace(0.01, 1.0, 90)  # a time per query, too
    big = rv.SmoothedEmpirical(data, sched).evaluate(x, t, hessian=True)
    small = rv.SmoothedEmpirical(data, sched, chunk_elements=5000).evaluate(x, t, hessian=True)
    h = rv.get_schedule("ou").h(torch.as_tensor(t)).numpy()
    np.testing.assert_allclose(small.score.numpy() * h[:, None], big.score.numpy() * h[:, None], atol=1e-12)
    np.testing.assert_allclose(small.hessian.numpy() * h[:, None, None], big.hessian.numpy() * h[:, None, None],
                               atol=1e-12)
    np.testing.assert_allclose(small.log_prob.numpy(), big.log_prob.numpy(), rtol=1e-13, atol=1e-12)


def test_floored_weights_are_reported_as_zero():
    data = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    dens = rv.SmoothedEmpirical(data, rv.get_schedule("ou"))
    w = dens.posterior_weights(np.array([[0.1, 0.0]]), 1e-3).numpy()
    assert w[0, 0] == 1.0 and w[0, 1] == 0.0 and w[0, 2] == 0.0


@pytest.mark.parametrize("D, N, t", [(2, 800, 0.1), (32, 1500, 0.3), (32, 1500, 2e-3)])
def test_float32_density_follows_float64_to_float32_accuracy(D, N, t):
    rng = np.random.default_rng(8)
    data = _ring(N, D=D) if D == 2 else rng.normal(size=(N, D))
    sched = rv.get_schedule("ou")
    x = _queries(data, sched, t, 40)
    e32 = rv.SmoothedEmpirical(data, sched, dtype=torch.float32).evaluate(x, t, hessian=True)
    e64 = rv.SmoothedEmpirical(data, sched).evaluate(x, t, hessian=True)
    assert e32.hessian.dtype == torch.float32 and torch.isfinite(e32.hessian).all()
    h = float(sched.h(t))
    assert float((e32.hessian.double() - e64.hessian).abs().max()) * h < 1e-4
    assert float((e32.score.double() - e64.score).abs().max() / e64.score.abs().max()) < 1e-4
