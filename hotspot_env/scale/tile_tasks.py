"""What one dask task computes for one tile: counts, KDE and Gi*'s local sums.

Each function takes a small picklable payload (the tile, the global grid's
origin and cell size, the tile's own points or protected counts) and returns
its interior cells only. Every value is computed with the same formula, the
same terms in the same order, as :func:`hotspot_env.core.surfaces.local_surfaces`
on the whole grid, so the interiors put together are that run's arrays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hotspot_env.core.density import kde
from hotspot_env.core.grid import Grid
from hotspot_env.core.hotspots import box_sum
from hotspot_env.scale.global_stats import GiMoments
from hotspot_env.scale.threads import single_threaded
from hotspot_env.scale.tiles import Tile, TileOnGrid


@dataclass(frozen=True)
class TilePayload(TileOnGrid):
    """The inputs of one tile's task: the tile on its grid
    (:class:`~hotspot_env.scale.tiles.TileOnGrid`) and the points of its halo window.

    Attributes
    ----------
    crs : object
        The grid's CRS (carried into the tile's grid).
    mask : ndarray of bool
        The study-area mask over the halo window (``tile.window()``).
    bandwidth : float
        KDE radius (metres).
    rows, cols : ndarray of int
        Global cells of the tile's points (interior and halo), in input order.
    xs, ys : ndarray of float
        Their coordinates (internal mode).
    basis : ndarray, optional
        Public mode: the protected counts over the halo window; the KDE then
        reads weighted cell centres and Gi* these counts, never the points.
    """

    crs: object
    mask: np.ndarray
    bandwidth: float
    rows: np.ndarray
    cols: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    basis: np.ndarray | None = None


@dataclass(frozen=True)
class TileSurfaces:
    """One tile's interior results (arrays of the interior's shape).

    Attributes
    ----------
    counts : ndarray of int64
        Incidents per cell (0 outside the area).
    density : ndarray of float
        KDE in points per km² (not per year, not masked: as ``local_surfaces``).
    local_sum, cardinality : ndarray of float
        Gi*'s queen box sums of the basis and of the area mask.
    moments : GiMoments
        The interior's share of Gi*'s global sufficient statistics.
    n_points : int
        Points the task read (interior and halo).
    seconds : float
        Time the task took.
    """

    counts: np.ndarray
    density: np.ndarray
    local_sum: np.ndarray
    cardinality: np.ndarray
    moments: GiMoments
    n_points: int
    seconds: float


def window_counts(tile: Tile, rows: np.ndarray, cols: np.ndarray,
                  window: tuple[int, int, int, int]) -> np.ndarray:
    """Points per cell over ``window`` (global rows/columns), from their global cells."""
    r0, r1, c0, c1 = window
    inside = (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
    width = c1 - c0
    flat = (rows[inside] - r0) * width + (cols[inside] - c0)
    return np.bincount(flat, minlength=(r1 - r0) * width).reshape(r1 - r0, width).astype(
        np.int64)


@single_threaded
def tile_counts(payload: TilePayload) -> np.ndarray:
    """The tile's interior counts (public mode's first pass, before protection)."""
    tile = payload.tile
    window = tile.window()
    counts = window_counts(tile, payload.rows, payload.cols, window)
    interior = tile.interior_in(window)
    return np.where(payload.mask[interior], counts[interior], 0)


def _interior_grid(payload: TilePayload) -> Grid:
    """The tile's interior as a grid of the global grid's own cells (for the KDE)."""
    tile = payload.tile
    interior = tile.interior_in(tile.window())
    return tile.interior_grid(payload.x0, payload.top, payload.cell_size, payload.crs,
                              payload.mask[interior])


def _kde_points(payload: TilePayload) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The points the KDE sums: the incidents, or (public) the weighted cell centres.

    Centres are computed as :meth:`Grid.centres` computes them on the whole
    grid and listed row-major, the global order restricted to the window.
    """
    if payload.basis is None:
        return payload.xs, payload.ys, None
    r0, r1, c0, c1 = payload.tile.window()
    s = payload.cell_size
    cx = payload.x0 + (np.arange(c0, c1) + 0.5) * s
    cy = payload.top - (np.arange(r0, r1) + 0.5) * s
    gx, gy = np.meshgrid(cx, cy)
    weights = np.where(payload.mask, payload.basis, 0).ravel().astype(float)
    return gx.ravel(), gy.ravel(), weights


@single_threaded
def tile_surfaces(payload: TilePayload) -> TileSurfaces:
    """Counts, KDE and Gi*'s local sums of one tile's interior.

    Parameters
    ----------
    payload : TilePayload
        The tile and its points (or protected counts).

    Returns
    -------
    TileSurfaces
    """
    start = time.perf_counter()
    tile = payload.tile
    window = tile.window()
    interior = tile.interior_in(window)
    counts = np.where(payload.mask, window_counts(tile, payload.rows, payload.cols, window), 0)
    basis = counts if payload.basis is None else np.where(payload.mask, payload.basis, 0)
    # Gi*: box sums over the interior plus one ring of cells (zero beyond the grid)
    ring = tile.window(1)
    in_ring = (slice(ring[0] - window[0], ring[1] - window[0]),
               slice(ring[2] - window[2], ring[3] - window[2]))
    y = basis[in_ring].astype(np.float64)
    mask_ring = payload.mask[in_ring]
    core = tile.interior_in(ring)
    local_sum = box_sum(y)[core]
    cardinality = box_sum(mask_ring.astype(np.float64))[core]
    xs, ys, weights = _kde_points(payload)
    density = kde(_interior_grid(payload), xs, ys, payload.bandwidth, weights=weights) * 1e6
    return TileSurfaces(counts[interior], density, local_sum, cardinality,
                        GiMoments.of(y[core], mask_ring[core]), int(payload.rows.size),
                        time.perf_counter() - start)
