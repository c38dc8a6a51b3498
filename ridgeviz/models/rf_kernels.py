"""The random-feature readout ``out = relu(x W_x^T + c) A_s`` for many queries: the sampler's inner loop.

``x: (M, D)`` queries, ``W_x: (p, D)``, ``c: (p,)`` the time part ``W_t phi(t) + b`` of one time (or ``(U, p)``
rows picked per query by ``inv``), ``A_s: (p, D')`` the readout with ``1/sqrt(p)`` folded in. The arithmetic is
``2 M p D`` flops for the pre-activation and ``2 M p D'`` for the readout; the ``(M, p)`` activations are the
problem: written to memory and read back they make the step memory-bound (a plain evaluation measured 11% of the float64
GEMM rate for M = p = 2,000, D = 2).

Two paths, the same numbers up to the order of the sums (tested against the plain formula):

- **fused** (CPU, D = D' = 2, one time for all queries, numba installed): one compiled loop keeps the
  activations in registers. Four queries share each load of ``(w_j, c_j, a_j)``, so the loop is bound by its
  multiply-adds, not by memory: 2,000 x 2,000 in 0.77 ms on one thread, 63% of the float64 GEMM rate measured
  beside it (``benchmarks/bench_rf_experiment.py``; the unfused step took 4.8 ms, 11%). Compiled once per dtype
  (cached on disk by numba).
- **tiled** (any device, D, D', per-query times): features in the transposed layout, in tiles of
  ``TILE_FEATURES x TILE_QUERIES`` (1 MB of float64, L2-sized), each tile's product, relu and readout done before
  the next one is written: ``pre^T = [W_x, c] [x, 1]^T``, relu in place, ``out^T += A_s^T pre^T``.
"""

from __future__ import annotations

import numpy as np
import torch

TILE_FEATURES, TILE_QUERIES = 100, 1000  # 1e5 activations a tile: 0.8 MB of float64, inside a 1.25 MB L2
MIN_QUERIES_PER_THREAD = 256  # below this a thread's share is too small to pay for the hand-off
_FUSED, _POOLS = {}, {}


def _compile():
    """The fused loop for D = D' = 2, compiled by numba on first use (None when numba is not installed)."""
    try:
        from numba import njit
    except ImportError:  # pragma: no cover - numba is in requirements.txt; the tiled path still works without it
        return None

    # reassociation lets LLVM vectorise the sums over features; no nnan/ninf, so NaN and inf propagate as in torch
    @njit(fastmath={"reassoc", "contract", "nsz"}, cache=True, boundscheck=False, nogil=True)
    def fused(x, w0, w1, c, a0, a1, out):  # pragma: no cover - compiled, tested through readout_fused
        M, p = x.shape[0], c.shape[0]
        z = c[0] - c[0]  # zero of the working dtype (a literal 0.0 would promote float32 to float64)
        m = 0
        while m + 4 <= M:  # four queries at a time share each feature's five loads
            x00, x01, x10, x11 = x[m, 0], x[m, 1], x[m + 1, 0], x[m + 1, 1]
            x20, x21, x30, x31 = x[m + 2, 0], x[m + 2, 1], x[m + 3, 0], x[m + 3, 1]
            s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = z
            for j in range(p):
                u0, u1, cj, b0, b1 = w0[j], w1[j], c[j], a0[j], a1[j]
                r = u0 * x00 + u1 * x01 + cj
                r = r if r > z else z
                s00 += b0 * r
                s01 += b1 * r
                r = u0 * x10 + u1 * x11 + cj
                r = r if r > z else z
                s10 += b0 * r
                s11 += b1 * r
                r = u0 * x20 + u1 * x21 + cj
                r = r if r > z else z
                s20 += b0 * r
                s21 += b1 * r
                r = u0 * x30 + u1 * x31 + cj
                r = r if r > z else z
                s30 += b0 * r
                s31 += b1 * r
            out[m, 0], out[m, 1], out[m + 1, 0], out[m + 1, 1] = s00, s01, s10, s11
            out[m + 2, 0], out[m + 2, 1], out[m + 3, 0], out[m + 3, 1] = s20, s21, s30, s31
            m += 4
        while m < M:
            s0 = s1 = z
            for j in range(p):
                r = w0[j] * x[m, 0] + w1[j] * x[m, 1] + c[j]
                r = r if r > z else z
                s0 += a0[j] * r
                s1 += a1[j] * r
            out[m, 0], out[m, 1] = s0, s1
            m += 1

    return fused


def fused_kernel():
    """The compiled fused loop, or None when numba is missing."""
    if "kernel" not in _FUSED:
        _FUSED["kernel"] = _compile()
    return _FUSED["kernel"]


def em_update_kernel():
    """``x <- x + drift + scale z`` in place with ``s = (m - x)/h``, ``drift = -(f x - g2 s) dt``: the arithmetic of
    ``ridgeviz.core.sampling.em_step`` in the same order (compiled without fast-math, so every value rounds as
    torch's elementwise operations round it), one pass instead of eight; None without numba."""
    if "em" not in _FUSED:
        try:
            from numba import njit
        except ImportError:  # pragma: no cover
            _FUSED["em"] = None
            return None

        @njit(cache=True, boundscheck=False, nogil=True)
        def em_update(x, m, h, f, g2, dt, scale, z):  # pragma: no cover - compiled, tested through em_finals
            for i in range(x.shape[0]):
                for d in range(x.shape[1]):
                    xi = x[i, d]
                    s = (np.float64(m[i, d]) - xi) / h
                    x[i, d] = xi + (-(f * xi - g2 * s) * dt) + scale * z[i, d]

        _FUSED["em"] = em_update
    return _FUSED["em"]


class FusedWeights:
    """``W_x`` and ``A_s`` split into contiguous columns in one dtype, prepared once for many calls."""

    def __init__(self, W_x: torch.Tensor, A_s: torch.Tensor, dtype: torch.dtype):
        W, A = W_x.to(dtype).cpu(), A_s.to(dtype).cpu()
        self.dtype = dtype
        self.w = [W[:, 0].contiguous().numpy(), W[:, 1].contiguous().numpy()]
        self.a = [A[:, 0].contiguous().numpy(), A[:, 1].contiguous().numpy()]


def can_fuse(x: torch.Tensor, W_x: torch.Tensor, A_s: torch.Tensor, inv) -> bool:
    """Whether the fused loop applies: CPU tensors, D = D' = 2, one time for all queries, numba present."""
    return (inv is None and x.device.type == "cpu" and W_x.shape[1] == 2 and A_s.shape[1] == 2
            and fused_kernel() is not None)


def readout_fused(x: torch.Tensor, c: torch.Tensor, weights: FusedWeights, out: torch.Tensor | None = None):
    """``relu(x W_x^T + c) A_s`` by the fused loop: ``x: (M, 2)``, ``c: (p,)``; returns ``(M, 2)`` in the weights'
    dtype (written into ``out`` when given, which must be a contiguous CPU tensor of that dtype)."""
    out = torch.empty(x.shape[0], 2, dtype=weights.dtype) if out is None else out
    fused_into(x.to(weights.dtype).contiguous().numpy(), c.to(weights.dtype).contiguous().numpy(), weights,
               out.numpy())
    return out


def fused_into(xs: np.ndarray, cs: np.ndarray, weights: FusedWeights, out: np.ndarray,
               threads: int | None = None) -> None:
    """The fused loop on NumPy arrays in the weights' dtype: ``out (M, 2) = relu(xs W_x^T + cs) A_s``.

    The queries are split among ``threads`` threads (default torch's thread count, ``RIDGEVIZ_THREADS`` at the
    edges; the loop releases the GIL); each query's sum is the same whatever the split.
    """
    kernel = fused_kernel()
    threads = torch.get_num_threads() if threads is None else threads
    threads = min(threads, max(1, len(xs) // MIN_QUERIES_PER_THREAD))
    if threads <= 1:
        kernel(xs, weights.w[0], weights.w[1], cs, weights.a[0], weights.a[1], out)
        return
    edges = [4 * round(i * len(xs) / (4 * threads)) for i in range(threads)] + [len(xs)]
    jobs = [_pool(threads).submit(kernel, xs[a:b], weights.w[0], weights.w[1], cs, weights.a[0], weights.a[1],
                                  out[a:b]) for a, b in zip(edges, edges[1:]) if b > a]
    for job in jobs:
        job.result()


def _pool(threads: int):
    """One thread pool per thread count, kept for the process (the fused loop runs without the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="rf-readout")
    return _POOLS[threads]


def readout_tiled(x: torch.Tensor, W_x: torch.Tensor, c: torch.Tensor, A_s: torch.Tensor, inv=None) -> torch.Tensor:
    """``relu(x W_x^T + c[inv]) A_s`` in L2-sized tiles of the transposed activations: ``(M, D')``.

    ``c: (p,)`` for one time, or ``(U, p)`` with ``inv: (M,)`` naming each query's row. Works in the dtype and on
    the device of ``x``.
    """
    M, p = x.shape[0], W_x.shape[0]
    outT = x.new_zeros(A_s.shape[1], M)
    AT = A_s.T.contiguous()  # (D', p)
    if inv is None:  # one time: [W_x, c] [x, 1]^T, the bias inside the product (no extra pass)
        W, xT = torch.cat([W_x, c.reshape(p, 1)], 1), torch.cat([x, x.new_ones(M, 1)], 1).T.contiguous()
    else:
        W, xT, cT = W_x, x.T.contiguous(), c.T.contiguous()  # cT: (p, U)
    buf = x.new_empty(min(TILE_FEATURES, p), min(TILE_QUERIES, M))
    for i in range(0, M, TILE_QUERIES):
        cols = slice(i, min(i + TILE_QUERIES, M))
        bias = None if inv is None else cT[:, inv[cols]]  # (p, n): each query's own time row
        for j in range(0, p, TILE_FEATURES):
            rows = slice(j, min(j + TILE_FEATURES, p))
            pre = buf[:rows.stop - j, :cols.stop - i]
            if bias is None:
                torch.mm(W[rows], xT[:, cols], out=pre)
            else:
                torch.addmm(bias[rows], W[rows], xT[:, cols], out=pre)
            outT[:, cols].addmm_(AT[:, rows], pre.relu_())
    return outT.T
