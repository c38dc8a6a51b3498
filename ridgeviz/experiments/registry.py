"""The explicit registry of ``reproduce``'s experiments, in the report's order: name -> ``run(ctx)``.

A new experiment is a module with ``run(ctx: Context) -> Experiment`` and one line here.
"""

from __future__ import annotations

from . import generalisation, injection, laws, mnist, opening, phases, rf_dynamics

EXPERIMENTS = {
    "opening": opening.run,
    "generalisation": generalisation.run,
    "phases": phases.run,
    "rf-dynamics": rf_dynamics.run,
    "injection": injection.run,
    "laws": laws.run,
    "mnist": mnist.run,
}
ORDER = tuple(EXPERIMENTS)


def summary(name: str) -> str:
    """The first line of an experiment's ``run`` docstring."""
    return (EXPERIMENTS[name].__doc__ or "").strip().split("\n")[0]
