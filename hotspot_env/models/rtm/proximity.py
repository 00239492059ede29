"""Proximity operationalisation: cells whose centre lies within a distance of a feature.

The distance from each cell centre to the nearest feature is bounded ever more
tightly in cheap vectorised steps (binned samples and a distance transform, a
k-d tree of samples, a polygon containment test), and only the few cells left
near a threshold get their exact distance from GEOS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from hotspot_env.core.grid import Grid
from hotspot_env.models.rtm._geometry import bin_index, outline_samples, single_parts


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
       = half a cell (:func:`outline_samples`). Let ``e`` be the distance
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
    return proximity_of_parts(grid, single_parts(geoms), distances)



@dataclass
class _Search:
    """What every step of :func:`proximity_of_parts` shares: samples, study cells, tolerances.

    ``cells`` are the flat indices of the study-area cells and ``cx, cy`` their
    centres; ``sx, sy`` the outline samples, ``h`` their spacing; ``where``
    each sample's cell in the grid padded by ``pad`` cells (of shape
    ``shape``), -1 when outside it, and ``padded`` each study cell's index there.
    """

    dists: list[float]
    s: float
    sx: np.ndarray
    sy: np.ndarray
    h: float
    tol: float
    reach: float
    cells: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    pad: int
    shape: tuple[int, int]
    padded: np.ndarray
    where: np.ndarray

    @classmethod
    def build(cls, grid: Grid, geoms: np.ndarray, dists: list[float]) -> _Search:
        s, dmax = grid.cell_size, dists[-1]
        sx, sy, h = outline_samples(geoms, s / 2.0)
        tol = 1e-6 + 1e-9 * dmax  # rounding in sample positions and distances (coordinates ~1e6 m)
        reach = math.sqrt(dmax**2 + h**2 / 4.0) + 2.0 * tol  # farther samples decide nothing
        cells = np.flatnonzero(grid.mask.ravel())
        cx, cy = (c.ravel()[cells] for c in grid.centres())
        pad = int(math.ceil(reach / s)) + 1
        shape = (grid.n_rows + 2 * pad, grid.n_cols + 2 * pad)
        padded = (cells // grid.n_cols + pad) * shape[1] + cells % grid.n_cols + pad
        return cls(dists, s, sx, sy, h, tol, reach, cells, cx, cy, pad, shape, padded,
                   bin_index(grid, sx, sy, pad))

    def undecided(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Cells whose bounds ``lo <= D <= hi`` straddle some distance."""
        out = np.zeros(lo.size, dtype=bool)
        for d in self.dists:
            out |= (hi > d - self.tol) & (lo <= d + self.tol)
        return out


def proximity_of_parts(grid: Grid, geoms: np.ndarray, distances: tuple[float, ...] | list[float]
               ) -> dict[float, np.ndarray]:
    """:func:`proximity_indicators` of single-part, non-empty geometries (:func:`single_parts`).

    Step 1 (the samples) is :meth:`_Search.build`; steps 2 to 5 narrow the
    bounds ``lo <= D <= hi`` in place.
    """
    dists = sorted({float(d) for d in distances})
    out = {d: np.zeros(grid.shape, dtype=bool) for d in dists}
    if geoms.size == 0 or not dists:
        return out
    search = _Search.build(grid, geoms, dists)
    lo, hi = _coarse_bounds(search)
    _nearest_sample(search, lo, hi)
    _inside_polygons(search, geoms, lo, hi)
    _exact_distance(search, geoms, lo, hi)
    for d in dists:
        out[d].ravel()[search.cells] = hi <= d
    return out


def _coarse_bounds(search: _Search) -> tuple[np.ndarray, np.ndarray]:
    """Step 2: bounds from the distance transform of the binned samples."""
    from scipy import ndimage

    s, where, padded, shape = search.s, search.where, search.padded, search.shape
    empty = np.ones(shape, dtype=bool)
    empty.ravel()[where[where >= 0]] = False
    lo, hi = np.full(search.cells.size, np.inf), np.full(search.cells.size, np.inf)
    if empty.all():  # no sample is within reach of the grid
        return lo, hi
    e, (row, col) = ndimage.distance_transform_edt(empty, sampling=s, return_indices=True)
    e = e.ravel()[padded]
    lo = e - s * math.sqrt(0.5) - search.h / 2.0
    # the distance to any one sample of the nearest occupied cell is a
    # valid upper bound too, and usually a much tighter one
    one = np.zeros(empty.size, np.int64)
    one[where[where >= 0]] = np.flatnonzero(where >= 0)
    one = one[row.ravel()[padded].astype(np.int64) * shape[1] + col.ravel()[padded]]
    hi = np.minimum(e + s * math.sqrt(0.5),
                    np.hypot(search.sx[one] - search.cx, search.sy[one] - search.cy))
    return lo, hi


def _nearest_sample(search: _Search, lo: np.ndarray, hi: np.ndarray) -> None:
    """Step 3: the nearest sample's distance where the coarse bounds do not settle a cell."""
    from scipy import ndimage, spatial

    todo = np.flatnonzero(search.undecided(lo, hi))
    if not todo.size:
        return
    s, where, reach = search.s, search.where, search.reach
    near = where >= 0
    if near.sum() > 2 * todo.size:
        # many samples, few cells (dense layers): keep the samples within reach of
        # those cells, i.e. in a cell whose centre is within reach + s / sqrt(2)
        far = np.ones(search.shape, dtype=bool)
        far.ravel()[search.padded[todo]] = False
        span = ndimage.distance_transform_edt(far, sampling=s).ravel()
        near[near] = span[where[near]] <= reach + s * math.sqrt(0.5) + search.tol
    e = np.full(todo.size, np.inf)
    if near.any():
        tree = spatial.cKDTree(np.column_stack([search.sx[near], search.sy[near]]))
        e, _ = tree.query(np.column_stack([search.cx[todo], search.cy[todo]]),
                          distance_upper_bound=reach)
    hi[todo] = e
    lo[todo] = np.sqrt(np.maximum(e**2 - search.h**2 / 4.0, 0.0))


def _inside_polygons(search: _Search, geoms: np.ndarray, lo: np.ndarray, hi: np.ndarray
                     ) -> None:
    """Step 4: distance 0 for centres inside a polygon wide enough to hold them."""
    polys = geoms[shapely.get_type_id(geoms) == 3]
    tol, dists = search.tol, search.dists
    test = np.flatnonzero(hi > dists[0] - tol) if polys.size else np.zeros(0, np.int64)
    if not test.size:
        return
    bounds = shapely.bounds(polys)
    width = np.minimum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    radius = np.minimum(lo[test], dists[-1]) - tol  # lo = inf: no outline within dmax
    fits = radius <= width.max() / 2.0
    test, radius = test[fits], radius[fits]
    if not test.size:
        return
    wide = polys[width >= 2.0 * radius.min()]
    hit, _ = shapely.STRtree(wide).query(shapely.points(search.cx[test], search.cy[test]),
                                         predicate="intersects")
    inside = test[np.unique(hit)]
    hi[inside] = lo[inside] = 0.0


def _exact_distance(search: _Search, geoms: np.ndarray, lo: np.ndarray, hi: np.ndarray
                    ) -> None:
    """Step 5: the exact distance in the thin band left around each threshold."""
    unsure = np.flatnonzero(search.undecided(lo, hi))
    if not unsure.size:
        return
    (ip, _), dist = shapely.STRtree(geoms).query_nearest(
        shapely.points(search.cx[unsure], search.cy[unsure]), max_distance=search.reach,
        return_distance=True, all_matches=False)
    exact = np.full(unsure.size, np.inf)
    exact[ip] = dist
    hi[unsure] = exact
