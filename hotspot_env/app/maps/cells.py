"""Classified grid cells (Gi* hot and cold spots) with readable tooltips.

At a city-wide zoom a 100 m cell is a few pixels wide; with ``areas_below_zoom``
the cells are drawn below that zoom as merged, outlined areas
(:mod:`~hotspot_env.app.maps.areas`) and as cells once zoomed in.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd

from hotspot_env.app.maps._geojson import classed_geojson, geometry_geojson, prepare_geoms
from hotspot_env.app.maps._style import GI_BINS
from hotspot_env.app.maps._text import fmt_value, layer_name, to_hex_colour, tooltip_table
from hotspot_env.app.maps.areas import ZoomSwitch, areas_layer
from hotspot_env.errors import InputError


def add_cells(
    m: folium.Map,
    cells: gpd.GeoDataFrame,
    column: str,
    *,
    name: str,
    categories: Mapping[Any, tuple[str, str]] | None = None,
    tooltip_fields: Sequence[str] = (),
    popup_field: str | None = None,
    fill_opacity: float = 0.65,
    show: bool = True,
    max_features: int = 20_000,
    areas_below_zoom: float | None = None,
) -> dict[str, str]:
    """Draw classified grid cells (e.g. Gi* significant cells) with tooltips.

    Parameters
    ----------
    m : folium.Map
    cells : GeoDataFrame
        Cell polygons in any CRS.
    column : str
        Column holding the class of each cell.
    name : str
        Name in the layer control.
    categories : mapping, optional
        ``{value: (label, colour)}``; cells whose value is not a key (e.g. Gi*
        bin 0) are not drawn. Default :data:`GI_BINS`.
    tooltip_fields : sequence of str
        Columns shown on hover, after the class label (values are escaped).
    popup_field : str, optional
        Column shown in a popup on click (escaped).
    fill_opacity : float
        Fill opacity of the cells.
    show : bool
        Whether the layer is on when the page opens.
    max_features : int
        Refuse more cells than this (the page would be slow); filter first.
    areas_below_zoom : float, optional
        Below this zoom, draw adjacent cells of one class merged into outlined
        areas (see :func:`~hotspot_env.app.maps.areas.zoom_for_width`); the
        cells themselves from this zoom on. Default: always cells.

    Returns
    -------
    dict
        Legend entries ``{label: colour}`` of the classes drawn, in the order
        of ``categories``.
    """
    cats = dict(GI_BINS if categories is None else categories)
    sub = _classified(cells, column, cats, max_features, popup_field)
    if sub.empty:
        return {}
    keys, aliases, rows = tooltip_table(sub, tooltip_fields)
    features = _cell_features(sub, column, cats, rows, popup_field)
    if not features:
        return {}
    layer = _cells_layer(features, keys, aliases, name=name, show=show,
                         fill_opacity=fill_opacity, popup=popup_field is not None)
    if areas_below_zoom is None:
        layer.add_to(m)
    else:
        _add_switching(m, layer, areas_layer(sub, column, cats, fill_opacity=fill_opacity),
                       name=name, show=show, zoom=areas_below_zoom)
    present = set(sub[column].tolist())
    return {label: to_hex_colour(c) for value, (label, c) in cats.items() if value in present}


def _cells_layer(features: list[dict[str, Any]], keys: Sequence[str], aliases: Sequence[str],
                 *, name: str, show: bool, fill_opacity: float, popup: bool) -> folium.GeoJson:
    """The cells as one GeoJSON layer, coloured by class, with tooltips (and popups)."""
    return classed_geojson(
        features, line="_fill", weight=0.6, opacity=0.9, fill_opacity=fill_opacity,
        highlight_weight=2.5, fields=["_class", *keys], aliases=["Class", *aliases],
        name=layer_name(name), show=show,
        popup=folium.GeoJsonPopup(fields=["_popup"], labels=False) if popup else None)


def _classified(cells: gpd.GeoDataFrame, column: str, cats: Mapping[Any, tuple[str, str]],
                max_features: int, popup_field: str | None) -> gpd.GeoDataFrame:
    """The cells whose class is drawn (checked: column present, not too many)."""
    if column not in cells.columns:
        raise InputError(f"column {column!r} not in cells")
    keep = cells[column].map(lambda v: v in cats if _hashable(v) else False).to_numpy(dtype=bool)
    sub = cells.loc[keep]
    if len(sub) > max_features:
        raise InputError(
            f"{len(sub):,} cells to draw is too many for a web map (limit {max_features:,}): "
            "draw only significant cells, or show the grid as a raster"
        )
    if popup_field is not None and popup_field not in cells.columns:
        raise InputError(f"popup field {popup_field!r} not in cells")
    return sub


def _cell_features(sub: gpd.GeoDataFrame, column: str, cats: Mapping[Any, tuple[str, str]],
                   rows: Sequence[dict[str, str]], popup_field: str | None
                   ) -> list[dict[str, Any]]:
    """One GeoJSON feature per cell: class label and colour, escaped tooltip values."""
    geoms = prepare_geoms(sub, "cells", simplify_m=None)
    popups = [fmt_value(v) for v in sub[popup_field].tolist()] if popup_field else None
    features = []
    for i, (value, geom, row) in enumerate(zip(sub[column].tolist(), geoms, rows, strict=True)):
        label, colour = cats[value]
        props = {"_class": html.escape(str(label)), "_fill": to_hex_colour(colour), **row}
        if popups is not None:
            props["_popup"] = popups[i]
        gj = geometry_geojson(geom)
        if gj is not None:
            features.append({"type": "Feature", "id": str(i), "properties": props, "geometry": gj})
    return features


def _add_switching(m: folium.Map, cells_layer: folium.GeoJson, areas: folium.GeoJson | None,
                   *, name: str, show: bool, zoom: float) -> None:
    """One entry in the layer control: merged areas below ``zoom``, cells from it on."""
    group = folium.FeatureGroup(name=layer_name(name), show=show)
    cells_layer.control = False
    cells_layer.add_to(group)
    if areas is not None:
        areas.add_to(group)
    group.add_to(m)
    if areas is not None:  # after the group, so its script finds the layers defined
        m.add_child(ZoomSwitch(group, areas, cells_layer, zoom))


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
