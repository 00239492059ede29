"""The space-time cube: incidents per grid cell and calendar time step.

Incidents are counted per grid cell and time step in one ``bincount``. The
time step follows the span of the recording period (announced): under 6
months weeks, under 3 years months, under 15 years quarters, else years; a
finer step is taken while the coarser one would give fewer than
:data:`MIN_STEPS` (10) complete steps, the minimum the Mann-Kendall test and
ArcGIS's Emerging Hot Spot Analysis need. Steps are calendar steps in local
time (weeks start on Monday); a first or last step that the recording period
covers less than 90 % is left out (announced), because a part-step would look
like a fall in incidents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.temporal.timesteps import STEPS, step_ordinal, step_start

#: Fewest complete time steps for a trend test (ArcGIS's minimum for EHSA).
MIN_STEPS = 10

#: Share of a first/last time step the recording period must cover to be kept.
MIN_STEP_COVERAGE = 0.9


def complete_steps(period: tuple[np.datetime64, np.datetime64], step: str) -> np.ndarray:
    """Ordinals of the steps the period covers (edge steps kept if >= 90 % covered)."""
    first, last = (np.datetime64(p, "D") for p in period)
    lo, hi = int(step_ordinal(first, step)), int(step_ordinal(last, step))
    if hi < lo:
        return np.zeros(0, dtype=np.int64)

    def coverage(o: int, a: np.datetime64, b: np.datetime64) -> float:
        start, end = step_start(o, step), step_start(o + 1, step)
        covered = (min(b + 1, end) - max(a, start)).astype(int)
        return covered / (end - start).astype(int)

    if coverage(lo, first, last) < MIN_STEP_COVERAGE:
        lo += 1
    if hi >= lo and coverage(hi, first, last) < MIN_STEP_COVERAGE:
        hi -= 1
    return np.arange(lo, hi + 1, dtype=np.int64)


def choose_time_step(period: tuple[np.datetime64, np.datetime64]) -> tuple[str, Choice]:
    """Choose the cube's time step from the span of the recording period.

    Under 6 months: week; under 3 years: month; under 15 years: quarter;
    otherwise year. While the choice gives fewer than :data:`MIN_STEPS`
    complete steps, the next finer step is taken (down to days).

    Returns
    -------
    step : str
    choice : Choice
    """
    first, last = (np.datetime64(p, "D") for p in period)
    span = int((last - first).astype(int)) + 1
    years = span / 365.25
    step = ("week" if span < 183 else "month" if years < 3 else
            "quarter" if years < 15 else "year")
    reason = f"the recording period spans {span:,} days ({years:.1f} years)"
    first_pick = step
    while len(complete_steps(period, step)) < MIN_STEPS and step != "day":
        step = STEPS[STEPS.index(step) - 1]
    n = len(complete_steps(period, step))
    rule = (f"{reason}: weeks under 6 months, months under 3 years, quarters under 15 years, "
            f"else years; {n} complete {step}s")
    if step != first_pick:
        rule += f" ({first_pick}s would give fewer than {MIN_STEPS})"
    return step, announce(Choice("time_step", step, rule))


def check_time_steps(period: tuple[Any, Any] | list[str] | None, step: str,
                     n_cells: int | None = None) -> int:
    """Refuse a time step that would make the space-time cube too large.

    Called before the cube is built (and by the CLI right after reading the
    incidents, before the analysis): the Mann-Kendall test is quadratic in the
    number of steps, so daily steps over a century would run for hours.

    Parameters
    ----------
    period : (first, last) dates, or None
        The recording period; ``None`` (no dates) passes.
    step : str
        One of :data:`STEPS`.
    n_cells : int, optional
        Cells of the study area, for the cells x steps ceiling.

    Returns
    -------
    int
        The number of complete steps.

    Raises
    ------
    InputError
        Naming ``--time-step`` and the limit.
    """
    from hotspot_env import settings

    if step not in STEPS:
        raise InputError(f"unknown --time-step {step!r}: use one of {', '.join(STEPS)}")
    if period is None or any(pd.isna(p) for p in period):
        return 0
    first, last = (np.datetime64(pd.Timestamp(p).date(), "D") for p in period)
    n_steps = len(complete_steps((first, last), step))
    span = f"{first} to {last}"
    if n_steps > settings.max_time_steps:
        raise InputError(
            f"--time-step {step} over {span} gives {n_steps:,} steps, more than the limit of "
            f"{settings.max_time_steps:,}: use a coarser --time-step (week, month, quarter or "
            "year) or a shorter period")
    if n_cells is not None and n_cells * n_steps > settings.max_cube_values:
        raise InputError(
            f"--time-step {step} over {span} makes a cube of {n_cells:,} cells x {n_steps:,} "
            f"steps, more than the limit of {settings.max_cube_values:,} values: use a coarser "
            "--time-step or a larger --cell-size")
    return n_steps


def month_time_step(
    dates: np.ndarray, period: tuple[np.datetime64, np.datetime64],
) -> tuple[str, Choice, tuple[np.datetime64, np.datetime64]]:
    """Time step and cube period for month-only dates (police.uk).

    Weeks would put a month's incidents all in its first week, so the step is
    never finer than a month. When the months on record are consecutive, the
    usual rule picks month, quarter or year. When they are not (police.uk
    files downloaded for the same month of several years), an unrecorded
    month is not a month without crime: the step is the year, over whole
    years, so each year holds the same months and years compare like with like.

    Parameters
    ----------
    dates : ndarray of datetime64[D]
        Incident dates (NaT for undated).
    period : (first, last)
        Recording period.

    Returns
    -------
    step : str
    choice : Choice
    period : (first, last)
        The cube's period (whole years for sampled months).
    """
    months = np.unique(np.asarray(dates, dtype="datetime64[D]")[~np.isnat(dates)]
                       .astype("datetime64[M]"))
    consecutive = months.size and int((months[-1] - months[0]).astype(int)) + 1 == months.size
    if consecutive:
        first, last = (np.datetime64(p, "D") for p in period)
        years = (int((last - first).astype(int)) + 1) / 365.25
        step = "month" if years < 3 else "quarter" if years < 15 else "year"
        while len(complete_steps(period, step)) < MIN_STEPS and step != "month":
            step = STEPS[STEPS.index(step) - 1]
        n = len(complete_steps(period, step))
        return step, announce(Choice(
            "time_step", step, f"dates are months only, so the step is at least a month "
            f"(months under 3 years, quarters under 15, else years); {n} complete {step}s")), period
    years = months.astype("datetime64[Y]")
    cube_period = (years[0].astype("datetime64[D]"),
                   (years[-1] + 1).astype("datetime64[D]") - 1)
    shown = ", ".join(str(m) for m in months[:6]) + (" ..." if months.size > 6 else "")
    return "year", announce(Choice(
        "time_step", "year",
        f"dates are months only and the months on record are not consecutive ({shown}): a "
        "month without a file is not a month without crime, so years are compared, each over "
        "the months on record")), cube_period


@dataclass
class Cube:
    """Incident counts per cell (inside the study area) and time step.

    Attributes
    ----------
    counts : ndarray of int64, shape (n_cells, n_steps)
        Cells in ``grid.mask`` row-major order.
    starts : ndarray of datetime64[D]
        First day of each step.
    step : str
        ``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``.
    outside : int
        Dated incidents falling in the incomplete edge steps (left out).
    """

    counts: np.ndarray
    starts: np.ndarray
    step: str
    outside: int = 0

    @property
    def n_steps(self) -> int:
        """Number of time steps."""
        return self.counts.shape[1]

    def labels(self) -> list[str]:
        """Human-readable step labels (``2022-Q3``, ``2022-07``, ``2022-07-04``...)."""
        out = []
        for d in pd.DatetimeIndex(self.starts):
            if self.step == "quarter":
                out.append(f"{d.year}-Q{(d.month - 1) // 3 + 1}")
            elif self.step == "month":
                out.append(f"{d.year}-{d.month:02d}")
            elif self.step == "year":
                out.append(str(d.year))
            else:
                out.append(d.strftime("%Y-%m-%d"))
        return out


def build_cube(
    grid: Grid, x: np.ndarray, y: np.ndarray, dates: np.ndarray,
    period: tuple[np.datetime64, np.datetime64], step: str,
) -> Cube:
    """Count incidents per cell and step with one ``bincount``.

    Parameters
    ----------
    grid : Grid
        The study grid.
    x, y : ndarray
        Incident coordinates (grid CRS).
    dates : ndarray of datetime64[D]
        Local dates (NaT = undated, left out).
    period : tuple of datetime64[D]
        Recording period.
    step : str
        Time step.
    """
    ordinals = complete_steps(period, step)
    n_steps = ordinals.size
    cell_of = np.full(grid.n_rows * grid.n_cols, -1, dtype=np.int64)
    cell_of[np.flatnonzero(grid.mask)] = np.arange(grid.n_cells)
    row, col = grid.cell_index(x, y)
    dates = np.asarray(dates, dtype="datetime64[D]")
    ok = (row >= 0) & ~np.isnat(dates)
    t = np.full(row.shape, -1, dtype=np.int64)
    if n_steps:
        t[ok] = step_ordinal(dates[ok], step) - ordinals[0]
    in_time = ok & (t >= 0) & (t < n_steps)
    cell = cell_of[row[in_time] * grid.n_cols + col[in_time]]
    flat = cell * n_steps + t[in_time]
    counts = np.bincount(flat, minlength=grid.n_cells * n_steps).reshape(grid.n_cells, n_steps)
    return Cube(counts.astype(np.int64), step_start(ordinals, step), step,
                int((ok & ~in_time).sum()))
