"""Geometry helpers of the risk terrain model: single parts, samples along lines, padded bins.

Pure numpy on coordinate arrays (no per-geometry shapely call), so layers of
10^5 features are handled in one pass.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from hotspot_env.core.grid import Grid


def geometry_array(geoms: Any) -> np.ndarray:
    """Geometries of a GeoSeries, GeoDataFrame or array as an object array."""
    if isinstance(geoms, gpd.GeoDataFrame):
        geoms = geoms.geometry
    return np.asarray(getattr(geoms, "values", geoms), dtype=object)


def single_parts(geoms: Any) -> np.ndarray:
    """Single-part, non-empty geometries of ``geoms`` (GeoSeries/frame/array)."""
    arr = geometry_array(geoms)
    arr = arr[~shapely.is_missing(arr)] if arr.size else arr
    if arr.size == 0:
        return np.zeros(0, dtype=object)
    if np.isin(shapely.get_type_id(arr), (4, 5, 6, 7)).any():
        arr = shapely.get_parts(arr)
    return arr[~shapely.is_empty(arr)]


def sample_lines(lines: np.ndarray, step: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points along (single-part) lines or rings, at most ``step`` apart on every straight piece.

    Each straight piece of length ``l`` gets ``ceil(l / step)`` samples at the
    middle of equal sub-pieces, so every point of a line lies within
    ``step / 2`` of a sample. Pure numpy on the coordinates (no per-geometry
    shapely call).

    Returns
    -------
    x, y : ndarray
        Sample coordinates.
    line : ndarray of int64
        Position in ``lines`` of each sample's line.
    length : ndarray
        Line length each sample stands for (m); they sum to the line lengths.
    """
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    if len(coords) < 2:
        return np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0)
    same = idx[1:] == idx[:-1]
    a, b, owner = coords[:-1][same], coords[1:][same], idx[:-1][same]
    seg = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
    n = np.maximum(1, np.ceil(seg / step)).astype(np.int64)
    rep = np.repeat(np.arange(seg.size), n)
    k = np.arange(rep.size) - np.repeat(np.cumsum(n) - n, n)
    f = (k + 0.5) / n[rep]
    x = a[rep, 0] + f * (b[rep, 0] - a[rep, 0])
    y = a[rep, 1] + f * (b[rep, 1] - a[rep, 1])
    return x, y, owner[rep].astype(np.int64), (seg / n)[rep]


def outline_samples(geoms: np.ndarray, step: float
                     ) -> tuple[np.ndarray, np.ndarray, float]:
    """Points, every vertex of lines and polygon rings, and fill-in points on long pieces.

    Straight pieces longer than ``step`` are cut into ``ceil(l / step)``
    equal sub-pieces whose ends are added, so every point of an outline lies
    within ``spacing / 2`` of a sample of its own piece, and every vertex is a
    sample.

    Returns
    -------
    x, y : ndarray
        Sample coordinates.
    spacing : float
        Longest sub-piece (0 when there are only points).
    """
    types = shapely.get_type_id(geoms)
    pts = geoms[types == 0]
    xs, ys = [shapely.get_x(pts)], [shapely.get_y(pts)]
    polys = geoms[types == 3]
    holed = shapely.get_num_interior_rings(polys) > 0
    # a hole-free polygon's coordinates are its closed exterior ring, so only
    # polygons with holes need the (slow) split into ring geometries
    lines = np.concatenate([geoms[np.isin(types, (1, 2))], shapely.get_rings(polys[holed]),
                            polys[~holed]])
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    spacing = 0.0
    if len(coords) >= 2:
        x, y = coords[:, 0].copy(), coords[:, 1].copy()  # contiguous: faster to index
        same = idx[1:] == idx[:-1]
        start = np.flatnonzero(same)  # piece i runs from vertex start[i] to start[i] + 1
        ax, ay = x[start], y[start]
        dx, dy = x[start + 1] - ax, y[start + 1] - ay
        seg = np.hypot(dx, dy)
        n = np.maximum(1, np.ceil(seg / step)).astype(np.int64)
        spacing = float(np.max(seg / n, initial=0.0))
        # every piece's start, then the inner cut points of pieces longer than step
        cut = np.flatnonzero(n > 1)
        m = n[cut] - 1
        rep = np.repeat(cut, m)
        f = (np.arange(rep.size) - np.repeat(np.cumsum(m) - m, m) + 1) / n[rep]
        xs += [ax, ax[rep] + f * dx[rep]]
        ys += [ay, ay[rep] + f * dy[rep]]
        # and each open line's last vertex
        last, first = np.flatnonzero(np.r_[~same, True]), np.flatnonzero(np.r_[True, ~same])
        last = last[(x[last] != x[first]) | (y[last] != y[first])]
        xs.append(x[last])
        ys.append(y[last])
    return np.concatenate(xs), np.concatenate(ys), spacing

def bin_index(grid: Grid, x: np.ndarray, y: np.ndarray, pad: int) -> np.ndarray:
    """Flat index of each point's cell in the grid padded by ``pad`` cells (-1 outside)."""
    rows, cols = grid.n_rows + 2 * pad, grid.n_cols + 2 * pad
    row, col = grid.padded_cell_index(x, y, pad)
    ok = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    return np.where(ok, row * cols + col, -1)

