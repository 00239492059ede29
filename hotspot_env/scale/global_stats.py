"""Statistics that are global by method, built from per-tile pieces.

Tiles cannot compute Gi* or the FDR threshold on their own: Gi* standardises
each cell's local sum by the *global* mean and variance, and Benjamini-Hochberg
ranks *every* cell's p-value. Both need only small global summaries:

* Gi*: the sufficient statistics ``n``, ``sum x`` and ``sum x²`` of the study
  area (:class:`GiMoments`, one pass over the tiles, added up), then each
  tile's own queen box sums (:func:`tile_gi`);
* FDR: one cut-off p-value per confidence level over all cells
  (:func:`fdr_cutoffs`), then each tile bins its cells against those cut-offs
  (:func:`bins_from_cutoffs`): the bins of
  :func:`hotspot_env.core.hotspots.fdr_bins` over the whole grid, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from hotspot_env import settings
from hotspot_env.core.hotspots import bh_adjusted, gi_z


@dataclass(frozen=True)
class GiMoments:
    """Sufficient statistics of Gi*'s global mean and variance.

    Attributes
    ----------
    n : int
        Cells in the study area.
    total : float
        Sum of the values over those cells.
    sum_sq : float
        Sum of their squares.
    """

    n: int = 0
    total: float = 0.0
    sum_sq: float = 0.0

    @classmethod
    def of(cls, values: np.ndarray, mask: np.ndarray) -> GiMoments:
        """The moments of ``values`` over the cells where ``mask`` is true."""
        v = np.asarray(values, dtype=np.float64)[mask]
        return cls(int(v.size), float(v.sum()), float((v**2).sum()))

    def __add__(self, other: GiMoments) -> GiMoments:
        return GiMoments(self.n + other.n, self.total + other.total,
                         self.sum_sq + other.sum_sq)

    @classmethod
    def merge(cls, parts: list[GiMoments]) -> GiMoments:
        """The global moments: the tiles' moments added up."""
        out = cls()
        for part in parts:
            out = out + part
        return out

    @property
    def defined(self) -> bool:
        """Gi* needs two cells and a positive total (else every z is undefined)."""
        return self.n >= 2 and self.total > 0


def tile_gi(local_sum: np.ndarray, cardinality: np.ndarray, mask: np.ndarray,
            moments: GiMoments) -> tuple[np.ndarray, np.ndarray]:
    """Gi* ``z`` and two-sided ``p`` of one tile's cells from the global moments.

    Parameters
    ----------
    local_sum, cardinality : ndarray
        The tile's cells' queen box sums of the values and of the area mask,
        computed with the halo so cells at the tile edge see their neighbours.
    mask : ndarray of bool
        The tile's cells inside the study area.
    moments : GiMoments
        The global moments (:meth:`GiMoments.merge`).

    Returns
    -------
    z, p : ndarray
        NaN outside the area (and everywhere when Gi* is undefined).
    """
    z = np.full(mask.shape, np.nan)
    p = np.full(mask.shape, np.nan)
    if not moments.defined:
        return z, p
    zz = gi_z(local_sum, cardinality, moments.n, moments.total, moments.sum_sq)
    z[mask] = zz[mask]
    p[mask] = 2.0 * stats.norm.sf(np.abs(zz[mask]))
    return z, p


def fdr_cutoffs(p: np.ndarray, levels: tuple[float, ...] | None = None) -> list[float]:
    """The global Benjamini-Hochberg cut-off p-value at each FDR level.

    Adjusted p-values are non-decreasing in ``p`` (ties share one), so the
    cells significant at level ``q`` are exactly those with ``p`` at most the
    largest p-value whose adjusted value is at most ``q``: one number per
    level is all a tile needs.

    Parameters
    ----------
    p : ndarray
        Every study-area cell's p-value, over all tiles.
    levels : tuple of float, optional
        FDR levels (default :data:`settings.gi_fdr_levels`).

    Returns
    -------
    list of float
        One cut-off per level; ``-inf`` where no cell is significant.
    """
    levels = settings.gi_fdr_levels if levels is None else levels
    p = np.asarray(p, dtype=float)
    if p.size == 0:
        return [-np.inf for _ in levels]
    adjusted = bh_adjusted(p)
    return [float(p[adjusted <= q].max()) if (adjusted <= q).any() else -np.inf
            for q in levels]


def bins_from_cutoffs(z: np.ndarray, p: np.ndarray, cutoffs: list[float]) -> np.ndarray:
    """Gi* bins ``sign(z) * {3, 2, 1, 0}`` of some cells against the global cut-offs.

    NaN ``p`` (cells outside the area) get bin 0.
    """
    bins = np.zeros(np.shape(z), dtype=np.int8)
    with np.errstate(invalid="ignore"):
        for strength, cut in zip((3, 2, 1), cutoffs, strict=True):
            bins[(p <= cut) & (bins == 0)] = strength
    return (np.sign(np.nan_to_num(z)) * bins).astype(np.int8)
