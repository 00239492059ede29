"""Density operationalisation: cells where the features' kernel density is unusually high.

Features become weighted points binned on a padded grid (moved to their cell
centres, as RTMDx rasterises them) and smoothed with the package's quartic
kernel by :func:`hotspot_env.core.density.binned_kde`, the FFT route of the one
KDE module (equal to the exact kernel sum :func:`hotspot_env.core.density.kde`
at those centres to round-off, and several times faster on dense layers and
wide radii). A cell is "high density" above the RTMDx threshold, the mean + 2
standard deviations over the study area.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from hotspot_env.core.density import binned_kde
from hotspot_env.core.grid import Grid
from hotspot_env.models.rtm._geometry import bin_index, sample_lines, single_parts


def _feature_points(geoms: np.ndarray, step: float, unit: float, grid: Grid, pad: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted points standing for features: points as is, polygon centroids, line samples.

    Points and polygons weigh 1; lines are sampled at most ``step`` m apart
    and each sample weighs the length it stands for divided by ``unit`` (one
    block length of line counts as one feature). Polygon centroids are only
    guaranteed to lie in the same cell of ``grid`` padded by ``pad`` cells as
    the exact ones (:func:`_polygon_centroids`).
    """
    types = shapely.get_type_id(geoms)
    xs, ys, ws = [], [], []
    pts = geoms[types == 0]
    if pts.size:
        xs.append(shapely.get_x(pts))
        ys.append(shapely.get_y(pts))
        ws.append(np.ones(pts.size))
    polys = geoms[types == 3]
    if polys.size:
        cx, cy = _polygon_centroids(polys, grid, pad)
        xs.append(cx)
        ys.append(cy)
        ws.append(np.ones(polys.size))
    lines = geoms[np.isin(types, (1, 2))]
    if lines.size:
        lx, ly, _, length = sample_lines(lines, step)
        xs.append(lx)
        ys.append(ly)
        ws.append(length / unit)
    if not xs:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def _polygon_centroids(polys: np.ndarray, grid: Grid, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Centroids of polygons, each in the same padded-grid cell as GEOS's centroid.

    ``shapely.centroid`` creates one point geometry per polygon, which is slow
    for 10^5 buildings. A hole-free polygon's centroid is computed here from
    its ring (a fan of triangles from the first vertex, in coordinates
    relative to it). This and GEOS's result both lie within ``eps`` of the
    exact centroid, ``eps`` the usual bound on rounding in sums and products
    (Higham 2002, ch. 3-4), with a safety factor of 4:
    ``eps = 4 (n + 8) u max|x| sum_i(|dx_i dy_i+1| + |dx_i+1 dy_i|) / |2 A|``
    for ``n`` vertices, unit roundoff ``u`` and area ``A``. Cell indices are
    monotone in the coordinates, so where ``x +- 2 eps`` (and ``y +- 2 eps``)
    fall in the same cell, GEOS's centroid falls there too; the other
    polygons (and those with holes or no area) get GEOS's centroid.
    """
    cx, cy = np.full(polys.size, np.nan), np.full(polys.size, np.nan)
    exact = np.zeros(polys.size, dtype=bool)
    simple = np.flatnonzero(shapely.get_num_interior_rings(polys) == 0)
    if simple.size:
        coords = shapely.get_coordinates(polys[simple])
        n = shapely.get_num_coordinates(polys[simple])
        start = np.cumsum(n) - n
        x, y = coords[:, 0].copy(), coords[:, 1].copy()
        dx, dy = x - np.repeat(x[start], n), y - np.repeat(y[start], n)
        p1, p2 = dx[:-1] * dy[1:], dx[1:] * dy[:-1]
        a2 = np.append(p1 - p2, 0.0)  # doubled signed area of triangle (0, i, i + 1)
        size = np.append(np.abs(p1) + np.abs(p2), 0.0)
        a2[start[1:] - 1] = size[start[1:] - 1] = 0.0  # no triangle across two polygons
        area2 = np.add.reduceat(a2, start)
        with np.errstate(divide="ignore", invalid="ignore"):
            mx = x[start] + np.add.reduceat(a2 * (dx + np.append(dx[1:], 0.0)), start) / (
                3.0 * area2)
            my = y[start] + np.add.reduceat(a2 * (dy + np.append(dy[1:], 0.0)), start) / (
                3.0 * area2)
            rel = 4.0 * (n + 8) * (np.finfo(float).eps / 2) * np.add.reduceat(size, start) / (
                np.abs(area2))
        ex = 2.0 * rel * np.maximum.reduceat(np.abs(x), start)
        ey = 2.0 * rel * np.maximum.reduceat(np.abs(y), start)
        ok = np.isfinite(mx) & np.isfinite(my) & np.isfinite(ex) & np.isfinite(ey)
        r0, c0 = grid.padded_cell_index(np.where(ok, mx - ex, 0.0), np.where(ok, my + ey, 0.0), pad)
        r1, c1 = grid.padded_cell_index(np.where(ok, mx + ex, 0.0), np.where(ok, my - ey, 0.0), pad)
        ok &= (r0 == r1) & (c0 == c1)
        cx[simple[ok]], cy[simple[ok]] = mx[ok], my[ok]
        exact[simple[ok]] = True
    if not exact.all():
        c = shapely.centroid(polys[~exact])
        cx[~exact], cy[~exact] = shapely.get_x(c), shapely.get_y(c)
    return cx, cy


def bin_points(grid: Grid, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
               pad: int) -> np.ndarray:
    """Sum of point weights per cell of the grid padded by ``pad`` cells on each side."""
    rows, cols = grid.n_rows + 2 * pad, grid.n_cols + 2 * pad
    flat = bin_index(grid, x, y, pad)
    ok = flat >= 0
    w = np.ones(flat.size) if weights is None else np.asarray(weights, float)
    return np.bincount(flat[ok], weights=w[ok], minlength=rows * cols).reshape(rows, cols)


def density_indicators(
    grid: Grid, geoms: Any, bandwidths: tuple[float, ...] | list[float], unit_m: float
) -> tuple[dict[float, np.ndarray], dict[float, np.ndarray]]:
    """Cells where the features' kernel density exceeds the mean + 2 SD (RTMDx "density").

    Features become weighted points (:func:`_feature_points`: points, polygon
    centroids, lines sampled every half cell with one block length of line
    weighing 1), binned on the grid and smoothed with a quartic kernel of each
    radius (:func:`hotspot_env.core.density.binned_kde`). A cell is "high density" when its
    density is above the mean + 2 standard deviations over the cells of the
    study area.

    Parameters
    ----------
    grid : Grid
        The study grid.
    geoms : GeoSeries, GeoDataFrame or array of geometries
        Features in ``grid.crs``.
    bandwidths : sequence of float
        Kernel radii in metres.
    unit_m : float
        Line length (m) that counts as one feature (the block length).

    Returns
    -------
    indicators : dict of float to ndarray of bool
        One ``grid.shape`` array per radius; False outside ``grid.mask``.
    surfaces : dict of float to ndarray
        The densities (features per km^2).
    """
    return density_of_parts(grid, single_parts(geoms), bandwidths, unit_m)


def density_of_parts(grid: Grid, geoms: np.ndarray, bandwidths: tuple[float, ...] | list[float],
                     unit_m: float) -> tuple[dict[float, np.ndarray], dict[float, np.ndarray]]:
    """:func:`density_indicators` of single-part, non-empty geometries (:func:`single_parts`)."""
    surf = density_surfaces(grid, geoms, bandwidths, unit_m)
    ind = {h: _above_mean_plus_2sd(dens, grid.mask) for h, dens in surf.items()}
    return ind, surf


def density_surfaces(grid: Grid, geoms: np.ndarray, bandwidths: tuple[float, ...] | list[float],
                     unit_m: float) -> dict[float, np.ndarray]:
    """The features' kernel density (features per km^2) at each radius, ``grid.shape`` each.

    Features farther than a radius plus a cell from the grid add nothing, so a
    tile needs only the features near it (:mod:`hotspot_env.scale.tile_rtm`).
    """
    hs = sorted({float(h) for h in bandwidths})
    surf = {h: np.zeros(grid.shape) for h in hs}
    if geoms.size == 0 or not hs:
        return surf
    pad = density_pad(grid.cell_size, hs[-1])
    x, y, w = _feature_points(geoms, max(grid.cell_size / 2.0, 1.0), unit_m, grid, pad)
    binned = bin_points(grid, x, y, w, pad)
    for h in hs:
        surf[h] = binned_kde(grid, binned, h, pad) * 1e6
    return surf


def density_pad(cell_size: float, radius: float) -> int:
    """Cells around a grid whose features reach it at kernel radius ``radius``."""
    return int(math.ceil(radius / cell_size)) + 1


def _above_mean_plus_2sd(dens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Cells of ``mask`` whose density is above the mean + 2 SD over ``mask`` (RTMDx)."""
    values = dens[mask]
    if values.size == 0:
        return np.zeros(mask.shape, dtype=bool)
    return above_threshold(dens, mask, float(values.mean()), float(values.std()))


def above_threshold(dens: np.ndarray, mask: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """Cells of ``mask`` whose density is above ``mean + 2 sd`` (no cell when ``sd`` is 0).

    ``mean`` and ``sd`` are those of the whole study area (a tile is given the
    global ones). The relative margin of 1e-9 keeps round-off from turning a
    cell on that merely equals the threshold (e.g. everywhere when every cell
    is alike).
    """
    if sd <= 0:
        return np.zeros(mask.shape, dtype=bool)
    threshold = mean + 2.0 * sd
    return (dens > threshold * (1 + 1e-9)) & mask
