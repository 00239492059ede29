"""The shape of a candidate table, and the identity of a candidate.

Every generator (:mod:`~hotspot_env.interventions.candidates`,
:mod:`~hotspot_env.interventions.youth_sites`) returns a frame with :data:`COLUMNS` built by
:func:`candidate_frame`; :func:`candidate_id` and the site key make a candidate the same one
on every run.
"""

from __future__ import annotations

import hashlib
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

#: Vacant kinds that are buildings (prefix match on the ``kind`` column).
BUILDING_KINDS: tuple[str, ...] = ("building=", "ruins=", "abandoned:building", "ruins:building")
#: Types that light a street: one per street geometry.
LIGHTING_TYPES: frozenset[str] = frozenset({"streetlight_upgrade", "new_streetlight"})
#: Types that occupy land: one per site geometry.
LAND_TYPES: frozenset[str] = frozenset({"vacant_lot_greening", "vacant_lot_cleanup", "youth_space",
                                        "busy_streets_maintenance",
                                        "abandoned_building_remediation"})

#: Columns of a candidate table (besides geometry), in order.
COLUMNS: tuple[str, ...] = (
    "intervention_id", "type", "location", "quantity", "source", "note", "site", "kind",
    "length_m", "lux_mean", "lux_min", "area_m2", "sightline_m", "n_points", "gap_demand",
)



# ================================================================= identity
def candidate_id(intervention_type: str, geometry: shapely.Geometry) -> str:
    """Stable id: first 12 hex digits of SHA-1 of type + geometry WKB at 0.1 m.

    The geometry's coordinates are rounded to 0.1 m (pointwise) and put in
    normal form (:func:`shapely.normalize`), so the id survives re-runs, row
    order and vertex order.
    """
    return id_from_key(intervention_type, geometry_key(geometry))


def geometry_key(geometry: shapely.Geometry | np.ndarray) -> bytes | np.ndarray:
    """WKB of the geometry at 0.1 m in normal form; vectorised over an array of geometries."""
    geom = shapely.normalize(shapely.set_precision(geometry, 0.1, mode="pointwise"))
    return shapely.to_wkb(geom, output_dimension=2, byte_order=1, include_srid=False)


def id_from_key(intervention_type: str, key: bytes) -> str:
    return hashlib.sha1(intervention_type.encode("utf-8") + b"\0" + key).hexdigest()[:12]


def site_from_key(intervention_type: str, key: bytes) -> str:
    family = ("land" if intervention_type in LAND_TYPES else
              "light" if intervention_type in LIGHTING_TYPES else None)
    if family is None:
        return ""
    return family + ":" + hashlib.sha1(key).hexdigest()[:12]


def empty_candidates(crs: Any) -> gpd.GeoDataFrame:
    """A candidate table with no rows."""
    data = {c: pd.Series(dtype=float if c in _NUMERIC else object) for c in COLUMNS}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


_NUMERIC = {"quantity", "length_m", "lux_mean", "lux_min", "area_m2", "sightline_m", "n_points",
            "gap_demand"}


def candidate_frame(records: dict[str, Any], geoms: np.ndarray, crs: Any) -> gpd.GeoDataFrame:
    n = len(geoms)
    data = {}
    for col in COLUMNS:
        value = records.get(col)
        if value is None:
            value = np.full(n, np.nan) if col in _NUMERIC else np.full(n, "", dtype=object)
        data[col] = value
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)



# ================================================================== columns
def concat_candidates(frames: list[gpd.GeoDataFrame], crs: Any) -> gpd.GeoDataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_candidates(crs)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)


def number_column(frame: gpd.GeoDataFrame, col: str, default: float) -> np.ndarray:
    if col not in frame:
        return np.full(len(frame), default)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)


def text_column(frame: gpd.GeoDataFrame, col: str) -> np.ndarray:
    if col not in frame:
        return np.full(len(frame), "", dtype=object)
    s = frame[col]
    return s.where(s.notna(), "").astype(str).str.strip().to_numpy(dtype=object)
