"""Calendar time steps (day, week, month, quarter, year) as integer ordinals.

Used by the space-time cube of :mod:`hotspot_env.temporal.trends` and by the weekly
demand forecast of :mod:`hotspot_env.temporal.demand`.
"""

from __future__ import annotations

import numpy as np

from hotspot_env.errors import InputError

#: Time steps from finest to coarsest.
STEPS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")


def step_ordinal(dates: np.ndarray, step: str) -> np.ndarray:
    """Integer index of the calendar step holding each date (weeks start Monday)."""
    days = np.asarray(dates, dtype="datetime64[D]")
    if step == "day":
        return days.astype(np.int64)
    if step == "week":
        return (days.astype(np.int64) - 4) // 7  # 1970-01-05 was a Monday
    months = days.astype("datetime64[M]").astype(np.int64)
    if step == "month":
        return months
    if step == "quarter":
        return months // 3
    if step == "year":
        return months // 12
    raise InputError(f"unknown time step {step!r}: use one of {', '.join(STEPS)}")


def step_start(ordinal: np.ndarray | int, step: str) -> np.ndarray:
    """First day of each step ordinal (inverse of :func:`step_ordinal`)."""
    o = np.asarray(ordinal, dtype=np.int64)
    if step == "day":
        return o.astype("datetime64[D]")
    if step == "week":
        return (o * 7 + 4).astype("datetime64[D]")
    months = {"month": o, "quarter": o * 3, "year": o * 12}[step]
    return months.astype("datetime64[M]").astype("datetime64[D]")
