"""Hot spots readable at a city-wide zoom: adjacent cells of one class merged into areas.

At the zoom that fits a city, a 100 m cell is 2-5 pixels wide and a hot spot
is a speckle. Merging the touching cells of each class into one polygon, drawn
with a dark outline, shows *where* the hot spots are; :class:`ZoomSwitch`
swaps the areas for the cells once a cell is wide enough to point at.

The areas are built from the cells handed in, so a public map, whose cells
carry only published (protected) classes, merges only those.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import folium
import geopandas as gpd
import matplotlib.colors as mcolors
import numpy as np
import shapely
from branca.element import MacroElement
from folium.template import Template

from hotspot_env.app.maps._geojson import classed_geojson, geometry_geojson, prepare_geoms
from hotspot_env.app.maps._text import to_hex_colour

#: Metres per pixel at zoom 0 on the equator (256-pixel Web Mercator tiles).
_METRES_PER_PIXEL_Z0 = 156_543.03392

#: Snapping grid (metres) for the union: neighbouring cells whose shared edge
#: differs in the last float digit still merge, without slivers.
_SNAP_M = 0.01


def zoom_for_width(size_m: float, latitude: float, pixels: float = 12.0) -> float:
    """The Leaflet zoom at which ``size_m`` metres are ``pixels`` pixels wide.

    Parameters
    ----------
    size_m : float
        Ground distance (e.g. the cell size), metres.
    latitude : float
        Latitude of the map centre, degrees (Web Mercator stretches with it).
    pixels : float
        Width wanted on screen.
    """
    if not (size_m > 0 and pixels > 0 and -90 < latitude < 90):
        raise ValueError("size_m and pixels must be positive, latitude within (-90, 90)")
    metres_per_pixel_z0 = _METRES_PER_PIXEL_Z0 * math.cos(math.radians(latitude))
    return math.log2(pixels * metres_per_pixel_z0 / size_m)


def merge_classes(cells: gpd.GeoDataFrame, column: str,
                  categories: Mapping[Any, tuple[str, str]]) -> gpd.GeoDataFrame:
    """Dissolve the touching cells of each class into areas.

    Parameters
    ----------
    cells : GeoDataFrame
        Cell polygons (projected or geographic CRS) with a class column.
    column : str
        The class column.
    categories : mapping
        ``{value: (label, colour)}``; cells of other values are left out.

    Returns
    -------
    GeoDataFrame
        One row per connected area: ``value``, ``label``, ``colour``,
        ``cells`` (how many cells it merges) and its polygon, in the cells' CRS,
        classes in the order of ``categories``, larger areas first.
    """
    work = cells if cells.crs is None or not cells.crs.is_geographic else cells.to_crs(
        cells.estimate_utm_crs())
    rows = []
    for value, (label, colour) in categories.items():
        polys = work.geometry.values[(work[column] == value).to_numpy(dtype=bool)]
        if len(polys) == 0:
            continue
        merged = shapely.get_parts(shapely.union_all(polys, grid_size=_SNAP_M))
        # how many cells each area holds: cells whose centre falls inside it
        centres = shapely.point_on_surface(polys)
        tree = shapely.STRtree(merged)
        area_of = tree.query(centres, predicate="within")
        counts = np.bincount(area_of[1], minlength=len(merged))
        rows += [{"value": value, "label": str(label), "colour": to_hex_colour(colour),
                  "cells": int(n), "geometry": g} for g, n in zip(merged, counts, strict=True)]
    frame = gpd.GeoDataFrame(rows, columns=["value", "label", "colour", "cells", "geometry"],
                             geometry="geometry", crs=work.crs)
    if len(frame):
        order = {v: i for i, v in enumerate(categories)}
        frame = frame.assign(_o=frame["value"].map(order)).sort_values(
            ["_o", "cells"], ascending=[True, False], kind="stable").drop(columns="_o")
    return frame.to_crs(cells.crs) if frame.crs != cells.crs else frame


def outline_colour(colour: Any) -> str:
    """A darker shade of ``colour`` for an area's outline (reads on light and dark fills)."""
    return mcolors.to_hex(np.asarray(mcolors.to_rgb(to_hex_colour(colour))) * 0.55)


def areas_layer(cells: gpd.GeoDataFrame, column: str,
                categories: Mapping[Any, tuple[str, str]], *,
                fill_opacity: float = 0.65) -> folium.GeoJson | None:
    """The merged areas as one outlined GeoJSON layer (None when there is nothing to draw)."""
    areas = merge_classes(cells, column, categories)
    if areas.empty:
        return None
    geoms = prepare_geoms(areas, "hot-spot areas", simplify_m=None)
    features = []
    for i, (row, geom) in enumerate(zip(areas.itertuples(index=False), geoms, strict=True)):
        gj = geometry_geojson(geom)
        if gj is None:
            continue
        props = {"_class": html.escape(row.label), "_fill": row.colour,
                 "_line": outline_colour(row.colour), "_cells": f"{row.cells:,}"}
        features.append({"type": "Feature", "id": f"a{i}", "properties": props, "geometry": gj})
    if not features:
        return None
    return classed_geojson(features, line="_line", weight=2.2, opacity=1.0,
                           fill_opacity=fill_opacity, highlight_weight=3.5,
                           fields=["_class", "_cells"],
                           aliases=["Class", "Grid cells in this area"], control=False)


class ZoomSwitch(MacroElement):
    """Show ``areas`` below ``zoom`` and ``cells`` from ``zoom`` on, inside one group.

    The group is the one entry of the layer control, so ticking it off hides
    both; the switch only decides which of the two the group holds.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var m = {{ this._parent.get_name() }};
            var group = {{ this.group.get_name() }};
            var areas = {{ this.areas.get_name() }};
            var cells = {{ this.cells.get_name() }};
            function pick() {
                var fine = m.getZoom() >= {{ this.zoom }};
                var show = fine ? cells : areas, hide = fine ? areas : cells;
                if (group.hasLayer(hide)) { group.removeLayer(hide); }
                if (!group.hasLayer(show)) { group.addLayer(show); }
            }
            m.on("zoomend", pick);
            pick();
        })();
        {% endmacro %}
        """
    )

    def __init__(self, group: folium.FeatureGroup, areas: folium.GeoJson,
                 cells: folium.GeoJson, zoom: float) -> None:
        super().__init__()
        self._name = "ZoomSwitch"
        self.group, self.areas, self.cells = group, areas, cells
        self.zoom = round(float(zoom), 2)
