"""Declarative parameter validation: one implementation of every "must be an integer in [lo, hi]" check.

A constraint describes the values a parameter accepts and converts an accepted value to its canonical type
(``Integer`` -> ``int``, ``Real`` -> ``float``, ``Array`` -> a float array or tensor); anything else raises a
``ValueError`` that names the parameter, the allowed values and what was received. Configs declare their
constraints next to their fields and call :func:`validate_fields` in ``__post_init__``; functions call
:func:`check`. (The idea follows scikit-learn's parameter validation; the code is ours and much smaller.)

Arrays (:class:`Array`): real numbers only (integers are converted to float; bool, complex, strings and objects
are refused), the declared shape (``None`` for a free size), every value finite and at most ``max_abs`` in
magnitude (default :data:`MAX_ABS`: larger values overflow float64 once squared, which the density does).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

MAX_ABS = 1e150  # largest coordinate magnitude an Array accepts by default (its square must stay finite)


class Got(ValueError):
    """Raised by a constraint to say what it received (``Got("shape (3, 4)")``) when ``repr`` would not."""


class Constraint:
    """Base class: ``convert(value)`` returns the canonical value or raises ``ValueError`` (``Got`` to say what)."""

    def convert(self, value):
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def _range_text(lo, hi, lo_open: bool, hi_open: bool) -> str:
    left = "(" if lo_open or lo is None else "["
    right = ")" if hi_open or hi is None else "]"
    def text(v):
        return repr(v) if isinstance(v, int) else f"{v:g}"

    return f"{left}{'-inf' if lo is None else text(lo)}, {'inf' if hi is None else text(hi)}{right}"


@dataclass(frozen=True)
class Integer(Constraint):
    """An integer (not a bool) in ``[lo, hi]``; ``None`` leaves a side unbounded."""

    lo: int | None = None
    hi: int | None = None

    def convert(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError
        v = int(value)
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            raise ValueError
        return v

    def describe(self) -> str:
        return f"an integer in {_range_text(self.lo, self.hi, False, False)}"


@dataclass(frozen=True)
class Real(Constraint):
    """A real number (int or float, not bool or complex) in the interval from ``lo`` to ``hi``.

    ``lo_open``/``hi_open`` exclude the ends; ``inf`` admits ``+inf`` (for example tau = infinity); NaN never passes.
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    inf: bool = False

    def convert(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError
        v = float(value)
        if math.isnan(v) or (math.isinf(v) and not (self.inf and v > 0)):
            raise ValueError
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            raise ValueError
        if self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi)):
            raise ValueError
        return v

    def describe(self) -> str:
        text = "a finite number" if not self.inf else "a number (inf allowed)"
        if self.lo is None and self.hi is None:
            return text
        return f"{text} in {_range_text(self.lo, self.hi, self.lo_open, self.hi_open)}"


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values (compared with ``==``)."""

    values: tuple

    def convert(self, value):
        if isinstance(value, (list, dict, set)) or value not in self.values:
            raise ValueError
        return value

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Optional(Constraint):
    """``None`` or a value accepted by ``inner``."""

    inner: Constraint

    def convert(self, value):
        return None if value is None else self.inner.convert(value)

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"


@dataclass(frozen=True)
class Instance(Constraint):
    """An instance of ``types`` (a class or tuple of classes), described as ``label``."""

    types: object
    label: str

    def convert(self, value):
        if not isinstance(value, self.types):
            raise Got(f"a {type(value).__name__}")
        return value

    def describe(self) -> str:
        return self.label


@dataclass(frozen=True)
class Tuple(Constraint):
    """A list or tuple of ``lo..hi`` items, each accepted by ``item``; returned as a tuple."""

    item: Constraint
    lo: int = 0
    hi: int | None = None

    def convert(self, value):
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
            raise ValueError
        items = tuple(self.item.convert(v) for v in value)
        if len(items) < self.lo or (self.hi is not None and len(items) > self.hi):
            raise Got(f"{len(items)} items")
        return items

    def describe(self) -> str:
        count = (f"at least {self.lo}" if self.hi is None else f"up to {self.hi}" if self.lo == 0
                 else f"{self.lo} to {self.hi}")
        return f"a tuple of {count} items, each {self.item.describe()}"


def _shape_text(shape) -> str:
    return "(" + ", ".join("any" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass(frozen=True)
class Array(Constraint):
    """A real array of the given ``shape`` (a tuple of sizes, ``None`` for any size); values finite, in range.

    A torch tensor stays a tensor (integer tensors become float64; float dtypes and the device are kept); anything
    else becomes a writable float64 NumPy array (not copied when it already is one). ``scalar``: a single number
    is broadcast to ``shape`` (all sizes fixed). ``at_least``: the least size of each axis (e.g. ``(2, 1)``).
    ``lo``/``hi`` (``lo_open``/``hi_open`` exclude the ends) and ``max_abs`` bound the values. ``label`` names the
    shape in messages (``"(N, D)"``).
    """

    shape: tuple | None = None
    scalar: bool = False
    at_least: tuple | None = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    max_abs: float | None = MAX_ABS
    label: str | None = None  # how the shape reads in messages, e.g. "(N, D)"

    def convert(self, value):
        import torch

        if isinstance(value, torch.Tensor):
            if value.dtype == torch.bool or value.dtype.is_complex:
                raise Got(f"dtype {value.dtype}")
            x = value if value.is_floating_point() else value.to(torch.float64)
            lib, shape = torch, tuple(x.shape)
        else:
            try:
                x = np.asarray(value)
            except (ValueError, TypeError):
                raise Got("something that is not a rectangular array of numbers") from None
            if x.dtype.kind not in "iuf":
                raise Got(f"dtype {x.dtype}" if x.dtype.kind in "bc" else f"dtype {x.dtype} (not numbers)")
            x, lib, shape = x.astype(np.float64, copy=False), np, x.shape
            if not x.flags.writeable:  # a read-only input (a shared constant): torch refuses to wrap it
                x = x.copy()
        if self.shape is not None:
            if self.scalar and len(shape) == 0 and None not in self.shape:
                x = np.full(self.shape, float(x)) if lib is np else x.expand(self.shape)
            elif len(shape) != len(self.shape) or any(s is not None and s != n for s, n in zip(self.shape, shape)):
                raise Got(f"shape {shape}")
        if self.at_least is not None and any(n < m for n, m in zip(shape, self.at_least)):
            raise Got(f"shape {shape}")
        self._check_values(x, lib)
        return x

    def _check_values(self, x, lib) -> None:
        bad = ~lib.isfinite(x)
        if bad.any():
            first = tuple(int(i) for i in (lib.argwhere(bad) if lib is np else bad.nonzero())[0])
            where = f", first at row {first[0]}" if len(first) == 2 else f", first at index {first}" if first else ""
            raise Got(f"{int(bad.sum())} non-finite values (NaN or inf){where}")
        if x.numel() if lib is not np else x.size:
            low, high = float(x.min()), float(x.max())
            if self.max_abs is not None and max(-low, high) > self.max_abs:
                raise Got(f"values up to {max(-low, high):.3g} in magnitude")
            if self.lo is not None and (low < self.lo or (self.lo_open and low == self.lo)):
                raise Got(f"a value {low:.6g}")
            if self.hi is not None and (high > self.hi or (self.hi_open and high == self.hi)):
                raise Got(f"a value {high:.6g}")

    def describe(self) -> str:
        shape = "" if self.shape is None else (self.label or _shape_text(self.shape)) + " "
        what = ("a number or " if self.scalar else "") + f"a real {shape}array"
        if self.at_least is not None:
            what += f" of size at least {self.label or ''}{_shape_text(self.at_least)}".replace(")(", ") = (")
        if self.lo is not None or self.hi is not None:
            return what + f" with values in {_range_text(self.lo, self.hi, self.lo_open, self.hi_open)}"
        return what + " with finite values" + (f" of magnitude <= {self.max_abs:g}" if self.max_abs else "")


@dataclass(frozen=True)
class Device(Constraint):
    """A device that exists here, resolved by :func:`ridgeviz.utils.device.resolve_device` (``"auto"``, ``"cpu"``,
    ``"cuda[:k]"``); returns a ``torch.device``."""

    def convert(self, value):
        from .device import resolve_device

        try:
            return resolve_device(value)
        except ValueError as exc:
            raise Got(f"{value!r} ({str(exc).split('; ')[-1]})" if "available" in str(exc) else repr(value)) from None

    def describe(self) -> str:
        return "'auto', 'cpu', 'cuda' or 'cuda:k' (an available device)"


POSITIVE = Real(0.0, None, lo_open=True)
NON_NEGATIVE = Real(0.0, None)
SEED = Integer(0, 2**63 - 1)


def check(name: str, value, constraint: Constraint):
    """``value`` converted by ``constraint``, or a ``ValueError`` naming ``name``, the allowed values and ``value``."""
    try:
        return constraint.convert(value)
    except (ValueError, TypeError, OverflowError) as exc:
        shown = str(exc) if isinstance(exc, Got) else repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise ValueError(f"{name} must be {constraint.describe()}; got {shown}") from None


def validate_fields(obj, constraints: dict) -> None:
    """Check the fields of a frozen dataclass ``obj`` named in ``constraints`` and store the converted values."""
    for name, constraint in constraints.items():
        object.__setattr__(obj, name, check(name, getattr(obj, name), constraint))
