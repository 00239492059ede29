"""Geometries as short GeoJSON in lon/lat: simplified in metres, rounded to ~0.1 m."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import shapely

from hotspot_env.app.maps._style import (
    COORD_DECIMALS,
)
from hotspot_env.errors import InputError


def check_crs(gdf: gpd.GeoDataFrame, what: str) -> None:
    if gdf.crs is None:
        raise InputError(f"{what} has no CRS: set one (e.g. gdf.set_crs(...)) before mapping")


def prepare_geoms(
    gdf: gpd.GeoDataFrame | gpd.GeoSeries, what: str, simplify_m: float | None
) -> gpd.GeoSeries:
    """Simplify in metres, reproject to EPSG:4326, round to ~0.1 m; keeps the index."""
    check_crs(gdf, what)
    geoms = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    if simplify_m:
        if geoms.crs.is_geographic:
            geoms = geoms.to_crs(geoms.estimate_utm_crs())
        geoms = gpd.GeoSeries(
            shapely.simplify(geoms.values, simplify_m, preserve_topology=True),
            index=geoms.index,
            crs=geoms.crs,
        )
    geoms = geoms.to_crs(4326)
    rounded = shapely.transform(geoms.values, lambda xy: np.round(xy, COORD_DECIMALS))
    return gpd.GeoSeries(rounded, index=geoms.index, crs=4326)


def _coords_list(coords: np.ndarray) -> list[list[float]]:
    return coords.tolist()


def _split(coords: np.ndarray, index: np.ndarray) -> list[np.ndarray]:
    if len(coords) == 0:
        return []
    cuts = np.flatnonzero(np.diff(index)) + 1
    return np.split(coords, cuts)


def multiline_geojson(geoms: Iterable[Any]) -> dict[str, Any] | None:
    """One MultiLineString from all line parts (polygons contribute their rings)."""
    arr = np.asarray(list(geoms), dtype=object)
    arr = arr[~shapely.is_missing(arr) & ~shapely.is_empty(arr)] if arr.size else arr
    if arr.size == 0:
        return None
    types = shapely.get_type_id(arr)
    polys = np.isin(types, (3, 6))
    if polys.any():
        arr = arr.copy()
        arr[polys] = shapely.boundary(arr[polys])
    arr = arr[np.isin(shapely.get_type_id(arr), (1, 2, 5))]
    parts = shapely.get_parts(arr)
    parts = parts[shapely.get_num_coordinates(parts) >= 2]
    if parts.size == 0:
        return None
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    lines = [_coords_list(c) for c in _split(coords, idx)]
    return {"type": "MultiLineString", "coordinates": lines}


def multipolygon_geojson(geoms: Iterable[Any]) -> dict[str, Any] | None:
    """One MultiPolygon from all polygon parts."""
    arr = np.asarray(list(geoms), dtype=object)
    if arr.size == 0:
        return None
    arr = arr[~shapely.is_missing(arr) & ~shapely.is_empty(arr)]
    arr = arr[np.isin(shapely.get_type_id(arr), (3, 6))]
    polys = shapely.get_parts(arr)
    polys = polys[~shapely.is_empty(polys)]
    if polys.size == 0:
        return None
    return {"type": "MultiPolygon", "coordinates": _polygon_coords(polys)}


def _polygon_coords(polys: np.ndarray) -> list[list[list[list[float]]]]:
    """Coordinates of single polygons as nested lists (exterior ring first)."""
    rings, ring_owner = shapely.get_rings(polys, return_index=True)
    coords, coord_owner = shapely.get_coordinates(rings, return_index=True)
    ring_coords = _split(coords, coord_owner)
    out: list[list[list[list[float]]]] = [[] for _ in range(len(polys))]
    for owner, ring in zip(ring_owner.tolist(), ring_coords, strict=True):
        out[owner].append(_coords_list(ring))
    return out


def geometry_geojson(geom: Any) -> dict[str, Any] | None:
    """GeoJSON geometry dict with Python floats (short JSON numbers)."""
    if geom is None or geom.is_empty:
        return None
    kind = geom.geom_type
    if kind == "Point":
        return {"type": "Point", "coordinates": [geom.x, geom.y]}
    if kind == "MultiPoint":
        pts = shapely.get_coordinates(geom)
        return {"type": "MultiPoint", "coordinates": _coords_list(pts)}
    if kind in ("LineString", "LinearRing"):
        return {"type": "LineString", "coordinates": _coords_list(shapely.get_coordinates(geom))}
    if kind == "MultiLineString":
        return multiline_geojson([geom])
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": _polygon_coords(np.array([geom]))[0]}
    if kind == "MultiPolygon":
        return multipolygon_geojson([geom])
    if kind == "GeometryCollection":
        parts = [g for g in (geometry_geojson(p) for p in geom.geoms) if g is not None]
        return {"type": "GeometryCollection", "geometries": parts} if parts else None
    raise InputError(f"cannot map geometry type {kind}")


def classed_geojson(features: list[dict[str, Any]], *, line: str, weight: float,
                    opacity: float, fill_opacity: float, highlight_weight: float,
                    fields: Sequence[str], aliases: Sequence[str],
                    **options: Any) -> folium.GeoJson:
    """Features filled by class (property ``_fill``), outlined in property ``line``, with a tooltip.

    Hot-spot cells and their merged areas are drawn alike but for the outline
    and the weights; ``options`` go to :class:`folium.GeoJson` (name, show,
    control, popup).
    """
    return folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        style_function=lambda f: {
            "fillColor": f["properties"]["_fill"],
            "color": f["properties"][line],
            "weight": weight,
            "fillOpacity": fill_opacity,
            "opacity": opacity,
        },
        highlight_function=lambda _f: {"weight": highlight_weight, "color": "#111111"},
        tooltip=folium.GeoJsonTooltip(fields=list(fields), aliases=list(aliases),
                                      sticky=True, style="font-size: 13px;"),
        **options,
    )
