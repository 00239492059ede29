"""Risk terrain modeling (RTM): which place features go with incidents, and how strongly.

Risk terrain modeling (Caplan, Kennedy & Miller 2011; Caplan & Kennedy 2016)
asks which features of the environment (bars, vacant lots, dark streets...)
have a *spatial influence* on incidents, operationalises each as a yes/no
layer on the grid, and fits a count regression of incidents per cell on those
layers. The exponentiated coefficients are *relative risk values* (RRV): a
cell exposed to a factor with RRV 2 is expected to have twice the incidents of
an otherwise equal cell. The product of the RRVs present in a cell is its
*risk terrain score* (1 = no selected factor present).

This module follows the RTMDx utility (Caplan & Kennedy 2016, ch. 4):

Operationalisations
    For each candidate factor (a layer of features) and each distance
    ``d`` in 1, 2 and 3 *block lengths* (median street-segment length, see
    :func:`block_length`):

    * **proximity**: 1 if the cell centre lies within ``d`` of a feature
      (:func:`proximity_indicators`);
    * **density**: 1 if the kernel density of the features, with a quartic
      kernel of radius ``d``, exceeds the mean + 2 standard deviations over the
      study area (:func:`density_indicators`; the RTMDx convention).

Selection (:func:`fit`)
    1. Counts are checked for overdispersion with a likelihood-ratio test of
       the negative binomial (NB2) dispersion against Poisson; negative
       binomial is used when the test rejects at 5 %.
    2. Per factor, the operationalisation with the lowest BIC in a one-factor
       model (positive coefficients only, unless ``protective=True``).
    3. Bidirectional stepwise selection by BIC among those, from the null
       model (the RTMDx procedure).
    4. Unpenalised refit of the selected set (NB dispersion re-estimated by
       maximum likelihood), then a Holm step-down test over *all* the
       operationalisations tried (family-wise error 5 %): factors that fail it
       are dropped and the model refitted. Because the search tries several
       operationalisations per factor, unadjusted p-values would let
       irrelevant layers in; this rule keeps every reported factor at
       ``p <= 0.05 / m`` or better for ``m`` candidates.

All fits group cells with the same indicator pattern and count and pass the
group sizes as frequency weights: the likelihood is exactly that of the
cell-level model, and a fit on 240,000 cells takes milliseconds.

References
----------
Caplan, J. M., Kennedy, L. W. & Miller, J. (2011). Risk terrain modeling:
brokering criminological theory and GIS methods for crime forecasting.
Justice Quarterly 28(2), 360-381.
Caplan, J. M. & Kennedy, L. W. (2016). Risk Terrain Modeling: Crime
Prediction and Risk Reduction. University of California Press.
Schwarz, G. (1978). Estimating the dimension of a model. Annals of Statistics
6(2), 461-464.
Holm, S. (1979). A simple sequentially rejective multiple test procedure.
Scandinavian Journal of Statistics 6(2), 65-70.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage, optimize, signal, spatial, stats

from hotspot_env import settings
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.core.stages import declares
from hotspot_env.errors import InputError
from hotspot_env.outputs.privacy import Kind, basis_kind, count_basis, declare, publish

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Block length (m) used when there is no street layer to measure it from.
DEFAULT_BLOCK_LENGTH_M: float = 100.0

#: Distances tested, in block lengths (RTMDx: 1, 2 and 3 blocks).
BLOCK_MULTIPLES: tuple[float, ...] = (1.0, 2.0, 3.0)

#: Operationalisations tested.
OPERATIONS: tuple[str, ...] = ("proximity", "density")

#: Family-wise error rate of the Holm test applied after selection.
FWER: float = 0.05

#: Share of cells (percent) in the headline "top N %".
TOP_PERCENT: float = 10.0

#: User layers with these names describe the street network, not a risk factor.
STREET_LAYER_NAMES: frozenset[str] = frozenset({"streets", "roads", "street_network"})

#: Columns of :attr:`RTMResult.table`, in order.
TABLE_COLUMNS: tuple[str, ...] = ("factor", "operation", "distance_m", "coefficient", "rrv",
                                  "ci_low", "ci_high", "p_value")

#: Factors whose *layer* (not their ``features``) holds the risky places: the
#: lighting factor's features are working lamps, its layer the dark segments.
USE_LAYER: frozenset[str] = frozenset({"lighting"})

#: Plain-language names of known factors in explanations.
DISPLAY_NAMES: dict[str, str] = {"lighting": "dark street segments", "vacancy": "vacant land",
                                 "sightlines": "sightline obstacles", "youth": "youth spaces",
                                 "access": "youth and community spaces",
                                 "poor_lighting": "places a walk audit rated poorly lit",
                                 "poor_openness": "places a walk audit rated closed in",
                                 "poor_visibility": "places a walk audit rated hard to see into",
                                 "poor_people": "places a walk audit rated deserted",
                                 "poor_security": "places a walk audit rated unguarded",
                                 "poor_walk_path": "places a walk audit rated poor to walk",
                                 "poor_transport": "places a walk audit rated far from transport",
                                 "poor_feeling": "places a walk audit rated unsafe"}


# ====================================================================== block length
def block_length(streets: gpd.GeoDataFrame | None) -> tuple[float, Choice]:
    """Median street-segment length: the RTM unit of distance.

    Parameters
    ----------
    streets : GeoDataFrame or None
        Street segments (lines) in a projected CRS (metres). Multi-part lines
        are split into their parts; empty and zero-length geometries are ignored.

    Returns
    -------
    length_m : float
        Median segment length in metres, rounded to 1 m; 100 m
        (:data:`DEFAULT_BLOCK_LENGTH_M`) when no street segment is available.
    choice : Choice
        The announcement.
    """
    lengths = np.zeros(0)
    if streets is not None and len(streets):
        parts = _parts(streets)
        lines = parts[np.isin(shapely.get_type_id(parts), (1, 2))]
        lengths = shapely.length(lines)
        lengths = lengths[np.isfinite(lengths) & (lengths > 0)]
    if lengths.size == 0:
        value = DEFAULT_BLOCK_LENGTH_M
        return value, announce(Choice(
            "block_length_m", value, "no street segments to measure, so the common default of "
            f"{value:g} m (a typical city block) is used"))
    value = float(max(1.0, round(float(np.median(lengths)))))
    return value, announce(Choice(
        "block_length_m", value,
        f"median length of the {lengths.size:,} street segments (the RTM unit of distance)"))


# ====================================================================== operationalisations
def _geometry_array(geoms: Any) -> np.ndarray:
    """Geometries of a GeoSeries, GeoDataFrame or array as an object array."""
    if isinstance(geoms, gpd.GeoDataFrame):
        geoms = geoms.geometry
    return np.asarray(getattr(geoms, "values", geoms), dtype=object)


def _parts(geoms: Any) -> np.ndarray:
    """Single-part, non-empty geometries of ``geoms`` (GeoSeries/frame/array)."""
    arr = _geometry_array(geoms)
    arr = arr[~shapely.is_missing(arr)] if arr.size else arr
    if arr.size == 0:
        return np.zeros(0, dtype=object)
    if np.isin(shapely.get_type_id(arr), (4, 5, 6, 7)).any():
        arr = shapely.get_parts(arr)
    return arr[~shapely.is_empty(arr)]


def _sample_lines(lines: np.ndarray, step: float
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


def _outline_samples(geoms: np.ndarray, step: float
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


def proximity_indicators(
    grid: Grid, geoms: Any, distances: tuple[float, ...] | list[float]
) -> dict[float, np.ndarray]:
    """Cells whose centre lies within each distance of a feature.

    Exact, and fast for hundreds of thousands of cells and features. Each
    cell's distance ``D`` (from its centre ``P`` to the nearest feature) is
    bounded ever more tightly, ``lo <= D <= hi``; each step only handles the
    cells whose bounds still straddle one of the distances ``d``.

    1. **Samples.** Points, every vertex of lines and polygon rings, and
       points cutting longer straight pieces into sub-pieces of at most ``h``
       = half a cell (:func:`_outline_samples`). Let ``e`` be the distance
       from ``P`` to the nearest sample and ``D_b`` the distance to the
       nearest point, line or polygon *outline*. Samples lie on those, so
       ``D_b <= e``. The nearest outline point ``Q`` is a vertex (then
       ``e = D_b``) or the foot of the perpendicular from ``P`` onto a piece,
       within ``h / 2`` of a sample on that piece, so
       ``e^2 <= D_b^2 + h^2 / 4``.
    2. **Coarse bounds.** The samples are binned on the grid, padded so that
       features just outside still count, and a Euclidean distance transform
       (:func:`scipy.ndimage.distance_transform_edt`) gives each cell the
       distance to the nearest occupied cell's centre, within ``s / sqrt(2)``
       of ``e`` (``s`` = cell size); the distance to one sample of that cell
       is another upper bound. These settle every cell of dense layers and
       about half the cells of sparse ones.
    3. **Nearest sample.** The other cells get ``e`` itself from a k-d tree
       (:class:`scipy.spatial.cKDTree`) of the samples (only those within
       reach of such a cell when they are many).
    4. **Polygons.** ``D = 0`` for centres inside a polygon, and ``D = D_b``
       elsewhere. Only cells not yet known to lie within every distance are
       tested (one vectorised ``STRtree.query``), and only against polygons
       wide enough: the disc of radius ``D_b`` around a centre inside a
       polygon holds no outline point, so it lies inside that polygon.
    5. **Exact distance.** Cells still undecided lie within ``h^2 / (8 d)``
       of a threshold (under 1 m for 50 m cells and a 100 m distance) and get
       their exact distance from one vectorised ``STRtree.query_nearest``.

    The result equals the brute-force answer (checked in the tests).

    Parameters
    ----------
    grid : Grid
        The study grid.
    geoms : GeoSeries, GeoDataFrame or array of geometries
        Features in ``grid.crs`` (points, lines or polygons; inside a polygon
        the distance is 0).
    distances : sequence of float
        Distances in metres.

    Returns
    -------
    dict of float to ndarray of bool
        One ``grid.shape`` array per distance; False outside ``grid.mask``.
    """
    return _proximity(grid, _parts(geoms), distances)


def _proximity(grid: Grid, geoms: np.ndarray, distances: tuple[float, ...] | list[float]
               ) -> dict[float, np.ndarray]:
    """:func:`proximity_indicators` of single-part, non-empty geometries (:func:`_parts`)."""
    dists = sorted({float(d) for d in distances})
    out = {d: np.zeros(grid.shape, dtype=bool) for d in dists}
    if geoms.size == 0 or not dists:
        return out
    s, dmax = grid.cell_size, dists[-1]
    sx, sy, h = _outline_samples(geoms, s / 2.0)
    tol = 1e-6 + 1e-9 * dmax  # rounding in sample positions and distances (coordinates ~1e6 m)
    reach = math.sqrt(dmax**2 + h**2 / 4.0) + 2.0 * tol  # farther samples decide nothing
    cells = np.flatnonzero(grid.mask.ravel())
    cx, cy = (c.ravel()[cells] for c in grid.centres())

    def undecided(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Cells whose bounds ``lo <= D <= hi`` straddle some distance."""
        out_ = np.zeros(lo.size, dtype=bool)
        for d in dists:
            out_ |= (hi > d - tol) & (lo <= d + tol)
        return out_

    # 2. coarse bounds from the distance transform of the binned samples
    pad = int(math.ceil(reach / s)) + 1
    shape = (grid.n_rows + 2 * pad, grid.n_cols + 2 * pad)
    padded = (cells // grid.n_cols + pad) * shape[1] + cells % grid.n_cols + pad
    where = _bin_index(grid, sx, sy, pad)
    empty = np.ones(shape, dtype=bool)
    empty.ravel()[where[where >= 0]] = False
    lo, hi = np.full(cells.size, np.inf), np.full(cells.size, np.inf)
    if not empty.all():  # else no sample is within reach of the grid
        e, (row, col) = ndimage.distance_transform_edt(empty, sampling=s, return_indices=True)
        e = e.ravel()[padded]
        lo = e - s * math.sqrt(0.5) - h / 2.0
        # the distance to any one sample of the nearest occupied cell is a
        # valid upper bound too, and usually a much tighter one
        one = np.zeros(empty.size, np.int64)
        one[where[where >= 0]] = np.flatnonzero(where >= 0)
        one = one[row.ravel()[padded].astype(np.int64) * shape[1] + col.ravel()[padded]]
        hi = np.minimum(e + s * math.sqrt(0.5), np.hypot(sx[one] - cx, sy[one] - cy))
    # 3. nearest sample where that is not enough
    todo = np.flatnonzero(undecided(lo, hi))
    if todo.size:
        near = where >= 0
        if near.sum() > 2 * todo.size:
            # many samples, few cells (dense layers): keep the samples within reach of
            # those cells, i.e. in a cell whose centre is within reach + s / sqrt(2)
            far = np.ones(shape, dtype=bool)
            far.ravel()[padded[todo]] = False
            span = ndimage.distance_transform_edt(far, sampling=s).ravel()
            near[near] = span[where[near]] <= reach + s * math.sqrt(0.5) + tol
        e = np.full(todo.size, np.inf)
        if near.any():
            tree = spatial.cKDTree(np.column_stack([sx[near], sy[near]]))
            e, _ = tree.query(np.column_stack([cx[todo], cy[todo]]), distance_upper_bound=reach)
        hi[todo] = e
        lo[todo] = np.sqrt(np.maximum(e**2 - h**2 / 4.0, 0.0))
    # 4. centres inside a polygon
    polys = geoms[shapely.get_type_id(geoms) == 3]
    test = np.flatnonzero(hi > dists[0] - tol) if polys.size else np.zeros(0, np.int64)
    if test.size:
        bounds = shapely.bounds(polys)
        width = np.minimum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
        radius = np.minimum(lo[test], dmax) - tol  # lo = inf: no outline within dmax
        fits = radius <= width.max() / 2.0
        test, radius = test[fits], radius[fits]
        if test.size:
            wide = polys[width >= 2.0 * radius.min()]
            hit, _ = shapely.STRtree(wide).query(shapely.points(cx[test], cy[test]),
                                                 predicate="intersects")
            inside = test[np.unique(hit)]
            hi[inside] = lo[inside] = 0.0
    # 5. exact distance in the thin band left around each threshold
    unsure = np.flatnonzero(undecided(lo, hi))
    if unsure.size:
        (ip, _), dist = shapely.STRtree(geoms).query_nearest(
            shapely.points(cx[unsure], cy[unsure]), max_distance=reach, return_distance=True,
            all_matches=False)
        exact = np.full(unsure.size, np.inf)
        exact[ip] = dist
        hi[unsure] = exact
    for d in dists:
        out[d].ravel()[cells] = hi <= d
    return out


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
        lx, ly, _, length = _sample_lines(lines, step)
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


def quartic_kernel(bandwidth: float, cell_size: float) -> np.ndarray:
    """Quartic kernel ``3 / (pi h^2) (1 - d^2/h^2)^2`` sampled at cell-centre offsets (per m^2)."""
    k = int(math.floor(bandwidth / cell_size))
    off = np.arange(-k, k + 1) * cell_size
    u = (off[:, None] ** 2 + off[None, :] ** 2) / bandwidth**2
    return np.where(u < 1.0, (1.0 - u) ** 2, 0.0) * (3.0 / (math.pi * bandwidth**2))


def binned_kde(grid: Grid, binned: np.ndarray, bandwidth: float, pad: int) -> np.ndarray:
    """Quartic KDE of weights binned on a padded grid, at the grid's cell centres.

    ``binned`` has shape ``(..., n_rows + 2 pad, n_cols + 2 pad)``; the result
    ``(..., n_rows, n_cols)`` is in weight per m^2. This is the exact KDE of
    points moved to their cell centres, computed by FFT convolution (cost
    independent of the number of points and of the bandwidth).
    """
    kernel = quartic_kernel(bandwidth, grid.cell_size)
    if binned.ndim == 3:
        kernel = kernel[None]
    if kernel.shape[-1] == 1:
        dens = binned * kernel.reshape(-1)[0]
    else:
        axes = (-2, -1)
        dens = signal.fftconvolve(binned, kernel, mode="same", axes=axes)
    dens = dens[..., pad:pad + grid.n_rows, pad:pad + grid.n_cols]
    # FFT round-off leaves tiny negative/positive values where the density is 0
    return np.where(dens > 1e-12 * max(float(np.max(np.abs(dens), initial=0.0)), 1e-300),
                    dens, 0.0)


def _bin_index(grid: Grid, x: np.ndarray, y: np.ndarray, pad: int) -> np.ndarray:
    """Flat index of each point's cell in the grid padded by ``pad`` cells (-1 outside)."""
    rows, cols = grid.n_rows + 2 * pad, grid.n_cols + 2 * pad
    row, col = grid.padded_cell_index(x, y, pad)
    ok = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    return np.where(ok, row * cols + col, -1)


def bin_points(grid: Grid, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
               pad: int) -> np.ndarray:
    """Sum of point weights per cell of the grid padded by ``pad`` cells on each side."""
    rows, cols = grid.n_rows + 2 * pad, grid.n_cols + 2 * pad
    flat = _bin_index(grid, x, y, pad)
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
    radius by FFT (:func:`binned_kde`). A cell is "high density" when its
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
    return _density(grid, _parts(geoms), bandwidths, unit_m)


def _density(grid: Grid, geoms: np.ndarray, bandwidths: tuple[float, ...] | list[float],
             unit_m: float) -> tuple[dict[float, np.ndarray], dict[float, np.ndarray]]:
    """:func:`density_indicators` of single-part, non-empty geometries (:func:`_parts`)."""
    hs = sorted({float(h) for h in bandwidths})
    ind = {h: np.zeros(grid.shape, dtype=bool) for h in hs}
    surf = {h: np.zeros(grid.shape) for h in hs}
    if geoms.size == 0 or not hs:
        return ind, surf
    pad = int(math.ceil(hs[-1] / grid.cell_size)) + 1
    x, y, w = _feature_points(geoms, max(grid.cell_size / 2.0, 1.0), unit_m, grid, pad)
    binned = bin_points(grid, x, y, w, pad)
    for h in hs:
        dens = binned_kde(grid, binned, h, pad) * 1e6
        surf[h] = dens
        values = dens[grid.mask]
        if values.size == 0:
            continue
        sd = float(values.std())
        if sd <= 0:
            continue
        threshold = float(values.mean()) + 2.0 * sd
        ind[h] = (dens > threshold * (1 + 1e-9)) & grid.mask
    return ind, surf


@dataclass
class Candidate:
    """One operationalisation of one factor.

    Attributes
    ----------
    factor : str
        Factor (layer) name.
    operation : {"proximity", "density"}
        How the factor was turned into a yes/no layer.
    distance_m : float
        Distance of influence (proximity) or kernel radius (density), metres.
    indicator : ndarray of bool
        ``grid.shape``; False outside the study area.
    """

    factor: str
    operation: str
    distance_m: float
    indicator: np.ndarray = field(repr=False)

    @property
    def label(self) -> str:
        """``factor:operation:distance``."""
        return f"{self.factor}:{self.operation}:{self.distance_m:g}"


def candidate_indicators(
    grid: Grid,
    layers: dict[str, Any],
    block_length_m: float,
    multiples: tuple[float, ...] = BLOCK_MULTIPLES,
    operations: tuple[str, ...] = OPERATIONS,
) -> list[Candidate]:
    """Every operationalisation of every factor layer.

    Parameters
    ----------
    grid : Grid
        The study grid.
    layers : dict of str to GeoDataFrame
        Factor name to features in ``grid.crs``.
    block_length_m : float
        The distance unit (m).
    multiples : tuple of float
        Distances in block lengths (default 1, 2, 3).
    operations : tuple of str
        Subset of ``("proximity", "density")``.

    Returns
    -------
    list of Candidate
        Indicators that are neither all 0 nor all 1 inside the study area.
        Layers holding exactly the same geometries are computed once (each
        candidate still gets its own copy of the indicator).
    """
    distances = [m * block_length_m for m in multiples]
    out: list[Candidate] = []
    n_cells = grid.n_cells
    # the same features often come twice (a factor's features and the user
    # layer it was built from): compute their indicators once
    done: list[tuple[np.ndarray, list[tuple[str, float, np.ndarray]]]] = []
    for name, frame in layers.items():
        if frame is None or len(frame) == 0:
            continue
        geoms = _geometry_array(frame)
        found = next((f for g, f in done if _same_geometries(g, geoms)), None)
        if found is None:
            found = []
            parts = _parts(geoms)
            if "proximity" in operations:
                prox = _proximity(grid, parts, distances)
                found += [("proximity", d, prox[d]) for d in sorted(prox)]
            if "density" in operations:
                dens, _ = _density(grid, parts, distances, block_length_m)
                found += [("density", d, dens[d]) for d in sorted(dens)]
            done.append((geoms, found))
        for op, d, ind in found:
            n_on = int(ind.sum())
            if 0 < n_on < n_cells:
                out.append(Candidate(name, op, float(d), ind.copy()))
    return out


def _same_geometries(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two geometry arrays hold exactly the same geometries in the same order."""
    if a is b:
        return True
    if a.shape != b.shape:
        return False
    head = slice(0, 64)  # most different layers differ at once: skip the full check
    return bool(shapely.equals_exact(a[head], b[head]).all()
                and shapely.equals_exact(a, b).all())


# ====================================================================== model fitting
@dataclass
class _Fit:
    params: np.ndarray
    bse: np.ndarray
    llf: float
    converged: bool


def _grouped(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (indicator pattern, count) rows and their frequencies.

    Returns ``y_u``, ``X_u`` (with a leading column of ones) and ``freq``.
    """
    k = X.shape[1]
    if k > 60:  # pragma: no cover - far more factors than RTM ever fits at once
        raise ValueError("too many indicators to group")
    code = np.zeros(y.size, np.int64)
    for j in range(k):  # column by column: no (n, k) int64 temporary
        code += X[:, j] * np.int64(1 << j)
    ymax = int(y.max()) + 1 if y.size else 1
    key = code * ymax + y.astype(np.int64, copy=False)
    if (1 << k) * ymax <= max(4 * key.size, 1 << 16):  # a counting pass beats sorting
        freq = np.bincount(key, minlength=(1 << k) * ymax)
        uniq = np.flatnonzero(freq)
        freq = freq[uniq]
    else:
        uniq, freq = np.unique(key, return_counts=True)
    yu = (uniq % ymax).astype(float)
    pattern = uniq // ymax
    Xu = ((pattern[:, None] >> np.arange(k, dtype=np.int64)) & 1).astype(float)
    return yu, np.column_stack([np.ones(uniq.size), Xu]), freq.astype(float)


def _nb_loglik(y: np.ndarray, mu: np.ndarray, alpha: float, w: np.ndarray) -> float:
    if alpha <= 0:
        return float(np.sum(w * stats.poisson.logpmf(y, mu)))
    r = 1.0 / alpha
    return float(np.sum(w * stats.nbinom.logpmf(y, r, r / (r + mu))))


def _irls(y: np.ndarray, X: np.ndarray, w: np.ndarray, alpha: float,
          start: np.ndarray | None = None, maxiter: int = 100) -> _Fit:
    """Weighted IRLS for a log-link Poisson (``alpha = 0``) or NB2 (fixed ``alpha``) GLM."""
    p = X.shape[1]
    beta = np.zeros(p) if start is None else start.astype(float).copy()
    if start is None:
        beta[0] = math.log(max(np.sum(w * y) / np.sum(w), 1e-10))
    converged = False
    for _ in range(maxiter):
        eta = np.clip(X @ beta, -50, 50)
        mu = np.exp(eta)
        var_w = mu / (1.0 + alpha * mu)  # IRLS weight for log link
        z = eta + (y - mu) / mu
        ww = w * var_w
        xtwx = X.T @ (X * ww[:, None])
        xtwz = X.T @ (ww * z)
        try:
            new = np.linalg.solve(xtwx + 1e-12 * np.eye(p), xtwz)
        except np.linalg.LinAlgError:
            new = np.linalg.lstsq(xtwx, xtwz, rcond=None)[0]
        if np.max(np.abs(new - beta)) < 1e-9:
            beta = new
            converged = True
            break
        beta = new
    eta = np.clip(X @ beta, -50, 50)
    mu = np.exp(eta)
    ww = w * mu / (1.0 + alpha * mu)
    xtwx = X.T @ (X * ww[:, None])
    try:
        cov = np.linalg.inv(xtwx)
        bse = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        bse = np.full(p, np.inf)
    # a coefficient running off to -inf (no incidents where the indicator is 1)
    converged &= bool(np.all(np.abs(beta[1:]) < 20)) and bool(np.all(np.isfinite(bse)))
    return _Fit(beta, bse, _nb_loglik(y, mu, alpha, w), converged)


def _profile_alpha(y: np.ndarray, X: np.ndarray, w: np.ndarray) -> tuple[float, _Fit]:
    """NB2 dispersion by maximum profile likelihood (0 = Poisson)."""
    cache: dict[float, _Fit] = {}

    def negll(log_a: float) -> float:
        a = math.exp(log_a)
        fit = _irls(y, X, w, a)
        cache[a] = fit
        return -fit.llf

    res = optimize.minimize_scalar(negll, bounds=(math.log(1e-6), math.log(100.0)),
                                   method="bounded", options={"xatol": 1e-4})
    alpha = math.exp(res.x)
    fit = cache.get(alpha) or _irls(y, X, w, alpha)
    return alpha, fit


@dataclass
class _Data:
    """Cell counts and candidate indicators inside the study area."""

    y: np.ndarray
    X: np.ndarray
    candidates: list[Candidate]

    def fit(self, columns: list[int], alpha: float) -> _Fit:
        yu, Xu, w = _grouped(self.y, self.X[:, columns])
        return _irls(yu, Xu, w, alpha)

    def profile(self, columns: list[int]) -> tuple[float, _Fit]:
        yu, Xu, w = _grouped(self.y, self.X[:, columns])
        return _profile_alpha(yu, Xu, w)


@dataclass
class RTMResult:
    """A fitted risk terrain model.

    Attributes
    ----------
    table : DataFrame
        One row per selected factor, columns :data:`TABLE_COLUMNS`: ``factor``,
        ``operation`` ("proximity"/"density"), ``distance_m`` (m),
        ``coefficient`` (log relative risk), ``rrv`` = exp(coefficient),
        ``ci_low``/``ci_high`` (95 % CI of the RRV) and ``p_value`` (Wald).
    candidates : DataFrame
        Every operationalisation tested, with its one-factor coefficient,
        RRV, p-value and BIC, and flags ``chosen`` (best for its factor) and
        ``selected`` (in the final model).
    score : ndarray
        Risk terrain score per cell, ``exp(sum_k coef_k * indicator_k)``: the
        relative risk against a cell with no selected factor (1). NaN outside
        the study area.
    headline : str
        "the top N % highest-risk cells cover X % of the area and held Y % of
        incidents".
    choices : list of Choice
        Block length, model family and selection notices.
    indicators : dict of str to ndarray of bool
        The chosen operationalisation of each factor (selected or not), by factor name.
    family : str
        "poisson" or "negative binomial".
    alpha : float
        NB2 dispersion (0 for Poisson).
    intercept : float
        Log expected incidents per cell where no selected factor is present.
    block_length_m : float
        The distance unit (m).
    headline_numbers : dict
        ``top_pct``, ``area_pct``, ``incident_pct``, ``n_cells``, ``threshold_score``.
    n_tested : int
        Number of operationalisations tested (``m`` in the Holm test).
    """

    table: pd.DataFrame
    candidates: pd.DataFrame
    score: np.ndarray
    headline: str
    choices: list[Choice]
    indicators: dict[str, np.ndarray]
    family: str = "poisson"
    alpha: float = 0.0
    intercept: float = float("nan")
    block_length_m: float = DEFAULT_BLOCK_LENGTH_M
    headline_numbers: dict[str, float] = field(default_factory=dict)
    n_tested: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary for the manifest."""
        return {"family": self.family, "alpha": self.alpha,
                "intercept": self.intercept if math.isfinite(self.intercept) else None,
                "block_length_m": self.block_length_m, "n_tested": self.n_tested,
                "headline": self.headline, "headline_numbers": self.headline_numbers,
                "factors": self.table.to_dict(orient="records")}


def headline(score: np.ndarray, counts: np.ndarray, mask: np.ndarray,
             top_pct: float = TOP_PERCENT) -> tuple[str, dict[str, float]]:
    """RTMDx-style summary of how well the highest-risk cells capture incidents.

    The threshold is the score of the ``ceil(top_pct % x n)``-th highest cell;
    every cell scoring at least that much counts as high risk, so tied cells
    are never split (the area share can exceed ``top_pct``). When that
    threshold is the baseline score 1 or less, only cells above 1 count.

    Parameters
    ----------
    score : ndarray
        Risk terrain score per cell.
    counts : ndarray
        Incidents per cell.
    mask : ndarray of bool
        Cells of the study area.
    top_pct : float
        Target share of cells, percent (default 10).

    Returns
    -------
    text : str
        "the top 10 % highest-risk cells cover 10.4 % of the area and held
        31.2 % of incidents".
    numbers : dict
        ``top_pct``, ``area_pct``, ``incident_pct``, ``n_cells``, ``threshold_score``.
    """
    s = np.asarray(score, float)[mask]
    c = np.asarray(counts, float)[mask]
    n = s.size
    if n == 0 or c.sum() <= 0:
        return (f"the top {top_pct:g} % highest-risk cells could not be assessed (no incidents)",
                {"top_pct": top_pct, "area_pct": float("nan"), "incident_pct": float("nan"),
                 "n_cells": 0, "threshold_score": float("nan")})
    k = max(1, math.ceil(top_pct / 100.0 * n))
    threshold = float(np.sort(s)[::-1][k - 1])
    high = s > 1.0 if threshold <= 1.0 else s >= threshold
    area = 100.0 * high.sum() / n
    held = 100.0 * c[high].sum() / c.sum()
    text = (f"the top {top_pct:g} % highest-risk cells cover {area:.1f} % of the area and held "
            f"{held:.1f} % of incidents")
    if not high.any():
        text = (f"no cell has a selected risk factor, so the top {top_pct:g} % highest-risk "
                "cells cannot be told apart")
    return text, {"top_pct": float(top_pct), "area_pct": float(area), "incident_pct": float(held),
                  "n_cells": int(high.sum()), "threshold_score": threshold}


def fit(
    grid: Grid,
    counts: np.ndarray,
    layers: dict[str, Any],
    *,
    streets: gpd.GeoDataFrame | None = None,
    block_length_m: float | None = None,
    multiples: tuple[float, ...] = BLOCK_MULTIPLES,
    operations: tuple[str, ...] = OPERATIONS,
    top_pct: float = TOP_PERCENT,
    fwer: float = FWER,
    protective: bool = False,
    family: str = "auto",
) -> RTMResult:
    """Fit a risk terrain model of incident counts per cell on factor layers.

    Parameters
    ----------
    grid : Grid
        The study grid.
    counts : ndarray of int
        Incidents per cell, ``grid.shape``.
    layers : dict of str to GeoDataFrame
        Candidate factors: name to features in ``grid.crs``.
    streets : GeoDataFrame, optional
        Street segments for :func:`block_length`.
    block_length_m : float, optional
        Distance unit in metres (default: measured from ``streets``, else 100 m).
    multiples : tuple of float
        Distances in block lengths (default 1, 2, 3).
    operations : tuple of str
        Operationalisations tested (default proximity and density).
    top_pct : float
        Share of cells (percent) in the headline (default 10).
    fwer : float
        Family-wise error rate of the Holm test over all candidates (default 0.05).
    protective : bool
        Also select factors with RRV < 1 (default False: a risk terrain maps
        aggravating factors only, as RTMDx reports them).
    family : {"auto", "poisson", "negative binomial"}
        Count model; "auto" (default) tests for overdispersion.

    Returns
    -------
    RTMResult
    """
    choices: list[Choice] = []
    if block_length_m is None:
        block_length_m, bl_choice = block_length(streets)
        choices.append(bl_choice)
    block_length_m = float(block_length_m)
    if not (math.isfinite(block_length_m) and block_length_m > 0):
        raise InputError(f"block length must be a positive number of metres, got "
                         f"{block_length_m!r}")
    if not (0 < top_pct <= 100):
        raise InputError(f"the headline share must be between 0 and 100 %, got {top_pct!r}")
    unknown = [op for op in operations if op not in OPERATIONS]
    if unknown or not multiples or min(multiples) <= 0:
        raise InputError(f"RTM operations must be among {', '.join(OPERATIONS)} and distances "
                         f"positive, got {list(operations)} and {list(multiples)}")
    mask = grid.mask
    counts = np.asarray(counts)
    cands = candidate_indicators(grid, layers, block_length_m, multiples, operations)
    # identical indicators (e.g. the same layer given twice) are tested once
    seen: dict[bytes, int] = {}
    unique: list[Candidate] = []
    for c in cands:
        key = np.packbits(c.indicator[mask]).tobytes()
        if key not in seen:
            seen[key] = len(unique)
            unique.append(c)
    cands = unique
    y = np.asarray(counts[mask], dtype=np.int64)
    # column-major, so that the columns of each fit are gathered cheaply
    X = np.empty((y.size, len(cands)), np.uint8, order="F")
    for j, c in enumerate(cands):
        X[:, j] = c.indicator[mask]
    data = _Data(y, X, cands)
    m = len(cands)
    score = np.where(mask, 1.0, np.nan)
    empty_table = pd.DataFrame({c: pd.Series(dtype=float if c not in ("factor", "operation")
                                             else object) for c in TABLE_COLUMNS})
    if m == 0 or y.sum() == 0:
        reason = ("no incidents in the study area" if y.sum() == 0
                  else "no factor layer varies across the study area")
        choices.append(announce(Choice("rtm", "not fitted", reason)))
        text, numbers = headline(score, counts, mask, top_pct)
        return RTMResult(empty_table, pd.DataFrame(), score, text, choices, {}, "poisson", 0.0,
                         math.log(max(y.mean(), 1e-12)) if y.size else float("nan"),
                         block_length_m, numbers, m)
    n = y.size
    log_n = math.log(n)

    def bic(fit_: _Fit, k: int) -> float:
        return -2.0 * fit_.llf + (k + 1) * log_n

    def ok_sign(fit_: _Fit) -> bool:
        return fit_.converged and (protective or bool(np.all(fit_.params[1:] > 0)))

    # ---- 1. family: NB2 vs Poisson on each factor's best Poisson operationalisation
    by_factor: dict[str, list[int]] = {}
    for j, c in enumerate(cands):
        by_factor.setdefault(c.factor, []).append(j)

    def best_per_factor(alpha: float) -> tuple[dict[str, int], dict[int, tuple[_Fit, float]]]:
        singles: dict[int, tuple[_Fit, float]] = {}
        for j in range(m):
            f = data.fit([j], alpha)
            singles[j] = (f, bic(f, 1))
        best: dict[str, int] = {}
        for name, cols in by_factor.items():
            ok = [j for j in cols if ok_sign(singles[j][0])]
            if ok:
                best[name] = min(ok, key=lambda j: singles[j][1])
        return best, singles

    best, singles = best_per_factor(0.0)
    full_cols = sorted(best.values()) or [max(range(m), key=lambda j: singles[j][0].llf)]
    if family == "auto":
        pois = data.fit(full_cols, 0.0)
        alpha_full, nb = data.profile(full_cols)
        lr = max(0.0, 2.0 * (nb.llf - pois.llf))
        p_disp = 0.5 * stats.chi2.sf(lr, 1)  # boundary test (Self & Liang 1987)
        use_nb = p_disp < 0.05 and alpha_full > 1e-4
        fam = "negative binomial" if use_nb else "poisson"
        rule = (f"likelihood-ratio test of overdispersion p = {p_disp:.2g} "
                f"(NB2 dispersion alpha = {alpha_full:.3g})"
                + (", so counts are modelled as negative binomial" if use_nb
                   else ", so a Poisson model is adequate"))
        choices.append(announce(Choice("rtm_family", fam, rule)))
    elif family in ("poisson", "negative binomial"):
        fam = family
        alpha_full = data.profile(full_cols)[0] if fam != "poisson" else 0.0
    else:
        raise InputError(f"RTM family must be auto, poisson or negative binomial, got {family!r}")
    alpha = alpha_full if fam != "poisson" else 0.0
    if alpha > 0:
        best, singles = best_per_factor(alpha)

    # ---- 2. stepwise BIC among each factor's best operationalisation
    pool = sorted(best.values())
    cache: dict[frozenset[int], tuple[_Fit, float]] = {}

    def score_set(cols: frozenset[int]) -> tuple[_Fit, float]:
        if cols not in cache:
            f = data.fit(sorted(cols), alpha)
            cache[cols] = (f, bic(f, len(cols)))
        return cache[cols]

    current: frozenset[int] = frozenset()
    current_bic = score_set(current)[1]
    for _ in range(4 * len(pool) + 4):
        moves = [current | {j} for j in pool if j not in current]
        moves += [current - {j} for j in current]
        scored = []
        for cols in moves:
            f, b = score_set(cols)
            if len(cols) > len(current) and not ok_sign(f):
                continue
            scored.append((b, sorted(cols), cols))
        if not scored:
            break
        b, _, cols = min(scored, key=lambda t: (t[0], t[1]))
        if b >= current_bic - 1e-9:
            break
        current, current_bic = cols, b

    # ---- 3. refit, Holm over all m candidates, drop failures, refit
    selected = sorted(current)
    final: _Fit | None = None
    for _ in range(len(selected) + 1):
        if not selected:
            break
        if fam != "poisson":
            alpha, final = data.profile(selected)
        else:
            final = data.fit(selected, 0.0)
        z = final.params[1:] / final.bse[1:]
        p = 2.0 * stats.norm.sf(np.abs(z))
        keep = _holm(p, fwer, m) & (final.params[1:] > 0 if not protective else True)
        if keep.all():
            break
        dropped = [cands[selected[i]].factor for i in np.flatnonzero(~keep)]
        choices.append(announce(Choice(
            "rtm_dropped", dropped,
            f"selected by BIC but not significant after Holm correction for {m} tested "
            f"operationalisations (family-wise error {fwer:g})")))
        selected = [selected[i] for i in np.flatnonzero(keep)]
        final = None
    if not selected:
        if fam == "poisson":
            final = data.fit([], 0.0)
        else:
            alpha, final = data.profile([])

    # ---- tables
    rows = []
    zc = stats.norm.ppf(0.975)
    coef = final.params[1:] if selected else np.zeros(0)
    se = final.bse[1:] if selected else np.zeros(0)
    for i, j in enumerate(selected):
        c = cands[j]
        b, s_ = float(coef[i]), float(se[i])
        rows.append({"factor": c.factor, "operation": c.operation, "distance_m": c.distance_m,
                     "coefficient": b, "rrv": math.exp(b), "ci_low": math.exp(b - zc * s_),
                     "ci_high": math.exp(b + zc * s_),
                     "p_value": float(2.0 * stats.norm.sf(abs(b / s_)))})
    table = (pd.DataFrame(rows, columns=list(TABLE_COLUMNS)) if rows else empty_table)
    if len(table):
        table = table.sort_values("rrv", ascending=False, kind="stable").reset_index(drop=True)
    cand_rows = []
    for j, c in enumerate(cands):
        f, b_ = singles[j]
        b1, s1 = float(f.params[1]), float(f.bse[1])
        cand_rows.append({
            "factor": c.factor, "operation": c.operation, "distance_m": c.distance_m,
            "cells": int(c.indicator.sum()), "coefficient": b1,
            "rrv": math.exp(b1) if abs(b1) < 700 else float("inf"),
            "p_value": float(2.0 * stats.norm.sf(abs(b1 / s1))) if s1 > 0 else float("nan"),
            "bic": b_, "converged": f.converged,
            "chosen": best.get(c.factor) == j, "selected": j in selected})
    cand_table = pd.DataFrame(cand_rows)

    lin = np.zeros(grid.shape)
    for i, j in enumerate(selected):
        lin += coef[i] * cands[j].indicator
    score = np.where(mask, np.exp(lin), np.nan)
    text, numbers = headline(score, counts, mask, top_pct)
    indicators = {cands[j].factor: cands[j].indicator for j in best.values()}
    if selected:
        names = ", ".join(f"{r.factor} (RRV {r.rrv:.2f})" for r in table.itertuples())
        choices.append(announce(Choice(
            "rtm_factors", list(table["factor"]),
            f"{len(selected)} of {len(by_factor)} factors kept after BIC stepwise selection and "
            f"Holm correction over {m} tested operationalisations: {names}; {text}")))
    else:
        choices.append(announce(Choice(
            "rtm_factors", [], f"none of the {len(by_factor)} factors ({m} operationalisations) "
            "is associated with incidents strongly enough to be kept")))
    return RTMResult(table, cand_table, score, text, choices, indicators, fam, float(alpha),
                     float(final.params[0]), block_length_m, numbers, m)


def _holm(p: np.ndarray, fwer: float, m: int) -> np.ndarray:
    """Holm step-down over ``m`` tests of which ``p`` are the only candidates for rejection.

    The untested ``m - len(p)`` hypotheses are treated as p = 1, which is
    what the step-down gives for them anyway.
    """
    p = np.asarray(p, float)
    keep = np.zeros(p.size, dtype=bool)
    order = np.argsort(p, kind="stable")
    for rank, i in enumerate(order):
        if p[i] <= fwer / (max(m, p.size) - rank):
            keep[i] = True
        else:
            break
    return keep


# ====================================================================== explanations
def segments_per_cell(grid: Grid, lines: Any) -> np.ndarray:
    """Number of distinct line features passing through each cell (int, ``grid.shape``).

    Each line is sampled every quarter cell; a line counts once in every cell
    holding one of its samples (a line that only clips a cell corner by less
    than a quarter cell may be missed there).
    """
    frame = lines.geometry if isinstance(lines, gpd.GeoDataFrame) else lines
    arr = np.asarray(getattr(frame, "values", frame), dtype=object)
    arr = arr[~shapely.is_missing(arr) & ~shapely.is_empty(arr)] if arr.size else arr
    out = np.zeros(grid.shape, dtype=np.int64)
    if arr.size == 0:
        return out
    owner = np.repeat(np.arange(arr.size), shapely.get_num_geometries(arr))
    parts = shapely.get_parts(arr)
    keep = np.isin(shapely.get_type_id(parts), (1, 2))
    parts, owner = parts[keep], owner[keep]
    if parts.size == 0:
        return out
    x, y, line, _ = _sample_lines(parts, grid.cell_size / 4.0)
    row, col = grid.cell_index(x, y)
    ok = row >= 0
    pairs = np.unique(owner[line[ok]] * (grid.n_rows * grid.n_cols)
                      + row[ok] * grid.n_cols + col[ok])
    cells = pairs % (grid.n_rows * grid.n_cols)
    return np.bincount(cells, minlength=grid.n_rows * grid.n_cols).reshape(grid.shape)


def _fmt_dist(d: np.ndarray) -> np.ndarray:
    """'60 m' below 1 km (10 m steps above 100 m), else '1.4 km'."""
    d = np.asarray(d, float)
    metres = np.where(d < 100, np.round(d), np.round(d / 10) * 10)
    short = np.strings.mod("%d m", np.nan_to_num(metres).astype(np.int64))
    long = np.strings.mod("%.1f km", np.nan_to_num(d) / 1000.0)
    return np.where(metres < 1000, short, long).astype(np.dtypes.StringDType())


def _dist_key(d: np.ndarray) -> np.ndarray:
    """Distances merged where :func:`_fmt_dist` gives the same text.

    ``_fmt_dist(_dist_key(d)) == _fmt_dist(d)``, with far fewer distinct
    values: the displayed metres below 1 km, the distance itself above.
    """
    d = np.asarray(d, float)
    metres = np.where(d < 100, np.round(d), np.round(d / 10) * 10)
    return np.where(metres < 1000, metres, d)


def _fmt_rrv(rrv: float) -> str:
    return f" (RRV {rrv:.1f})" if rrv < 9.95 else f" (RRV {rrv:.0f})"


def explain(
    grid: Grid,
    result: RTMResult | None = None,
    factors: dict[str, Any] | None = None,
    counts: np.ndarray | None = None,
    *,
    k_threshold: int | None = None,
    dark_lux: float | None = None,
    youth_gap_m: float | None = None,
) -> np.ndarray:
    """Plain-language reason why each cell carries risk.

    Only what applies to a cell is mentioned, in this order:

    * dark street segments touching the cell (lighting factor layer), e.g.
      "3 dark street segments (below 2 lux)";
    * the nearest vacant feature when it is within the vacancy factor's
      selected distance (else two block lengths), e.g. "vacant lot 60 m away";
    * the share of the cell's timed incidents after dark, when at least half
      and the cell has at least ``k_threshold`` incidents (so no single
      incident's time can be read off);
    * sightlines among the shortest tenth of the area's cells;
    * the walk to the nearest youth space when longer than ``youth_gap_m``;
    * every other selected RTM factor present in the cell ("bars within
      100 m", "dense cluster of kiosks").

    A factor kept by the risk terrain model carries its RRV in brackets where
    its indicator is on. Cells with none of these read "no measured risk
    factor stands out here"; cells outside the study area are empty. Texts
    describe places only, never people.

    Parameters
    ----------
    grid : Grid
        The study grid.
    result : RTMResult, optional
        The fitted model (RRVs and indicators).
    factors : dict of str to FactorResult, optional
        Factor results (``values`` arrays and the lighting ``layer``).
    counts : ndarray, optional
        Incidents per cell (for the after-dark share's minimum count).
    k_threshold : int, optional
        Minimum incidents for an after-dark share (default
        :data:`settings.k_threshold`).
    dark_lux : float, optional
        Lux below which a segment is dark (default :data:`settings.dark_lux`).
    youth_gap_m : float, optional
        Walk (m) beyond which the youth-space distance is mentioned (default
        :data:`settings.youth_walk_threshold_m`).

    Returns
    -------
    ndarray of object (str), ``grid.shape``
    """
    k_threshold = settings.k_threshold if k_threshold is None else k_threshold
    dark_lux = settings.dark_lux if dark_lux is None else dark_lux
    youth_gap_m = settings.youth_walk_threshold_m if youth_gap_m is None else youth_gap_m
    factors = factors or {}
    mask = grid.mask
    none = np.zeros(grid.shape, bool)
    bl = result.block_length_m if result is not None else DEFAULT_BLOCK_LENGTH_M
    table = result.table if result is not None else pd.DataFrame(columns=list(TABLE_COLUMNS))
    rrv = {r.factor: float(r.rrv) for r in table.itertuples()}
    rows_by = {r.factor: r for r in table.itertuples()}
    on = {name: (result.indicators.get(name, none) if result else none) for name in rrv}
    owner = {key: name for name, fr in factors.items() for key in getattr(fr, "values", {})}
    values = {key: np.asarray(fr.values[key], float)
              for fr in factors.values() for key in getattr(fr, "values", {})}
    # Each piece of text depends on one number per cell (a distance, a count)
    # and takes few distinct values, so pieces are coded per study-area cell
    # (0 = absent) and only the distinct texts and combinations are formatted.
    pieces: list[tuple[np.ndarray, list[str]]] = []
    covered: dict[str, np.ndarray] = {}

    def add(where: np.ndarray, keys: np.ndarray | float,
            label: Callable[[np.ndarray], list[str]], name: str) -> None:
        """Add ``label(key)`` where ``where``, with the factor's RRV where its indicator is on."""
        where = where & mask
        rated = where & on.get(name, none)
        sel = where[mask]
        uniq, inv = np.unique(np.broadcast_to(keys, grid.shape)[where], return_inverse=True)
        ids: dict[str, int] = {}  # distinct keys can give the same text (60.2 m, 60.4 m)
        text_id = np.array([ids.setdefault(str(t), len(ids)) for t in label(uniq)], np.int64)
        texts = list(ids)
        sfx = _fmt_rrv(rrv[name]) if name in rrv else ""
        code = np.zeros(sel.size, np.int64)
        code[sel] = 1 + text_id[inv.ravel()] + len(texts) * rated[where]
        pieces.append((code, ["", *texts, *(t + sfx for t in texts)]))
        covered[name] = covered.get(name, none) | rated

    # dark street segments
    light = factors.get("lighting")
    layer = getattr(light, "layer", None)
    if layer is not None and len(layer):
        n_dark = segments_per_cell(grid, layer)
        add(n_dark > 0, n_dark, lambda n: [
            f"{k} dark street segment{'' if k == 1 else 's'} (below {dark_lux:g} lux)"
            for k in n.tolist()], "lighting")
    # vacant land
    if "vacant_dist_m" in values:
        name = owner["vacant_dist_m"]
        d = values["vacant_dist_m"]
        row = rows_by.get(name)
        limit = float(row.distance_m) if row is not None and row.operation == "proximity" else (
            2 * bl)
        add(np.isfinite(d) & (d <= limit), d, lambda u: np.where(
            u <= 0, "vacant land in this cell",
            np.strings.add(np.strings.add("vacant lot ", _fmt_dist(u)), " away")), name)
    # after dark
    if "dark_share" in values:
        share = values["dark_share"]
        enough = (np.asarray(counts) >= k_threshold) if counts is not None else none
        pct = np.round(np.nan_to_num(share) * 100).astype(np.int64)
        add(np.isfinite(share) & (share >= 0.5) & enough, pct,
            lambda u: [f"{p} % of incidents after dark" for p in u.tolist()],
            owner["dark_share"])
    # sightlines
    if "sightline_m" in values:
        sl = values["sightline_m"]
        finite = np.isfinite(sl) & mask
        if finite.sum() >= 10:
            cut = float(np.quantile(sl[finite], 0.10))
            add(finite & (sl <= cut), _dist_key(sl),
                lambda u: np.strings.add("sightlines only ", _fmt_dist(u)), owner["sightline_m"])
    # youth spaces
    if "youth_walk_m" in values:
        walk = values["youth_walk_m"]
        add(np.isfinite(walk) & (walk > youth_gap_m), _dist_key(walk), lambda u: np.strings.add(
            np.strings.add("nearest youth space ", _fmt_dist(u)), " walk"),
            owner["youth_walk_m"])
    # other selected factors
    for name, row in rows_by.items():
        where = on[name] & ~covered.get(name, none)
        if not where.any():
            continue
        label = DISPLAY_NAMES.get(name, name.replace("_", " "))
        if row.operation == "proximity":
            text = f"{label} within {_fmt_dist(np.array([row.distance_m]))[0]}"
        else:
            text = f"dense cluster of {label}"
        add(where, 0.0, lambda _, text=text: [text], name)

    # join the pieces of each distinct combination once
    combo = np.zeros(int(mask.sum()), np.int64)
    for code, tab in pieces:  # one integer per distinct combination so far
        combo = np.unique(combo * len(tab) + code, return_inverse=True)[1].ravel()
    first = np.unique(combo, return_index=True)[1]
    texts = [", ".join(t for t in (tab[code[i]] for code, tab in pieces) if t)
             or "no measured risk factor stands out here" for i in first.tolist()]
    out = np.full(grid.shape, "", dtype=object)
    out[mask] = np.array(texts, dtype=object)[combo]
    return out


# ====================================================================== pipeline stage
def candidate_layers(analysis: Analysis) -> dict[str, gpd.GeoDataFrame]:
    """Candidate factor layers of an analysis: factor features, then user layers.

    Factors come from ``analysis.factors`` (their ``features``; for
    lighting the dark-segment ``layer``, see :data:`USE_LAYER`), user layers
    from ``analysis.map_layers["user:<name>"]`` under ``<name>``. A user layer
    named like a street network (:data:`STREET_LAYER_NAMES`) is not a
    candidate, and neither is a user layer whose name is already a factor's
    (the factors stage turns user layers into custom factors of the same
    name). Empty layers are skipped.
    """
    return collect_layers(analysis.factors, analysis.map_layers)


def collect_layers(
    factors: dict[str, Any] | None, map_layers: dict[str, gpd.GeoDataFrame]
) -> dict[str, gpd.GeoDataFrame]:
    """:func:`candidate_layers` from factor results and map layers given separately."""
    out: dict[str, gpd.GeoDataFrame] = {}
    for name, fr in (factors or {}).items():
        frame = getattr(fr, "layer", None) if name in USE_LAYER else getattr(fr, "features", None)
        if frame is not None and len(frame):
            out[str(name)] = frame
    for key, frame in map_layers.items():
        if not key.startswith("user:") or frame is None or not len(frame):
            continue
        name = key[len("user:"):]
        if name.lower() in STREET_LAYER_NAMES:
            continue
        if name not in out:  # a user layer already turned into a factor of that name
            out[name] = frame
    return out


def street_layer(analysis: Analysis) -> gpd.GeoDataFrame | None:
    """The street network of an analysis: OSM ``streets``, else a user ``streets`` layer."""
    layers = analysis.map_layers
    for key in ["streets", *(f"user:{n}" for n in sorted(STREET_LAYER_NAMES))]:
        frame = layers.get(key)
        if frame is not None and len(frame):
            return frame
    return None


@declares(reads=("factors",), adds=("rtm", "arrays.rtm_score", "arrays.why"))
def stage(
    analysis: Analysis,
    *,
    block_length_m: float | None = None,
    top_pct: float = TOP_PERCENT,
    fwer: float = FWER,
    protective: bool = False,
    family: str = "auto",
    operations: tuple[str, ...] = OPERATIONS,
    multiples: tuple[float, ...] = BLOCK_MULTIPLES,
) -> None:
    """Pipeline stage: fit the risk terrain model and explain every cell.

    Reads factor features from ``analysis.factors`` and user layers
    from ``analysis.map_layers`` (:func:`candidate_layers`) and the incident
    counts ``analysis.arrays["incidents"]``. Adds ``arrays["rtm_score"]``,
    ``arrays["why"]`` (object array of str, :func:`explain`),
    ``analysis.rtm`` (:class:`RTMResult`), ``parameters["rtm"]`` and the
    choices made. Options are those of :func:`fit`.
    """
    grid = analysis.grid
    counts = count_basis(analysis)  # public mode: the protected counts, so fit and score are too
    result = fit(grid, counts, candidate_layers(analysis),
                 streets=street_layer(analysis), block_length_m=block_length_m,
                 multiples=multiples, operations=operations, top_pct=top_pct, fwer=fwer,
                 protective=protective, family=family)
    declare(analysis, "rtm_score", result.score, basis_kind(analysis))
    declare(analysis, "why", explain(
        grid, result, analysis.factors, counts,
        k_threshold=analysis.parameters.get("k_threshold")), Kind.LABEL)
    analysis.rtm = result
    analysis.parameters["rtm"] = {
        "block_length_m": result.block_length_m,
        "distances_blocks": list(multiples), "operations": list(operations),
        "density_threshold": "mean + 2 SD of the kernel density (RTMDx)",
        "selection": "per-factor best operationalisation by BIC, bidirectional stepwise BIC, "
                     f"Holm correction over all tested operationalisations (FWER {fwer:g})",
        "family": result.family, "nb_alpha": result.alpha, "protective": bool(protective),
        "top_pct": float(top_pct), "n_tested": result.n_tested, "headline": result.headline,
    }
    analysis.choices.extend(result.choices)


def write_rtm(analysis: Analysis, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``rtm.csv`` (selected factors) and ``rtm_candidates.csv`` (all tested), atomically.

    Returns ``{}`` when the RTM stage has not run.
    """
    from hotspot_env._atomic import write_text

    result = analysis.rtm
    if result is None:
        return {}
    folder = Path(folder)
    table = publish(analysis, result.table, RTM_KINDS)
    written = {"rtm.csv": write_text(folder / "rtm.csv",
                                     table.to_csv(index=False, lineterminator="\n"))}
    if len(result.candidates):
        candidates = publish(analysis, result.candidates, RTM_KINDS)
        written["rtm_candidates.csv"] = write_text(
            folder / "rtm_candidates.csv", candidates.to_csv(index=False, lineterminator="\n"))
    return written


#: Privacy kinds of ``rtm.csv`` and ``rtm_candidates.csv``. The fit's statistics
#: come from :func:`hotspot_env.outputs.privacy.count_basis`: the protected counts in public mode.
RTM_KINDS: dict[str, Kind] = {
    "factor": Kind.LABEL, "operation": Kind.LABEL, "distance_m": Kind.FACTOR,
    "cells": Kind.FACTOR, "coefficient": Kind.PROTECTED_DERIVED,
    "rrv": Kind.PROTECTED_DERIVED, "ci_low": Kind.PROTECTED_DERIVED,
    "ci_high": Kind.PROTECTED_DERIVED, "p_value": Kind.PROTECTED_DERIVED,
    "bic": Kind.PROTECTED_DERIVED, "converged": Kind.LABEL, "chosen": Kind.LABEL,
    "selected": Kind.LABEL}
