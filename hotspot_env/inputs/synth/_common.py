"""What both generators share: incident marks, local-to-UTC clocks, ids and the CSV table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

#: Incident categories produced by both generators.
CATEGORIES: tuple[str, ...] = ("violence", "robbery", "burglary", "theft", "vandalism", "disorder")

#: Sources of a record: a call from a resident, or a patrol's own observation.
SOURCES: tuple[str, ...] = ("resident_call", "officer_initiated")

#: Category shares used by both generators.
CATEGORY_SHARES: dict[str, float] = {
    "violence": 0.13, "robbery": 0.10, "burglary": 0.10,
    "theft": 0.30, "vandalism": 0.15, "disorder": 0.22,
}


def _within(points: np.ndarray, geoms: gpd.GeoSeries, dist: float) -> np.ndarray:
    """True for each point within ``dist`` of any geometry."""
    out = np.zeros(len(points), dtype=bool)
    if len(geoms):
        tree = shapely.STRtree(geoms.to_numpy())
        hit, _ = tree.query(points, predicate="dwithin", distance=dist)
        out[hit] = True
    return out


def _local_to_utc(local: np.ndarray, tz: str) -> np.ndarray:
    """Naive local wall-clock times -> naive UTC ``datetime64[ns]``.

    Ambiguous autumn times are read as standard time; spring-gap times are
    moved forward to the first valid instant.
    """
    idx = pd.DatetimeIndex(np.asarray(local, dtype="datetime64[ns]"))
    aware = idx.tz_localize(tz, ambiguous=np.zeros(len(idx), dtype=bool),
                            nonexistent="shift_forward")
    return aware.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")


def _normalised(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr / arr.sum()


def _category_probabilities() -> np.ndarray:
    """:data:`CATEGORY_SHARES` in the order of :data:`CATEGORIES`, summing to one."""
    return _normalised([CATEGORY_SHARES[c] for c in CATEGORIES])


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(6, len(str(n)))
    return (prefix + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)).to_numpy()


def _incident_table(gdf: gpd.GeoDataFrame, columns: list[str]) -> pd.DataFrame:
    """``lon``, ``lat`` (7 decimals), ISO-8601 UTC ``datetime`` and ``columns``."""
    if gdf.crs is not None and CRS.from_user_input(gdf.crs).to_epsg() == 4326:
        lon, lat = shapely.get_x(gdf.geometry.values), shapely.get_y(gdf.geometry.values)
    else:
        tr = Transformer.from_crs(gdf.crs, "EPSG:4326", always_xy=True)
        lon, lat = tr.transform(shapely.get_x(gdf.geometry.values),
                                shapely.get_y(gdf.geometry.values))
    stamps = gdf["datetime"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    text = np.char.add(np.datetime_as_string(stamps.astype("datetime64[s]"), unit="s"), "Z")
    table = pd.DataFrame({"lon": np.round(lon, 7), "lat": np.round(lat, 7), "datetime": text})
    for col in columns:
        table[col] = gdf[col].to_numpy()
    return table


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, index=False, float_format="%.7f", lineterminator="\n")
