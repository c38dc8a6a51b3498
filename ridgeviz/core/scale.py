"""The data scale: the length unit of default widths (the phase rule's tube, the inter-mode radius)."""

from __future__ import annotations

import math

import numpy as np


def data_scale(X: np.ndarray) -> float:
    """RMS distance of the points to their mean, ``sqrt(mean_i |x_i - mean|^2)``; 1.0 if that is 0.

    X: (N, D). Used for default tube widths; a scale-free fallback keeps one-point-repeated data usable.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array (N, D); got shape {X.shape}")
    scale = float(np.sqrt(np.mean(np.sum((X - X.mean(axis=0)) ** 2, axis=1))))
    return scale if scale > 0 and math.isfinite(scale) else 1.0
