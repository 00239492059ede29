"""Getis-Ord Gi* hot spots on a regular grid, with FDR-corrected bins.

On a regular grid with queen contiguity and binary weights that include the
cell itself, every term of Gi* is a 3x3 box sum, so the statistic for all cells
is a pair of convolutions: linear in the number of cells, no weights matrix.
The moments follow Getis & Ord (1992) and Ord & Getis (1995) exactly as
implemented in ``esda.G_Local(star=True, transform="B")``, so ``gi_z`` equals
esda's ``Zs`` (checked in the tests).

References
----------
Getis, A. & Ord, J. K. (1992). The analysis of spatial association by use of
distance statistics. Geographical Analysis 24(3), 189-206.
Ord, J. K. & Getis, A. (1995). Local spatial autocorrelation statistics:
distributional issues and an application. Geographical Analysis 27(4), 286-306.
Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate.
JRSS B 57(1), 289-300.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hotspot_env import settings
from hotspot_env.core.grid import Grid

# scipy is imported in the functions that use it: the app's first page imports
# this module (through a kept analysis) but computes no Gi*, and scipy.stats
# alone costs about a second (tests/test_lazy_imports.py).

_QUEEN_STAR = np.ones((3, 3))


@dataclass(frozen=True)
class GiStar:
    """Gi* results on the grid (arrays of shape ``grid.shape``, NaN outside the area).

    Attributes
    ----------
    z : ndarray
        Standardised Gi* (``esda`` ``Zs``).
    p : ndarray
        Two-sided normal p-value, ``2 * (1 - Phi(|z|))``.
    bin : ndarray of int
        ``sign(z) * 3/2/1`` where Benjamini-Hochberg FDR holds at
        q = 0.01/0.05/0.10, else 0 (the ArcGIS convention).
    """

    z: np.ndarray
    p: np.ndarray
    bin: np.ndarray


def box_sum(values: np.ndarray) -> np.ndarray:
    """Sum over each cell's queen neighbourhood including itself (zero padding)."""
    from scipy import ndimage

    return ndimage.convolve(values, _QUEEN_STAR, mode="constant", cval=0.0)


def gi_star(grid: Grid, counts: np.ndarray) -> GiStar:
    """Getis-Ord Gi* with queen contiguity, binary weights, self included.

    Parameters
    ----------
    grid : Grid
        The study grid; only cells inside ``grid.mask`` take part (they are the
        ``n`` observations and each other's neighbours).
    counts : ndarray, shape ``grid.shape``
        Value per cell (usually incident counts).

    Returns
    -------
    GiStar
    """
    from scipy.special import ndtr

    mask = grid.mask
    y = np.where(mask, counts, 0).astype(np.float64)
    n = int(mask.sum())
    total = y.sum()
    z = np.full(grid.shape, np.nan)
    p = np.full(grid.shape, np.nan)
    bins = np.zeros(grid.shape, dtype=np.int8)
    if n < 2 or total <= 0:
        return GiStar(z, p, bins)
    zz = gi_z(box_sum(y), box_sum(mask.astype(np.float64)), n, total, (y[mask] ** 2).sum())
    z[mask] = zz[mask]
    # ndtr(-|z|) is the normal upper tail, the very function scipy.stats.norm.sf calls.
    p[mask] = 2.0 * ndtr(-np.abs(zz[mask]))
    bins[mask] = fdr_bins(z[mask], p[mask])
    return GiStar(z, p, bins)


def gi_z(local_sum: np.ndarray, cardinality: np.ndarray, n: int, total: float,
         sum_sq: float) -> np.ndarray:
    """Standardised Gi* from each cell's box sums and the global sufficient statistics.

    The only global inputs are ``n`` (cells in the area), ``total`` (sum of the
    values) and ``sum_sq`` (sum of their squares), so the same formula serves
    one grid or a tile of it (:mod:`hotspot_env.scale.global_stats`).

    Parameters
    ----------
    local_sum, cardinality : ndarray
        Each cell's queen box sum of the values and of the area mask.
    n : int
        Number of cells in the study area.
    total, sum_sq : float
        Sum of the values and of their squares over the study area.

    Returns
    -------
    ndarray
        ``z`` (0 where undefined, e.g. a cell with every cell as neighbour).
    """
    mean = total / n
    variance = sum_sq / n - mean**2
    statistic = local_sum / total
    expected = cardinality / n
    var_g = cardinality * (n - cardinality) / (n - 1) / n**2 * variance / mean**2
    with np.errstate(divide="ignore", invalid="ignore"):
        zz = (statistic - expected) / np.sqrt(var_g)
    return np.where(np.isfinite(zz), zz, 0.0)


def benjamini_hochberg(p: np.ndarray, q: float) -> np.ndarray:
    """Boolean array: which p-values are significant at FDR ``q`` (BH step-up).

    The package's one Benjamini-Hochberg: significant where scipy's adjusted
    p-value is at most ``q``. The space-time cube's counts-based shortcut
    (``temporal.trends.exact_pvalues._bh_cut``) is tested equal to it.
    """
    return bh_adjusted(p) <= q


def bh_adjusted(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), same order as ``p``."""
    from scipy import stats

    return stats.false_discovery_control(np.asarray(p, dtype=float), method="bh")


def fdr_bins(z: np.ndarray, p: np.ndarray, levels: tuple[float, ...] | None = None) -> np.ndarray:
    """Gi* confidence bins ``sign(z) * {3, 2, 1, 0}`` with BH FDR correction."""
    levels = settings.gi_fdr_levels if levels is None else levels
    bins = np.zeros(z.shape, dtype=np.int8)
    for strength, q in zip((3, 2, 1), levels, strict=True):
        hit = benjamini_hochberg(p, q) & (bins == 0)
        bins[hit] = strength
    return (np.sign(z) * bins).astype(np.int8)
