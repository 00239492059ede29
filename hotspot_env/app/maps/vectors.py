"""Lines, points and polygons in one colour (lamps, dark segments, sites)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd

from hotspot_env.app.maps._geojson import (
    geometry_geojson,
    prepare_geoms,
)
from hotspot_env.app.maps._text import layer_name, to_hex_colour, tooltip_table
from hotspot_env.errors import InputError


def add_vector_layer(
    m: folium.Map,
    gdf: gpd.GeoDataFrame,
    *,
    name: str,
    color: str,
    weight: float = 2.0,
    tooltip_fields: Sequence[str] | None = None,
    show: bool = True,
    radius: float = 5.0,
    fill_opacity: float = 0.25,
    simplify_m: float | None = 1.0,
    max_features: int = 20_000,
) -> folium.GeoJson | None:
    """Draw lines, points (small circle markers) or polygons in one colour.

    Parameters
    ----------
    m : folium.Map
    gdf : GeoDataFrame
        Features in any CRS.
    name : str
        Name in the layer control.
    color : str
        Any matplotlib colour.
    weight : float
        Line width in pixels (outline width for polygons and points).
    tooltip_fields : sequence of str, optional
        Columns shown on hover (values are escaped).
    show : bool
        Whether the layer is on when the page opens.
    radius : float
        Circle marker radius in pixels for points.
    fill_opacity : float
        Fill opacity of polygons (points use a stronger fill).
    simplify_m : float or None
        Simplification tolerance in metres for lines and polygons.
    max_features : int
        Refuse more features than this (the page would be slow).

    Returns
    -------
    folium.GeoJson or None
        The layer, or None if ``gdf`` has no geometry to draw.
    """
    if len(gdf) > max_features:
        raise InputError(
            f"{len(gdf):,} features is too many for a web map layer (limit {max_features:,})"
        )
    colour = to_hex_colour(color)
    sub = gdf.loc[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    if sub.empty:
        return None
    geoms = prepare_geoms(sub, name, simplify_m)
    keys, aliases, rows = tooltip_table(sub, tooltip_fields)
    features = []
    for i, (geom, row) in enumerate(zip(geoms, rows, strict=True)):
        gj = geometry_geojson(geom)
        if gj is not None:
            features.append({"type": "Feature", "id": str(i), "properties": row, "geometry": gj})
    if not features:
        return None
    tooltip = (
        folium.GeoJsonTooltip(fields=keys, aliases=aliases, sticky=True, style="font-size: 13px;")
        if keys
        else None
    )
    layer = folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=layer_name(name),
        show=show,
        style_function=_vector_style(colour, weight, fill_opacity),
        marker=folium.CircleMarker(radius=radius),
        tooltip=tooltip,
    )
    layer.add_to(m)
    return layer


def _vector_style(colour: str, weight: float, fill_opacity: float) -> Any:
    def style(feature: dict[str, Any]) -> dict[str, Any]:
        if feature["geometry"]["type"] in ("Point", "MultiPoint"):
            return {
                "color": "#ffffff",
                "weight": 1.5,
                "opacity": 1.0,
                "fill": True,
                "fillColor": colour,
                "fillOpacity": 0.9,
            }
        return {
            "color": colour,
            "weight": weight,
            "opacity": 0.9,
            "fillColor": colour,
            "fillOpacity": fill_opacity,
        }

    return style
