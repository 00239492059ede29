"""The study grid: projected CRS, cell size rule, cell geometry, cell <-> raster.

A :class:`Grid` is a regular raster of square cells in a projected CRS (metres).
Arrays that live on the grid have shape ``(n_rows, n_cols)`` with row 0 at the
*north* edge, the GeoTIFF convention, so they can be written with
:attr:`Grid.transform` unchanged. The grid origin is snapped to a multiple of
the cell size, so the same study area and cell size always give the same cells
and ``cell_id`` values between runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from rasterio.features import rasterize
from rasterio.transform import Affine

from hotspot_env import settings
from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import GridTooLargeError, InputError

_NICE_STEPS = (10, 20, 25, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500)


def choose_crs(geodata: gpd.GeoDataFrame | gpd.GeoSeries) -> tuple[CRS, Choice]:
    """Choose a local projected CRS (UTM zone of the data's centre).

    Parameters
    ----------
    geodata : GeoDataFrame or GeoSeries
        Data with a CRS; geographic or projected.

    Returns
    -------
    crs : pyproj.CRS
        The data's own CRS if it is already projected in metres, otherwise the
        WGS 84 / UTM zone containing the data's centre.
    choice : Choice
        The announcement.
    """
    if geodata.crs is None:
        raise InputError("data has no CRS: pass --crs (e.g. EPSG:4326 for longitude/latitude)")
    crs = CRS.from_user_input(geodata.crs)
    distortion = None
    if crs.is_projected and crs.axis_info[0].unit_name in ("metre", "meter"):
        distortion = scale_distortion(crs, geodata)
        if distortion <= MAX_SCALE_DISTORTION:
            return crs, announce(
                Choice("crs", crs.to_string(), "the input is already projected in metres")
            )
    utm = geodata.estimate_utm_crs()
    rule = "UTM zone containing the centre of the study area"
    if distortion is not None:  # e.g. Web Mercator: metres on paper, not on the ground
        rule += (f" (the input's {crs.to_string()} stretches distances by {distortion:.0%} "
                 "here, so its metres are not ground metres)")
    return utm, announce(Choice("crs", utm.to_string(), rule))


#: Largest scale error (relative) of an input's projected CRS at the study area
#: for it to be gridded as is: UTM's is at most 0.1 % within its zone, national
#: grids' a few tenths of a percent; Web Mercator's is 9 % at São Paulo, 100 % at 60° N.
MAX_SCALE_DISTORTION = 0.01


def scale_distortion(crs: CRS, geodata: gpd.GeoDataFrame | gpd.GeoSeries) -> float:
    """Relative scale error of projected ``crs`` at the centre of ``geodata``.

    The larger of the meridional and parallel scale factors' deviations from 1
    (pyproj's ``Proj.get_factors``): 0 for a true-distance projection, 0.09
    for Web Mercator at latitude 23.5 degrees.
    """
    from pyproj import Proj

    minx, miny, maxx, maxy = geodata.total_bounds
    centre = gpd.GeoSeries([shapely.Point((minx + maxx) / 2, (miny + maxy) / 2)], crs=crs)
    lonlat = centre.to_crs(4326).iloc[0]
    try:
        factors = Proj(crs).get_factors(lonlat.x, lonlat.y)
    except Exception:  # noqa: BLE001 - a CRS pyproj cannot differentiate: do not trust it
        return math.inf
    scales = (factors.meridional_scale, factors.parallel_scale)
    if not all(math.isfinite(v) for v in scales):
        return math.inf
    return float(max(abs(v - 1) for v in scales))


def choose_cell_size(bounds: tuple[float, float, float, float]) -> tuple[float, Choice]:
    """Choose a cell size from the study area's extent.

    The rule follows sfhotspot (Ashby 2023): the shorter side of the study area
    divided by :data:`settings.cells_on_short_side` (50), then clamped to
    [:data:`settings.min_auto_cell_size_m`, :data:`settings.max_auto_cell_size_m`]
    (10-200 m, micro-place scale) and rounded down to a "nice" value (10, 20,
    25, 50, 75, 100, 125, 150, 200 m). Because the rule uses the study area and
    not the points, a stray point cannot blow the grid up.

    Parameters
    ----------
    bounds : tuple of float
        ``(minx, miny, maxx, maxy)`` in metres.

    Returns
    -------
    cell_size : float
        Cell side in metres.
    choice : Choice
        The announcement.
    """
    minx, miny, maxx, maxy = bounds
    short_side = min(maxx - minx, maxy - miny)
    raw = short_side / settings.cells_on_short_side
    clamped = min(max(raw, settings.min_auto_cell_size_m), settings.max_auto_cell_size_m)
    nice = max([s for s in _NICE_STEPS if s <= clamped] or [_NICE_STEPS[0]])
    rule = (
        f"shorter side of the study area ({short_side:,.0f} m) / "
        f"{settings.cells_on_short_side}, kept within "
        f"{settings.min_auto_cell_size_m:g}-{settings.max_auto_cell_size_m:g} m "
        "and rounded down to a round number"
    )
    return float(nice), announce(Choice("cell_size_m", float(nice), rule))


@dataclass(frozen=True, eq=False)
class Grid:
    """A regular grid of square cells in a projected CRS.

    Parameters
    ----------
    crs : pyproj.CRS
        Projected CRS in metres.
    x0, y0 : float
        West and south edges of the grid (metres), multiples of ``cell_size``.
    cell_size : float
        Side of a cell in metres.
    n_cols, n_rows : int
        Grid dimensions.
    mask : numpy.ndarray of bool, shape (n_rows, n_cols)
        True for cells that touch the study area. Cells outside are carried in
        arrays (so convolutions stay simple) but never reported.
    """

    crs: CRS
    x0: float
    y0: float
    cell_size: float
    n_cols: int
    n_rows: int
    mask: np.ndarray = field(repr=False)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_area(
        cls,
        area: shapely.Geometry,
        crs: CRS,
        cell_size: float,
        max_cells: int | None = None,
    ) -> Grid:
        """Build the grid covering ``area``.

        Parameters
        ----------
        area : shapely geometry
            Study area polygon in ``crs``.
        crs : pyproj.CRS
            Projected CRS (metres).
        cell_size : float
            Cell side in metres; must be positive.
        max_cells : int, optional
            Ceiling on the number of cells (default :data:`settings.max_cells`).

        Raises
        ------
        InputError
            If ``cell_size`` is not a positive finite number or the area is empty.
        GridTooLargeError
            If the grid would exceed ``max_cells``.
        """
        if not (isinstance(cell_size, int | float) and math.isfinite(cell_size) and cell_size > 0):
            raise InputError(f"cell size must be a positive number of metres, got {cell_size!r}")
        if area is None or area.is_empty:
            raise InputError("the study area is empty: check --bbox/--osm/--place")
        max_cells = settings.max_cells if max_cells is None else max_cells
        minx, miny, maxx, maxy = area.bounds
        # Estimate in floats first: a tiny cell size (1e-310 m) overflows the
        # integer arithmetic below, and the answer is the same refusal.
        estimate = ((maxx - minx) / cell_size + 2) * ((maxy - miny) / cell_size + 2)
        if not math.isfinite(estimate) or estimate > 4 * max_cells + 16:
            raise GridTooLargeError(
                f"a {cell_size:g} m grid over this area needs "
                + (f"about {estimate:,.0f}" if math.isfinite(estimate) else "countless")
                + f" cells, more than the limit of {max_cells:,}: use a larger --cell-size or a "
                "smaller study area")
        x0 = math.floor(minx / cell_size) * cell_size
        y0 = math.floor(miny / cell_size) * cell_size
        n_cols = max(1, math.ceil((maxx - x0) / cell_size))
        n_rows = max(1, math.ceil((maxy - y0) / cell_size))
        if n_cols * n_rows > max_cells:
            raise GridTooLargeError(
                f"a {cell_size:g} m grid over this area needs {n_cols * n_rows:,} cells, more than "
                f"the limit of {max_cells:,}: use a larger --cell-size or a smaller study area"
            )
        transform = Affine(cell_size, 0, x0, 0, -cell_size, y0 + n_rows * cell_size)
        is_box = area.equals(shapely.box(*area.bounds))
        if area.geom_type in ("Polygon", "MultiPolygon") and not is_box:
            mask = rasterize(
                [(area, 1)], out_shape=(n_rows, n_cols), transform=transform,
                fill=0, all_touched=True, dtype="uint8",
            ).astype(bool)
        else:
            mask = np.ones((n_rows, n_cols), dtype=bool)
        return cls(CRS.from_user_input(crs), float(x0), float(y0), float(cell_size),
                   int(n_cols), int(n_rows), mask)

    # ------------------------------------------------------------- geometry
    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_cols)``."""
        return (self.n_rows, self.n_cols)

    @property
    def n_cells(self) -> int:
        """Number of cells inside the study area."""
        return int(self.mask.sum())

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the whole grid in metres."""
        return (self.x0, self.y0, self.x0 + self.n_cols * self.cell_size,
                self.y0 + self.n_rows * self.cell_size)

    @property
    def transform(self) -> Affine:
        """Affine transform for rasterio (row 0 = north)."""
        return Affine(self.cell_size, 0, self.x0, 0, -self.cell_size, self.bounds[3])

    @property
    def cell_area_km2(self) -> float:
        """Area of one cell in square kilometres."""
        return self.cell_size**2 / 1e6

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates as two ``(n_rows, n_cols)`` arrays (x, y)."""
        xs = self.x0 + (np.arange(self.n_cols) + 0.5) * self.cell_size
        ys = self.bounds[3] - (np.arange(self.n_rows) + 0.5) * self.cell_size
        return np.meshgrid(xs, ys)

    def cell_index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cell containing each point; -1 where outside.

        Cells are half-open, ``[west, east) x [south, north)``, so a point on the
        line between two cells belongs to the cell to its east or north; points
        on the grid's own east or north edge belong to the edge cells, so every
        point of the study area has exactly one cell.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        finite = np.isfinite(x) & np.isfinite(y)
        minx, miny, maxx, maxy = self.bounds
        with np.errstate(invalid="ignore"):
            col = np.floor((np.where(finite, x, minx - 1) - minx) / self.cell_size)
            up = np.floor((np.where(finite, y, miny - 1) - miny) / self.cell_size)
        col = np.where(x == maxx, self.n_cols - 1, col).astype(np.int64)
        up = np.where(y == maxy, self.n_rows - 1, up).astype(np.int64)
        row = self.n_rows - 1 - up
        inside = finite & (col >= 0) & (col < self.n_cols) & (up >= 0) & (up < self.n_rows)
        inside[inside] = self.mask[row[inside], col[inside]]
        return np.where(inside, row, -1), np.where(inside, col, -1)

    def padded_cell_index(self, x: np.ndarray, y: np.ndarray, pad: int
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each point in this grid padded by ``pad`` cells on every side.

        For smoothing on a grid extended beyond the study area (kernel
        densities, the forecast's period stack): no mask and no edge rule, and
        the indices may fall outside the padded grid (callers keep the ones
        inside). Inside the grid, ``padded_cell_index(x, y, pad) - pad`` is
        :meth:`cell_index` without its mask.
        """
        s = self.cell_size
        col = np.floor((np.asarray(x, float) - (self.x0 - pad * s)) / s).astype(np.int64)
        row = np.floor(((self.bounds[3] + pad * s) - np.asarray(y, float)) / s).astype(np.int64)
        return row, col

    def cell_ids(self) -> np.ndarray:
        """Stable integer id of every cell, shape ``(n_rows, n_cols)``.

        ``cell_id = row * n_cols + col`` of a grid whose origin is snapped to
        the cell size, so ids repeat between runs on the same area.
        """
        return np.arange(self.n_rows * self.n_cols, dtype=np.int64).reshape(self.shape)

    def polygons(self) -> np.ndarray:
        """Square polygons of the cells inside the study area (row-major order)."""
        rows, cols = np.nonzero(self.mask)
        minx = self.x0 + cols * self.cell_size
        maxy = self.bounds[3] - rows * self.cell_size
        return shapely.box(minx, maxy - self.cell_size, minx + self.cell_size, maxy)

    def to_geodataframe(self, layers: dict[str, np.ndarray] | None = None) -> gpd.GeoDataFrame:
        """Cells inside the study area as polygons with one column per layer.

        Parameters
        ----------
        layers : dict of str to ndarray, optional
            Arrays of shape ``(n_rows, n_cols)``; each becomes a column.
        """
        data = {"cell_id": self.cell_ids()[self.mask]}
        for name, values in (layers or {}).items():
            values = np.asarray(values)
            if values.shape != self.shape:
                raise ValueError(f"layer {name!r} has shape {values.shape}, grid is {self.shape}")
            data[name] = values[self.mask]
        return gpd.GeoDataFrame(pd.DataFrame(data), geometry=self.polygons(), crs=self.crs)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description for the manifest."""
        return {"crs": self.crs.to_string(), "x0": self.x0, "y0": self.y0,
                "cell_size_m": self.cell_size, "n_cols": self.n_cols, "n_rows": self.n_rows,
                "n_cells_in_area": self.n_cells}
