"""Gi* per time step: hot and cold spot bins of the space-time cube.

By default each time slice gets its own Gi* (queen contiguity, self included,
:func:`hotspot_env.core.hotspots.gi_star`) with the slice's own mean and
variance. ArcGIS Pro's tool instead uses *space-time* neighbours: the cell's
queen neighbours in the current and the previous ``k`` steps, with the whole
cube as the global window. That variant is implemented too (``time_lag=k``).
Bins are significant hot (cold) spots where Gi* z is positive (negative) and
the Benjamini-Hochberg FDR holds at ``alpha`` within the slice (or cube). The
p-values are by default the exact randomisation p-values of the neighbourhood
sum (:mod:`hotspot_env.temporal.trends.exact_pvalues`);
``significance="normal"`` gives ArcGIS's normal p-values.

References
----------
Esri. How Emerging Hot Spot Analysis works. ArcGIS Pro tool reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# scipy.stats is imported where it is used: the app's first page imports this package
# without running it (tests/test_lazy_imports.py).
from hotspot_env.core.grid import Grid
from hotspot_env.core.hotspots import benjamini_hochberg
from hotspot_env.errors import InputError
from hotspot_env.temporal.trends.exact_pvalues import (
    bh_by_key,
    exact_p_table,
    exact_significance_per_slice,
)

#: Largest space-time lag accepted (exact p-values stay within float range).
MAX_TIME_LAG = 3


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
    card = _box_sums(grid, np.ones((counts.shape[0], 1), dtype=np.int64))[:, 0]
    local = _box_sums(grid, counts)
    if time_lag == 0:
        return _gi_per_slice(counts, local, card, significance, alpha)
    return _gi_space_time(counts, local, card, time_lag, significance, alpha)


def _gi_per_slice(counts: np.ndarray, local: np.ndarray, card: np.ndarray,
                  significance: str, alpha: float) -> SliceGi:
    """Gi* of each time slice with the slice's mean and variance; FDR within the slice."""
    from scipy import stats

    n_cells, n_steps = counts.shape
    z = _slice_z(counts, local, card) if n_cells >= 2 else np.zeros((n_cells, n_steps))
    if significance == "exact":
        p, significant = exact_significance_per_slice(counts, local, card, alpha)
        return SliceGi(z, p, significant & (z > 0), significant & (z < 0))
    p = np.ones((n_cells, n_steps))
    significant = np.zeros((n_cells, n_steps), dtype=bool)
    for t in range(n_steps):
        if counts[:, t].sum() > 0 and n_cells >= 2:
            p[:, t] = 2.0 * stats.norm.sf(np.abs(z[:, t]))
        significant[:, t] = benjamini_hochberg(p[:, t], alpha)
    return SliceGi(z, p, significant & (z > 0), significant & (z < 0))


def _gi_space_time(counts: np.ndarray, local: np.ndarray, card: np.ndarray, time_lag: int,
                   significance: str, alpha: float) -> SliceGi:
    """ArcGIS's space-time Gi*: neighbours in this and the ``time_lag`` previous steps.

    The mean, variance and FDR are the whole cube's.
    """
    from scipy import stats

    n_cells, n_steps = counts.shape
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
            table, key = exact_p_table(counts, sums, cards)
            table = np.nan_to_num(table, nan=1.0)
            significant = bh_by_key(table, key, alpha)
            return SliceGi(z, table[key], significant & (z > 0), significant & (z < 0))
        p = 2.0 * stats.norm.sf(np.abs(z))
    significant = benjamini_hochberg(p.ravel(), alpha).reshape(p.shape)
    return SliceGi(z, p, significant & (z > 0), significant & (z < 0))
