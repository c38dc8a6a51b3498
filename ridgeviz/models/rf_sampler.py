"""Reverse Euler-Maruyama for several random-feature readouts on the same features, keeping final samples only.

The authors' 2-D experiment samples one model per training time tau; the models share their frozen features and
differ only in the readout ``A(tau)``. :func:`em_finals` steps them in lockstep: the time part
``W_t phi(t) + b`` is computed once per step for all of them, each readout runs the fused loop of
:mod:`ridgeviz.models.rf_kernels` on its own particles, and only the positions are kept (``ridgeviz.sample`` keeps
the whole trajectory with drifts and scores: 190 MB for 2,000 particles x 2,000 steps).

Same numbers as ``ridgeviz.sample(model, x_T, times, "em", generator=g)`` run once per model with ``g`` seeded
alike (the prior draw and then one ``(M, D)`` normal draw per step from each model's own generator, the same
arithmetic per step): the final samples agree to rounding, which the sums' order changes (tested).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..core.sampling import prior_sample
from ..utils.validation import Array, Integer, check
from .random_features import PRECISIONS
from .rf_kernels import can_fuse, em_update_kernel, fused_into, readout_tiled

ROW_BLOCK = 256  # steps whose time part is computed in one product (256 x p floats)


class _Walker:
    """One model's particles: a float64 tensor ``x`` and, on the fused path, NumPy views and buffers."""

    def __init__(self, model, x0: torch.Tensor, generator):
        self.model, self.x, self.generator = model, x0.clone(), generator
        self.weights = model.fused_weights()
        self.fused = (self.weights is not None and can_fuse(self.x, model.rf.W_x, model.A.T, None)
                      and em_update_kernel() is not None)
        if self.fused:
            self.x_np = self.x.numpy()  # shares memory with self.x
            self.out = np.empty(self.x_np.shape, dtype=self.weights.w[0].dtype)
            self.x_in = self.x_np if self.out.dtype == np.float64 else np.empty_like(self.out)

    def step(self, c: torch.Tensor, c_np: dict, h: float, f: float, g2: float, dt: float, scale: float,
             threads: int | None = None) -> None:
        """One Euler-Maruyama step at the time whose time part is ``c`` (``c_np``: the same row per dtype);
        ``threads``: how many threads the readout may split its particles among (default torch's count)."""
        if self.fused:
            if self.x_in is not self.x_np:
                np.copyto(self.x_in, self.x_np, casting="same_kind")
            fused_into(self.x_in, c_np[self.out.dtype], self.weights, self.out, threads)
            z = torch.randn(self.x.shape, generator=self.generator, dtype=torch.float64).numpy()
            em_update_kernel()(self.x_np, self.out, h, f, g2, dt, scale, z)
            return
        rf, dtype = self.model.rf, PRECISIONS[self.model.precision]
        As = (self.model.A / math.sqrt(rf.p)).T
        mean = readout_tiled(self.x.to(dtype), rf.W_x.to(dtype), c.to(dtype), As.to(dtype)).to(torch.float64)
        s = (mean - self.x) / h
        drift = -(f * self.x - g2 * s) * dt
        z = torch.randn(self.x.shape, generator=self.generator, dtype=torch.float64).to(self.x.device)
        self.x = self.x + drift + scale * z


def _advance(walkers: list, rf, sched, times: np.ndarray, threads: int | None) -> None:
    """Step ``walkers`` (sharing ``rf``) over ``times``: the time part once per step for all of them."""
    dtypes = {w.out.dtype for w in walkers if w.fused}
    starts = torch.as_tensor(times[:-1])  # the schedule's coefficients at every step, computed once
    hs, fs, g2s = (v.tolist() for v in (sched.h(starts), sched.f(starts), sched.g2(starts)))
    rows = None
    for i, (t, t_next) in enumerate(zip(times[:-1].tolist(), times[1:].tolist())):
        if i % ROW_BLOCK == 0:  # the time part of the next steps in one product
            ts = torch.as_tensor(times[i:min(i + ROW_BLOCK, len(times) - 1)], device=rf.device)
            rows = torch.addmm(rf.b, rf.time_embedding(ts), rf.W_t.T)
        c = rows[i % ROW_BLOCK]
        c_np = {d: c.cpu().numpy().astype(d, copy=False) for d in dtypes}
        dt = t - t_next
        for walker in walkers:
            walker.step(c, c_np, hs[i], fs[i], g2s[i], dt, float(np.sqrt(g2s[i] * dt)), threads)


def em_finals(models: dict, x_T, times, generators: dict) -> dict:
    """Final samples of the reverse SDE (Euler-Maruyama) for every model of ``models``: ``{key: (M, D)}``.

    ``models``: ``{key: RandomFeatureScore}`` sharing one :class:`~ridgeviz.models.rf_features.RandomFeatureModel`
    and one schedule; ``x_T: (M, D)`` the common start; ``times: (K+1,)`` decreasing; ``generators[key]`` the
    generator of that model's noise (one ``(M, D)`` draw per step, as ``ridgeviz.sample`` draws it).
    """
    if not models:
        raise ValueError("models: give at least one random-feature model")
    first = next(iter(models.values()))
    rf, sched = first.rf, first.schedule
    if any(m.rf is not rf or m.schedule != sched for m in models.values()):
        raise ValueError("models: every model must share one RandomFeatureModel and one schedule")
    if set(generators) != set(models):
        raise ValueError("generators: give one generator per model key")
    x0 = torch.as_tensor(check("x_T", x_T, Array((None, rf.D), at_least=(1, rf.D)))).to(torch.float64)
    times = np.asarray(check("times", times, Array((None,), at_least=(2,))), dtype=np.float64)
    if not np.all(np.diff(times) < 0):
        raise ValueError("times must be strictly decreasing (from T down to t_min)")
    walkers = {k: _Walker(m, x0.to(rf.device).contiguous(), generators[k]) for k, m in models.items()}
    threads = min(torch.get_num_threads(), len(walkers))
    if threads > 1 and all(w.fused for w in walkers.values()):
        # whole models to threads (the compiled loops and torch's draws release the GIL): no step-by-step hand-off
        group = list(walkers.values())
        with ThreadPoolExecutor(threads, thread_name_prefix="rf-em") as pool:
            for job in [pool.submit(_advance, group[j::threads], rf, sched, times, 1) for j in range(threads)]:
                job.result()
    else:
        _advance(list(walkers.values()), rf, sched, times, None)
    for k, w in walkers.items():
        if not torch.isfinite(w.x).all():
            raise ValueError(f"models: the model {k!r} gave non-finite samples")
    return {k: w.x for k, w in walkers.items()}


def em_finals_seeded(models: dict, samples: int, steps: int, seed: int) -> dict:
    """:func:`em_finals` from the seeded prior draw, as ``experiments.common.reverse_run`` runs each model: one
    generator per model seeded with ``seed`` draws ``x_T`` (the same for all) and then that model's noise."""
    samples, steps = check("samples", samples, Integer(1, 10**7)), check("steps", steps, Integer(1, 10**6))
    first = next(iter(models.values()))
    gens = {k: torch.Generator().manual_seed(seed) for k in models}
    x_T = None
    for g in gens.values():
        x_T = prior_sample(first.schedule, samples, first.rf.D, g)
    return em_finals(models, x_T, first.schedule.time_grid(steps), gens)
