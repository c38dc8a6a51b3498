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
