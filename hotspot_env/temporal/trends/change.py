"""Change between two periods, per cell, with a test.

sfhotspot's ``hotspot_change`` idea with a test: per cell the counts before
and after a boundary, and the conditional binomial test of equal daily rates
(``after | before + after ~ Binomial(n, t_after / (t_before + t_after))``),
two-sided by doubling the smaller tail, then Benjamini-Hochberg adjusted over
the cells with any incident.

References
----------
Ashby, M. P. J. (2023). sfhotspot: Hot-Spot Analysis with Simple Features. R package.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# scipy.stats is imported where it is used: the app's first page imports this package
# without running it (tests/test_lazy_imports.py).
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.hotspots import bh_adjusted
from hotspot_env.errors import InputError
from hotspot_env.temporal.timesteps import step_ordinal, step_start
from hotspot_env.temporal.trends.cube import Cube


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
    from scipy import stats

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
