"""Per-period counts on the grid (a count cube), padded for kernel smoothing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hotspot_env.core.density import binned_kde
from hotspot_env.core.grid import Grid
from hotspot_env.models import scores
from hotspot_env.models.forecast.constants import RADII_CELLS


@dataclass
class CountStack:
    """Per-period counts on the grid: padded for smoothing and flat inside the mask."""

    grid: Grid
    padded: np.ndarray  # (P, rows + 2 pad, cols + 2 pad)
    counts: np.ndarray  # (P, n_mask)
    pad: int
    cache: dict[float, np.ndarray] = field(default_factory=dict)

    def kde(self, h: float) -> np.ndarray:
        """(P, n_mask) smoothed counts per period, each keeping its in-mask total."""
        if h not in self.cache:
            dens = binned_kde(self.grid, self.padded, h, self.pad) * self.grid.cell_size**2
            flat = dens[:, self.grid.mask]
            scale = keep_totals(flat.sum(axis=1, keepdims=True),
                                self.counts.sum(axis=1, keepdims=True))
            self.cache[h] = flat * scale
        return self.cache[h]

    @property
    def n_periods(self) -> int:
        """Periods in the cube."""
        return int(self.counts.shape[0])

    def totals(self) -> np.ndarray:
        """Incidents per period inside the study area."""
        return self.counts.sum(axis=1)

    def fold_scores(self, cand: Any, tests: list[int]) -> list[np.ndarray]:
        """``cand``'s score per in-mask cell for each test period (a :class:`Candidate`)."""
        return [cand.score(self, t) for t in tests]

    def fold_counts(self, tests: list[int]) -> list[np.ndarray]:
        """The in-mask counts of each test period."""
        return [self.counts[t] for t in tests]

    def fold_pei(self, cands: list[Any], tests: list[int], share: float) -> np.ndarray:
        """``(candidates, tests)`` PEI at ``share`` of the area (:func:`scores.pei`, its ties)."""
        return np.array([[scores.pei(c.score(self, t), self.counts[t], 100.0 * share)
                          for t in tests] for c in cands], float).reshape(len(cands), len(tests))

    def select(self, periods: np.ndarray) -> CountStack:
        """The same cube restricted to ``periods`` (e.g. without gaps); cache shared per period."""
        sel = np.asarray(periods, dtype=np.int64)
        sub = CountStack(self.grid, self.padded[sel], self.counts[sel], self.pad)
        sub.cache = {h: v[sel] for h, v in self.cache.items()}
        return sub


def keep_totals(total: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Factor that rescales smoothed counts of in-area total ``total`` to ``want`` (0 if none).

    The smooth of a period keeps the period's incidents inside the study area;
    on tiles, ``total`` is the sum of the tiles' in-area sums.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, want / total, 0.0)


def count_stack(grid: Grid, x: np.ndarray, y: np.ndarray, period: np.ndarray, n: int,
                max_bandwidth: float) -> CountStack:
    """Incidents per cell and period (``period`` < 0: left out), padded for ``max_bandwidth``."""
    pad = int(math.ceil(max_bandwidth / grid.cell_size)) + 1
    rows, cols = grid.n_rows + 2 * pad, grid.n_cols + 2 * pad
    padded = np.zeros((n, rows, cols))
    keep = period >= 0
    if keep.any():
        row, col = grid.padded_cell_index(x[keep], y[keep], pad)
        ok = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
        key = (period[keep][ok] * rows + row[ok]) * cols + col[ok]
        padded = np.bincount(key, minlength=n * rows * cols).reshape(n, rows, cols).astype(float)
    inner = padded[:, pad:pad + grid.n_rows, pad:pad + grid.n_cols]
    counts = inner[:, grid.mask]
    return CountStack(grid, padded, counts, pad)


def cube_stack(grid: Grid, cube: np.ndarray, max_bandwidth: float) -> CountStack:
    """A count cube ``(P, n_rows, n_cols)`` (e.g. protected counts) ready for the forecast."""
    cube = np.nan_to_num(np.asarray(cube, float), nan=0.0)
    pad = int(math.ceil(max_bandwidth / grid.cell_size)) + 1
    padded = np.pad(cube * grid.mask, ((0, 0), (pad, pad), (pad, pad)))
    return CountStack(grid, padded, cube[:, grid.mask], pad)


def radii(grid: Grid) -> list[float]:
    """Candidate kernel radii (m): :data:`RADII_CELLS` x cell size, up to half the grid's side."""
    s = grid.cell_size
    limit = max(grid.n_rows, grid.n_cols) * s / 2.0
    return [c * s for c in RADII_CELLS if c * s <= limit] or [RADII_CELLS[0] * s]
