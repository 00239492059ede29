"""What the app's map layers read from an analysis: per-cell values, factor layers, hot spots.

The helpers the layer drawings (:mod:`hotspot_env.app.map_layers`) and the page
maps (:mod:`hotspot_env.app.mapview`) share. Cell counts go through the privacy
gate (:func:`hotspot_env.outputs.privacy.publish`), so in public mode 1-4 show as
``"<5"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from hotspot_env.app import maps
from hotspot_env.app.places import per_cell_values
from hotspot_env.outputs.privacy import Kind, publish

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis


def factor(analysis: Analysis, name: str) -> Any | None:
    """The factor result ``name`` from ``analysis.factors``, or None."""
    return (analysis.factors or {}).get(name)


def factor_layer(analysis: Analysis, name: str) -> gpd.GeoDataFrame | None:
    """The drawable layer of factor ``name``, or None when absent or empty."""
    result = factor(analysis, name)
    layer = getattr(result, "layer", None)
    if layer is None or not len(layer):
        return None
    return layer


def cell_array(analysis: Analysis, key: str) -> np.ndarray | None:
    """Per-cell values ``key`` (None when absent, or numeric with no finite cell in the area)."""
    values = per_cell_values(analysis).get(key)
    if values is None:
        return None
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiub":
        return arr
    if not np.isfinite(arr.astype(float)[analysis.grid.mask]).any():
        return None
    return arr


def has_array(key: str) -> Callable[[Any], bool]:
    """``f(analysis) -> bool``: the analysis has per-cell values ``key`` to draw."""
    return lambda a: cell_array(a, key) is not None


def map_layer(analysis: Analysis, name: str) -> gpd.GeoDataFrame | None:
    """Map layer ``name`` with the user's layer of that name (:meth:`Analysis.layer`)."""
    return analysis.layer(name)


def tooltip_columns(frame: pd.DataFrame, wanted: Sequence[str]) -> list[str]:
    """The ``wanted`` columns ``frame`` has with at least one value."""
    return [c for c in wanted if c in frame.columns and frame[c].notna().any()]


def masked(analysis: Analysis, values: np.ndarray) -> np.ndarray:
    """``values`` as floats, NaN outside the study area (drawn transparent)."""
    arr = np.asarray(values, dtype=float).copy()
    arr[~analysis.grid.mask] = np.nan
    return arr


def robust_max(values: np.ndarray, q: float = 98.0) -> float | None:
    """The ``q``-th percentile of the finite values (a colour scale's top), None if none."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None
    return float(np.percentile(finite, q))


def bounds_wgs84(analysis: Analysis) -> tuple[float, float, float, float]:
    """The study area's ``(west, south, east, north)`` in degrees."""
    area = gpd.GeoSeries([analysis.area], crs=analysis.grid.crs).to_crs(4326)
    return tuple(float(v) for v in area.total_bounds)


#: Width (pixels) from which hot-spot cells are drawn one by one; below it, merged areas.
CELL_PIXELS = 12.0


def cells_zoom(a: Analysis) -> float:
    """The zoom from which a grid cell is :data:`CELL_PIXELS` wide (merged areas below)."""
    _west, south, _east, north = bounds_wgs84(a)
    return maps.zoom_for_width(a.grid.cell_size, (south + north) / 2, CELL_PIXELS)


def hotspot_cells(a: Analysis, privacy: str) -> gpd.GeoDataFrame:
    """The significant Gi* cells as published (counts, z, class through the privacy gate).

    Tooltips, merged areas and the first view all come from it: public maps show published classes.
    """
    cells = publish(a, a.cells(["incidents", "gi_z", "gi_bin"]), {"cell_id": Kind.IDENTIFIER},
                    privacy=privacy)  # tooltips go through the same gate as the files
    return cells[cells["gi_bin"] != 0].copy()

