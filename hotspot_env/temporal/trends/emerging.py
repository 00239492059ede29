"""Emerging hot spot classes: Gi* per bin, Mann-Kendall trend, ArcGIS's class rules.

ArcGIS Pro's Emerging Hot Spot Analysis definitions (see ``docs/time.md`` for
each rule and how overlaps between the published definitions are resolved):
new, consecutive, intensifying, persistent, diminishing, sporadic,
oscillating and historical hot spots, the mirrored cold spots, and "no
pattern".

References
----------
Esri. How Emerging Hot Spot Analysis works. ArcGIS Pro tool reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hotspot_env.core.grid import Grid
from hotspot_env.temporal.trends.space_time_gi import SliceGi, cube_gi
from hotspot_env.temporal.trends.trend_test import mann_kendall

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
