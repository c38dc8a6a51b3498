"""Ridge frames, residual, SCMS projection and tracing against closed forms and a naive SCMS loop."""

import numpy as np
import pytest
import torch
from conftest import naive_scms, ring
from scipy.special import i0e, i1e

import ridgeviz as rv
from ridgeviz.core.ridge import GAP_TOL, _eigh_descending
from ridgeviz.core.tracing import chain_points
from ridgeviz.data.datasets import DatasetSpec, make_dataset


def _points(M, D, seed=0, scale=3.0):
    return torch.randn(M, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


@pytest.mark.parametrize("D, dim", [(2, 0), (2, 1), (5, 2), (5, 4)])
def test_projectors_and_split_identities(D, dim):
    rng = np.random.default_rng(D + dim)
    dens = rv.SmoothedEmpirical(rng.normal(size=(15, D)) * 2, rv.get_schedule("ou"))
    frame = rv.local_frame(dens, _points(20, D, seed=dim), 0.3, dim)
    P, Q = frame.tangent, frame.normal
    eye = torch.eye(D, dtype=torch.float64).expand(20, D, D)
    for proj in (P, Q):
        torch.testing.assert_close(proj @ proj, proj, rtol=0, atol=1e-12)
        torch.testing.assert_close(proj, proj.transpose(1, 2), rtol=0, atol=1e-14)
    torch.testing.assert_close(P + Q, eye, rtol=0, atol=1e-12)
    assert torch.allclose(torch.diagonal(Q, dim1=1, dim2=2).sum(-1), torch.full((20,), float(D - dim),
                                                                             dtype=torch.float64))
    # eigenvalues descending and eigenvectors matching the Hessian
    assert torch.all(frame.eigenvalues[:, :-1] >= frame.eigenvalues[:, 1:])
    H = dens.hessian(_points(20, D, seed=dim), 0.3)
    V, L = frame.eigenvectors, frame.eigenvalues
    torch.testing.assert_close(V @ torch.diag_embed(L) @ V.transpose(1, 2), H, rtol=1e-10, atol=1e-10)
    v = _points(20, D, seed=99)
    nrm, tan = frame.split(v)
    torch.testing.assert_close(nrm + tan, v, rtol=0, atol=1e-13)
    torch.testing.assert_close(nrm, (Q @ v[:, :, None])[..., 0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(tan, (P @ v[:, :, None])[..., 0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rv.ridge_residual(dens, _points(20, D, seed=dim), 0.3, dim),
                               (Q @ frame.score[:, :, None])[..., 0].norm(dim=-1), rtol=1e-12, atol=1e-12)


def test_closed_form_2x2_eigendecomposition_matches_lapack():
    g = torch.Generator().manual_seed(3)
    scale = torch.logspace(-6, 6, 4000, dtype=torch.float64)[:, None, None]
    H = torch.randn(4000, 2, 2, generator=g, dtype=torch.float64) * scale
    H = H + H.transpose(1, 2)
    H[:4] = torch.tensor([[[2.0, 0.0], [0.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 3.0]],
                          [[-5.0, 1e-14], [1e-14, -5.0]]], dtype=torch.float64)
    vals, vecs = _eigh_descending(H)
    ref_vals, ref_vecs = torch.linalg.eigh(H)
    size = H.abs().amax((1, 2)).clamp_min(1e-300)
    assert ((vals - ref_vals.flip(-1)).abs().amax(-1) / size).max() < 1e-14
    assert torch.all(vals[:, 0] >= vals[:, 1])
    torch.testing.assert_close(vecs.transpose(1, 2) @ vecs, torch.eye(2, dtype=torch.float64).expand(4000, 2, 2),
                               rtol=0, atol=1e-14)
    recon = vecs @ torch.diag_embed(vals) @ vecs.transpose(1, 2)
    assert ((recon - H).abs().amax((1, 2)) / size).max() < 1e-14
    # projectors onto the leading eigenvector agree with LAPACK's wherever the eigenvalues are distinct
    distinct = (ref_vals[:, 1] - ref_vals[:, 0]) > 1e-8 * size
    p_ours = vecs[:, :, :1] @ vecs[:, :, :1].transpose(1, 2)
    p_ref = ref_vecs[:, :, 1:] @ ref_vecs[:, :, 1:].transpose(1, 2)
    torch.testing.assert_close(p_ours[distinct], p_ref[distinct], rtol=0, atol=1e-7)


@pytest.mark.parametrize("t", [0.5, 1.0])
def test_two_point_segment_is_the_ridge(two_points, t):
    sched = two_points.schedule
    a, h = float(sched.alpha(t)), float(sched.h(t))
    xs = np.linspace(-3 * a, 3 * a, 23)[1:-1]
    on = np.stack([xs, np.zeros_like(xs)], 1)
    frame = rv.local_frame(two_points, on, t, 1)
    assert frame.residual.max() < 1e-12
    torch.testing.assert_close(frame.eigenvalues[:, 1], torch.full((21,), -1 / h, dtype=torch.float64),
                               rtol=1e-12, atol=0)
    assert frame.concave.all() and (frame.scaled_gap > 0).all()
    # off the axis the data have no y-spread: the normal is the y axis and g_y = -y/h exactly
    off = on + np.array([0.0, 0.4])
    res = rv.ridge_residual(two_points, off, t, 1)
    torch.testing.assert_close(res, torch.full((21,), 0.4 / h, dtype=torch.float64), rtol=1e-10, atol=0)


@pytest.mark.parametrize("t", [0.5, 1.0])
def test_project_to_ridge_lands_on_the_axis(two_points, t):
    x0 = np.array([[0.6, 0.7], [-0.5, -1.0], [0.2, 0.3], [0.0, -2.0], [-1.5, 0.5]])
    proj = rv.project_to_ridge(two_points, x0, t, 1)
    assert proj.converged.all() and proj.concave.all()
    # the centre of the bridge is well separated; near the modes the gap may fall below the tolerance
    assert proj.on_ridge[:4].all()
    assert torch.equal(proj.undefined, proj.scaled_gap < GAP_TOL)
    assert proj.points[:, 1].abs().max() < 1e-12
    # the normal step is exactly -y, so x is unchanged
    torch.testing.assert_close(proj.points[:, 0], torch.as_tensor(x0[:, 0]), rtol=0, atol=1e-12)
    assert proj.residual.max() < 1e-10


@pytest.mark.parametrize("max_iter", [12, 300])
def test_projection_reports_the_frame_at_its_final_points(thirteen, max_iter):
    x0 = _points(60, 2, seed=7, scale=3.0)
    t = torch.linspace(0.05, 2.0, 60, dtype=torch.float64)
    proj = rv.project_to_ridge(thirteen, x0, t, 1, max_iter=max_iter)
    if max_iter == 12:  # some points stopped by the cap, some converged
        assert (~proj.converged).any() and proj.converged.any()
    else:
        assert proj.converged.all()
    frame = rv.local_frame(thirteen, proj.points, t, 1)
    torch.testing.assert_close(proj.residual, frame.residual, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(proj.eigengap, frame.eigengap, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(proj.scaled_gap, frame.scaled_gap, rtol=1e-9, atol=1e-12)
    assert torch.equal(proj.undefined, frame.undefined()) and torch.equal(proj.concave, frame.concave)
    assert torch.all(proj.iterations <= max_iter)


def _circle_radius(a: float, h: float, R: float = 3.0) -> float:
    """Ridge radius of a uniform ring of radius R blurred by N(., h I): r = a R I1(z)/I0(z), z = r a R / h."""
    r = a * R
    for _ in range(2000):
        z = r * a * R / h
        r = a * R * i1e(z) / i0e(z)
    return r


def test_ring_ridge_is_a_shrinking_circle(ring_density):
    sched = ring_density.schedule
    ang = np.linspace(0, 2 * np.pi, 24, endpoint=False) + 0.05
    circle = np.stack([np.cos(ang), np.sin(ang)], 1)
    radii = []
    for t in (0.1, 0.3, 0.5):
        a, h = float(sched.alpha(t)), float(sched.h(t))
        x0 = np.vstack([1.5 * a * circle, 4.0 * a * circle])  # from inside and outside
        proj = rv.project_to_ridge(ring_density, x0, t, 1, tol=1e-10)
        assert proj.converged.all() and proj.on_ridge.all()
        rad = proj.points.norm(dim=-1).numpy()
        assert rad.std() < 1e-7 * rad.mean()
        # the 40-point ring is close to a continuous one: its ridge radius solves the Bessel fixed point
        assert rad.mean() == pytest.approx(_circle_radius(a, h), rel=1e-6)
        ref = naive_scms(ring(), a, h, x0[[0, 5, 30]], dim=1, tol=1e-13)
        np.testing.assert_allclose(proj.points.numpy()[[0, 5, 30]], ref, atol=1e-8)
        radii.append(rad.mean())
        # the drawing: one closed polyline on the same circle
        lines = rv.trace_ridge(ring_density, t, 1)
        assert len(lines) == 1 and np.array_equal(lines[0][0], lines[0][-1])
        np.testing.assert_allclose(np.linalg.norm(lines[0], axis=1), rad.mean(), rtol=1e-5)
    assert radii[0] > radii[1] > radii[2]


def test_undefined_normal_space_is_flagged_not_dropped(thirteen):
    t = 1e-3
    a = float(thirteen.schedule.alpha(t))
    # the isolated point (-0.2, 0.2): an isotropic blob at small t; (-2.75, 3.0) lies between a close pair
    x0 = a * np.array([[-0.2, 0.2], [-0.19, 0.21], [3.8, -0.15], [-2.75, 3.0]])
    frame = rv.local_frame(thirteen, x0, t, 1)
    assert frame.scaled_gap[:3].max() < 1e-10 and frame.undefined()[:3].all()
    assert frame.scaled_gap[3] > 1.0 and not frame.undefined()[3]
    proj = rv.project_to_ridge(thirteen, x0, t, 1)
    for name in ("points", "converged", "eigengap", "scaled_gap", "undefined", "concave", "residual", "iterations"):
        assert len(getattr(proj, name)) == 4, name
    assert proj.undefined.tolist() == [True, True, True, False]
    assert proj.on_ridge.tolist() == [False, False, False, True]
    assert rv.ridge_residual(thirteen, x0, t, 1).shape == (4,)


def test_suggest_ridge_dim_finds_the_plane():
    X = make_dataset(DatasetSpec("highdim", "square", n=200, noise=1.0, dim=6))
    sched = rv.get_schedule("ou")
    dens = rv.SmoothedEmpirical(X, sched)
    t = 0.5
    d, gaps = rv.suggest_ridge_dim(dens, float(sched.alpha(t)) * X, t)
    assert d == 2 and gaps.shape == (5,)
    assert gaps[1] > 10 * max(gaps[2:].max(), 1e-12)


def test_ridge_fields_shapes(thirteen):
    f = rv.ridge_fields(thirteen, 0.3, 1, n=17)
    assert f.xs.shape == (17,) and f.ys.shape == (17,)
    for name in ("log_prob", "residual", "length_residual", "scaled_gap", "undefined"):
        assert getattr(f, name).shape == (17, 17), name
    assert f.undefined.dtype == bool
    h = float(thirteen.schedule.h(0.3))
    np.testing.assert_allclose(f.length_residual, h * f.residual, rtol=1e-14)
    # [iy, ix] indexing: the value at a grid node equals a direct evaluation there
    iy, ix = 4, 11
    direct = rv.ridge_residual(thirteen, np.array([[f.xs[ix], f.ys[iy]]]), 0.3, 1)
    assert f.residual[iy, ix] == pytest.approx(float(direct[0]), rel=1e-12)


def test_trace_ridge_two_points_is_a_segment_of_the_axis(two_points):
    t = 0.5
    lines = rv.trace_ridge(two_points, t, 1)
    assert len(lines) == 1
    line = lines[0]
    assert line.shape[1] == 2 and len(line) >= 4
    assert np.abs(line[:, 1]).max() < 1e-8
    a = float(two_points.schedule.alpha(t))
    assert line[:, 0].min() < 0 < line[:, 0].max() and np.abs(line[:, 0]).max() <= 3 * a
    dx = np.diff(line[:, 0])
    assert np.all(dx > 0) or np.all(dx < 0)  # ordered along the segment


def test_chain_points_closed_circle_and_two_segments():
    ang = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    circle = np.stack([np.cos(ang), np.sin(ang)], 1)[np.random.default_rng(0).permutation(60)]
    lines = chain_points(circle, link=0.2)
    assert len(lines) == 1
    assert len(lines[0]) == 61 and np.array_equal(lines[0][0], lines[0][-1])
    steps = np.linalg.norm(np.diff(lines[0], axis=0), axis=1)
    assert steps.max() < 0.2  # consecutive vertices are neighbours on the circle
    xs = np.linspace(0, 1, 15)
    segs = np.vstack([np.stack([xs, 0 * xs], 1), np.stack([xs, 0 * xs + 3.0], 1)])
    lines = chain_points(segs, link=0.2)
    assert len(lines) == 2 and sorted(len(ln) for ln in lines) == [15, 15]
    for ln in lines:
        assert np.ptp(ln[:, 1]) == 0 and np.all(np.abs(np.diff(ln[:, 0])) < 0.2)


@pytest.mark.parametrize("kwargs, param", [
    ({"dim": 2}, "dim"), ({"dim": -1}, "dim"), ({"dim": 1.0}, "dim"), ({"dim": True}, "dim"),
    ({"dim": 1, "tol": 0.0}, "tol"), ({"dim": 1, "max_iter": 0}, "max_iter"),
])
def test_bad_arguments_raise(two_points, kwargs, param):
    with pytest.raises(ValueError, match=param):
        rv.project_to_ridge(two_points, np.zeros((2, 2)), 0.5, **kwargs)


def _plain_scms(data, x, a, h, dim, tol, max_iter):
    """Plain SCMS in float64 torch: every walker every iteration, softmax over explicit differences, centred
    einsum covariance, ``torch.linalg.eigh``; same step and stopping rule as ``project_to_ridge``."""
    x, done = x.clone(), torch.zeros(len(x), dtype=torch.bool)
    iters = torch.zeros(len(x), dtype=torch.long)
    for _ in range(max_iter):
        diff = x[:, None, :] - a * data[None]
        w = torch.softmax(-(diff * diff).sum(-1) / (2 * h), dim=-1)
        den = w @ data
        y = data[None] - den[:, None]
        H = (a * a / (h * h)) * torch.einsum("mn,mni,mnj->mij", w, y, y) - torch.eye(x.shape[1]) / h
        vecs = torch.linalg.eigh(H)[1].flip(-1)[:, :, dim:]
        g = (a * den - x) / h
        g_perp = (vecs @ (vecs.transpose(1, 2) @ g[:, :, None]))[..., 0]
        step = h * g_perp
        now = (step.norm(dim=-1) <= tol * h**0.5) | (g_perp.norm(dim=-1) <= tol * g.norm(dim=-1))
        iters += ~(done | now)
        done |= now
        x = x + torch.where(done[:, None], torch.zeros_like(step), step)
        if done.all():
            break
    return x, done, iters


@pytest.mark.parametrize("t", [0.1, 0.5])
def test_scms_end_points_equal_the_plain_loop(t):
    # the fast path (chunked, tile-centred moments, closed-form 2x2 frames, active set) ends where the plain
    # loop ends, to 1e-12, after the same number of steps
    rng = np.random.default_rng(0)
    ang = rng.uniform(0, 2 * np.pi, 400)
    data = 3.0 * np.stack([np.cos(ang), np.sin(ang)], 1) + 0.3 * rng.normal(size=(400, 2))
    sched = rv.get_schedule("ou")
    a, h = float(sched.alpha(t)), float(sched.h(t))
    x0 = torch.as_tensor(rng.uniform(-3.5, 3.5, size=(300, 2)) * a)
    proj = rv.project_to_ridge(rv.SmoothedEmpirical(data, sched), x0, t, 1)
    ref, done, iters = _plain_scms(torch.as_tensor(data), x0, a, h, 1, 1e-6, 300)
    assert proj.converged.all() and done.all()
    assert torch.equal(proj.iterations, iters)
    assert (proj.points - ref).norm(dim=-1).max() < 1e-12


def test_lapack_loop_and_batched_eigh_agree(monkeypatch):
    # with more than one torch thread the CPU float64 frames come from a LAPACK loop (robust to a busy machine)
    g = torch.Generator().manual_seed(5)
    H = torch.randn(50, 6, 6, generator=g, dtype=torch.float64)
    H = H + H.transpose(1, 2)
    vals1, vecs1 = _eigh_descending(H)  # the tests run one thread: torch's batched eigh
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    vals2, vecs2 = _eigh_descending(H)
    torch.testing.assert_close(vals2, vals1, rtol=0, atol=1e-12)
    assert torch.all(vals2[:, :-1] >= vals2[:, 1:])
    torch.testing.assert_close(vecs2 @ torch.diag_embed(vals2) @ vecs2.transpose(1, 2), H, rtol=0, atol=1e-12)
    p1, p2 = vecs1[:, :, :2] @ vecs1[:, :, :2].transpose(1, 2), vecs2[:, :, :2] @ vecs2[:, :, :2].transpose(1, 2)
    torch.testing.assert_close(p2, p1, rtol=0, atol=1e-10)  # the same leading subspace (signs aside)
