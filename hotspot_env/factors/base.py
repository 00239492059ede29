"""The common result type of the risk-factor modules, and helpers they share.

Every factor module exposes::

    compute(layers, grid, incidents=None, **params) -> FactorResult

where ``layers`` are the OSM/user layers already projected to ``grid.crs``
(see :mod:`hotspot_env.inputs.osm` for their columns) and ``incidents`` is an optional
GeoDataFrame of points in ``grid.crs``. A missing input (key absent or empty
frame) never raises: the factor returns NaN arrays and a :class:`Choice` saying
it could not be measured, so one thin OSM extract does not stop an analysis.

All value arrays are float64 of ``grid.shape`` (row 0 = north) and NaN outside
``grid.mask``, the convention of :mod:`hotspot_env.core.hotspots`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

# scipy.spatial is imported where it is used: a kept analysis is unpickled without it
# (the app's first page, tests/test_lazy_imports.py).
from hotspot_env._memo import IdentityCache
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.outputs.privacy import Kind


@dataclass
class FactorResult:
    """What a risk-factor module returns.

    Attributes
    ----------
    name : str
        Factor name, e.g. ``"lighting"``.
    values : dict of str to ndarray
        Per-cell float64 arrays of ``grid.shape`` (e.g. ``{"lamp_lux": ...}``),
        NaN where undefined and outside ``grid.mask``. Units are in the key
        (``_m`` metres, ``_lux`` lux, ``_share`` 0-1).
    layer : GeoDataFrame or None
        A layer to draw, in ``grid.crs`` (columns documented by each module).
    choices : list of Choice
        Automatic choices and "could not be measured" notices, announced.
    features : GeoDataFrame or None
        The factor's source features in ``grid.crs``, for the risk terrain
        model's proximity and density operations.
    """

    name: str
    values: dict[str, np.ndarray]
    layer: gpd.GeoDataFrame | None
    choices: list[Choice] = field(default_factory=list)
    features: gpd.GeoDataFrame | None = None
    #: Privacy kind of each key of ``values``, declared by the factor that makes
    #: it (:class:`hotspot_env.outputs.privacy.Kind`); the output gate refuses others.
    kinds: dict[str, Kind] = field(default_factory=dict)


# ------------------------------------------------------------------ inputs
def get_layer(layers: dict[str, gpd.GeoDataFrame] | None, key: str) -> gpd.GeoDataFrame | None:
    """Return ``layers[key]`` without empty/missing geometries, or None if nothing is left."""
    frame = (layers or {}).get(key)
    return usable(frame)


def usable(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Drop rows with missing or empty geometry; None if the frame is None or ends up empty."""
    if frame is None or len(frame) == 0:
        return None
    geom = frame.geometry
    keep = ~(geom.isna() | geom.is_empty)
    frame = frame[keep.to_numpy()]
    return frame if len(frame) else None


def to_grid_crs(frame: gpd.GeoDataFrame, grid: Grid, what: str) -> gpd.GeoDataFrame:
    """Project a user layer to ``grid.crs`` (user layers, unlike ``layers``, may be in any CRS)."""
    if frame.crs is None:
        raise InputError(f"the {what} layer has no CRS: save it with one (e.g. EPSG:4326)")
    if CRS.from_user_input(frame.crs) != grid.crs:
        frame = frame.to_crs(grid.crs)
    return frame


def not_measured(name: str, grid: Grid, keys: Iterable[str], reason: str) -> FactorResult:
    """A result of NaN arrays for a factor whose inputs are missing, with the reason announced."""
    choice = announce(Choice(name, "not measured", reason))
    return FactorResult(name, {key: nan_grid(grid) for key in keys}, None, [choice],
                        kinds={key: Kind.FACTOR for key in keys})  # all NaN: nothing to protect


# ------------------------------------------------------------------ arrays
def nan_grid(grid: Grid) -> np.ndarray:
    """A float64 array of ``grid.shape`` full of NaN."""
    return np.full(grid.shape, np.nan)


def outside_to_nan(grid: Grid, values: np.ndarray) -> np.ndarray:
    """``values`` as float64 with NaN outside the study area."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[~grid.mask] = np.nan
    return out


def lonlat(x: np.ndarray, y: np.ndarray, crs: CRS | str | None) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 longitude and latitude of coordinates in ``crs`` (as given if geographic or None).

    pyproj on the coordinate arrays: ``GeoSeries.to_crs`` would also build a
    point geometry per incident, a million of them, only to read x and y back.
    """
    if crs is None or CRS.from_user_input(crs).is_geographic:
        return x, y
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)


def centres_flat(grid: Grid) -> np.ndarray:
    """Cell centres as an ``(n_rows * n_cols, 2)`` array, row-major."""
    cx, cy = grid.centres()
    return np.column_stack([cx.ravel(), cy.ravel()])


def cell_mean(grid: Grid, x: np.ndarray, y: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of point ``values`` per cell (NaN where a cell has no finite value).

    Parameters
    ----------
    grid : Grid
        The study grid.
    x, y : ndarray
        Point coordinates in ``grid.crs`` (metres).
    values : ndarray
        One value per point; NaN values are ignored.
    """
    sums, counts = cell_sum_count(grid, x, y, values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def cell_sum_count(
    grid: Grid, x: np.ndarray, y: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell sum of finite ``values`` and number of points contributing."""
    values = np.asarray(values, dtype=np.float64)
    row, col = grid.cell_index(x, y)
    ok = (row >= 0) & np.isfinite(values)
    flat = row[ok] * grid.n_cols + col[ok]
    size = grid.n_rows * grid.n_cols
    sums = np.bincount(flat, weights=values[ok], minlength=size).reshape(grid.shape)
    counts = np.bincount(flat, minlength=size).reshape(grid.shape).astype(np.float64)
    return sums, counts


#: Centre points of the cells inside the area, per grid: every distance factor
#: (vacancy, each custom layer...) measures from the same points.
_CENTRES: IdentityCache[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = \
    IdentityCache(maxsize=2)


def _inside_centres(grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y and shapely points of the centres of the cells inside ``grid.mask`` (cached)."""
    def make() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cx, cy = grid.centres()
        x, y = cx[grid.mask], cy[grid.mask]
        return grid.mask.copy(), x, y, shapely.points(x, y)

    mask, x, y, points = _CENTRES.get(grid, "inside_centres", make)
    if not np.array_equal(mask, grid.mask):  # the mask was changed in place: measure anew
        mask, x, y, points = make()
    return x, y, points


def distance_to_features(grid: Grid, geoms: np.ndarray) -> np.ndarray:
    """Straight-line distance (m) from every cell centre inside the area to the nearest geometry.

    Exact, in two vectorised passes instead of a nearest-neighbour search per
    cell in a shapely tree (which costs ~6 us a cell when features are
    sparse):

    1. A scipy ``cKDTree`` over every vertex finds, for each centre, the
       feature owning the nearest vertex; the exact distance ``d0`` to that
       feature bounds the answer from above (for points it is the answer).
    2. One ``STRtree.query(predicate="dwithin", distance=d0)`` lists the
       lines and polygons that could be closer; their exact distances are
       reduced with a minimum. Centres inside a polygon get 0.

    Cells outside ``grid.mask`` are NaN.
    """
    out = nan_grid(grid)
    x, y, centres = _inside_centres(grid)
    out[grid.mask] = distances_to(x, y, geoms, centres)
    return out


def distances_to(x: np.ndarray, y: np.ndarray, geoms: np.ndarray,
                 centres: np.ndarray | None = None) -> np.ndarray:
    """Exact distance (m) from each point to the nearest of ``geoms`` (NaN without any).

    The two passes of :func:`distance_to_features`; a point's answer depends on
    the point and the geometries only, so any subset of points gets the same bits.
    ``centres`` are the points as shapely points, when the caller has them.
    """
    from scipy.spatial import cKDTree

    geoms = np.asarray(geoms)
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    if not len(coords):
        return np.full(np.shape(x), np.nan)
    if centres is None:
        centres = shapely.points(x, y)
    _, nearest_vertex = cKDTree(coords).query(np.column_stack([x, y]), workers=-1)
    candidate = owner[nearest_vertex]
    nearest = shapely.distance(centres, geoms[candidate])
    extended = shapely.get_type_id(geoms) != 0
    if extended.any():
        # Anything strictly closer than d0 (the candidate itself is skipped).
        index = np.flatnonzero(extended)
        ip, ig = shapely.STRtree(geoms[index]).query(centres, predicate="dwithin",
                                                     distance=nearest)
        closer = index[ig] != candidate[ip]
        ip, ig = ip[closer], index[ig[closer]]
        if ip.size:
            np.minimum.at(nearest, ip, shapely.distance(centres[ip], geoms[ig]))
    return nearest


def sample_raster(
    path: str | os.PathLike[str], crs: CRS, x: np.ndarray, y: np.ndarray, band: int = 1
) -> np.ndarray:
    """Value of a raster at points (nearest pixel), NaN at nodata or outside the raster.

    Parameters
    ----------
    path : path-like
        A GeoTIFF (or any raster rasterio reads) with a CRS.
    crs : pyproj.CRS
        CRS of ``x``/``y``.
    x, y : ndarray
        Point coordinates.
    band : int
        1-based band number.
    """
    import rasterio
    from rasterio.windows import Window

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.full(x.shape, np.nan)
    try:
        src = rasterio.open(path)
    except (rasterio.errors.RasterioIOError, TypeError) as exc:
        raise InputError(f"cannot read raster {path}: {exc}") from exc
    with src:
        if src.crs is None:
            raise InputError(f"raster {os.fspath(path)} has no CRS: set one with gdal_edit -a_srs")
        if not 1 <= band <= src.count:
            raise InputError(f"raster {os.fspath(path)} has {src.count} band(s), not band {band}")
        if CRS.from_user_input(src.crs) != crs:
            x, y = Transformer.from_crs(crs, src.crs, always_xy=True).transform(x, y)
        inv = ~src.transform
        cols = np.floor(inv.a * x + inv.b * y + inv.c).astype(np.int64)
        rows = np.floor(inv.d * x + inv.e * y + inv.f).astype(np.int64)
        ok = (rows >= 0) & (rows < src.height) & (cols >= 0) & (cols < src.width)
        if not ok.any():
            return out
        # Read only the window the points cover, not a whole city-wide raster.
        r0, r1 = rows[ok].min(), rows[ok].max() + 1
        c0, c1 = cols[ok].min(), cols[ok].max() + 1
        data = src.read(band, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
        vals = data.astype(np.float64).filled(np.nan)
        out[ok] = vals[rows[ok] - r0, cols[ok] - c0]
    return out


# ------------------------------------------------------------------ streets
#: Highway values that are indoors or vertical: no street lamps and no street
#: view, so lighting and sightlines skip them.
INDOOR_HIGHWAYS: frozenset[str] = frozenset({"corridor", "elevator"})


def outdoor_streets(streets: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Streets minus indoor ways (:data:`INDOOR_HIGHWAYS`), keeping the original index."""
    if streets is None:
        return None
    if "highway" in streets.columns:
        streets = streets[~streets["highway"].isin(INDOOR_HIGHWAYS).to_numpy()]
    return streets if len(streets) else None


def sample_along(geoms: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points every ~``step`` metres along lines, at the middle of equal sub-intervals.

    A line of length L gets ``n = max(1, round(L / step))`` points at
    ``(k + 0.5) * L / n``, so shared end nodes are not counted twice and every
    line, however short, has at least one point.

    Returns
    -------
    x, y : ndarray
        Sample coordinates.
    line : ndarray of int64
        Position in ``geoms`` of each sample's line (non-decreasing).
    """
    geoms = np.asarray(geoms)
    lengths = shapely.length(geoms)
    n = np.maximum(1, np.round(lengths / step)).astype(np.int64)
    line = np.repeat(np.arange(geoms.size), n)
    start = np.repeat(np.cumsum(n) - n, n)
    k = np.arange(line.size) - start
    dist = (k + 0.5) * lengths[line] / n[line]
    simple = geoms.size and (shapely.get_type_id(geoms) == 1).all() and not shapely.is_empty(
        geoms).any()
    if not simple:  # multi-part or empty lines: shapely's own walk along the parts
        coords = shapely.get_coordinates(shapely.line_interpolate_point(geoms[line], dist))
        return coords[:, 0], coords[:, 1], line
    x, y = _interpolate_on_lines(geoms, line, dist)
    return x, y, line


def _interpolate_on_lines(
    lines: np.ndarray, line: np.ndarray, dist: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``shapely.line_interpolate_point(lines[line], dist)`` in numpy, for non-empty LineStrings.

    One vectorised walk over all vertices (cumulative lengths and a binary
    search) instead of one GEOS call per sample: 3-5x faster for the hundreds
    of thousands of samples a city's street network gives.
    """
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    step = np.hypot(np.diff(coords[:, 0]), np.diff(coords[:, 1]))
    step[owner[1:] != owner[:-1]] = 0.0  # no length between one line's end and the next start
    along = np.concatenate([[0.0], np.cumsum(step)])
    first = np.searchsorted(owner, np.arange(lines.size))  # owner is sorted
    last = np.append(first[1:], owner.size) - 1
    target = along[first[line]] + dist
    # Vertex starting the piece that holds each sample, kept inside its own line.
    seg = np.searchsorted(along, target, side="right") - 1
    seg = np.clip(seg, first[line], last[line] - 1)
    piece = along[seg + 1] - along[seg]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(np.where(piece > 0, (target - along[seg]) / piece, 0.0), 0.0, 1.0)
    x = coords[seg, 0] + t * (coords[seg + 1, 0] - coords[seg, 0])
    y = coords[seg, 1] + t * (coords[seg + 1, 1] - coords[seg, 1])
    return x, y
