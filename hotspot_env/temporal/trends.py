"""Time: emerging hot spots, change between two periods, and the trends stage.

Space-time cube
    Incidents are counted per grid cell and time step in one ``bincount``.
    The time step follows the span of the recording period (announced): under
    6 months weeks, under 3 years months, under 15 years quarters, else years;
    a finer step is taken while the coarser one would give fewer than
    :data:`MIN_STEPS` (10) complete steps, the minimum the Mann-Kendall test
    and ArcGIS's Emerging Hot Spot Analysis need. Steps are calendar steps in
    local time (weeks start on Monday); a first or last step that the
    recording period covers less than 90 % is left out (announced), because a
    part-step would look like a fall in incidents.

Gi* per time step
    By default each time slice gets its own Gi* (queen contiguity, self
    included, :func:`hotspot_env.core.hotspots.gi_star`) with the slice's own
    mean and variance. ArcGIS Pro's tool instead uses *space-time*
    neighbours: the cell's queen neighbours in the current and the previous
    ``k`` steps, with the whole cube as the global window. That variant is
    implemented too (``time_lag=k``). Bins are significant hot (cold) spots
    where Gi* z is positive (negative) and the Benjamini-Hochberg FDR holds at
    ``alpha`` within the slice (or cube). The p-values are by default the
    *exact* randomisation p-values of the neighbourhood sum (see
    :func:`randomisation_pvalues`), because the normal approximation of Gi*
    calls one incident among thousands of empty cells a hot spot;
    ``significance="normal"`` gives ArcGIS's normal p-values. The exact
    p-values depend only on a bin's neighbourhood size and sum, so each
    slice gets one small table of them and the FDR step counts bins per
    table entry instead of sorting every bin's p-value.

Mann-Kendall
    Over all cells at once: ``S`` from the pairwise signs and the tie counts
    in one compiled pass per cell (numba), variance with the tie correction,
    z with the continuity correction, as in ``pymannkendall.original_test``
    (checked in the tests). ``trend_z`` /
    ``trend_p`` are the test on each cell's Gi* z series (what the classes
    use); ``count_trend_z`` / ``count_trend_p`` the test on its counts.

Classes
    ArcGIS Pro's Emerging Hot Spot Analysis definitions (see ``docs/time.md``
    for each rule and how overlaps between the published definitions are
    resolved): new, consecutive, intensifying, persistent, diminishing,
    sporadic, oscillating and historical hot spots, the mirrored cold spots,
    and "no pattern".

Change between two periods
    sfhotspot's ``hotspot_change`` idea with a test: per cell the counts
    before and after a boundary, and the conditional binomial test of equal
    daily rates (``after | before + after ~ Binomial(n, t_after / (t_before
    + t_after))``), two-sided by doubling the smaller tail, then
    Benjamini-Hochberg adjusted over the cells with any incident.

References
----------
Mann, H. B. (1945). Nonparametric tests against trend. Econometrica 13, 245-259.
Kendall, M. G. (1975). Rank Correlation Methods, 4th ed. Griffin, London.
Esri. How Emerging Hot Spot Analysis works. ArcGIS Pro tool reference.
Ashby, M. P. J. (2023). sfhotspot: Hot-Spot Analysis with Simple Features. R package.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from scipy import special, stats

from hotspot_env._jit import njit
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.core.hotspots import benjamini_hochberg, bh_adjusted
from hotspot_env.core.stages import declares
from hotspot_env.errors import InputError
from hotspot_env.outputs.privacy import Kind, declare, publish
from hotspot_env.temporal.timesteps import STEPS, step_ordinal, step_start

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Fewest complete time steps for a trend test (ArcGIS's minimum for EHSA).
MIN_STEPS = 10

#: Share of a first/last time step the recording period must cover to be kept.
MIN_STEP_COVERAGE = 0.9

#: Largest space-time lag accepted (exact p-values stay within float range).
MAX_TIME_LAG = 3

NO_PATTERN = "no pattern"
PATTERNS = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic",
            "oscillating", "historical")
HOT_CLASSES = tuple(f"{p} hot spot" for p in PATTERNS)
COLD_CLASSES = tuple(f"{p} cold spot" for p in PATTERNS)
CLASSES = (*HOT_CLASSES, *COLD_CLASSES, NO_PATTERN)

#: Map colours per class (ArcGIS-like: reds for hot, blues for cold).
TREND_COLOURS: dict[str, str] = {
    "new hot spot": "#cb0800", "consecutive hot spot": "#bd6d5e",
    "intensifying hot spot": "#e01709", "persistent hot spot": "#851400",
    "diminishing hot spot": "#f5a27a", "sporadic hot spot": "#e8b9a8",
    "oscillating hot spot": "#b57f6e", "historical hot spot": "#6b4b3e",
    "new cold spot": "#0848a6", "consecutive cold spot": "#5e7ebd",
    "intensifying cold spot": "#0b5bd6", "persistent cold spot": "#00287a",
    "diminishing cold spot": "#7aa6f5", "sporadic cold spot": "#a8c0e8",
    "oscillating cold spot": "#6e8bb5", "historical cold spot": "#3e516b",
    NO_PATTERN: "#d9d9d9",
}


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


# ------------------------------------------------------------------ cube
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


# --------------------------------------------------------- Mann-Kendall
@dataclass(frozen=True)
class MannKendall:
    """Mann-Kendall test results per series (arrays of length n_series)."""

    s: np.ndarray
    var_s: np.ndarray
    z: np.ndarray
    p: np.ndarray
    tau: np.ndarray


def mann_kendall(x: np.ndarray) -> MannKendall:
    """Mann-Kendall trend test of every row of ``x``, vectorised.

    ``S = sum_{i<j} sign(x_j - x_i)``; ``Var(S) = [n(n-1)(2n+5) - sum_g
    t_g(t_g-1)(2t_g+5)] / 18`` over groups ``g`` of ``t_g`` tied values
    (Kendall 1975), computed from how many values equal each value; ``z = (S
    - sign(S)) / sqrt(Var S)``; two-sided normal p; Kendall's tau-a ``S /
    (n(n-1)/2)``. Matches ``pymannkendall.original_test``. ``S`` and the tie
    term are integer counts over the pairs of each row (compiled loop, see
    :func:`_mk_pairs`), so they are exact.

    Parameters
    ----------
    x : ndarray, shape (n_series, n) or (n,)
        Series in time order (a NaN makes that row's S NaN).

    Returns
    -------
    MannKendall
    """
    x = np.ascontiguousarray(np.atleast_2d(np.asarray(x, dtype=np.float64)))
    m, n = x.shape
    s, ties = _mk_pairs(x)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_s > 0, (s - np.sign(s)) / np.sqrt(var_s), 0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    tau = s / (0.5 * n * (n - 1)) if n > 1 else np.zeros(m)
    return MannKendall(s, var_s, z, p, tau)


@njit()
def _mk_pairs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per row: ``S = sum_{i<j} sign(x_j - x_i)`` and ``sum_v (e_v - 1)(2 e_v + 5)``
    over the values, ``e_v`` counting the values equal to ``x_v`` (itself
    included), i.e. each tie group's ``t(t-1)(2t+5)`` counted ``t`` times.

    One branch-free pass over the pairs of each row, where NumPy needs
    temporary arrays per lag (the cube has ~240k rows of ~24 steps).
    """
    m, n = x.shape
    s = np.zeros(m)
    ties = np.zeros(m)
    equal = np.empty(n, dtype=np.int64)
    for r in range(m):
        row = x[r]
        equal[:] = 1
        total = 0
        bad = False
        for i in range(n - 1):
            xi = row[i]
            tied = 0
            for j in range(i + 1, n):
                d = row[j] - xi
                total += np.int64(d > 0) - np.int64(d < 0)
                tie = np.int64(d == 0)
                tied += tie
                equal[j] += tie
                bad |= d != d  # NaN: np.sign(d) would make S NaN
            equal[i] += tied
        s[r] = np.nan if bad else total
        acc = 0
        for i in range(n):
            acc += (equal[i] - 1) * (2 * equal[i] + 5)
        ties[r] = acc
    return s, ties


# ------------------------------------------------- exact Gi* p-values
def randomisation_pvalues(
    values: np.ndarray, local_sum: np.ndarray, cardinality: np.ndarray
) -> np.ndarray:
    """Exact two-sided randomisation p-values of neighbourhood sums.

    Under total randomisation (the null hypothesis of Gi*'s moments: the
    observed values are shuffled at random over the ``n`` locations) a
    neighbourhood of ``w`` locations holds a random ``w``-subset of the
    values, so its sum ``L`` has an exact distribution, computed here by
    dynamic programming over the distinct values (their multiplicities enter
    through binomial coefficients). For a given ``w``, Gi* z is an increasing
    function of ``L``, so this is the exact p-value of Gi* - what infinitely
    many permutations would give. p = min(1, 2 min(P(L >= l), P(L <= l))).

    Parameters
    ----------
    values : ndarray of int
        All ``n`` observed values (non-negative integers, e.g. counts).
    local_sum : ndarray of int
        Observed neighbourhood sums.
    cardinality : ndarray of int
        Neighbourhood sizes (same shape as ``local_sum``).

    Returns
    -------
    ndarray of float
        p-values (NaN where not finite, e.g. on overflow).
    """
    local_sum = np.asarray(local_sum, dtype=np.int64)
    table, key = _exact_p_table(values, local_sum, cardinality)
    if table is None:
        return np.full(local_sum.shape, np.nan)
    return table[key]


def _exact_p_table(
    values: np.ndarray, local_sum: np.ndarray, cardinality: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """p-value of every possible (size, sum) and the index of each observed one in it.

    The p-values of :func:`randomisation_pvalues` depend only on the
    neighbourhood size ``w`` and the (clipped) sum, so they are computed once
    per pair (:func:`_sum_pvalues`): ``table`` is flat, ``key = w * (s_max +
    2) + s`` with ``s = s_max + 1`` for sums above the largest possible
    ``s_max`` (upper tail 0). Cells sharing a key share their p-value
    exactly, which :func:`_bh_cut` uses to skip sorting.

    Returns
    -------
    table : ndarray or None
        p-values (NaN where not finite); None without values or sums.
    key : ndarray of int64
        Shape of ``local_sum``.
    """
    values = np.asarray(values, dtype=np.int64).ravel()
    local_sum = np.asarray(local_sum, dtype=np.int64)
    cardinality = np.asarray(cardinality, dtype=np.int64)
    if values.size == 0 or local_sum.size == 0:
        return None, np.zeros(local_sum.shape, dtype=np.int64)
    w_max = int(cardinality.max())
    if values.min() >= 0:  # a histogram instead of sorting the values
        histogram = np.bincount(values)
        uniq = np.flatnonzero(histogram)
        mult = histogram[uniq]
    else:
        uniq, mult = np.unique(values, return_counts=True)
    table, s_max = _sum_pvalues(uniq, mult, w_max)
    w = np.clip(cardinality, 0, w_max)
    # clipping to s_max + 1 sends every sum above s_max to the last column
    return table, w * (s_max + 2) + np.clip(local_sum, 0, s_max + 1)


def _sum_pvalues(uniq: np.ndarray, mult: np.ndarray, w_max: int) -> tuple[np.ndarray, int]:
    """Exact two-sided p-values of the sum of a random ``w``-subset, every ``w`` and sum.

    Parameters
    ----------
    uniq : ndarray of int
        The distinct values, ascending.
    mult : ndarray of int
        How many locations hold each.
    w_max : int
        Largest subset size.

    Returns
    -------
    table : ndarray
        Flat ``(w_max + 1, s_max + 2)`` p-values by size and sum; the last
        column is for sums above ``s_max`` (NaN where not finite).
    s_max : int
        Sum of the ``w_max`` largest values.
    """
    n = int(mult.sum())
    # sum of the w_max largest values, from the top of the histogram
    above = np.cumsum(mult[::-1]) - mult[::-1]
    taken = np.clip(w_max - above, 0, mult[::-1])
    s_max = int((taken * uniq[::-1]).sum())
    ways = np.zeros((w_max + 1, s_max + 1))
    ways[0, 0] = 1.0
    for v, m in zip(uniq.tolist(), mult.tolist(), strict=True):
        new = np.zeros_like(ways)
        for j in range(min(m, w_max) + 1):
            shift = j * v
            if shift > s_max:
                break
            new[j:, shift:] += special.comb(m, j) * ways[: w_max + 1 - j, : s_max + 1 - shift]
        ways = new
    norm = special.comb(n, np.arange(w_max + 1))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        dist = ways / norm[:, None]
    upper = np.cumsum(dist[:, ::-1], axis=1)[:, ::-1]
    lower = np.cumsum(dist, axis=1)
    # last column: sums no subset can reach (upper tail 0, lower tail that of s_max)
    upper = np.concatenate([upper, np.zeros((w_max + 1, 1))], axis=1)
    lower = np.concatenate([lower, lower[:, -1:]], axis=1)
    table = np.minimum(1.0, 2.0 * np.minimum(upper, lower))
    return np.where(np.isfinite(table), table, np.nan).ravel(), s_max


def _bh_cut(table: np.ndarray, counts: np.ndarray, q: float) -> float | None:
    """Benjamini-Hochberg for p-values given as distinct values and their counts.

    BH's step-up finds the largest ``k`` with ``p_(k) <= q k / m``. When the
    ``m`` p-values take few distinct values, ``k`` is always the last
    position of a run of equal values, so it is enough to test each value
    ``v`` at ``k = #{p <= v}`` (a cumulative count, no sort of the ``m``
    p-values): the significant tests are those with ``p <= v`` at the
    largest passing ``v`` - the same as
    :func:`hotspot_env.core.hotspots.benjamini_hochberg` (checked in the tests).

    Parameters
    ----------
    table : ndarray of float
        Distinct (or repeated) p-values.
    counts : ndarray of int
        How many tests have each.
    q : float
        False discovery rate.

    Returns
    -------
    float or None
        The cut ``v`` (significant: ``p <= v``), None when nothing is.
    """
    used = np.flatnonzero(counts)
    if used.size == 0:
        return None
    order = used[np.argsort(table[used], kind="stable")]
    cum = np.cumsum(counts[order])
    passed = table[order] <= q * cum / cum[-1]  # the thresholds q * k / m of the sort
    if not passed.any():
        return None
    return float(table[order[np.flatnonzero(passed)[-1]]])


def _bh_by_key(table: np.ndarray, key: np.ndarray, q: float) -> np.ndarray:
    """FDR (Benjamini-Hochberg) of ``table[key]``, one cut per key (see :func:`_bh_cut`)."""
    cut = _bh_cut(table, np.bincount(np.ravel(key), minlength=table.size), q)
    return np.zeros(np.shape(key), dtype=bool) if cut is None else table[key] <= cut


def _cube_exact(
    counts: np.ndarray, local: np.ndarray, card: np.ndarray, q: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact p-values and BH significance within each slice, for all slices at once.

    Every slice's p-value table (:func:`_sum_pvalues`, from the slice's
    histogram) goes into one concatenated table; each bin's key points into
    its slice's part, so the p-values are one gather and the per-slice BH one
    ``bincount`` (:func:`_bh_cut`) - the same numbers as
    :func:`randomisation_pvalues` and ``benjamini_hochberg`` slice by slice.
    A slice without incidents has p = 1 everywhere.

    Returns
    -------
    p, significant : ndarray, shape (n_cells, n_steps)
    """
    n_cells, n_steps = counts.shape
    if counts.size == 0:
        return np.ones(counts.shape), np.zeros(counts.shape, dtype=bool)
    if counts.min() < 0:
        raise InputError("cube counts must be non-negative")
    steps = np.arange(n_steps)
    histograms = np.bincount((counts * n_steps + steps).ravel(),
                             minlength=(int(counts.max(initial=0)) + 1) * n_steps)
    histograms = histograms.reshape(-1, n_steps)
    w_max = int(card.max(initial=0))
    tables, stride, cap = [], np.zeros(n_steps, np.int64), np.zeros(n_steps, np.int64)
    for t in range(n_steps):
        uniq = np.flatnonzero(histograms[:, t])
        if uniq.size == 0 or uniq[-1] == 0:  # no incident in the slice: z 0, p 1
            tables.append(np.ones(1))
            continue
        table, s_max = _sum_pvalues(uniq, histograms[uniq, t], w_max)
        tables.append(np.nan_to_num(table, nan=1.0))
        stride[t], cap[t] = s_max + 2, s_max + 1
    offset = np.cumsum([0] + [table.size for table in tables])
    key = np.minimum(local, cap)  # sums above s_max: the last column
    key += card[:, None] * stride
    key += offset[:-1]
    table = np.concatenate(tables)
    per_key = np.bincount(key.ravel(), minlength=table.size)
    passes = np.zeros(table.size, dtype=bool)
    for t in range(n_steps):
        part = slice(offset[t], offset[t + 1])
        cut = _bh_cut(table[part], per_key[part], q)
        if cut is not None:
            passes[part] = table[part] <= cut
    return table[key], passes[key]


# ------------------------------------------------------- Gi* per step
@dataclass
class SliceGi:
    """Gi* of every bin of the cube (arrays of shape (n_cells, n_steps))."""

    z: np.ndarray
    p: np.ndarray
    hot: np.ndarray
    cold: np.ndarray


def _box_sums(grid: Grid, counts: np.ndarray) -> np.ndarray:
    """Queen-neighbourhood sums (self included) of every column of ``counts``.

    Integer version of :func:`hotspot_env.core.hotspots.box_sum` on every time
    slice at once (zeros outside ``grid.mask`` and the grid): a 3 + 3
    separable sum of shifted views of a cell-major (row, col, step) array, so
    every gather and shift moves whole contiguous step vectors.

    Parameters
    ----------
    grid : Grid
        The study grid.
    counts : ndarray of int, shape (n_cells, n_steps)
        Values of the ``grid.mask`` cells.

    Returns
    -------
    ndarray of int, shape (n_cells, n_steps)
        int32 when no sum can overflow it (half the memory traffic), else int64.
    """
    counts = np.asarray(counts)
    largest = int(counts.max(initial=0))
    dtype = np.int32 if 9 * largest < np.iinfo(np.int32).max else np.int64
    padded = np.zeros((grid.n_rows + 2, grid.n_cols + 2, counts.shape[1]), dtype=dtype)
    padded[1:-1, 1:-1][grid.mask] = counts
    across = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    return (across[:-2] + across[1:-1] + across[2:])[grid.mask]


def _slice_z(counts: np.ndarray, local: np.ndarray, card: np.ndarray) -> np.ndarray:
    """Gi* z of every time slice (column) on the ``grid.mask`` cells; 0 in empty slices.

    The operations of :func:`hotspot_env.core.hotspots.gi_star`, in the same order
    so the numbers are the same (per-slice scalars as NumPy scalars, as
    there), for all slices at once and in place, without the p-values and FDR
    bins ``gi_star`` would also compute for every slice.
    """
    n = counts.shape[0]
    y = counts.astype(np.float64)
    total = y.sum(axis=0)  # sums of integers: exact in any order
    squares = (y**2).sum(axis=0)
    mean_sq = np.ones_like(total)
    variance = np.zeros_like(total)
    for t in range(total.size):
        mean = total[t] / n
        mean_sq[t], variance[t] = mean**2, squares[t] / n - mean**2
    cardinality = card.astype(np.float64)
    spread = cardinality * (n - cardinality) / (n - 1) / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.divide(local, total)  # (local / total - card / n) / sqrt(spread var / mean^2)
        z -= (cardinality / n)[:, None]
        scale = np.multiply.outer(spread, variance)
        scale /= mean_sq
        np.sqrt(scale, out=scale)
        z /= scale
    z[:, total <= 0] = 0.0
    z[~np.isfinite(z)] = 0.0
    return z


def cube_gi(
    grid: Grid, counts: np.ndarray, time_lag: int = 0, significance: str = "exact",
    alpha: float = 0.05,
) -> SliceGi:
    """Gi* z, p and significant hot/cold bins for every cell and time step.

    Parameters
    ----------
    grid : Grid
        The study grid.
    counts : ndarray, shape (n_cells, n_steps)
        Cube counts (cells of ``grid.mask``).
    time_lag : int
        0: Gi* per time slice (slice mean and variance). ``k > 0``: space-time
        Gi* (ArcGIS): queen neighbours in the current and ``k`` previous steps,
        mean and variance of the whole cube.
    significance : {"exact", "normal"}
        Exact randomisation p-values, or the normal approximation.
    alpha : float
        Benjamini-Hochberg FDR within each slice (``time_lag=0``) or over the
        whole cube.

    Returns
    -------
    SliceGi
    """
    if significance not in ("exact", "normal"):
        raise InputError(f"significance must be 'exact' or 'normal', got {significance!r}")
    if not (isinstance(time_lag, int) and 0 <= time_lag <= MAX_TIME_LAG):
        raise InputError(f"time_lag must be an integer from 0 to {MAX_TIME_LAG}, "
                         f"got {time_lag!r}")
    counts = np.asarray(counts)
    n_cells, n_steps = counts.shape
    card = _box_sums(grid, np.ones((n_cells, 1), dtype=np.int64))[:, 0]
    local = _box_sums(grid, counts)
    if time_lag == 0:
        z = _slice_z(counts, local, card) if n_cells >= 2 else np.zeros((n_cells, n_steps))
        if significance == "exact":
            p, significant = _cube_exact(counts, local, card, alpha)
            return SliceGi(z, p, significant & (z > 0), significant & (z < 0))
        p = np.ones((n_cells, n_steps))
        significant = np.zeros((n_cells, n_steps), dtype=bool)
        for t in range(n_steps):
            if counts[:, t].sum() > 0 and n_cells >= 2:
                p[:, t] = 2.0 * stats.norm.sf(np.abs(z[:, t]))
            significant[:, t] = benjamini_hochberg(p[:, t], alpha)
        return SliceGi(z, p, significant & (z > 0), significant & (z < 0))
    n = counts.size
    mean = counts.sum() / n
    std = math.sqrt(max((counts.astype(np.float64) ** 2).sum() / n - mean**2, 0.0))
    sums = np.zeros((n_cells, n_steps), dtype=np.int64)
    cards = np.zeros((n_cells, n_steps), dtype=np.int64)
    for t in range(n_steps):
        first = max(0, t - time_lag)
        sums[:, t] = local[:, first:t + 1].sum(axis=1)
        cards[:, t] = card * (t + 1 - first)
    z = np.zeros((n_cells, n_steps))
    p = np.ones((n_cells, n_steps))
    if std > 0:
        w = cards.astype(np.float64)
        z = (sums - mean * w) / (std * np.sqrt(w * (n - w) / (n - 1)))
        if significance == "exact":
            table, key = _exact_p_table(counts, sums, cards)
            table = np.nan_to_num(table, nan=1.0)
            significant = _bh_by_key(table, key, alpha)
            return SliceGi(z, table[key], significant & (z > 0), significant & (z < 0))
        p = 2.0 * stats.norm.sf(np.abs(z))
    significant = benjamini_hochberg(p.ravel(), alpha).reshape(p.shape)
    return SliceGi(z, p, significant & (z > 0), significant & (z < 0))


# ---------------------------------------------------------- classes
def classify(
    hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray,
    alpha: float = 0.05,
) -> np.ndarray:
    """Emerging hot spot class of every cell (ArcGIS Pro definitions).

    Parameters
    ----------
    hot, cold : ndarray of bool, shape (n_cells, n_steps)
        Significant hot / cold spot bins.
    trend_z, trend_p : ndarray, shape (n_cells,)
        Mann-Kendall z and p of each cell's Gi* z series.
    alpha : float
        Significance level of the trend.

    Returns
    -------
    ndarray of object (str)
        One of :data:`CLASSES`. Rules: ``docs/time.md``.
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    n_cells, n = hot.shape
    out = np.full(n_cells, NO_PATTERN, dtype=object)
    if n == 0:
        return out
    up = (trend_z > 0) & (trend_p < alpha)
    down = (trend_z < 0) & (trend_p < alpha)
    for same, other, rising, falling, names in (
        (hot, cold, up, down, HOT_CLASSES), (cold, hot, down, up, COLD_CLASSES),
    ):
        name = dict(zip(PATTERNS, names, strict=True))
        total = same.sum(axis=1)
        majority = 10 * total >= 9 * n  # at least 90 % of the steps
        final = same[:, -1]
        # trailing run length: steps after the last step that is not `same`
        run = np.where(total == n, n, np.argmax(~same[:, ::-1], axis=1))
        before_run = total > run
        prior_other = other[:, :-1].any(axis=1)
        rules = {
            "intensifying": majority & final & rising,
            "diminishing": majority & final & falling,
            "persistent": majority & final & ~rising & ~falling,
            "historical": majority & ~final & ~other[:, -1],
            "oscillating": ~majority & final & prior_other,
            "new": ~majority & final & ~prior_other & (total == 1),
            "consecutive": ~majority & final & ~prior_other & (run >= 2) & ~before_run,
            "sporadic": ~majority & final & ~prior_other & before_run,
        }
        for pattern, hit in rules.items():
            out[hit] = name[pattern]
    return out


@dataclass
class Emerging:
    """Emerging hot spot results per cell of ``grid.mask`` (row-major)."""

    trend_class: np.ndarray
    trend_z: np.ndarray
    trend_p: np.ndarray
    count_trend_z: np.ndarray
    count_trend_p: np.ndarray
    gi: SliceGi


def emerging_hot_spots(
    grid: Grid, counts: np.ndarray, time_lag: int = 0, significance: str = "exact",
    alpha: float = 0.05,
) -> Emerging:
    """Gi* per bin, Mann-Kendall trends and the EHSA class of every cell.

    Parameters
    ----------
    grid : Grid
        The study grid.
    counts : ndarray, shape (n_cells, n_steps)
        Cube counts for the cells of ``grid.mask``.
    time_lag, significance, alpha
        See :func:`cube_gi`; ``alpha`` is also the trend test's level.

    Returns
    -------
    Emerging
    """
    gi = cube_gi(grid, counts, time_lag, significance, alpha)
    mk_z = mann_kendall(gi.z)
    mk_c = mann_kendall(counts)
    classes = classify(gi.hot, gi.cold, mk_z.z, mk_z.p, alpha)
    return Emerging(classes, mk_z.z, mk_z.p, mk_c.z, mk_c.p, gi)


# ---------------------------------------------------------- change test
@dataclass
class Change:
    """Per-cell change between two periods.

    Attributes
    ----------
    before, after : ndarray of int
        Counts in each period.
    p : ndarray
        Benjamini-Hochberg adjusted two-sided p-value (1 where no incident).
    change_class : ndarray of object
        ``"increase"``, ``"decrease"`` or ``"no change"`` at FDR ``alpha``.
    """

    before: np.ndarray
    after: np.ndarray
    p: np.ndarray
    change_class: np.ndarray


def change_test(
    before: np.ndarray, after: np.ndarray, days_before: float, days_after: float,
    alpha: float = 0.05,
) -> Change:
    """Test each cell for a change of its daily incident rate between two periods.

    Conditional on ``n = before + after``, equal rates give ``after ~
    Binomial(n, d_a / (d_b + d_a))`` with ``d`` the period lengths. The
    two-sided p doubles the smaller tail (capped at 1) and is adjusted by
    Benjamini-Hochberg over the cells with ``n > 0``.

    Parameters
    ----------
    before, after : ndarray of int
        Counts per cell.
    days_before, days_after : float
        Lengths of the two periods.
    alpha : float
        FDR for the classes.

    Returns
    -------
    Change
    """
    before = np.asarray(before, dtype=np.int64)
    after = np.asarray(after, dtype=np.int64)
    if not (days_before > 0 and days_after > 0):
        raise InputError("both change periods must be longer than zero days")
    n = before + after
    share = days_after / (days_before + days_after)
    raw = np.ones(n.shape)
    tested = n > 0
    lower = stats.binom.cdf(after[tested], n[tested], share)
    upper = stats.binom.sf(after[tested] - 1, n[tested], share)
    raw[tested] = np.minimum(1.0, 2.0 * np.minimum(lower, upper))
    adjusted = np.ones(n.shape)
    adjusted[tested] = bh_adjusted(raw[tested])
    rate_up = after * days_before > before * days_after
    rate_down = after * days_before < before * days_after
    classes = np.full(n.shape, "no change", dtype=object)
    classes[(adjusted < alpha) & rate_up] = "increase"
    classes[(adjusted < alpha) & rate_down] = "decrease"
    return Change(before, after, adjusted, classes)


def choose_change_periods(
    cube: Cube, boundary: object | None = None,
) -> tuple[tuple[np.datetime64, np.datetime64, np.datetime64], Choice]:
    """Before/after periods for the change test.

    Default: with at least two years of complete steps, the last 12 months
    against the 12 months before (whole seasonal cycles, so no seasonal
    bias); otherwise the cube's steps split into two halves. A given
    ``boundary`` date splits the whole cube there.

    Returns
    -------
    (start, boundary, end) : tuple of datetime64[D]
        Before = [start, boundary), after = [boundary, end).
    choice : Choice
    """
    end = step_start(step_ordinal(cube.starts[-1], cube.step) + 1, cube.step)
    start0 = cube.starts[0]
    if boundary is not None:
        mid = np.datetime64(pd.Timestamp(boundary).date(), "D")
        if not (start0 < mid < end):
            raise InputError(f"change boundary {mid} is outside the period {start0} to {end}")
        rule = "boundary given"
        start = start0
    elif end - np.timedelta64(730, "D") >= start0:
        mid = (end.astype("datetime64[M]") - 12).astype("datetime64[D]")
        if end.astype("datetime64[M]").astype("datetime64[D]") != end:
            mid = end - np.timedelta64(365, "D")
        start = (mid.astype("datetime64[M]") - 12).astype("datetime64[D]")
        if mid.astype("datetime64[M]").astype("datetime64[D]") != mid:
            start = mid - np.timedelta64(365, "D")
        rule = "the last 12 months compared with the 12 months before (same seasons)"
    else:
        half = cube.n_steps // 2
        mid = cube.starts[cube.n_steps - half]
        start = cube.starts[cube.n_steps - 2 * half]
        rule = f"the last {half} {cube.step}s compared with the {half} before"
    value = f"{start} to {mid - 1} vs {mid} to {end - 1}"
    return (start, mid, end), announce(Choice("change_periods", value, rule))


# ------------------------------------------------------------- the stage
TRENDS_MESSAGE = "time analyses need a date column; everything else still ran"


@declares(adds=("trends", "trends_message", "arrays.district", "arrays.timing",
                  "arrays.trend_class", "arrays.change_class", "map_layers.emerging_hot_spots"))
def stage(analysis: Analysis, **options: Any) -> None:
    """Pipeline stage: emerging hot spots, change, profiles, demand and work timing.

    Parameters
    ----------
    analysis : Analysis
        The run so far; gains ``arrays["trend_class"]``, ``trend_z``,
        ``trend_p``, ``count_trend_z``, ``count_trend_p``, ``change_before``,
        ``change_after``, ``change_p``, ``change_class``, ``district``,
        ``timing``; ``map_layers["emerging_hot_spots"]``; and
        ``analysis.trends``. Without dates only
        ``analysis.trends_message`` is set.
    **options
        ``time_step`` (str), ``time_lag`` (int, default 0), ``significance``
        ("exact"/"normal"), ``alpha`` (0.05), ``timezone`` (str),
        ``period`` ((first, last) recording dates; default
        ``parameters["record_period"]`` or the incident dates),
        ``change_boundary`` (date), ``horizon_weeks`` (8),
        ``district_boundaries`` (GeoDataFrame), ``district_id_column`` (str),
        ``district_block_cells`` (int).
    """
    from hotspot_env.temporal import demand, profiles

    known = {"time_step", "time_lag", "significance", "alpha", "timezone", "period",
             "change_boundary", "horizon_weeks", "district_boundaries", "district_id_column",
             "district_block_cells"}
    unknown = set(options) - known
    if unknown:
        raise InputError(f"unknown trends option(s): {', '.join(sorted(unknown))}")
    demand.check_horizon(options.get("horizon_weeks", 8))  # before any work
    if not analysis.has_dates:
        analysis.trends_message = TRENDS_MESSAGE
        return
    alpha = float(options.get("alpha", 0.05))
    grid = analysis.grid
    choices: list[Choice] = []
    zone, zone_choice = profiles.run_timezone(analysis, options.get("timezone"))
    if zone_choice:
        choices.append(zone_choice)
    period = options.get("period") or analysis.parameters.get("record_period")
    cal = profiles.local_calendar(analysis.points, zone, period)
    n_undated = int((~cal.dated).sum())
    if n_undated:
        choices.append(announce(Choice(
            "undated_incidents", n_undated, "incidents without a date are left out of the time "
            "analyses")))
    geoms = analysis.points.geometry.values  # points: no GeoSeries type checks needed
    xs, ys = shapely.get_x(geoms), shapely.get_y(geoms)

    # space-time cube and emerging hot spots
    step = options.get("time_step")
    month_only = analysis.parameters.get("date_precision") == "month"
    cube_period = cal.period
    if step is None and month_only:
        step, c, cube_period = month_time_step(cal.date, cal.period)
        choices.append(c)
    elif step is None:
        step, c = choose_time_step(cal.period)
        choices.append(c)
    check_time_steps(cube_period, step, int(grid.mask.sum()))  # also refuses unknown steps
    cube = build_cube(grid, xs, ys, cal.date, cube_period, step)
    if cube.outside:
        choices.append(announce(Choice(
            "incidents_outside_steps", cube.outside, "incidents in an incomplete first or last "
            f"{step} are left out of the trends")))
    messages: list[str] = []
    mask = grid.mask
    arrays = analysis.arrays
    trend_class = np.full(grid.shape, "", dtype=object)
    nan = np.full(grid.shape, np.nan)
    trend_z, trend_p, ct_z, ct_p = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    class_counts: dict[str, int] = {}
    time_lag = int(options.get("time_lag", 0))
    significance = options.get("significance", "exact")
    if cube.n_steps >= MIN_STEPS and cube.counts.sum() > 0:
        result = emerging_hot_spots(grid, cube.counts, time_lag, significance, alpha)
        trend_class[mask] = result.trend_class
        trend_z[mask], trend_p[mask] = result.trend_z, result.trend_p
        ct_z[mask], ct_p[mask] = result.count_trend_z, result.count_trend_p
        freq = pd.Series(result.trend_class, dtype=object).value_counts().sort_index()
        class_counts = {str(v): int(f) for v, f in freq.items()}
    else:
        trend_class[mask] = NO_PATTERN
        messages.append(f"only {cube.n_steps} complete {step}s: emerging hot spots need at "
                        f"least {MIN_STEPS}")
    for name, values in (("trend_class", trend_class), ("trend_z", trend_z),
                         ("trend_p", trend_p), ("count_trend_z", ct_z), ("count_trend_p", ct_p)):
        declare(analysis, name, values, Kind.COUNT_DERIVED)
    # polygons only for the cells the layer keeps (usually a few of the grid's)
    patterned = replace(grid, mask=grid.mask & (trend_class != NO_PATTERN))
    layer = patterned.to_geodataframe(
        {"trend_class": trend_class, "trend_z": trend_z, "trend_p": trend_p})
    if layer.empty:  # no text to infer the class column's dtype from: as the whole grid's
        layer["trend_class"] = layer["trend_class"].astype(
            pd.Series(trend_class[mask][:1]).dtype)
    analysis.map_layers["emerging_hot_spots"] = layer

    # change between two periods
    change_info: dict[str, Any] = {}
    if cube.n_steps >= 2:
        (start, mid, end), c = choose_change_periods(cube, options.get("change_boundary"))
        choices.append(c)
        before_steps = (cube.starts >= start) & (cube.starts < mid)
        after_steps = (cube.starts >= mid) & (cube.starts < end)
        change = change_test(cube.counts[:, before_steps].sum(axis=1),
                             cube.counts[:, after_steps].sum(axis=1),
                             float((mid - start).astype(int)), float((end - mid).astype(int)),
                             alpha)
        # true counts, declared as counts: the output gate protects them (one DP release)
        for name, values in (("change_before", change.before), ("change_after", change.after)):
            declare(analysis, name, _to_grid(grid, np.asarray(values, dtype=np.int64), 0),
                    Kind.COUNT)
        change_p = change.p
        if analysis.parameters.get("privacy") == "public":  # a p-value must not reveal "<k"
            k = analysis.parameters.get("k_threshold") or 5
            change_p = np.where(change.before + change.after < k, np.nan, change_p)
        declare(analysis, "change_p", _to_grid(grid, change_p, np.nan), Kind.COUNT_DERIVED)
        declare(analysis, "change_class", _to_grid(grid, change.change_class, ""),
                Kind.COUNT_DERIVED)
        change_info = {"before": f"{start} to {mid - 1}", "after": f"{mid} to {end - 1}",
                       "increase": int((change.change_class == "increase").sum()),
                       "decrease": int((change.change_class == "decrease").sum())}

    # districts, profiles, demand, work timing
    districts, dist_choice = _districts(analysis, options)
    choices.append(dist_choice)
    declare(analysis, "district", districts.labels, Kind.IDENTIFIER)
    point_d = profiles.point_districts(grid, districts, xs, ys)
    light = profiles.light_conditions(analysis.points)
    hemi = profiles.hemisphere(grid)
    prof = profiles.profiles(cal, point_d, districts.ids, light, hemi)
    hot_areas = profiles.hotspot_areas(grid, arrays.get("gi_bin", np.zeros(grid.shape)),
                                       arrays.get("incidents", np.zeros(grid.shape)))
    hot_prof = profiles.profiles(cal, profiles.point_districts(grid, hot_areas, xs, ys),
                                 hot_areas.ids, light, hemi) if hot_areas.ids else None
    if prof.message:
        messages.append(prof.message)
    if month_only:  # weekly demand from month-only dates would invent the weeks
        fc = demand.DemandResult(None, None, None, "dates are months only: no weekly demand "
                                 "forecast (it needs the day of each incident)")
    else:
        fc = demand.demand_forecast(cal, point_d, districts.ids, analysis.points["category"],
                                    horizon=demand.check_horizon(options.get("horizon_weeks", 8)),
                                    privacy=analysis.parameters.get("privacy", "internal"),
                                    k=analysis.parameters.get("k_threshold"))
    if fc.message:
        messages.append(fc.message)
    declare(analysis, "timing", profiles.work_timing(analysis, prof, districts, hemi),
            Kind.LABEL)

    analysis.choices.extend(choices)
    analysis.parameters.update(
        time_step=step, time_lag=time_lag, trend_significance=significance, trend_alpha=alpha,
        profile_timezone=zone)
    analysis.trends = {
        "cube": {"step": step, "n_steps": cube.n_steps, "labels": cube.labels(),
                 "incidents_per_step": cube.counts.sum(axis=0).tolist(),
                 "incidents_outside_steps": cube.outside, "time_lag": time_lag,
                 "significance": significance, "alpha": alpha,
                 "period": [str(cal.period[0]), str(cal.period[1])]},
        "classes": class_counts,
        "change": change_info,
        "districts": districts,
        "profiles": prof,
        "hotspot_profiles": hot_prof,
        "demand": fc.table,
        "backtest": fc.backtest,
        "messages": messages,
    }


def _to_grid(grid: Grid, values: np.ndarray, fill: Any) -> np.ndarray:
    """Per-cell values of ``grid.mask`` cells as a ``grid.shape`` array (``fill`` outside)."""
    values = np.asarray(values)
    out = np.full(grid.shape, fill, dtype=values.dtype)
    out[grid.mask] = values
    return out


def _districts(analysis: Analysis, options: dict[str, Any]):
    from hotspot_env.temporal import profiles

    boundaries = options.get("district_boundaries")
    if boundaries is not None:
        return profiles.boundary_districts(analysis.grid, boundaries,
                                           options.get("district_id_column"))
    return profiles.grid_districts(analysis.grid, options.get("district_block_cells"))


# ---------------------------------------------------------------- writer
#: Privacy kinds of the ``trends.csv`` columns not already declared per cell.
TRENDS_KINDS = {"cell_id": Kind.IDENTIFIER}

#: Privacy kinds of the ``demand_forecast.csv`` columns: district-week
#: forecasts aggregate many cells (rounded to whole incidents in public mode).
DEMAND_KINDS = {"district": Kind.IDENTIFIER, "week_start": Kind.IDENTIFIER,
                "expected_incidents": Kind.AREA_DERIVED, "lo80": Kind.AREA_DERIVED,
                "hi80": Kind.AREA_DERIVED, "top_categories": Kind.LABEL}


def trends_frame(analysis: Analysis) -> pd.DataFrame:
    """``trends.csv`` rows: one per cell, through the privacy gate; no coordinates."""
    grid = analysis.grid
    mask = grid.mask
    arrays = analysis.arrays
    frame = pd.DataFrame({"cell_id": grid.cell_ids()[mask]})
    for name in ("district", "trend_class", "trend_z", "trend_p", "count_trend_z",
                 "count_trend_p", "change_before", "change_after", "change_p", "change_class"):
        if name in arrays:
            frame[name] = arrays[name][mask]
    for name in ("trend_z", "trend_p", "count_trend_z", "count_trend_p", "change_p"):
        if name in frame:
            frame[name] = frame[name].astype(float).round(6)
    return publish(analysis, frame, TRENDS_KINDS)


def write_trends(analysis: Analysis, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``trends.csv`` and ``demand_forecast.csv`` atomically.

    Nothing is written when the trends stage did not run (no dates); the
    reason is in ``analysis.trends_message``.

    Returns
    -------
    dict of str to Path
        File name to path.
    """
    from hotspot_env._atomic import prepare_folder, write_bytes, write_text

    info = analysis.trends
    if not info:
        return {}
    folder = prepare_folder(folder)
    written = {"trends.csv": write_bytes(folder / "trends.csv", csv_bytes(trends_frame(analysis)))}
    table = info.get("demand")
    if table is not None:
        written["demand_forecast.csv"] = write_text(
            folder / "demand_forecast.csv",
            publish(analysis, table, DEMAND_KINDS).to_csv(index=False))
    return written


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame.to_csv(index=False)`` as UTF-8, byte for byte, written by Arrow when it can.

    pandas formats and writes the cells one Python object at a time (1.5 s
    for the 240k cells x 11 columns of a metro ``trends.csv``). Arrow's CSV
    writer does the same in C++ once every column is text or integers: floats
    are formatted as pandas (that is, Python's ``repr``) formats them -
    shortest round-trip digits from Arrow, ``.0`` added to whole numbers,
    ``repr`` itself elsewhere (0 and outside 1e-4 <= |x| < 1e9, where the
    notations differ) - and NaN/None become empty cells. Anything else
    (booleans, mixed objects, a cell that would need quotes) falls back to
    pandas.

    Parameters
    ----------
    frame : DataFrame
        The table.

    Returns
    -------
    bytes
    """
    fast = _arrow_csv(frame)
    return frame.to_csv(index=False).encode("utf-8") if fast is None else fast


def _needs_quotes(text: str) -> bool:
    return any(c in text for c in ',"\r\n')


def _arrow_csv(frame: pd.DataFrame) -> bytes | None:
    """The CSV of :func:`csv_bytes` through Arrow, or None where pandas must write it."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    names = [str(c) for c in frame.columns]
    if os.linesep != "\n" or len(set(names)) < len(names) or any(map(_needs_quotes, names)):
        return None
    columns = []
    for name in frame.columns:
        column = frame[name]
        kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else ""
        if kind and kind in "iu":
            columns.append(pa.array(column.to_numpy()))
        elif kind == "f":
            columns.append(_float_text(column.to_numpy(dtype=np.float64)))
        elif isinstance(column.dtype, pd.StringDtype):  # Arrow-backed already: no copy
            columns.append(pa.array(column, type=pa.string(), from_pandas=True))
        elif pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
            columns.append(pa.array(column.to_numpy(dtype=object), type=pa.string(),
                                    from_pandas=True))
        else:
            return None
    body = io.BytesIO()
    try:
        pa_csv.write_csv(pa.table(columns, names=names), body, pa_csv.WriteOptions(
            include_header=False, quoting_style="none"))
    except pa.ArrowInvalid:  # a cell holds a comma, quote or line break: pandas quotes it
        return None
    return (",".join(names) + "\n").encode("utf-8") + body.getvalue()


def _float_text(x: np.ndarray) -> Any:
    """Floats as pandas writes them (``repr``; NaN as null), as an Arrow string array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pa.array(x, from_pandas=True), pa.string())  # shortest round-trip digits
    size = np.abs(x)
    plain = (size >= 1e-4) & (size < 1e9)  # both write these positionally, same digits
    whole = plain & (x == np.trunc(x))
    if whole.any():  # repr(3.0) is "3.0", Arrow writes "3"
        text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)
    zero = x == 0
    if zero.any():  # common (flat series): no repr call needed
        text = pc.if_else(pa.array(zero), pa.array(np.where(np.signbit(x), "-0.0", "0.0")), text)
    other = ~plain & ~zero & ~np.isnan(x)  # tiny, huge and infinite values: repr itself
    if other.any():
        reprs = pa.array([repr(v) for v in x[other].tolist()], type=pa.string())
        text = pc.replace_with_mask(text, pa.array(other), reprs)
    return text
