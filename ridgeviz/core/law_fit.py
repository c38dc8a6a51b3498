"""How well the align and slide laws (:mod:`ridgeviz.core.laws`) fit, per sample and pooled, beside two controls.

**R^2.** For measured values ``y`` and predictions ``p`` over a set of sample-times (for vectors, squared norms
summed over components),

    R^2 = 1 - SS_res / SS_tot,      SS_res = sum |y - p|^2,      SS_tot = sum |y - mean(y)|^2

where ``mean(y)`` is the mean of the *measured* values over the same set. **Pooled**: one set, every compared
(sample, time) pair of a run, about the mean over all of them. **Per sample**: one set per sample, its compared
times, about that sample's own mean over time; samples with fewer than :data:`MIN_STEPS` compared steps, or whose
measured values do not vary beyond rounding, are left out; reported as the median and quartiles over samples.
Per sample is the stricter: it asks whether the law follows each sample's history, not only the spread between
samples. R^2 = 1 is exact, 0 no better than the measured mean, and since no prediction is fitted it can be any
negative number. Compared steps exclude each sample's start (where prediction and measurement coincide).

**Predictors.** ``law``; ``without error`` (the same law with ``e = 0``: for the align law the error-free
recursion, for the slide law the exact score's pull alone, which predicts motion, so it is an informative
control); ``baseline``, one constant fitted by least squares over the run's pooled pairs (the laws fit none):

* normal offset: ``c sqrt(h_t)`` (the offset as a fixed fraction of the ridge's width ``sqrt(h_t)``; near a ridge
  the SDE's noise alone keeps samples about ``0.7 sqrt(h_t)`` away, and the exact score's ODE shrinks offsets
  like ``sqrt(h_t)``);
* displacement along the ridge: ``c (sqrt(h_start) - sqrt(h_t)) w`` with ``w`` the unit vector of the sample's
  measured displacement at its last compared step. The profile is the exact flow's: under the exact score's ODE
  the distance to the training point that captures a sample shrinks like ``sqrt(h_t)`` (for two points exactly),
  so the distance travelled since the start grows like ``sqrt(h_start) - sqrt(h_t)``; the baseline is *told* the
  direction each sample went, which the laws are not, so it is a hard control to beat.

**Noise ceiling** (the SDE): one sample's distance and displacement carry the sampler's noise, which no law for
the mean can predict. Under the law's own noise model an exact law leaves ``SS_res = sum Var`` (normal:
``Var |c| = rms^2 - E|c|^2``; along the ridge: the accumulated noise variance), so ``1 - sum Var / SS_tot`` is the
R^2 an exact law would reach; it is 1 for the ODE. A law near its ceiling is as good as the noise allows.

**Error share**: ``sum |d B P_par e| / (sum |d B P_par e| + sum |pull step|)`` over every compared step of every
sample: the error's part of the motion along the ridge the slide law predicts (path lengths, so a sample held in
place by an error that cancels the pull counts one half).
"""

from __future__ import annotations

import math

import numpy as np

MIN_STEPS = 5  # compared steps a sample needs for its own R^2
FIT_R2 = 0.5  # a sample is "fitted" when the predictor explains more than half of its variation
ROUNDING_FLOOR = 1e-12  # SS_tot below this fraction of sum |y|^2 is rounding: no R^2


def _vec(a: np.ndarray) -> np.ndarray:
    """``(K+1, M)`` or ``(K+1, M, C)`` as ``(K+1, M, C)``."""
    a = np.asarray(a, dtype=np.float64)
    return a[..., None] if a.ndim == 2 else a


def r_squared(measured, predicted) -> float:
    """Pooled ``1 - SS_res / SS_tot`` of ``measured, predicted: (P,)`` or ``(P, C)`` (NaN if SS_tot is rounding)."""
    y, p = np.asarray(measured, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    y, p = (y[:, None], p[:, None]) if y.ndim == 1 else (y, p)
    if len(y) == 0:
        return math.nan
    ss_tot = float(np.sum((y - y.mean(axis=0)) ** 2))
    if not ss_tot > ROUNDING_FLOOR * float(np.sum(y**2)) + 1e-300:
        return math.nan
    return 1.0 - float(np.sum((y - p) ** 2)) / ss_tot


def per_sample_r_squared(measured, predicted, mask: np.ndarray, variance=None) -> np.ndarray:
    """Each sample's ``1 - SS_res / SS_tot`` over its ``mask: (K+1, M)`` steps: ``(M,)`` (NaN where left out).

    ``measured, predicted``: ``(K+1, M)`` or ``(K+1, M, C)``. With ``variance: (K+1, M)`` the residual is replaced
    by it: the noise ceiling ``1 - sum Var / SS_tot``.
    """
    y, p = _vec(measured), _vec(predicted)
    w = mask[..., None]
    n = mask.sum(axis=0)
    mean = np.where(w, y, 0.0).sum(axis=0) / np.maximum(n, 1)[:, None]
    ss_tot = np.where(w, (y - mean) ** 2, 0.0).sum(axis=(0, 2))
    res = np.where(mask, np.asarray(variance, dtype=np.float64), 0.0) if variance is not None else \
        np.where(w, (y - p) ** 2, 0.0).sum(axis=2)
    scale = np.where(w, y**2, 0.0).sum(axis=(0, 2))
    ok = (n >= MIN_STEPS) & (ss_tot > ROUNDING_FLOOR * scale + 1e-300)
    return np.where(ok, 1.0 - res.sum(axis=0) / np.where(ok, ss_tot, 1.0), np.nan)


def score(measured, predicted, mask: np.ndarray, variance=None) -> dict:
    """``{"pooled", "median", "q25", "q75", "fitted", "samples"}``: pooled R^2 over the ``mask`` pairs; the median
    and quartiles of the per-sample R^2 and the share of samples whose R^2 exceeds :data:`FIT_R2` (``samples``: how
    many have one). With ``variance``, the noise ceiling."""
    y, p = _vec(measured)[mask], _vec(predicted)[mask]
    if variance is None:
        pooled = r_squared(y, p)
    else:
        ss_tot = float(np.sum((y - y.mean(axis=0)) ** 2)) if len(y) else 0.0
        pooled = 1.0 - float(np.sum(np.asarray(variance)[mask])) / ss_tot if ss_tot > 0 else math.nan
    each = per_sample_r_squared(measured, predicted, mask, variance)
    each = each[np.isfinite(each)]
    q = np.quantile(each, [0.25, 0.5, 0.75]) if len(each) else [math.nan] * 3
    return {"pooled": pooled, "median": float(q[1]), "q25": float(q[0]), "q75": float(q[2]),
            "fitted": float(np.mean(each > FIT_R2)) if len(each) else math.nan, "samples": len(each)}


def last_compared(laws, values: np.ndarray) -> np.ndarray:
    """``values: (K+1, M, ...)`` at each sample's last compared step, for the samples that have one: ``(n, ...)``."""
    ok = laws.compared
    rows = ok.shape[0]
    last = rows - 1 - ok[::-1].argmax(axis=0)
    cols = np.flatnonzero(ok.any(axis=0))
    return values[last[cols], cols]


def _fit_scale(y: np.ndarray, f: np.ndarray) -> float:
    """Least-squares ``c`` of ``y ~ c f`` (through the origin) over matching arrays; 0 if ``f`` vanishes."""
    ff = float(np.sum(f * f))
    return float(np.sum(y * f)) / ff if ff > 0 else 0.0


def normal_baseline(laws) -> tuple[np.ndarray, float]:
    """``c sqrt(h_t)`` with ``c`` fitted to the measured distance over the compared pairs: ``((K+1, M), c)``."""
    ok = laws.compared
    s = np.broadcast_to(np.sqrt(laws.h)[:, None], ok.shape)
    c = _fit_scale(laws.normal_measured[ok], s[ok])
    return c * s, c


def tangential_baseline(laws) -> tuple[np.ndarray, float]:
    """``c (sqrt(h_start) - sqrt(h_t)) w`` (module docstring) fitted over the compared pairs: ``((K+1, M, D), c)``."""
    ok = laws.compared
    meas = np.where(ok[..., None], laws.tangential_measured_vec, 0.0)
    rows = ok.shape[0]
    last = rows - 1 - ok[::-1].argmax(axis=0)
    end = meas[last, np.arange(ok.shape[1])]
    norm = np.linalg.norm(end, axis=-1, keepdims=True)
    w = np.where(norm > 0, end / np.where(norm > 0, norm, 1.0), 0.0)  # (M, D)
    h_start = laws.h[np.minimum(laws.start, rows - 1)]
    f = np.where(ok, np.sqrt(h_start)[None, :] - np.sqrt(laws.h)[:, None], 0.0)  # (K+1, M)
    along = np.einsum("kmd,md->km", meas, w)
    c = _fit_scale(along[ok], f[ok])
    return c * f[..., None] * w[None], c


def fit_laws(laws) -> dict:
    """R^2 of the align and slide laws, of the laws without their error term and of the baselines (module
    docstring), with the noise ceilings, the baselines' constants and the error's share of the predicted motion.

    Returns ``{"normal": {"law", "without error", "baseline", "noise ceiling"}, "tangential": {...},
    "baseline_scale": {"normal", "tangential"}, "error_share", "start", "offset_widths"}``; each R^2 entry is
    :func:`score`'s dict; ``offset_widths``: median and 90th percentile of the measured offset over ``sqrt(h_t)``
    at the compared sample-times (the laws are linearised: they claim little where this is well above 1).
    """
    ok = laws.compared
    nb, cn = normal_baseline(laws)
    tb, ct = tangential_baseline(laws)
    normal_var = np.clip(laws.normal_rms**2 - laws.normal_predicted**2, 0.0, None)
    meas_n, meas_t = laws.normal_measured, laws.tangential_measured_vec
    normal = {"law": score(meas_n, laws.normal_predicted, ok),
              "without error": score(meas_n, laws.normal_without_error, ok), "baseline": score(meas_n, nb, ok),
              "noise ceiling": score(meas_n, meas_n, ok, normal_var)}
    tangential = {"law": score(meas_t, laws.tangential_predicted_vec, ok),
                  "without error": score(meas_t, laws.tangential_pull_vec, ok), "baseline": score(meas_t, tb, ok),
                  "noise ceiling": score(meas_t, meas_t, ok, laws.tangential_noise_var)}
    err = float(last_compared(laws, laws.tangential_error_path).sum())  # each sample's path up to its last step
    total = err + float(last_compared(laws, laws.tangential_pull_path).sum())
    widths = (laws.normal_measured / np.sqrt(laws.h)[:, None])[ok]  # the offsets in ridge widths sqrt(h_t)
    return {"normal": normal, "tangential": tangential, "baseline_scale": {"normal": cn, "tangential": ct},
            "error_share": err / total if total > 0 else math.nan, "start": laws.start_kind,
            "offset_widths": {q: float(np.quantile(widths, v)) if len(widths) else math.nan
                              for q, v in (("median", 0.5), ("q90", 0.9))}}
