"""Posterior moments of the smoothed empirical density as matrix products: the kernels behind
:meth:`ridgeviz.SmoothedEmpirical.evaluate`.

For queries ``x`` at time ``t`` the posterior over training points is ``w_i = softmax_i(L_i)``,
``L_i = -|x - alpha x_i|^2 / (2h)``; the density needs its normaliser ``S = sum_i e^{L_i}``, mean ``mu`` and
covariance ``Cov_w``. Data are centred at their mean ``c`` (``X_i = x_i - c``), queries at ``alpha c``
(``y = x - alpha c``).

1. **Logits.** ``L_i = q . k_i`` with ``q = [alpha y/h, -alpha^2/2h, -|y|^2/2h]`` and ``k_i = [X_i, |X_i|^2, 1]``:
   one product per tile of queries and points. They are the true logits (``<= 0`` up to rounding), so tiles of
   data add up without a running maximum. ``exp`` is taken in place, floored at ``e^-600`` when a logit can fall
   that low (exp and products of subnormal numbers ran ~100x slower here).
2. **Moments.** One product of the weights with the basis ``[1 | X | Z]`` (``Z_i`` the upper triangle of
   ``X_i X_i^T``, ``D(D+1)/2`` columns) gives ``S``, ``S mu`` and ``S E_w[X X^T]``; ``Cov_w = E_w[X X^T] -
   mu mu^T``. That is ``2 N (1 + D + D(D+1)/2)`` flops per query, about half the ``2 N D^2`` of the dense
   centred product ``sum_i w_i (X_i - mu)(X_i - mu)^T``, and a large well-shaped GEMM.
3. **Accuracy of the moments.** The subtraction in ``Cov_w = E_w[X X^T] - mu mu^T`` turns the rounding of the sums
   (relative to ``E_w|X|^2``) into an error of ``Cov_w``, i.e. ``(alpha^2/h) E_w|X|^2`` times it relative to the
   Hessian's ``1/h`` scale. For ``D <= SMALL_D`` the points are put in k-d tree order and the moments taken per tile
   of ``TILE_POINTS`` neighbouring points about the tile's own centre, then combined about the mean with the
   parallel-axis rule (Chan et al.'s pairwise update, all terms positive), so the loss scales with
   ``E_w|X_i - c_tile|^2``, the tiles' size rather than the data's. :meth:`PosteriorMoments.moment_gamma` bounds
   the moment form's rounding *beyond* the dense centred product's by ``gamma eps (alpha^2/h) E_w|X - c|^2``
   (``eps = 2u`` the machine epsilon, ``c`` the tile centre, or the data mean for larger D). Derivation: a sum of
   ``n`` terms computed in any order (any BLAS, any CPU) is off by at most ``gamma_n sum |terms|``, ``gamma_n = n u
   / (1 - n u)`` (Higham, *Accuracy and Stability of Numerical Algorithms*, 2002, section 3.1), and
   ``|U_j U_k| <= |U|^2``.
   - *Tiles* (``D <= SMALL_D``): each second-moment entry passes through a chain of ``n = TILE_POINTS`` (the tile
     product) ``+ T`` (the tiles of a data tile summed) ``+ 3 B`` (the merges of ``B`` data tiles) ``+ 4`` (the
     parallel-axis terms and the symmetrisation) roundings; the within-tile sums and the cross terms
     ``m1 e^T`` give at most ``2 gamma_n (E_w|U| + |e|)^2 <= 2 gamma_n (E_w|U|^2 + E_w|e|^2)`` after
     Cauchy-Schwarz. The ``|e|^2`` part (tile centres about the mean) is at most ``trace Cov_w``: an error relative
     to the covariance itself, which the dense centred product shares (its own bound is ``gamma_N trace Cov_w``).
     So ``gamma = n`` (in units of ``eps``), the worst case, which holds on every CPU; n = 78 for 400 points.
   - *Wide* (``D > SMALL_D``): ``E_w[X X^T]``, ``mu`` and ``S`` each accumulate over ``n = n_tile + B + 2``
     terms (``n_tile`` up to :data:`DATA_TILE`), and their errors enter ``Cov_w`` with weights 1, 2 and 1, so the
     worst case is ``4 gamma_n E_w|X|^2`` -- about ``8,000 eps`` at n = 4,100, which would send nearly every query
     to the dense product. Here the bound is the probabilistic one of Higham and Mary (SIAM J. Sci. Comput. 41,
     2019, Theorem 3.1): with rounding errors independent and of mean zero, ``gamma_n`` may be replaced by
     ``lambda sqrt(n) u`` with probability at least ``1 - 2 n exp(-lambda^2 / 2)``; ``lambda`` is chosen for a
     probability ``1 - 1e-10`` per sum (``lambda`` about 8), so ``gamma = 2 lambda sqrt(n)``; 1,020 at n = 4,100.
   ``tests/test_posterior.py`` checks ``|dCov_w| <= gamma eps (E_w|X - c|^2 + trace Cov_w)`` against the 80-bit
   covariance of the very weights summed: the error reached 0.04-0.06 of it (tiles) and 0.004-0.02 (wide) here,
   also under MKL's AVX2 and generic code paths. (A constant measured on one CPU, 32 eps, was exceeded by an AMD
   EPYC.) A query whose bound exceeds the tolerance (:data:`RTOL_SMALL_D` / :data:`RTOL_WIDE`) takes the dense
   centred product instead (with the exact log-sum-exp), as does one whose normaliser under- or overflows.
4. **Skipping light points.** A point whose weight is at most ``tau = 0.1 eps h / (alpha^2 N R^2)`` for every
   query of a tile (``R^2 = 4 max |X_i|^2`` bounds ``|X_i - mu|^2``) is skipped: together such points move the
   Hessian by less than ``0.1 eps / h``. At small ``t`` the posterior sits on a handful of points, so the dense
   centred product is cheap where it is needed.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Tolerances on the bound of the moment form's rounding loss, relative to 1/h (step 3). RTOL_WIDE = 1e-10 keeps
# the Hessian 10x inside the 1e-9 of the 80-bit tests; small D is held to 1e-13 because SCMS end points amplify
# Hessian errors (2-D ring, t = 0.02: a 1e-12 loss moved them by 3e-8) and there the centred fallback is cheap
# (few points, or a sparse posterior). PROBABILITY_MISS: the chance per sum that the wide path's probabilistic
# bound does not hold (step 3).
RTOL_SMALL_D, RTOL_WIDE = 1e-13, 1e-10
PROBABILITY_MISS = 1e-10
DIRECT_MAX_N = 64  # up to this many points every query takes the dense centred product (fewest operations)
SMALL_D = 4  # up to here: one fused product per tile, tile-centred moments
TILE_POINTS = 64  # points per k-d tile (small D)
MOMENT_MAX_D = 64  # beyond this the (N, D(D+1)/2) basis costs more memory than the dense product saves
DATA_TILE, MIN_DATA_TILE = 4096, 1024  # training points per product
# Below SPARSE_SHARE of heavy (query, point) pairs, covariances come from the heavy points alone (step 4); the first
# data tile's count against its own maximum (an overestimate, 1.5-6x on MNIST-like latents) decides whether to try.
SPARSE_SHARE, SPARSE_GUESS = 1 / 16, 1 / 32
BASIS_CACHE_BYTES = 2**26  # the moment basis of all the data is kept when it fits (N = 7,900 at D = 32)
# float64: weights are floored at e^-600 (it and its products with the basis stay normal numbers), and a query whose
# log-normaliser is below -500 (or above log 2N) is redone with the exact max shift; other dtypes scale both with
# log(smallest normal number), and use the tolerance 1e3 eps (float32: 1.2e-4)
EXP_FLOOR, LOG_S_MIN = -600.0, -500.0


def kd_order(X: np.ndarray, leaf: int) -> np.ndarray:
    """Permutation of the rows of ``X: (N, D)`` into k-d tree order: every run of ``leaf`` points from a multiple
    of ``leaf`` is one leaf (the last may be short), split at medians of the widest coordinate."""
    order = np.arange(len(X))
    stack = [(0, len(X))]
    while stack:
        lo, hi = stack.pop()
        n = hi - lo
        if n <= leaf:
            continue
        idx = order[lo:hi]
        P = X[idx]
        axis = int(np.argmax(P.max(0) - P.min(0)))
        half = leaf * (-(-n // leaf) // 2)  # a whole number of leaves on the left
        order[lo:hi] = idx[np.argpartition(P[:, axis], half - 1)]
        stack += [(lo, lo + half), (lo + half, hi)]
    return order


class PosteriorMoments:
    """Precomputed layouts of the centred data ``X: (N, D)`` and the products of the module docstring."""

    def __init__(self, X: torch.Tensor, chunk_elements: int):
        N, D = X.shape
        self.N, self.D, self.chunk_elements = N, D, chunk_elements
        self.X = X
        sq = (X * X).sum(-1)
        self.keys = torch.cat([X, sq[:, None], torch.ones_like(sq)[:, None]], 1)  # (N, D+2)
        self.max_sq = float(sq.max())
        iu = torch.triu_indices(D, D, device=X.device)
        pos = torch.empty(D, D, dtype=torch.long, device=X.device)
        pos[iu[0], iu[1]] = torch.arange(iu.shape[1], device=X.device)
        pos[iu[1], iu[0]] = pos[iu[0], iu[1]]
        self.pairs, self.full, self.diag = iu, pos.flatten(), pos.diagonal()
        info = torch.finfo(X.dtype)
        self.eps = info.eps
        ratio = math.log(info.tiny) / math.log(torch.finfo(torch.float64).tiny)
        self.floor, self.log_s_min = EXP_FLOOR * ratio, LOG_S_MIN * ratio
        self.rtol = None if X.dtype == torch.float64 else 1e3 * info.eps
        self._cache: dict = {}
        self.tiles = self._kd_tiles() if D <= SMALL_D else None

    # -- helpers ---------------------------------------------------------------------------------------------
    def query_rows(self, y, a, h) -> torch.Tensor:
        """``q = [alpha y/h, -alpha^2/2h, -|y|^2/2h]``, so that ``q . k_i = L_i``: ``(m, D+2)``."""
        return torch.cat([y * (a / h)[:, None], (-0.5 * a * a / h)[:, None], (-0.5 / h * (y * y).sum(-1))[:, None]],
                         1)

    def tau(self, a, h) -> torch.Tensor:
        """Weight at or below which a point is skipped (step 4): ``(m,)``."""
        return 0.1 * self.eps * h / (a * a * self.N * 4 * max(self.max_sq, 1e-300))

    def upper(self, v: torch.Tensor) -> torch.Tensor:
        """Upper triangle of ``v v^T`` for ``v: (..., D)``: ``(..., D(D+1)/2)``."""
        return v[..., self.pairs[0]] * v[..., self.pairs[1]]

    def moment_gamma(self, n_tile: int) -> float:
        """``gamma`` of step 3's bound ``gamma eps (alpha^2/h) E_w|X - c|^2`` on the moment form's extra rounding
        when data tiles hold ``n_tile`` points (rows of the k-d tile layout for small D)."""
        if self.tiles is not None:  # the worst case: 2 gamma_n = n eps
            rows = self.tiles[0].shape[0]
            return float(TILE_POINTS + n_tile // TILE_POINTS + 3 * math.ceil(rows / n_tile) + 4)
        n = n_tile + math.ceil(self.N / n_tile) + 2
        lam = math.sqrt(2 * math.log(2 * n / PROBABILITY_MISS))  # Higham & Mary: P >= 1 - 2n exp(-lambda^2/2)
        return 2 * lam * math.sqrt(n)  # 4 lambda sqrt(n) u

    def needs_floor(self, y, a, h) -> bool:
        """Whether some logit of these queries may fall below the exp floor: ``-L <= (|y| + alpha max|X|)^2/2h``."""
        reach = (y.norm(dim=-1) + a * math.sqrt(self.max_sq)) ** 2 / (2 * h)
        return bool(reach.max() > -self.floor * 0.99) if len(y) else False

    def _kd_tiles(self):
        """Small D: points in k-d order padded to whole tiles; keys, tile-centred basis ``[1 | U | vec(U U^T)]``
        ``(T, TILE_POINTS, 1 + D + D^2)`` with ``U = X - c_tile`` (padding rows all zero, so they add nothing)
        and the tile centres ``(T, D)``. The full ``D x D`` products (not the triangle) need no gathers."""
        order = torch.as_tensor(kd_order(self.X.cpu().numpy(), TILE_POINTS), device=self.X.device)
        T = -(-self.N // TILE_POINTS)
        pad = T * TILE_POINTS - self.N
        keys = torch.cat([self.keys[order], self.keys.new_zeros(pad, self.D + 2)])
        keys[self.N:, -1] = 1.0  # padding: a finite logit, weight times a zero basis row
        ones = torch.cat([self.X.new_ones(self.N), self.X.new_zeros(pad)]).view(T, TILE_POINTS, 1)
        Xp = torch.cat([self.X[order], self.X.new_zeros(pad, self.D)]).view(T, TILE_POINTS, self.D)
        centres = Xp.sum(1) / ones.sum(1)
        U = (Xp - centres[:, None, :]) * ones
        outer = (U[..., :, None] * U[..., None, :]).flatten(-2)
        return keys, torch.cat([ones, U, outer], 2), centres

    def upper_rows(self, X: torch.Tensor) -> torch.Tensor:
        """Rows ``Z_i`` = upper triangle of ``X_i X_i^T`` for ``X: (n, D)``: ``(n, D(D+1)/2)``, built by slices (a
        gather was 3x slower)."""
        D = self.D
        Z = X.new_empty(len(X), D * (D + 1) // 2)
        start = 0
        for k in range(D):
            torch.mul(X[:, k:k + 1], X[:, k:], out=Z[:, start:start + D - k])
            start += D - k
        return Z

    def basis(self, lo: int, hi: int, kind: str) -> torch.Tensor:
        """``[1 | X]^T`` ("first", ``(1 + D, n)``) or ``Z`` ("second", ``(n, D(D+1)/2)``) of points ``lo:hi``;
        the whole data set's is kept between calls while it fits ``BASIS_CACHE_BYTES``."""
        B = self._cache.get(kind)
        if B is None:
            full = (2 + self.D) * self.D // 2 * self.N * self.X.element_size() <= BASIS_CACHE_BYTES
            X = self.X if full or kind == "first" else self.X[lo:hi]
            B = torch.cat([X.new_ones(1, len(X)), X.T]).contiguous() if kind == "first" else self.upper_rows(X)
            if not (full or kind == "first"):
                return B
            self._cache[kind] = B
        return B[:, lo:hi] if kind == "first" else B[lo:hi]

    # -- the moment path (steps 1-4) ------------------------------------------------------------------------
    def moments(self, y, a, h, hessian: bool, log_s, mean, cov) -> tuple[torch.Tensor, torch.Tensor]:
        """Fill ``log S``, ``mu`` and (if ``hessian``) ``Cov_w`` of every query ``y: (M, D)`` by the moment
        form; return the rows that need the exact log-sum-exp and those whose covariance needs the dense
        centred product (``(M,)`` bool each). ``mu`` does not depend on ``hessian`` (the score is bitwise the
        same whichever quantities are asked for)."""
        M = y.shape[0]
        if self.tiles is not None:
            n_tile = max(TILE_POINTS, min(DATA_TILE, self.chunk_elements) // TILE_POINTS * TILE_POINTS)
            n_tile = min(n_tile, self.tiles[0].shape[0])
        else:  # narrower data tiles rather than several query chunks: the basis is then built once per call
            n_tile = min(self.N, DATA_TILE, self.chunk_elements, max(MIN_DATA_TILE, self.chunk_elements // max(M, 1)))
        m_tile = max(1, self.chunk_elements // n_tile)
        bad_s = torch.zeros(M, dtype=torch.bool, device=y.device)
        bad_cov = torch.zeros(M, dtype=torch.bool, device=y.device)
        rtol = self.rtol or (RTOL_SMALL_D if self.tiles is not None else RTOL_WIDE)
        gamma = self.moment_gamma(n_tile)
        for i in range(0, M, m_tile):
            sl = slice(i, i + m_tile)
            q = self.query_rows(y[sl], a[sl], h[sl])
            floor = self.needs_floor(y[sl], a[sl], h[sl])
            if self.tiles is not None:
                s, mu, second, spread = self._tile_sums(q, n_tile, floor)
            else:
                s, mu, second, spread = self._wide_sums(y[sl], a[sl], h[sl], q, n_tile, hessian, floor)
            log_s[sl] = torch.log(s)
            mean[sl] = mu
            bad_s[sl] = ~((log_s[sl] > self.log_s_min) & (log_s[sl] < math.log(2 * self.N)))
            if hessian:
                cov[sl] = second
                lost = gamma * self.eps * (a[sl] ** 2 / h[sl]) * spread
                bad_cov[sl] = ~(lost <= rtol)
        return bad_s, bad_cov

    def _wide_sums(self, y, a, h, q, n_tile: int, hessian: bool, floor: bool):
        """``(S, mu, Cov_w, E_w|X|^2)`` of queries ``q: (m, D+2)``: ``[1 | X]^T P`` and ``P^T Z`` per data tile
        (logits laid out ``(n, m)``). Where the first tile suggests sparse posteriors (step 4: fewer than
        ``SPARSE_SHARE`` of the pairs heavy), the covariance instead comes from each query's heavy points,
        centred exactly (:meth:`_heavy_cov`); ``E_w|X|^2`` is then 0, as that form loses nothing."""
        m, D = q.shape[0], self.D
        buf = q.new_empty(min(n_tile, self.N), m)  # a fresh 16 MiB tensor per tile costs page faults
        first = q.new_zeros(1 + D, m)
        second = q.new_zeros(m, D * (D + 1) // 2) if hessian else None
        top = q.new_full((m,), -math.inf)
        sparse = False
        for lo in range(0, self.N, n_tile):
            hi = min(lo + n_tile, self.N)
            L = torch.mm(self.keys[lo:hi], q.T, out=buf[:hi - lo])  # (n, m), one buffer for every tile
            if hessian and lo == 0:  # heavy points of the first tile against its own maximum, scaled to N
                top = L.amax(0)
                heavy = int((L > top + torch.log(self.tau(a, h))).sum()) * self.N / (hi - lo)
                sparse = heavy <= SPARSE_GUESS * self.N * m
            elif sparse:
                top = torch.maximum(top, L.amax(0))
            P = (L.clamp_min_(self.floor) if floor else L).exp_()
            first.addmm_(self.basis(lo, hi, "first"), P)
            if hessian and not sparse:
                second.addmm_(P.T, self.basis(lo, hi, "second"))
        s = first[0]
        mu = (first[1:] / s).T
        if not hessian:
            return s, mu, None, None
        if sparse:
            pairs = self._heavy_pairs(q, top + torch.log(self.tau(a, h)), n_tile)
            cov = None if pairs is None else self._heavy_cov(y, a, h, *pairs)
            if cov is not None:
                return s, mu, cov, torch.zeros_like(s)
            for lo in range(0, self.N, n_tile):  # the guess was wrong: the dense second moments after all
                hi = min(lo + n_tile, self.N)
                L = torch.mm(self.keys[lo:hi], q.T, out=buf[:hi - lo])
                second.addmm_((L.clamp_min_(self.floor) if floor else L).exp_().T, self.basis(lo, hi, "second"))
        second.div_(s[:, None])
        return s, mu, (second - self.upper(mu))[:, self.full].view(-1, D, D), second[:, self.diag].sum(-1)

    def _heavy_pairs(self, q, threshold, n_tile: int):
        """``(point, query)`` index pairs with logit above ``threshold: (m,)``, or None when they would cost more
        than the dense product (``SPARSE_SHARE`` of all pairs) or memory (``chunk_elements`` pairs)."""
        points, queries, total = [], [], 0
        buf = q.new_empty(min(n_tile, self.N), q.shape[0])
        cap = min(SPARSE_SHARE * self.N * q.shape[0], self.chunk_elements)
        for lo in range(0, self.N, n_tile):
            L = torch.mm(self.keys[lo:lo + n_tile], q.T, out=buf[:min(n_tile, self.N - lo)])
            p, r = torch.nonzero(L > threshold, as_tuple=True)
            total += p.numel()
            if total > cap:
                return None
            points.append(p + lo)
            queries.append(r)
        return torch.cat(points), torch.cat(queries)

    def _heavy_cov(self, y, a, h, point, query) -> torch.Tensor:
        """``Cov_w`` of queries ``y: (m, D)`` from their heavy points only (pairs ``point``, ``query``), with
        weights from directly computed distances ``|y - alpha X_i|^2`` and the covariance centred at their
        own mean: ``(m, D, D)``, or None when the padded ``(m, k)`` layout would be too large. Queries go in
        groups so the ``(m, k, D)`` gather stays within the chunk size."""
        m, D = y.shape
        counts = torch.bincount(query, minlength=m)
        k = max(1, int(counts.max()))
        if k * m > max(SPARSE_SHARE * self.N * m, m * 64) * 2 or k * m > 4 * self.chunk_elements:
            return None  # a few queries with many heavy points: padding would make this dearer than dense
        order = torch.argsort(query, stable=True)
        query, point = query[order], point[order]
        pos = torch.arange(len(query), device=y.device) - (torch.cumsum(counts, 0) - counts)[query]
        idx = torch.zeros(m, k, dtype=torch.long, device=y.device)
        valid = torch.zeros(m, k, dtype=torch.bool, device=y.device)
        idx[query, pos], valid[query, pos] = point, True
        out = y.new_empty(m, D, D)
        step = max(1, self.chunk_elements // (k * D))
        for j in range(0, m, step):
            sl = slice(j, j + step)
            Xg = self.X[idx[sl]]  # (g, k, D)
            diff = y[sl, None, :] - a[sl, None, None] * Xg
            L = (diff * diff).sum(-1).div_(-2 * h[sl, None]).masked_fill_(~valid[sl], -math.inf)
            w = torch.softmax(L, 1)
            Yc = Xg - (w[:, :, None] * Xg).sum(1, keepdim=True)
            Yc.mul_(w.sqrt()[:, :, None])
            c = torch.bmm(Yc.transpose(1, 2), Yc)
            out[sl] = 0.5 * (c + c.transpose(1, 2))
        return out

    def _tile_sums(self, q, n_tile: int, floor: bool):
        """``(S, mu, Cov_w (m, D, D), E_w|X - c_tile|^2)`` of queries ``q: (m, D+2)`` from tile-centred moments
        (small D, step 3). Per data tile one batched product gives every k-d tile's ``S_b``, ``m1_b = sum w U``
        and ``M2_b = sum w U U^T`` about its centre ``c_b``; about the tiles' common mean ``mu_t``, with
        ``e_b = c_b - mu_t``, ``S_t Cov_t = sum_b M2_b + G_b e_b^T + e_b G_b^T``, ``G_b = m1_b + S_b e_b / 2``
        (the parallel-axis rule, no cancellation beyond the tiles' size); data tiles merge pairwise (Chan et al.).
        """
        keys, basis, centres = self.tiles
        m, D, nb = q.shape[0], self.D, TILE_POINTS
        buf = q.new_empty(min(n_tile, keys.shape[0]), m)
        s, mu, C, spread = q.new_zeros(m), q.new_zeros(m, D), q.new_zeros(m, D, D), q.new_zeros(m)
        for lo in range(0, keys.shape[0], n_tile):
            hi = min(lo + n_tile, keys.shape[0])
            L = torch.mm(keys[lo:hi], q.T, out=buf[:hi - lo])  # (n, m), one buffer for every tile
            P = (L.clamp_min_(self.floor) if floor else L).exp_()
            T, c = (hi - lo) // nb, centres[lo // nb:hi // nb]
            st = torch.bmm(P.view(T, nb, m).transpose(1, 2), basis[lo // nb:hi // nb])  # (T, m, 1 + D + D^2)
            s_b, m1 = st[..., 0], st[..., 1:1 + D]
            M2 = st[..., 1 + D:].sum(0).view(m, D, D)
            s_t = s_b.sum(0)
            mu_t = (s_b.T @ c + m1.sum(0)) / torch.where(s_t > 0, s_t, 1.0)[:, None]
            e = c[:, None, :] - mu_t  # (T, m, D)
            G = torch.addcmul(m1, s_b[..., None], e, value=0.5)
            Y = torch.bmm(G.permute(1, 2, 0), e.transpose(0, 1))  # (m, D, D): sum_b G_b e_b^T
            C_t = M2 + Y + Y.transpose(1, 2)
            spread += torch.diagonal(M2, dim1=1, dim2=2).sum(-1)
            # merge (s_t, mu_t, C_t) into (s, mu, C): C += C_t + (s s_t / (s + s_t)) delta delta^T
            total = s + s_t
            f = s_t / torch.where(total > 0, total, 1.0)
            delta = mu_t - mu
            C += C_t + (s * f)[:, None, None] * (delta[:, :, None] * delta[:, None, :])
            mu += f[:, None] * delta
            s = total
        inv = 0.5 / torch.where(s > 0, s, 1.0)
        return s, mu, (C + C.transpose(1, 2)) * inv[:, None, None], 2 * spread * inv  # exactly symmetric

    # -- the dense centred path -----------------------------------------------------------------------------
    def centred(self, rows, y, a, h, hessian: bool, log_s, mean, cov, w_out) -> None:
        """Exact log-sum-exp, mean and (``hessian``) centred covariance for queries ``rows``; fills the outputs."""
        for r, w, top, s in self._softmax_rows(rows, y, a, h):
            log_s[r] = torch.log(s) + top
            mean[r] = mu = w @ self.X
            if w_out is not None:
                w_out[r] = w.masked_fill(w < 1.5 * math.exp(self.floor) / s[:, None], 0.0)  # floored ones: 0
            if hessian:
                cov[r] = self._centred_cov(w, mu, y[r], a[r], h[r])

    def centred_cov(self, rows, y, a, h, mean, cov) -> None:
        """The centred covariance of queries ``rows`` whose mean is already known; fills ``cov``."""
        for r, w, _, _ in self._softmax_rows(rows, y, a, h):
            cov[r] = self._centred_cov(w, mean[r], y[r], a[r], h[r])

    def _softmax_rows(self, rows, y, a, h):
        """Yield ``(rows, w (m, N), max logit (m,), normaliser (m,))`` for chunks of ``rows``."""
        m_tile = max(1, self.chunk_elements // self.N)
        for i in range(0, rows.numel(), m_tile):
            r = rows[i:i + m_tile]
            L = self.query_rows(y[r], a[r], h[r]) @ self.keys.T  # (m, N)
            top = L.amax(1)
            P = L.sub_(top[:, None]).clamp_min_(self.floor).exp_()
            s = P.sum(1)
            yield r, P.div_(s[:, None]), top, s

    def _centred_cov(self, w, mu, y, a, h) -> torch.Tensor:
        """``sum_i w_i (X_i - mu)(X_i - mu)^T`` for weights ``w: (m, N)``: ``(m, D, D)``. From the heavy points
        (:meth:`_heavy_cov`) where they are few (step 4), else the dense product over every point."""
        heavy = w > self.tau(a, h)[:, None]
        out = None
        if self.N > DIRECT_MAX_N:
            query, point = torch.nonzero(heavy, as_tuple=True)
            out = self._heavy_cov(y, a, h, point, query) if point.numel() <= SPARSE_SHARE * w.numel() else None
        if out is not None:
            return out
        w = w.where(heavy, 0.0)  # light points (step 4) out, so floored weights leave no trace
        D = self.D
        out = w.new_empty(len(w), D, D)
        step = max(1, self.chunk_elements // (self.N * D))
        for j in range(0, len(w), step):
            sl = slice(j, j + step)
            Y = self.X[None, :, :] - mu[sl, None, :]  # centred: (m, N, D)
            Y.mul_(w[sl].sqrt()[:, :, None])  # sqrt(w_i)(X_i - mu) in place: one (m, N, D) temporary, not two
            c = torch.bmm(Y.transpose(1, 2), Y)
            out[sl] = 0.5 * (c + c.transpose(1, 2))
        return out
