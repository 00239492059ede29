"""Grids drawn as coloured, semi-transparent image overlays in Web Mercator."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any, TypedDict

import folium
import matplotlib
import matplotlib.colors as mcolors
import numpy as np
from PIL import Image
from pyproj import Transformer
from rasterio.crs import CRS as RioCRS
from rasterio.transform import Affine, array_bounds
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

from hotspot_env.app.maps._style import (
    MAX_OVERLAY_PIXELS,
    RASTER_PANE,
)
from hotspot_env.app.maps._text import layer_name
from hotspot_env.app.maps.base import OfflineMap
from hotspot_env.errors import InputError


class RasterLegend(TypedDict):
    """What :func:`add_raster_overlay` drew, for :func:`add_legend`."""

    vmin: float
    vmax: float
    cmap: str
    opacity: float
    clipped_low: bool
    clipped_high: bool
    bounds: list[list[float]]
    shape: tuple[int, int]


def add_raster_overlay(
    m: folium.Map,
    values: np.ndarray,
    transform: Affine,
    crs: Any,
    *,
    name: str,
    cmap: str | mcolors.Colormap = "magma",
    opacity: float = 0.7,
    vmin: float | None = None,
    vmax: float | None = None,
    nodata_below: float | None = None,
    transparent_zero: bool = True,
    resampling: Resampling = Resampling.nearest,
    show: bool = True,
) -> RasterLegend:
    """Draw a grid as a coloured, semi-transparent Leaflet ImageOverlay.

    The grid is reprojected to Web Mercator (Leaflet stretches an image
    linearly between its corners in EPSG:3857), coloured with a matplotlib
    colormap and embedded as a PNG ``data:`` URL, so nothing is fetched.

    Parameters
    ----------
    m : folium.Map
    values : numpy.ndarray
        2-D grid, row 0 at the north edge.
    transform : affine.Affine
        The grid's affine transform (projected CRS, metres).
    crs : any
        The grid's CRS (anything ``rasterio.crs.CRS.from_user_input`` takes).
    name : str
        Name in the layer control.
    cmap : str or matplotlib Colormap
    opacity : float
        Layer opacity in [0, 1].
    vmin, vmax : float, optional
        Colour range; default the minimum and maximum of the drawn values.
        Values outside are clipped to the end colours.
    nodata_below : float, optional
        Values below this are transparent.
    transparent_zero : bool
        Zero values are transparent (default; "no incidents" shows the basemap); NaN always.
    resampling : rasterio.warp.Resampling
        Resampling for the reprojection (nearest keeps cells crisp).
    show : bool
        Whether the layer is on when the page opens.

    Returns
    -------
    RasterLegend
        ``vmin``, ``vmax``, ``cmap`` (name), ``opacity``, whether values were
        clipped at either end, the image ``bounds`` ``[[south, west], [north,
        east]]`` and the PNG ``shape`` (rows, cols); pass it to
        :func:`add_legend`.
    """
    arr = _checked_grid(values, opacity)
    src_crs = RioCRS.from_user_input(crs)
    colormap = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    shown = _hide_values(arr, transparent_zero=transparent_zero, nodata_below=nodata_below)
    lo, hi, vmin_, vmax_ = _colour_range(shown, vmin, vmax)

    merc, dst_transform = _to_mercator(arr, transform, src_crs, resampling)
    dst_h, dst_w = merc.shape
    bounds = mercator_bounds_to_latlon(array_bounds(dst_h, dst_w, dst_transform))
    folium.raster_layers.ImageOverlay(
        image=_png_data_url(merc, colormap, vmin_, vmax_),
        bounds=bounds,
        opacity=opacity,
        name=layer_name(name),
        show=show,
        pixelated=True,
        interactive=False,
        pane=RASTER_PANE if isinstance(m, OfflineMap) else "overlayPane",
    ).add_to(m)
    return RasterLegend(
        vmin=vmin_, vmax=vmax_, cmap=colormap.name, opacity=float(opacity),
        clipped_low=bool(shown.size and lo < vmin_), clipped_high=bool(shown.size and hi > vmax_),
        bounds=bounds, shape=(int(dst_h), int(dst_w)),
    )


def _checked_grid(values: np.ndarray, opacity: float) -> np.ndarray:
    """A float64 copy of ``values`` (refused unless 2-D and non-empty; opacity in [0, 1])."""
    arr = np.array(values, dtype=np.float64, copy=True)
    if arr.ndim != 2 or min(arr.shape) == 0:
        raise InputError(f"raster values must be a non-empty 2-D array, got shape {arr.shape}")
    if not 0 <= opacity <= 1:
        raise InputError(f"opacity must be between 0 and 1, got {opacity}")
    return arr


def _colour_range(
    shown: np.ndarray, vmin: float | None, vmax: float | None
) -> tuple[float, float, float, float]:
    """The drawn values' range and the colour range (default: the drawn range)."""
    lo = float(shown.min()) if shown.size else 0.0
    hi = float(shown.max()) if shown.size else 1.0
    vmin_ = lo if vmin is None else float(vmin)
    vmax_ = hi if vmax is None else float(vmax)
    if not (math.isfinite(vmin_) and math.isfinite(vmax_)) or vmax_ < vmin_:
        raise InputError(f"invalid colour range vmin={vmin_}, vmax={vmax_}")
    return lo, hi, vmin_, vmax_


def _hide_values(
    arr: np.ndarray, *, transparent_zero: bool, nodata_below: float | None
) -> np.ndarray:
    """Set the cells that are not drawn to NaN (in place); return the drawn values."""
    hide = ~np.isfinite(arr)
    if transparent_zero:
        hide |= arr == 0
    if nodata_below is not None:
        hide |= arr < nodata_below
    arr[hide] = np.nan
    return arr[~hide]


def _to_mercator(
    arr: np.ndarray, transform: Affine, src_crs: RioCRS, resampling: Resampling
) -> tuple[np.ndarray, Affine]:
    """The grid reprojected to Web Mercator (NaN outside), and its transform.

    float32 halves the memory of large grids. The output covers the whole
    source extent (calculate_default_transform may cut up to a pixel off a
    rotated grid's corners); square pixels with about the source's pixel
    count, capped at MAX_OVERLAY_PIXELS.
    """
    dst_transform, dst_w, dst_h = _mercator_grid(arr.shape, transform, src_crs)
    merc = np.full((dst_h, dst_w), np.nan, dtype=np.float32)
    reproject(
        source=arr.astype(np.float32),
        destination=merc,
        src_transform=transform,
        src_crs=src_crs,
        src_nodata=np.nan,
        dst_transform=dst_transform,
        dst_crs="EPSG:3857",
        dst_nodata=np.nan,
        resampling=resampling,
    )
    return merc, dst_transform


def _png_data_url(
    merc: np.ndarray, colormap: mcolors.Colormap, vmin: float, vmax: float
) -> str:
    """The grid coloured between ``vmin`` and ``vmax`` as a PNG ``data:`` URL (NaN transparent)."""
    valid = np.isfinite(merc)
    span = vmax - vmin
    norm = np.zeros_like(merc)
    if span > 0:
        np.divide(merc - vmin, span, out=norm, where=valid)
    np.clip(norm, 0.0, 1.0, out=norm)
    rgba = colormap(norm, bytes=True)
    rgba[~valid] = 0
    rgba[..., 3] = np.where(valid, 255, 0).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _mercator_grid(
    shape: tuple[int, int], transform: Affine, src_crs: RioCRS
) -> tuple[Affine, int, int]:
    """Web Mercator transform, width and height covering a source grid."""
    height, width = shape
    left, bottom, right, top = array_bounds(height, width, transform)
    suggested, _w, _h = calculate_default_transform(
        src_crs, "EPSG:3857", width, height, left=left, bottom=bottom, right=right, top=top
    )
    res = abs(suggested.a)
    west, south, east, north = transform_bounds(
        src_crs, "EPSG:3857", left, bottom, right, top, densify_pts=21
    )
    dst_w = max(1, math.ceil((east - west) / res - 1e-6))
    dst_h = max(1, math.ceil((north - south) / res - 1e-6))
    if dst_w * dst_h > MAX_OVERLAY_PIXELS:
        res *= math.sqrt(dst_w * dst_h / MAX_OVERLAY_PIXELS)
        dst_w = max(1, math.ceil((east - west) / res - 1e-6))
        dst_h = max(1, math.ceil((north - south) / res - 1e-6))
    return Affine(res, 0.0, west, 0.0, -res, north), dst_w, dst_h


def mercator_bounds_to_latlon(bounds: Sequence[float]) -> list[list[float]]:
    """Convert Web Mercator ``(west, south, east, north)`` to ``[[south, west], [north, east]]``.

    Parameters
    ----------
    bounds : sequence of 4 float
        Bounds in EPSG:3857 metres.

    Returns
    -------
    list
        Leaflet bounds in degrees (an axis-aligned Mercator box is also
        axis-aligned in lon/lat).
    """
    west, south, east, north = bounds
    to_wgs84 = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    (lon_w, lon_e), (lat_s, lat_n) = to_wgs84.transform([west, east], [south, north])
    return [[float(lat_s), float(lon_w)], [float(lat_n), float(lon_e)]]
