"""Random-feature model: the chunked readout and the once-per-time time term against the plain per-particle
formula, and the block-triangular moment product against the full one."""

import math

import numpy as np
import pytest
import torch

import ridgeviz as rv
import ridgeviz.models.rf_moments as rfm
from ridgeviz.models.random_features import RandomFeatureModel, RandomFeatureScore
from ridgeviz.models.rf_moments import feature_moments


def _model(p=300, K=8, seed=0):
    rf = RandomFeatureModel(2, p, K, 10.0, generator=torch.Generator().manual_seed(seed))
    A = torch.randn(2, p, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    return rf, RandomFeatureScore(rf, A, rv.get_schedule("ou"))


def _plain_mean(rf, A, x, t):
    """``relu(W_x x + W_t phi(t_m) + b)/sqrt(p) @ A^T`` with the time term evaluated for every particle."""
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1).expand(x.shape[0])
    phi = torch.cat([torch.ones(len(t), 1, dtype=torch.float64),
                     torch.sin(2 * math.pi * t[:, None] * torch.arange(1, rf.K + 1) / rf.T),
                     torch.cos(2 * math.pi * t[:, None] * torch.arange(1, rf.K + 1) / rf.T)], 1)
    return torch.relu(x @ rf.W_x.T + phi @ rf.W_t.T + rf.b) / math.sqrt(rf.p) @ A.T


@pytest.mark.parametrize("M", [1, 7, 437, 1000])
@pytest.mark.parametrize("kind", ["scalar", "shared vector", "three times", "all different"])
def test_readout_equals_the_per_particle_formula(M, kind):
    rf, model = _model()
    g = torch.Generator().manual_seed(M)
    x = torch.randn(M, 2, generator=g, dtype=torch.float64) * 3
    t = {"scalar": 0.37, "shared vector": torch.full((M,), 0.37, dtype=torch.float64),
         "three times": torch.tensor([0.1, 2.0, 7.5], dtype=torch.float64)[torch.arange(M) % 3],
         "all different": torch.rand(M, generator=g, dtype=torch.float64) * 10}[kind]
    ref = _plain_mean(rf, model.A, x, t)
    torch.testing.assert_close(model.mean(x, t), ref, rtol=1e-12, atol=1e-12 * float(ref.abs().max()))
    torch.testing.assert_close(rf.features(x, t) @ model.A.T, ref, rtol=1e-12, atol=1e-12 * float(ref.abs().max()))
    h = rv.get_schedule("ou").h(torch.as_tensor(t, dtype=torch.float64).reshape(-1))
    torch.testing.assert_close(model(x, t), (ref - x) / h[:, None], rtol=1e-11, atol=1e-11)


def test_time_term_once_per_distinct_time(monkeypatch):
    _rf, model = _model()
    rows = []
    orig = RandomFeatureModel.time_embedding

    def counting(self, t):
        out = orig(self, t)
        rows.append(out.shape[0])
        return out
    monkeypatch.setattr(RandomFeatureModel, "time_embedding", counting)
    x = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model(x, 0.5)
    model(x, torch.full((2000,), 0.5, dtype=torch.float64))
    model(x, torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64).repeat(667)[:2000])
    assert rows == [1, 1, 3]  # not 2000 rows per call
    # a sampler's step evaluates it once
    rows.clear()
    rv.sample(model, x[:64], rv.get_schedule("ou").time_grid(5), "em", generator=torch.Generator().manual_seed(1))
    assert rows == [1] * 5


def test_bad_time_shape_is_refused():
    _, model = _model()
    with pytest.raises(ValueError, match="t"):
        model(torch.zeros(4, 2, dtype=torch.float64), torch.ones(3, dtype=torch.float64))


def test_block_triangular_moments_equal_the_full_product(monkeypatch):
    rf = RandomFeatureModel(2, 70, 4, 10.0, generator=torch.Generator().manual_seed(3))
    data, sched = np.array([[-3.0, 0.0], [3.0, 0.0], [0.5, 1.0]]), rv.get_schedule("ou")
    quad = rfm.Quadrature(panels_per_period=1, radial_nodes=3, directions=4)
    blocked = feature_moments(rf, data, sched, quad, chunk_nodes=500)
    monkeypatch.setattr(rfm, "U_BLOCK", 16)
    small = feature_moments(rf, data, sched, quad, chunk_nodes=77)
    assert torch.equal(small.U, small.U.T) and torch.equal(blocked.U, blocked.U.T)
    # the full product F^T F from the nodes themselves (no reused buffer)
    F = torch.cat([b[0].clone() for b in rfm.node_blocks(rf, torch.as_tensor(data), sched, quad, 300)])
    full = F.T @ F
    for m in (blocked, small):
        torch.testing.assert_close(m.U, 0.5 * (full + full.T), rtol=1e-12, atol=1e-14 * float(full.abs().max()))
    torch.testing.assert_close(small.V, blocked.V, rtol=1e-12, atol=1e-15)


# -- the lockstep sampler and the draws ------------------------------------------------------------------------


class _PlainScore:
    """The random-feature score with every particle's time term and features evaluated in full (the reference)."""

    def __init__(self, model):
        self.model, self.schedule = model, model.schedule

    def __call__(self, x, t):
        mean = _plain_mean(self.model.rf, self.model.A, x, t)
        return (mean - x) / self.schedule.h(torch.as_tensor(t, dtype=torch.float64))


def _fitted(p=64, K=6, taus=(1.0, 100.0, math.inf)):
    from ridgeviz.models.random_features import fit_random_features
    from ridgeviz.models.rf_moments import Quadrature

    X, sched = np.array([[-3.0, 0.0], [3.0, 0.0], [0.5, 1.0]]), rv.get_schedule("ou")
    rf = RandomFeatureModel(2, p, K, sched.T, generator=torch.Generator().manual_seed(5))
    m = feature_moments(rf, X, sched, Quadrature(panels_per_period=1, radial_nodes=3, directions=4))
    return X, sched, {tau: fit_random_features(rf, X, sched, tau, moments=m) for tau in taus}


@pytest.mark.parametrize("path", ["fused", "tiled"])
def test_lockstep_sampler_gives_the_samples_of_sample_and_of_the_plain_evaluation(path, monkeypatch):
    import ridgeviz.models.rf_sampler as rfs
    from ridgeviz.models.rf_sampler import em_finals_seeded

    if path == "tiled":  # the path without the compiled loops (other devices, D != 2, no numba)
        monkeypatch.setattr(rfs, "em_update_kernel", lambda: None)
    X, sched, models = _fitted()
    finals = em_finals_seeded(models, samples=37, steps=40, seed=3)
    for tau, model in models.items():
        g = torch.Generator().manual_seed(3)
        x_T = rv.prior_sample(sched, 37, 2, g)
        ref = rv.sample(model, x_T, sched.time_grid(40), "em", generator=g).final
        g = torch.Generator().manual_seed(3)
        x_T = rv.prior_sample(sched, 37, 2, g)
        plain = rv.sample(_PlainScore(model), x_T, sched.time_grid(40), "em", generator=g).final
        # float64 throughout; only the order of the p-term sums differs (fused loop vs BLAS): ~1e-16 per step,
        # grown by 40 contracting-then-expanding steps; 1e-10 of the samples' scale leaves a wide margin
        torch.testing.assert_close(finals[tau], ref, rtol=0, atol=1e-10 * float(ref.abs().max()))
        torch.testing.assert_close(finals[tau], plain, rtol=0, atol=1e-10 * float(plain.abs().max()))


def test_lockstep_sampler_on_two_threads_gives_the_one_thread_samples():
    from ridgeviz.models.rf_sampler import em_finals_seeded

    _, _, models = _fitted()
    one = em_finals_seeded(models, samples=300, steps=25, seed=4)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # models go to threads whole; each readout on one thread: the same arithmetic
    try:
        two = em_finals_seeded(models, samples=300, steps=25, seed=4)
    finally:
        torch.set_num_threads(before)
    for tau in models:  # rows of the time part come from the same product; the tolerance only covers BLAS paths
        torch.testing.assert_close(two[tau], one[tau], rtol=0, atol=1e-12 * float(one[tau].abs().max()))


def test_float32_path_stays_near_float64_and_the_tiles_equal_the_fused_loop():
    from ridgeviz.models.random_features import RandomFeatureScore
    from ridgeviz.models.rf_kernels import readout_tiled

    rf, model = _model(p=500)
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    ref = _plain_mean(rf, model.A, x, 0.4)
    base = rf.time_rows(0.4, 300)[0][0]
    tiled = readout_tiled(x, rf.W_x, base, (model.A / math.sqrt(rf.p)).T)
    torch.testing.assert_close(tiled, ref, rtol=1e-12, atol=1e-12 * float(ref.abs().max()))
    f32 = RandomFeatureScore(rf, model.A, model.schedule, precision="float32")
    err = float((f32.mean(x, 0.4) - ref).abs().max() / ref.abs().max())
    assert 1e-9 < err < 1e-5  # float32 arithmetic: about 1e-7 relative per value, summed over 500 features
    with pytest.raises(ValueError, match="precision"):
        RandomFeatureScore(rf, model.A, model.schedule, precision="half")


def test_draws_vary_the_features_and_summarise_to_mean_and_spread():
    from ridgeviz.models.rf_draws import near_point_share, run_draw, summarise_draws
    from ridgeviz.models.rf_moments import Quadrature

    X, sched = np.array([[-3.0, 0.0], [3.0, 0.0]]), rv.get_schedule("ou")
    quad = Quadrature(panels_per_period=1, radial_nodes=3, directions=4)
    runs = [run_draw(X, sched, p=48, K=4, taus=[10.0, math.inf], draw=d, samples=40, steps=30, quadrature=quad)
            for d in (0, 1, 2)]
    assert runs[0].taus == ["10", "inf"] and runs[0].finals["inf"].shape == (40, 2)
    assert not np.allclose(runs[0].finals["inf"], runs[1].finals["inf"])  # other features, other samples
    again = run_draw(X, sched, p=48, K=4, taus=[10.0, math.inf], draw=1, samples=40, steps=30, quadrature=quad)
    np.testing.assert_allclose(again.finals["inf"], runs[1].finals["inf"], rtol=1e-6, atol=1e-6)
    summary = summarise_draws(runs, lambda final, tau: near_point_share(final, X))
    values = [near_point_share(r.finals["inf"], X) for r in runs]
    assert summary["inf"]["values"] == values and summary["inf"]["mean"] == pytest.approx(np.mean(values))
    assert summary["inf"]["std"] == pytest.approx(np.std(values, ddof=1))
    assert near_point_share(np.array([[3.0, 0.5], [0.0, 0.0]]), X) == 0.5
