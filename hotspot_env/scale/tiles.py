"""Tiles with halos: the global grid cut into blocks of whole cells.

A :class:`Tile` is a rectangle of whole cells of the global grid (its
*interior*) plus a *halo*: a ring of cells wide enough for every neighbourhood
a stage looks through (the KDE radius, Gi*'s queen neighbours, factor search
and walking distances, the forecast's smoothing radii, intervention buffers).
A task computes its tile and halo and keeps only the interior, so every
interior cell sees exactly the incidents it would see on one machine; tiles
never overlap in their interiors and together cover the grid, so the
interiors concatenate back into the global arrays.

Tiles are aligned to the global grid's cells (rows and columns, not metres),
so a tile's cells are the global cells and keep their global ``cell_id``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError

#: Default tile side (km) of ``--engine dask``: a metro city in a handful of tiles.
DEFAULT_TILE_KM: float = 10.0


@dataclass(frozen=True)
class Tile:
    """One block of the global grid, with its halo.

    Attributes
    ----------
    index : int
        Position in the list returned by :func:`make_tiles` (row-major).
    row0, row1, col0, col1 : int
        The interior: global rows ``row0:row1`` and columns ``col0:col1``
        (half-open, row 0 at the north edge).
    halo : int
        Halo width in cells.
    side : int
        The tiling's tile side in cells (edge tiles may be smaller).
    n_rows, n_cols : int
        Shape of the global grid (the halo is clipped to it).
    """

    index: int
    row0: int
    row1: int
    col0: int
    col1: int
    halo: int
    side: int
    n_rows: int
    n_cols: int

    @property
    def shape(self) -> tuple[int, int]:
        """Interior shape ``(rows, cols)``."""
        return (self.row1 - self.row0, self.col1 - self.col0)

    def window(self, pad: int | None = None) -> tuple[int, int, int, int]:
        """Global ``(row0, row1, col0, col1)`` of the interior grown by ``pad`` cells.

        ``pad`` defaults to the halo; the window is clipped to the global grid.
        """
        pad = self.halo if pad is None else pad
        return (max(0, self.row0 - pad), min(self.n_rows, self.row1 + pad),
                max(0, self.col0 - pad), min(self.n_cols, self.col1 + pad))

    def interior_in(self, window: tuple[int, int, int, int]) -> tuple[slice, slice]:
        """Slices that cut this tile's interior out of an array covering ``window``."""
        r0, _, c0, _ = window
        return (slice(self.row0 - r0, self.row1 - r0), slice(self.col0 - c0, self.col1 - c0))

    def interior_grid(self, x0: float, top: float, cell_size: float, crs: object,
                      mask: np.ndarray) -> Grid:
        """This tile's interior as a grid of the global grid's own cells.

        ``x0`` and ``top`` are the global grid's west and north edges, so every
        cell centre is the global grid's number for that cell (what keeps a tile
        task's answers bit-identical to one machine's).
        """
        n_rows, n_cols = self.shape
        return Grid(crs, x0 + self.col0 * cell_size, top - self.row1 * cell_size, cell_size,
                    n_cols, n_rows, mask)

    def bounds(self, grid: Grid, pad: int = 0) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` in metres of the interior grown by ``pad`` cells."""
        r0, r1, c0, c1 = self.window(pad)
        top = grid.bounds[3]
        s = grid.cell_size
        return (grid.x0 + c0 * s, top - r1 * s, grid.x0 + c1 * s, top - r0 * s)

    def to_dict(self, grid: Grid) -> dict[str, object]:
        """JSON-ready description for the run manifest."""
        return {"tile": self.index, "rows": [self.row0, self.row1],
                "cols": [self.col0, self.col1], "halo_cells": self.halo,
                "bounds_m": [float(v) for v in self.bounds(grid)],
                "halo_bounds_m": [float(v) for v in self.bounds(grid, self.halo)]}


@dataclass(frozen=True)
class TileOnGrid:
    """A tile and the global grid it is cut from: what every tile task's payload starts with.

    A task rebuilds its cells from these numbers as the global grid numbers them
    (:meth:`Tile.interior_grid`), which keeps its answers bit-identical to one machine's.

    Attributes
    ----------
    tile : Tile
        The tile (its interior and halo, in global rows and columns).
    x0, top, cell_size : float
        The global grid's west and north edges and cell side (metres).
    """

    tile: Tile
    x0: float
    top: float
    cell_size: float


@dataclass(frozen=True)
class TileGridPayload(TileOnGrid):
    """A tile task's payload that rebuilds the tile's interior as a grid.

    Attributes
    ----------
    crs : object
        The grid's CRS.
    mask : ndarray of bool
        The study-area mask of the interior.
    """

    crs: object
    mask: np.ndarray

    def grid(self) -> Grid:
        """The interior as a grid of the global grid's own cells."""
        return self.tile.interior_grid(self.x0, self.top, self.cell_size, self.crs, self.mask)


#: Most tiles of one grid (each a task; more only adds halos and scheduling).
MAX_TILES: int = 10_000


def make_tiles(grid: Grid, tile_km: float, halo_m: float) -> list[Tile]:
    """Cut ``grid`` into tiles of about ``tile_km`` a side with a ``halo_m`` halo.

    Parameters
    ----------
    grid : Grid
        The global study grid.
    tile_km : float
        Tile side in kilometres, rounded to whole cells (at least one cell).
    halo_m : float
        Halo width in metres, rounded up to whole cells (at least one, for
        Gi*'s queen neighbours).

    Returns
    -------
    list of Tile
        Row-major; tiles with no cell inside the study area are left out.
    """
    if not (isinstance(tile_km, int | float) and math.isfinite(tile_km) and tile_km > 0):
        raise InputError(f"--tile-km must be a positive number of kilometres, got {tile_km!r}")
    if not (math.isfinite(halo_m) and halo_m >= 0):
        raise InputError(f"the tile halo must be a distance of 0 m or more, got {halo_m!r}")
    side = max(1, round(tile_km * 1000.0 / grid.cell_size))
    halo = max(1, math.ceil(halo_m / grid.cell_size - 1e-9))
    n_tiles = math.ceil(grid.n_rows / side) * math.ceil(grid.n_cols / side)
    if n_tiles > MAX_TILES:  # before any task: each tile is a task with a halo of its own
        raise InputError(f"--tile-km {tile_km:g} cuts the grid of {grid.n_rows:,} x "
                         f"{grid.n_cols:,} cells into {n_tiles:,} tiles (at most "
                         f"{MAX_TILES:,}): use a larger --tile-km, e.g. 10")
    tiles: list[Tile] = []
    for row0 in range(0, grid.n_rows, side):
        for col0 in range(0, grid.n_cols, side):
            row1, col1 = min(grid.n_rows, row0 + side), min(grid.n_cols, col0 + side)
            if not grid.mask[row0:row1, col0:col1].any():
                continue
            tiles.append(Tile(len(tiles), row0, row1, col0, col1, halo, side,
                              grid.n_rows, grid.n_cols))
    return tiles


def assemble(tiles: list[Tile], parts: list[np.ndarray], shape: tuple[int, int],
             fill: float | int = 0, dtype: object = None) -> np.ndarray:
    """The global array from each tile's interior array (cells of no tile get ``fill``)."""
    out = np.full(shape, fill, dtype=dtype if dtype is not None else parts[0].dtype)
    for tile, part in zip(tiles, parts, strict=True):
        out[tile.row0:tile.row1, tile.col0:tile.col1] = part
    return out


def points_in_halos(tiles: list[Tile], rows: np.ndarray, cols: np.ndarray
                    ) -> list[np.ndarray]:
    """Per tile, the indices of the points whose cell lies in its interior or halo.

    Points are bucketed by the tile block of their cell once, so each tile
    looks only at the blocks its halo reaches; the indices come back sorted,
    so a tile sees its points in their original order (the KDE sums them in
    that order: the same terms, in the same order, as on one machine).

    Parameters
    ----------
    tiles : list of Tile
        From :func:`make_tiles` (one tiling: one side and halo).
    rows, cols : ndarray of int
        Each point's global cell.
    """
    if not tiles:
        return []
    side, halo = tiles[0].side, tiles[0].halo
    n_block_cols = -(-tiles[0].n_cols // side)
    key = (rows // side) * n_block_cols + cols // side
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    reach = -(-halo // side)
    out = []
    for tile in tiles:
        r0, r1, c0, c1 = tile.window()
        br, bc = tile.row0 // side, tile.col0 // side
        chunks = []
        for b_row in range(max(0, br - reach), br + reach + 1):
            lo_key = b_row * n_block_cols + max(0, bc - reach)
            hi_key = b_row * n_block_cols + min(n_block_cols - 1, bc + reach)
            lo, hi = np.searchsorted(sorted_key, [lo_key, hi_key + 1])
            chunks.append(order[lo:hi])
        idx = np.sort(np.concatenate(chunks)) if chunks else np.zeros(0, dtype=np.int64)
        keep = (rows[idx] >= r0) & (rows[idx] < r1) & (cols[idx] >= c0) & (cols[idx] < c1)
        out.append(idx[keep])
    return out


def halo_distances(grid: Grid, bandwidth: float, *, block_length_m: float | None = None,
                   walk_m: float | None = None, reach_m: float | None = None
                   ) -> dict[str, float]:
    """The neighbourhood (m) each stage looks through, from the run's choices.

    Parameters
    ----------
    grid : Grid
        The global grid (cell size; the forecast's radii depend on its extent).
    bandwidth : float
        The KDE radius chosen or given (a quartic kernel is zero beyond it).
    block_length_m : float, optional
        The risk terrain model's block length (default: its no-streets default).
    walk_m : float, optional
        The youth/community-space walking threshold (default: settings).
    reach_m : float, optional
        The largest intervention reach in the evidence library (default: read it).
    """
    from hotspot_env import settings
    from hotspot_env.models import forecast, rtm

    if reach_m is None:
        from hotspot_env.interventions.evidence import load_library

        reach_m = float(load_library().evidence["reach_m"].max())
    block = rtm.DEFAULT_BLOCK_LENGTH_M if block_length_m is None else block_length_m
    return {
        "kde_radius": float(bandwidth),
        "gi_queen_neighbours": float(grid.cell_size),
        "factor_walking_distance": float(settings.youth_walk_threshold_m
                                         if walk_m is None else walk_m),
        "rtm_spatial_influence": float(max(rtm.BLOCK_MULTIPLES) * block),
        "forecast_smoothing_radius": float(max(forecast.radii(grid))),
        # the impact model counts a displacement/diffusion ring out to twice the reach
        "intervention_buffer": 2.0 * float(reach_m),
    }


def choose_halo(distances: dict[str, float], cell_size: float) -> tuple[float, Choice]:
    """The halo (m): the largest neighbourhood, rounded up to whole cells; announced."""
    widest = max(distances, key=distances.__getitem__)
    cells = max(1, math.ceil(distances[widest] / cell_size - 1e-9))
    value = float(cells * cell_size)
    listed = ", ".join(f"{k.replace('_', ' ')} {v:,.0f} m" for k, v in distances.items())
    return value, announce(Choice(
        "tile_halo_m", value,
        f"the widest neighbourhood any stage uses ({widest.replace('_', ' ')}), rounded up "
        f"to whole {cell_size:g} m cells, so every tile's interior sees what one machine "
        f"sees ({listed})"))
