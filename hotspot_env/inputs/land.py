"""Are the incidents on land? A coarse check that catches swapped longitude/latitude.

São Paulo with its columns swapped lies in the South Atlantic, where every
coordinate is still valid and a UTM zone still exists, so nothing else would
stop the analysis. The check uses the Natural Earth 1:110m land (public domain,
shipped in ``resources/``, see ``resources/README.md``) widened by one degree
(about 100 km), so coarse coastlines, harbours and near-shore islands count as
land; nothing is downloaded.

The rule, in :func:`check_on_land`:

* most points on (widened) land: nothing to say;
* most points at sea, but on land once longitude and latitude are swapped:
  refused, with a message that suggests the swap;
* most points at sea either way (a small island missing from the 1:110m map,
  or a synthetic city): announced, never refused.
"""

from __future__ import annotations

import functools
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError

LAND_FILE = Path(__file__).resolve().parents[1] / "resources" / "land_110m_within_1deg.geojson"

#: Points tested at most (evenly spaced through the file, so the check is cheap
#: and deterministic for a million rows).
SAMPLE = 5000

#: Share of points that must lie on land for the data to count as "on land".
ON_LAND_SHARE = 0.5


@functools.cache
def land() -> shapely.Geometry:
    """Natural Earth 1:110m land widened by one degree (WGS 84, prepared)."""
    geometry = shapely.from_geojson(LAND_FILE.read_text(encoding="utf-8"))
    shapely.prepare(geometry)
    return geometry


def share_on_land(lon: np.ndarray, lat: np.ndarray) -> float:
    """Share of the points (degrees) on the widened land; NaN when none is finite."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    if not ok.any():
        return float("nan")
    return float(shapely.contains_xy(land(), lon[ok], lat[ok]).mean())


def check_on_land(lon: np.ndarray, lat: np.ndarray, name: str) -> Choice | None:
    """Refuse points at sea that a lon/lat swap would put on land; announce other sea points.

    Parameters
    ----------
    lon, lat : ndarray
        The incidents in WGS 84 degrees.
    name : str
        The file, for the message.

    Returns
    -------
    Choice or None
        ``points_at_sea`` when most points are at sea either way.

    Raises
    ------
    InputError
        When most points are at sea and the swapped points are on land.
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if lon.size > SAMPLE:
        pick = np.linspace(0, lon.size - 1, SAMPLE).astype(np.int64)
        lon, lat = lon[pick], lat[pick]
    here = share_on_land(lon, lat)
    if not here < ON_LAND_SHARE:  # on land, or nothing to test
        return None
    swapped = share_on_land(lat, lon)
    if swapped >= ON_LAND_SHARE:
        raise InputError(
            f"{name}: {1 - here:.0%} of the incidents lie at sea (over 100 km from land), and "
            "with longitude and latitude swapped they would be on land: the columns look "
            "swapped; swap them (or pass --x and --y), or check --crs")
    return announce(Choice(
        "points_at_sea", round(1 - here, 3),
        "share of incidents over 100 km from land on a 1:110m map (a small island, or "
        "simulated data?): check the coordinates and --crs if that is unexpected"))


def check_frame_on_land(frame: gpd.GeoDataFrame, name: str) -> Choice | None:
    """:func:`check_on_land` for a GeoDataFrame of points in any CRS (sampled, then WGS 84)."""
    if frame.crs is None or not len(frame):
        return None
    if len(frame) > SAMPLE:
        frame = frame.iloc[np.linspace(0, len(frame) - 1, SAMPLE).astype(np.int64)]
    geoms = frame.geometry.to_crs(4326).to_numpy()
    return check_on_land(shapely.get_x(geoms), shapely.get_y(geoms), name)
