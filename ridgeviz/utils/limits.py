"""The work budget: estimate a request's memory and arithmetic before allocating, and refuse what is too big.

A :class:`Cost` is peak bytes plus floating-point operations. The estimators below price the requests whose size
a user controls (queries x points x D for the density, grid^2 seeds for ridge tracing, steps x particles for a
sampler, hidden x depth for a network, the array an ``.npy`` header or ``.npz`` member declares, the elements
of an upload); :func:`require` compares a cost with the :class:`Limits` in force and raises a
:class:`BudgetError` (a ``ValueError``) saying what the request needs and what to reduce.

The defaults fit a 2-core, 24 GB machine shared by a few users: 4 GB and about 10 minutes of arithmetic per
request, 20 million elements (160 MB as float64) per array read from a file. Raise them on purpose with the
environment variables ``RIDGEVIZ_MAX_MEMORY_GB``, ``RIDGEVIZ_MAX_MINUTES`` and ``RIDGEVIZ_MAX_ELEMENTS`` (the
command line's ``--max-memory-gb`` / ``--max-minutes`` set the first two). Time is estimated at
:data:`FLOPS_PER_SECOND`, a conservative rate measured for float64 work on one core of the reference machine
(batched 64x64 eigendecompositions: 1-2.5 GFLOP/s with the usual ``10 D^3`` count; matrix products are faster),
so estimates err on the long side.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from .validation import Integer, Real, check

FLOPS_PER_SECOND = 1e9
ENV_MEMORY, ENV_MINUTES, ENV_ELEMENTS = "RIDGEVIZ_MAX_MEMORY_GB", "RIDGEVIZ_MAX_MINUTES", "RIDGEVIZ_MAX_ELEMENTS"
DEFAULT_MEMORY_GB, DEFAULT_MINUTES, DEFAULT_ELEMENTS = 4.0, 10.0, 20_000_000
FRAME_CHUNK_BYTES = 256 * 2**20  # ridge frames are computed in chunks of points holding at most this much
# live temporaries of the density's tiles (each at most 2**21 float64): peaks measured by
# benchmarks/bench_estimates.py at N = 200-2,000 were 70-150 MB, about eight tiles beside the outputs
TILE_BUFFERS = 8
FRAME_BUFFERS = 4  # live (n, D, D) float64 buffers of a frame: Hessian, LAPACK's copy, eigenvectors, flipped copy


class BudgetError(ValueError):
    """A request that would need more memory, time or elements than the limits in force allow."""


@dataclass(frozen=True)
class Limits:
    """What one request may use: ``memory_gb`` of memory, ``minutes`` of estimated arithmetic, ``elements`` per
    array read from a file or upload."""

    memory_gb: float = DEFAULT_MEMORY_GB
    minutes: float = DEFAULT_MINUTES
    elements: int = DEFAULT_ELEMENTS

    @property
    def bytes(self) -> float:
        return self.memory_gb * 1e9

    @property
    def flops(self) -> float:
        return self.minutes * 60 * FLOPS_PER_SECOND


def limits() -> Limits:
    """The limits in force: the defaults, or the environment variables that raise (or lower) them."""
    out = {}
    for env, key, constraint in ((ENV_MEMORY, "memory_gb", Real(0, 1e6, lo_open=True)),
                                 (ENV_MINUTES, "minutes", Real(0, 1e7, lo_open=True)),
                                 (ENV_ELEMENTS, "elements", Integer(1, 10**13))):
        raw = os.environ.get(env)
        if raw is None or raw.strip() == "":
            continue
        try:
            value = float(raw) if key != "elements" else int(float(raw))
        except ValueError:
            value = raw
        out[key] = check(env, value, constraint)
    return Limits(**out)


@dataclass(frozen=True)
class Cost:
    """Peak ``bytes`` and floating-point operations (``flops``) of a request.

    ``a + b`` is ``a`` then ``b``: the larger peak, the summed work; ``a * n`` is ``a`` repeated ``n`` times.
    """

    bytes: float = 0.0
    flops: float = 0.0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(max(self.bytes, other.bytes), self.flops + other.flops)

    def __mul__(self, n: float) -> "Cost":  # n repetitions: same peak memory, n times the work
        return Cost(self.bytes, self.flops * n)

    @property
    def seconds(self) -> float:
        return self.flops / FLOPS_PER_SECOND

    def describe(self) -> str:
        return f"about {format_bytes(self.bytes)} of memory and {format_seconds(self.seconds)} of computing"


def format_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def format_seconds(s: float) -> str:
    if s >= 86400:
        return f"{s / 86400:.3g} days"
    if s >= 3600:
        return f"{s / 3600:.3g} hours"
    if s >= 60:
        return f"{s / 60:.3g} minutes"
    return f"{max(s, 0.0):.2g} s"


def require(cost: Cost, what: str, reduce: str, lim: Limits | None = None, *, time: bool = True) -> Cost:
    """Return ``cost`` if it fits the limits, else raise :class:`BudgetError` naming ``what`` and ``reduce``.

    ``time=False`` checks memory only: the library's own entry points do that before allocating, and leave the
    time limit to the edges (command line, app), which price a whole request.
    """
    lim = lim or limits()
    if cost.bytes > lim.bytes:
        raise BudgetError(f"{what} would need about {format_bytes(cost.bytes)} of memory; the limit is "
                          f"{format_bytes(lim.bytes)} ({ENV_MEMORY}). Reduce {reduce}.")
    if time and cost.flops > lim.flops:
        raise BudgetError(f"{what} would take about {format_seconds(cost.seconds)} of computing; the limit is "
                          f"{format_seconds(lim.flops / FLOPS_PER_SECOND)} ({ENV_MINUTES}). Reduce {reduce}.")
    return cost


def require_elements(n: float, what: str, reduce: str, itemsize: int = 8, lim: Limits | None = None) -> None:
    """Refuse an array of ``n`` elements (e.g. declared by a file header) above the element or memory limit."""
    lim = lim or limits()
    if n > lim.elements:
        raise BudgetError(f"{what} holds {n:.4g} values; the limit is {lim.elements:,} ({ENV_ELEMENTS}). "
                          f"Reduce {reduce}.")
    require(Cost(n * max(itemsize, 8)), what, reduce, lim)


# -- estimators ---------------------------------------------------------------------------------------------
def density_cost(M: int, N: int, D: int, *, hessian: bool = False, weights: bool = False) -> Cost:
    """One pass of the smoothed empirical density at ``M`` queries (chunked temporaries, full-size outputs).

    Operations: the softmax (``exp`` and ``logsumexp``: about 20 per query-point pair), distances and the
    denoiser (``4 M N D``), and for the Hessian the centred products (``6 M N D``) and the covariance by batched
    matrix products (``2 M N D^2``, counted at 1/8: they run about 8x faster than the elementwise work; measured
    here at N = 6,742, D = 32: 0.99 s for 500 queries, estimated 1.6 s).
    """
    out = M * (2 * D + 1) + (M * D * D if hessian else 0) + (M * N if weights else 0)
    flops = 20.0 * M * N + 4.0 * M * N * D + ((6.0 * M * N * D + 0.25 * M * N * D * D) if hessian else 0)
    tiles = TILE_BUFFERS * 8.0 * min(M * N * max(D, 2), 2**21)  # temporaries of at most 2**21 elements each
    return Cost(8.0 * out + tiles + 16e6, flops)


def frame_points(D: int) -> int:
    """Points per chunk of ridge-frame work so its ``(n, D, D)`` buffers stay within :data:`FRAME_CHUNK_BYTES`."""
    return max(1, FRAME_CHUNK_BYTES // (FRAME_BUFFERS * 8 * D * D))


def frame_cost(M: int, N: int, D: int) -> Cost:
    """Hessian and eigendecomposition (the ridge frame) at ``M`` points, all held at once.

    The batched symmetric eigensolver is counted at ``10 D^3`` per point and the bookkeeping of one SCMS step at
    5,000 operations per point (measured here at load 5, the machine's noise spanning 7x: a whole frame took
    0.036 ms per point at D = 10, 0.5-3.4 ms at D = 64, 0.24 s at D = 256; 2-D SCMS 6.8 us per point and step).
    """
    d = density_cost(M, N, D, hessian=True)
    return Cost(d.bytes + FRAME_BUFFERS * 8.0 * M * D * D, d.flops + M * (10.0 * D**3 + 5000.0))


def ridge_cost(M: int, N: int, D: int, iterations: int = 50) -> Cost:
    """SCMS projection of ``M`` points, chunked by :func:`frame_points` (``iterations``: expected, not the cap)."""
    chunk = frame_cost(min(M, frame_points(D)), N, D)
    per_point = frame_cost(1, N, D).flops
    return Cost(chunk.bytes + 8.0 * 12 * M * D, per_point * M * max(1, iterations))


def sampling_cost(steps: int, particles: int, D: int, N: int, *, frame: bool = False) -> Cost:
    """A reverse run keeping every step (positions, drifts, scores), with the exact score or (``frame``) a model
    that needs the ridge frame at every step (the injected-error model)."""
    per_step = frame_cost(particles, N, D) if frame else density_cost(particles, N, D)
    store = 3 * 8.0 * (steps + 1) * particles * D
    return Cost(store + per_step.bytes, per_step.flops * steps)


def mlp_parameters(D: int, hidden: int, depth: int, time_features: int) -> int:
    """Weights and biases of the MLP score network ``(D + tf) -> hidden x depth -> D``."""
    return (D + time_features + 1) * hidden + (depth - 1) * (hidden + 1) * hidden + (hidden + 1) * D


def mlp_cost(D: int, hidden: int, depth: int, time_features: int, *, steps: int = 0, batch: int = 0) -> Cost:
    """Memory of the network (float32 weights, gradients and Adam's two moments) and of ``steps`` training steps
    on batches of ``batch`` (forward and backward: about 6 flops per weight and example, counted at 1/20: float32
    matrix products run about 20x faster than the reference rate; measured here: the default 4,000 steps of a
    128 x 4 network on batches of 256 in 5-10 s, estimated 16 s)."""
    p = mlp_parameters(D, hidden, depth, time_features)
    acts = 4.0 * batch * hidden * depth * 3
    return Cost(4.0 * 4 * p + acts, 0.3 * p * batch * steps)


def exceeds(cost: Cost, lim: Limits | None = None) -> bool:
    """True when ``cost`` is above the limits in force (:func:`require` would refuse it)."""
    lim = lim or limits()
    return cost.bytes > lim.bytes or cost.flops > lim.flops or not math.isfinite(cost.flops)
