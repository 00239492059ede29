"""The study area: where the grid goes and which incidents count.

Precedence: an explicit ``bbox`` (WGS 84), then a place polygon, then OSM
layers (convex hull of the streets), then user layers (convex hull of their
features), and last the incidents' own extent. The choice is announced.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError

#: Widest --bbox in degrees: beyond it the UTM zone chosen for the grid distorts distances badly.
MAX_BBOX_SPAN_DEG = 30


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """Parse ``"W,S,E,N"`` in WGS 84 degrees, with a clear error."""
    try:
        west, south, east, north = (float(v) for v in str(text).split(","))
    except ValueError:
        raise InputError(
            f"--bbox {text!r} must be four numbers W,S,E,N in degrees, e.g. 24.93,60.16,24.96,60.17"
        ) from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InputError(
            f"--bbox {text!r} is not a valid W,S,E,N box: need W < E within ±180 and S < N within "
            "±90 (did you swap longitude and latitude?)"
        )
    if east - west > MAX_BBOX_SPAN_DEG or north - south > MAX_BBOX_SPAN_DEG:
        raise InputError(
            f"--bbox {text!r} spans {east - west:g}° x {north - south:g}°: a study area must fit "
            f"one projected zone (at most {MAX_BBOX_SPAN_DEG}° across); give the city's or "
            "region's box, or use --engine dask with tiles for a country"
        )
    return west, south, east, north


def convex_hull(geoms: np.ndarray) -> shapely.Geometry:
    """Convex hull of many geometries, from their vertices.

    Equal to ``union_all(geoms).convex_hull`` (the hull of a union is the hull
    of the input vertices) without noding the union first, which takes minutes
    for a city's worth of streets and buildings. The vertices go into GEOS as
    one LineString, whose hull is that of its points: building a MultiPoint of
    millions of points costs more than the hull itself.
    """
    coords = shapely.get_coordinates(np.asarray(geoms, dtype=object))
    if len(coords) < 2:
        return shapely.points(coords[0]) if len(coords) else shapely.Polygon()
    return shapely.linestrings(coords).convex_hull


def far_out_fence(values: np.ndarray, k: float = 3.0) -> np.ndarray:
    """True for values inside Tukey's far-out fence ``[Q1 - k IQR, Q3 + k IQR]``.

    A police.uk month can hold a point snapped 70 km outside the force area;
    a bounding box through it would be mostly empty. With ``k = 3`` a normal
    sample loses about 2 values in a million, a uniform one none (Tukey 1977,
    Exploratory Data Analysis, ch. 2).
    """
    values = np.asarray(values, dtype=float)
    q1, q3 = np.percentile(values, [25, 75])
    iqr = q3 - q1
    return (values >= q1 - k * iqr) & (values <= q3 + k * iqr)


def study_area(
    crs: CRS,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    place_polygon: shapely.Geometry | None = None,
    osm_layers: dict[str, gpd.GeoDataFrame] | None = None,
    user_layers: dict[str, gpd.GeoDataFrame] | None = None,
    incidents: gpd.GeoDataFrame | None = None,
    buffer_m: float = 25.0,
) -> tuple[shapely.Geometry, Choice]:
    """Return the study area polygon in ``crs`` and how it was chosen.

    Parameters
    ----------
    crs : pyproj.CRS
        Projected CRS of the analysis.
    bbox : tuple, optional
        ``(W, S, E, N)`` in WGS 84.
    place_polygon : shapely geometry, optional
        Boundary in WGS 84 (from ``--place``).
    osm_layers, user_layers : dict, optional
        Layers in any CRS; their features define the area when given.
    incidents : GeoDataFrame, optional
        Incident points; their bounding box is the last resort.
    buffer_m : float
        Margin added around hulls so edge streets fall inside cells.
    """
    if bbox is not None:
        geom = gpd.GeoSeries([shapely.box(*bbox)], crs=4326).to_crs(crs).iloc[0]
        return geom, announce(Choice("study_area", "bbox", "the --bbox given"))
    if place_polygon is not None:
        geom = gpd.GeoSeries([place_polygon], crs=4326).to_crs(crs).iloc[0]
        return geom, announce(Choice("study_area", "place",
                                           "the boundary polygon osmnx geocoded for --place"))
    if osm_layers is not None and len(osm_layers.get("streets", [])):
        hull = convex_hull(osm_layers["streets"].to_crs(crs).geometry.values)
        return hull.buffer(buffer_m), announce(Choice(
            "study_area", "osm streets",
            f"convex hull of the OSM street network plus {buffer_m:g} m"))
    if user_layers:
        parts = [g.to_crs(crs).geometry.values for g in user_layers.values() if len(g)]
        if parts:
            hull = convex_hull(np.concatenate(parts))
            return hull.buffer(buffer_m), announce(Choice(
                "study_area", "user layers", f"convex hull of the --layers features plus "
                f"{buffer_m:g} m"))
    if incidents is not None and len(incidents):
        pts = incidents.to_crs(crs)
        xs, ys = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
        keep = far_out_fence(xs) & far_out_fence(ys)
        minx, miny, maxx, maxy = xs[keep].min(), ys[keep].min(), xs[keep].max(), ys[keep].max()
        geom = shapely.box(minx, miny, maxx, maxy).buffer(buffer_m, join_style="mitre")
        stray = int((~keep).sum())
        note = (f"; {stray:,} stray incident(s) beyond Tukey's far-out fence (3 x IQR past the "
                "quartiles of x or y) do not stretch it" if stray else "")
        return geom, announce(Choice(
            "study_area", "incident extent",
            f"bounding box of the incidents{note} (pass --osm, --layers or --bbox to fix the "
            "area)"))
    raise InputError("no study area: pass --osm, --layers, --place or --bbox, or some incidents")
