"""Number widgets bound to a config field: their bounds are the field's own constraint, so they cannot diverge.

A config declares what each field accepts in ``CONSTRAINTS`` (:mod:`ridgeviz.utils.validation` objects, the ones
its ``__post_init__`` checks). :func:`field_input` draws a number input whose ``min_value`` / ``max_value`` are
that constraint's bounds (an upper bound the data add, such as ``d <= D - 1``, may tighten it), starting from the
field's default. Every bound widget is recorded in :data:`BOUND`, so a test checks each page's numeric widgets
against the constraints.
"""

from __future__ import annotations

import dataclasses

from ..utils.validation import Integer, Optional, Real
from .state import persistent

BROWSER_INT = 2**53 - 1  # the largest integer a browser's number input holds exactly
#: widget key -> (config class, field, data bound, the value that stands for None)
BOUND: dict[str, tuple] = {}


def field_bounds(config_cls, name: str, *, hi=None, none=None) -> dict:
    """``{"min_value", "max_value"}`` of a widget for ``config_cls``'s field ``name``, from its constraint.

    ``hi``: an upper bound the data add (the smaller of the two is used). ``none``: for an optional field, the
    widget value that stands for None (below the constraint's least value, e.g. 0 for "all" or "suggested").
    """
    c = config_cls.CONSTRAINTS[name]
    if isinstance(c, Optional):
        c = c.inner
    elif none is not None:
        raise ValueError(f"{config_cls.__name__}.{name} is not optional; it has no value that stands for None")
    if not isinstance(c, (Integer, Real)):
        raise ValueError(f"{config_cls.__name__}.{name} is not a number field")
    cast = int if isinstance(c, Integer) else float
    lo, top = c.lo, c.hi
    if isinstance(c, Integer):
        lo, top = (None if v is None else max(-BROWSER_INT, min(BROWSER_INT, v)) for v in (lo, top))
    if hi is not None:
        top = hi if top is None else min(top, hi)
    if none is not None:
        lo = none
    return {"min_value": None if lo is None else cast(lo), "max_value": None if top is None else cast(top)}


def field_default(config_cls, name: str):
    """The default of ``config_cls``'s field ``name``."""
    return next(f.default for f in dataclasses.fields(config_cls) if f.name == name)


def field_input(container, config_cls, name: str, label: str, key: str, default=None, *, hi=None, none=None,
                **kwargs):
    """A persistent number input for ``config_cls.name`` (default: the field's own), bounded by its constraint."""
    BOUND[key] = (config_cls, name, hi, none)
    value = field_default(config_cls, name) if default is None else default
    return persistent(container.number_input, label, key, value, **field_bounds(config_cls, name, hi=hi, none=none),
                      **kwargs)
