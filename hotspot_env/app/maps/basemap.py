"""A light basemap drawn from the OSM streets and buildings the analysis already has."""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd
import numpy as np

from hotspot_env.app.maps._geojson import (
    multiline_geojson,
    multipolygon_geojson,
    prepare_geoms,
)
from hotspot_env.app.maps._style import (
    BASEMAP_PANE,
    BUILDING_FILL,
    BUILDING_LINE,
    MAJOR_HIGHWAYS,
    OSM_ATTRIBUTION,
    STREET_COLOUR,
)
from hotspot_env.app.maps._text import layer_name
from hotspot_env.app.maps.base import OfflineMap


def add_basemap(
    m: folium.Map,
    streets: gpd.GeoDataFrame | None,
    buildings: gpd.GeoDataFrame | None,
    *,
    name: str = "Basemap (OpenStreetMap data)",
    simplify_m: float = 1.0,
    show: bool = True,
) -> folium.FeatureGroup | None:
    """Draw a light basemap from OSM streets and buildings.

    Buildings are light grey and streets white on the pale map background
    (major roads, recognised from a ``highway`` column if present, are wider;
    no casing, which would double the street payload). The layers
    are non-interactive, in a pane below rasters and cells. Geometries are
    simplified at ``simplify_m`` metres, rounded to 6 decimals (~0.1 m) and
    merged into one multi-geometry per style, so the HTML stays small.

    Parameters
    ----------
    m : folium.Map
        Usually an :class:`OfflineMap` (which defines the basemap pane).
    streets, buildings : GeoDataFrame or None
        OSM layers in any CRS. Polygons in ``streets`` (squares, areas) are
        drawn by their outline; non-polygons in ``buildings`` are ignored.
    name : str
        Name in the layer control.
    simplify_m : float
        Simplification tolerance in metres (0 to keep every vertex).
    show : bool
        Whether the basemap is on when the page opens.

    Returns
    -------
    folium.FeatureGroup or None
        The basemap group, or None if there was nothing to draw.
    """
    styled = basemap_styles(streets, buildings, simplify_m)
    if not styled:
        return None
    return add_styled_basemap(m, styled, name=name, show=show)


def basemap_styles(
    streets: gpd.GeoDataFrame | None,
    buildings: gpd.GeoDataFrame | None,
    simplify_m: float = 1.0,
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The basemap as ``(GeoJSON geometry, style)`` pairs: buildings, minor and major streets.

    The slow part of :func:`add_basemap` (a page's worth of streets merged into
    multi-geometries); an app keeps the result per analysis and draws it with
    :func:`add_styled_basemap` on every rerun.
    """
    styled = []
    if buildings is not None and len(buildings):
        geoms = prepare_geoms(buildings, "buildings", simplify_m)
        geom = multipolygon_geojson(geoms.values)
        if geom is not None:
            styled.append((geom, {"fillColor": BUILDING_FILL, "fillOpacity": 1.0,
                                  "color": BUILDING_LINE, "weight": 0.5}))
    if streets is not None and len(streets):
        geoms = prepare_geoms(streets, "streets", simplify_m)
        major = np.zeros(len(geoms), dtype=bool)
        if "highway" in streets.columns:
            major = streets["highway"].map(_is_major_highway).to_numpy(dtype=bool)
        for mask, width in ((~major, 2.5), (major, 4.5)):
            geom = multiline_geojson(geoms.values[mask])
            if geom is not None:
                styled.append((geom, {"color": STREET_COLOUR, "weight": width, "opacity": 1.0}))
    return styled


def add_styled_basemap(
    m: folium.Map,
    styled: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    name: str = "Basemap (OpenStreetMap data)",
    show: bool = True,
) -> folium.FeatureGroup:
    """Draw :func:`basemap_styles`' pairs as the non-interactive basemap group."""
    pane = BASEMAP_PANE if isinstance(m, OfflineMap) else "overlayPane"
    group = folium.FeatureGroup(name=layer_name(name), show=show)
    for geom, style in styled:
        _static_geojson(geom, style, pane).add_to(group)
    group.add_to(m)
    return group


def _is_major_highway(value: Any) -> bool:
    if isinstance(value, list | tuple | np.ndarray):
        return any(_is_major_highway(v) for v in value)
    return isinstance(value, str) and value in MAJOR_HIGHWAYS


def _static_geojson(geometry: dict[str, Any], style: dict[str, Any], pane: str) -> folium.GeoJson:
    """A non-interactive GeoJson layer of one feature with a fixed style."""
    data = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": geometry}],
    }
    return folium.GeoJson(
        data,
        style_function=lambda _feature, style=style: dict(style),
        control=False,
        interactive=False,
        pane=pane,
        attribution=OSM_ATTRIBUTION,
        smooth_factor=1.0,
    )
