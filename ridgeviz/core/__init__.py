"""The paper's mathematics: schedules, the smoothed empirical density, its ridge, samplers, the error split, phases.

Imports only ``ridgeviz.utils`` (see docs/architecture.md).
"""
