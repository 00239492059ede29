"""The app's maps: the layers an analysis offers, and the Explore and sites maps drawn from them.

The layers themselves (what each shows, how it is drawn) are in
:mod:`hotspot_env.app.map_layers`; what they read from an analysis in
:mod:`hotspot_env.app.layer_data`. Here: which layers an analysis offers, the
basemap and first view, the selected cell's outline, and the maps the pages show.

Privacy: maps never hold incident points. Cell counts in tooltips go through
:func:`hotspot_env.outputs.privacy.published_counts`, so in public mode 1-4 show
as ``"<5"``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import shapely

from hotspot_env._memo import IdentityCache
from hotspot_env.app import maps
from hotspot_env.app.layer_data import bounds_wgs84, has_array, hotspot_cells, map_layer
from hotspot_env.app.map_layers import COLOURS, LAYERS, LayerSpec, draw_period_hotspots
from hotspot_env.outputs.labels import type_label

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis


def shown_by_default(spec: LayerSpec, analysis: Analysis) -> bool:
    """Whether ``spec`` is ticked when Explore opens: the validated forecast replaces the
    classic KDE as the first surface whenever the analysis has one."""
    if spec.key == "density" and has_array("forecast")(analysis):
        return False
    return spec.default


def available_layers(analysis: Analysis) -> list[LayerSpec]:
    """The layers this analysis has data for, in drawing order."""
    return [spec for spec in LAYERS if spec.available(analysis)]


def missing_layers(analysis: Analysis) -> list[LayerSpec]:
    """The layers whose data this analysis does not have (their stage did not run)."""
    return [spec for spec in LAYERS if not spec.available(analysis)]


# --------------------------------------------------------------------------- maps


#: Basemap layers simplified and projected once per analysis (and simplification).
_BASEMAPS: IdentityCache[tuple[Any, Any]] = IdentityCache(maxsize=8)
#: Their GeoJSON, made once per analysis: each page run only wraps it in layers.
_BASEMAP_STYLES: IdentityCache[list[Any]] = IdentityCache(maxsize=8)


def basemap_layers(analysis: Analysis, simplify_m: float = 1.0) -> tuple[Any, Any]:
    """OSM streets and buildings simplified at ``simplify_m`` m, in EPSG:4326, per analysis."""
    return _BASEMAPS.get(analysis, float(simplify_m),
                         lambda: _project_basemap(analysis, simplify_m))


def _project_basemap(analysis: Analysis, simplify_m: float) -> tuple[Any, Any]:
    out = []
    for name in ("streets", "buildings"):
        layer = map_layer(analysis, name)
        if layer is not None:
            layer = layer[~(layer.geometry.isna() | layer.geometry.is_empty)]
            geoms = shapely.simplify(layer.geometry.values, simplify_m, preserve_topology=True)
            layer = gpd.GeoDataFrame(layer.drop(columns=layer.geometry.name),
                                     geometry=gpd.GeoSeries(geoms, index=layer.index,
                                                            crs=layer.crs)).to_crs(4326)
        out.append(layer)
    return out[0], out[1]


def view_bounds(analysis: Analysis, privacy: str = "internal") -> tuple[float, ...]:
    """Where the first view looks: the hot and cold spots with a margin, else the study area.

    The whole area makes a cell a few pixels wide; the published significant
    cells plus two cells or 10 % (the larger) zoom in as far as showing all allows.
    """
    area = bounds_wgs84(analysis)
    if not has_array("gi_bin")(analysis):
        return area
    cells = hotspot_cells(analysis, privacy)
    if cells.empty:
        return area
    west, south, east, north = cells.total_bounds
    pad = max(2 * analysis.grid.cell_size, 0.1 * max(east - west, north - south))
    box = gpd.GeoSeries([shapely.box(west - pad, south - pad, east + pad, north + pad)],
                        crs=cells.crs).to_crs(4326).total_bounds
    return (max(box[0], area[0]), max(box[1], area[1]), min(box[2], area[2]),
            min(box[3], area[3]))


def base_map(analysis: Analysis, *, online_tiles: bool = False, height: int = 560,
             bounds: Sequence[float] | None = None) -> Any:
    """An offline map with the OSM basemap, fitted to ``bounds`` (default the study area)."""
    # Quarter zoom steps: fitting the view then fills the frame instead of
    # stopping a whole level short (hot-spot cells twice as wide at first view).
    m = maps.make_map(bounds_wgs84(analysis) if bounds is None else bounds,
                      online_tiles=online_tiles, height=height, zoom_snap=0.25, zoom_delta=0.5)
    styled = _BASEMAP_STYLES.get(analysis, "styles",
                                 lambda: maps.basemap_styles(*basemap_layers(analysis), 0))
    if styled:
        maps.add_styled_basemap(m, styled)
    return m


def cell_outline_lonlat(grid: Any, row: int, col: int) -> list[tuple[float, float]]:
    """The corners of a cell as ``(lon, lat)``, densified so the projected edges stay true."""
    west = grid.x0 + col * grid.cell_size
    north = grid.bounds[3] - row * grid.cell_size
    square = shapely.segmentize(shapely.box(west, north - grid.cell_size,
                                            west + grid.cell_size, north), grid.cell_size / 4)
    ring = gpd.GeoSeries([square], crs=grid.crs).to_crs(4326).iloc[0].exterior.coords
    return [(float(x), float(y)) for x, y in ring]


def selected_cell_layer(grid: Any, cell: tuple[int, int] | None) -> Any:
    """A layer outlining the place the side panel describes (empty when none).

    Given to ``st_folium(feature_group_to_add=...)``, it is redrawn without
    rebuilding the map, so a click keeps the reader's zoom and position.
    """
    import folium

    group = folium.FeatureGroup(name="Selected place")
    if cell is not None:
        ring = cell_outline_lonlat(grid, *cell)
        folium.Polygon([(lat, lon) for lon, lat in ring], color="#00a8e8", weight=4,
                       fill=False, interactive=False).add_to(group)
    return group


def _draw_layers(m: Any, analysis: Analysis, keys: Collection[str], privacy: str,
                 positions: tuple[str, str], period: Any = None) -> None:
    """Draw the available layers among ``keys`` in :data:`LAYERS` order, their legends
    alternating between ``positions``; ``period``: that period's hot spots instead."""
    drawn = 0
    for spec in LAYERS:
        if spec.key in keys and spec.available(analysis):
            pos = positions[drawn % 2]
            # one period's classes come from its exact counts: internal mode only
            if spec.key == "hotspots" and period is not None and privacy == "internal":
                draw_period_hotspots(m, analysis, period, privacy, pos)
            else:
                spec.draw(m, analysis, privacy, pos)
            drawn += 1

def explore_map(
    analysis: Analysis,
    layer_keys: Sequence[str],
    *,
    privacy: str = "internal",
    online_tiles: bool = False,
    period: Any = None,
) -> Any:
    """The Explore map with the chosen layers and their legends.

    Parameters
    ----------
    analysis : Analysis
    layer_keys : sequence of str
        Keys of :data:`LAYERS` to draw; unavailable ones are skipped.
    privacy : {"internal", "public"}
        Privacy mode for counts in tooltips.
    online_tiles : bool
        Add OpenStreetMap tiles (only when the user asks; needs internet).
    period : timeslice.PeriodLayer, optional
        Draw this month's or quarter's hot spots instead of the whole period's (internal
        mode only: a period's classes come from its exact counts).

    Returns
    -------
    hotspot_env.app.maps.OfflineMap
    """
    wanted = set(layer_keys)
    m = base_map(analysis, online_tiles=online_tiles,
                 bounds=view_bounds(analysis, privacy) if "hotspots" in wanted else None)
    _draw_layers(m, analysis, wanted, privacy, ("bottomright", "bottomleft"), period)
    maps.finish(m, collapsed=True)
    return m


def sites_map(
    analysis: Analysis,
    sites: gpd.GeoDataFrame | None,
    *,
    tooltip_fields: Sequence[str] = (),
    proposals: gpd.GeoDataFrame | None = None,
    proposal_fields: Sequence[str] = ("type", "note"),
    layer_keys: Sequence[str] = ("density",),
    privacy: str = "internal",
    online_tiles: bool = False,
    height: int = 520,
    large_print: bool = False,
) -> Any:
    """A map of intervention sites (and residents' proposals) over the density.

    Parameters
    ----------
    analysis : Analysis
    sites : GeoDataFrame or None
        Selected intervention sites (any geometry, any CRS).
    tooltip_fields : sequence of str
        Site columns shown on hover.
    proposals : GeoDataFrame, optional
        Residents' proposals (points).
    proposal_fields : sequence of str
        Proposal columns shown on hover (escaped).
    layer_keys : sequence of str
        Keys of :data:`LAYERS` drawn underneath (default the density).
    privacy : {"internal", "public"}
        Privacy mode for counts in tooltips.
    online_tiles : bool
        Add OpenStreetMap tiles (needs internet).
    height : int
        Map height in pixels.
    large_print : bool
        Legends, tooltips and zoom buttons readable on a projected wall.
    """
    m = base_map(analysis, online_tiles=online_tiles, height=height)
    if large_print:
        maps.large_print(m)
    _draw_layers(m, analysis, layer_keys, privacy, ("bottomleft", "bottomright"))
    entries = {}
    if sites is not None and len(sites) and "type" in sites:  # tooltips read labels, not ids
        sites = sites.assign(type=sites["type"].map(type_label))
    if proposals is not None and len(proposals) and "type" in proposals:
        proposals = proposals.assign(type=proposals["type"].map(type_label))
    if sites is not None and len(sites):
        if sites.crs is None:
            sites = sites.set_crs(analysis.grid.crs)
        maps.add_vector_layer(m, sites, name="Selected interventions",
                              color=COLOURS["candidates"], weight=4, radius=7,
                              fill_opacity=0.5, simplify_m=None,
                              tooltip_fields=[f for f in tooltip_fields if f in sites.columns])
        entries["Selected intervention"] = COLOURS["candidates"]
    if proposals is not None and len(proposals):
        maps.add_vector_layer(m, proposals, name="Residents' proposals",
                              color=COLOURS["proposals"], radius=9, simplify_m=None,
                              tooltip_fields=[f for f in proposal_fields
                                              if f in proposals.columns])
        entries["Residents' proposal"] = COLOURS["proposals"]
    if entries:
        maps.add_legend(m, "Sites", entries, position="topright")
    maps.finish(m, collapsed=True)
    return m
