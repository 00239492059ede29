"""Per-period counts on the grid (a count cube), padded for kernel smoothing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hotspot_env.core.density import binned_kde
from hotspot_env.core.grid import Grid
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
            total = flat.sum(axis=1, keepdims=True)
            want = self.counts.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.where(total > 0, want / total, 0.0)
            self.cache[h] = flat * scale
        return self.cache[h]

    def select(self, periods: np.ndarray) -> CountStack:
        """The same cube restricted to ``periods`` (e.g. without gaps); cache shared per period."""
        sel = np.asarray(periods, dtype=np.int64)
        sub = CountStack(self.grid, self.padded[sel], self.counts[sel], self.pad)
        sub.cache = {h: v[sel] for h, v in self.cache.items()}
        return sub


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
