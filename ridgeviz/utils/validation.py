"""Declarative parameter validation: one implementation of every "must be an integer in [lo, hi]" check.

A constraint describes the values a parameter accepts and converts an accepted value to its canonical type
(``Integer`` -> ``int``, ``Real`` -> ``float``); anything else raises a ``ValueError`` that names the parameter,
the allowed range and the value received. Configs declare their constraints next to their fields and call
:func:`validate_fields` in ``__post_init__``; functions call :func:`check`. (The idea follows scikit-learn's
parameter validation; the code is ours and much smaller.)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass


class Constraint:
    """Base class: ``convert(value)`` returns the canonical value or raises ``ValueError`` (without the name)."""

    def convert(self, value):
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def _range_text(lo, hi, lo_open: bool, hi_open: bool) -> str:
    left = "(" if lo_open or lo is None else "["
    right = ")" if hi_open or hi is None else "]"
    return f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"


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


POSITIVE = Real(0.0, None, lo_open=True)
NON_NEGATIVE = Real(0.0, None)
SEED = Integer(0, 2**63 - 1)


def check(name: str, value, constraint: Constraint):
    """``value`` converted by ``constraint``, or a ``ValueError`` naming ``name``, the allowed values and ``value``."""
    try:
        return constraint.convert(value)
    except (ValueError, TypeError, OverflowError):
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise ValueError(f"{name} must be {constraint.describe()}; got {shown}") from None


def validate_fields(obj, constraints: dict) -> None:
    """Check the fields of a frozen dataclass ``obj`` named in ``constraints`` and store the converted values."""
    for name, constraint in constraints.items():
        object.__setattr__(obj, name, check(name, getattr(obj, name), constraint))
