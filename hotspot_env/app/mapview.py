"""The app's maps: which layers an analysis can show, and the maps built from them.

Built on :mod:`hotspot_env.app.maps` (offline Leaflet, escaped text). Each
:class:`LayerSpec` says what one layer shows in plain words, whether the
analysis has the data for it (:func:`available_layers`), and how to draw it
with its legend. A layer whose stage has not run is simply not offered, so
the app grows as stages land.

Privacy: maps never hold incident points. Cell counts in tooltips go through
:func:`hotspot_env.outputs.privacy.published_counts`, so in public mode 1-4 show
as ``"<5"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env._memo import IdentityCache
from hotspot_env.app import maps
from hotspot_env.app.places import per_cell_values
from hotspot_env.outputs.labels import type_label
from hotspot_env.outputs.privacy import Kind, publish, publish_array

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Colours of vector layers (colour-blind-safe where they meet).
COLOURS = {
    "dark": "#3b0f70",
    "vacant": "#8c510a",
    "youth": "#1b7837",
    "gap": "#f1a340",
    "lamps": "#e6ab02",
    "candidates": "#0057b8",
    "proposals": "#c51b7d",
}

@dataclass(frozen=True)
class LayerSpec:
    """One map layer the app can offer.

    Attributes
    ----------
    key : str
        Short id (used by widgets and tests).
    title : str
        Name in the layer list and the legend.
    note : str
        "What this shows", one or two plain sentences.
    available : callable
        ``f(analysis) -> bool``: the data exists.
    draw : callable
        ``f(map, analysis, privacy, legend_position) -> None``: adds the layer
        and its legend.
    default : bool
        Shown when the page opens.
    """

    key: str
    title: str
    note: str
    available: Callable[[Any], bool]
    draw: Callable[[Any, Any, str, str], None]
    default: bool = False


# --------------------------------------------------------------------------- data access


def factor(analysis: Analysis, name: str) -> Any | None:
    """The factor result ``name`` from ``analysis.factors``, or None."""
    return (analysis.factors or {}).get(name)


def factor_layer(analysis: Analysis, name: str) -> gpd.GeoDataFrame | None:
    """The drawable layer of factor ``name``, or None when absent or empty."""
    result = factor(analysis, name)
    layer = getattr(result, "layer", None)
    if layer is None or not len(layer):
        return None
    return layer


def _array(analysis: Analysis, key: str) -> np.ndarray | None:
    values = per_cell_values(analysis).get(key)
    if values is None:
        return None
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiub":
        return arr
    if not np.isfinite(arr.astype(float)[analysis.grid.mask]).any():
        return None
    return arr


def _has_array(key: str) -> Callable[[Any], bool]:
    return lambda a: _array(a, key) is not None


def _map_layer(analysis: Analysis, name: str) -> gpd.GeoDataFrame | None:
    return analysis.layer(name)


def _tooltip_columns(frame: pd.DataFrame, wanted: Sequence[str]) -> list[str]:
    return [c for c in wanted if c in frame.columns and frame[c].notna().any()]


def _masked(analysis: Analysis, values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=float).copy()
    arr[~analysis.grid.mask] = np.nan
    return arr


def _robust_max(values: np.ndarray, q: float = 98.0) -> float | None:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None
    return float(np.percentile(finite, q))


def _draw_density(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    legend = maps.add_raster_overlay(m, _masked(a, publish_array(a, "kde", privacy)),
                                     a.grid.transform,
                                     a.grid.crs, name="Classic KDE", cmap="magma_r",
                                     opacity=0.6)
    maps.add_legend(m, "Classic KDE (rule-of-thumb radius)", legend,
                    note=a.parameters.get("kde_units", ""), position=pos)


def _draw_forecast(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    values = _masked(a, a.arrays["forecast"])
    legend = maps.add_raster_overlay(m, values, a.grid.transform, a.grid.crs,
                                     name="Validated forecast", cmap="magma_r", opacity=0.6,
                                     vmin=0.0, vmax=_robust_max(values, 99.5))
    model = (a.parameters.get("forecast") or {}).get("description", "")
    maps.add_legend(m, "Validated forecast", legend, units="incidents next year",
                    note=model, position=pos)


def shown_by_default(spec: LayerSpec, analysis: Analysis) -> bool:
    """Whether ``spec`` is ticked when Explore opens: the validated forecast replaces the
    classic KDE as the first surface whenever the analysis has one."""
    if spec.key == "density" and _has_array("forecast")(analysis):
        return False
    return spec.default


#: Width (pixels) from which hot-spot cells are drawn one by one; below it, merged areas.
CELL_PIXELS = 12.0


def cells_zoom(a: Analysis) -> float:
    """The zoom from which a grid cell is :data:`CELL_PIXELS` wide (merged areas below)."""
    _west, south, _east, north = bounds_wgs84(a)
    return maps.zoom_for_width(a.grid.cell_size, (south + north) / 2, CELL_PIXELS)


def hotspot_cells(a: Analysis, privacy: str) -> gpd.GeoDataFrame:
    """The significant Gi* cells as published (counts, z, class through the privacy gate).

    Tooltips, merged areas and the first view all come from it: public maps show published classes.
    """
    cells = publish(a, a.cells(["incidents", "gi_z", "gi_bin"]), {"cell_id": Kind.IDENTIFIER},
                    privacy=privacy)  # tooltips go through the same gate as the files
    return cells[cells["gi_bin"] != 0].copy()


def _draw_hotspots(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    cells = hotspot_cells(a, privacy)
    if pd.api.types.is_float_dtype(cells["gi_z"]):
        cells["gi_z"] = cells["gi_z"].round(2)
    entries = maps.add_cells(m, cells, "gi_bin", name="Gi* hot and cold spots",
                             tooltip_fields=["cell_id", "incidents", "gi_z"],
                             areas_below_zoom=cells_zoom(a))
    if entries:
        maps.add_legend(m, "Gi* hot and cold spots", entries, position=pos)


def _draw_period_hotspots(m: Any, a: Analysis, period: Any, privacy: str, pos: str) -> None:
    """Gi* classes of one month or quarter (:mod:`~hotspot_env.temporal.timeslice`)."""
    from hotspot_env.outputs.privacy import publishable_counts

    cells = a.grid.to_geodataframe({"gi_bin": period.gi_bin})
    cells["incidents"] = publishable_counts(period.counts[a.grid.mask], privacy,
                                            a.parameters.get("k_threshold"))
    cells = cells[cells["gi_bin"] != 0].copy()
    title = f"Gi* hot and cold spots, {period.label}"
    entries = maps.add_cells(m, cells, "gi_bin", name=title,
                             tooltip_fields=["cell_id", "incidents"],
                             areas_below_zoom=cells_zoom(a))
    if entries:
        maps.add_legend(m, title, entries, position=pos)


def _draw_lighting(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    lux = _masked(a, _array(a, "lamp_lux"))
    top = _robust_max(lux) or 1.0
    legend = maps.add_raster_overlay(m, lux, a.grid.transform, a.grid.crs,
                                     name="Modelled street light", cmap="cividis",
                                     opacity=0.7, vmin=0.0, vmax=max(top, 2.0),
                                     transparent_zero=False)
    maps.add_legend(m, "Modelled street light", legend, units="lux", position=pos)


def _draw_dark_segments(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    layer = factor_layer(a, "lighting")
    maps.add_vector_layer(m, layer, name="Dark street segments", color=COLOURS["dark"],
                          weight=4, tooltip_fields=_tooltip_columns(
                              layer, ["name", "lux_mean", "lux_min", "length_m", "segment_id"]))
    maps.add_legend(m, "Dark street segments", {"Modelled light below 2 lux": COLOURS["dark"]},
                    position=pos)


def _draw_sightlines(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    values = _masked(a, _array(a, "sightline_m"))
    legend = maps.add_raster_overlay(m, values, a.grid.transform, a.grid.crs,
                                     name="Sightlines", cmap="viridis", opacity=0.7,
                                     vmin=0.0, transparent_zero=False)
    maps.add_legend(m, "Mean free sightline", legend, units="m", position=pos)


def _draw_vacant(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    layer = factor_layer(a, "vacancy")
    if layer is None:
        layer = _map_layer(a, "vacant")
    maps.add_vector_layer(m, layer, name="Vacant or derelict land", color=COLOURS["vacant"],
                          fill_opacity=0.45, tooltip_fields=_tooltip_columns(
                              layer, ["kind", "name"]))
    maps.add_legend(m, "Vacant or derelict land", {"Vacant lot or building": COLOURS["vacant"]},
                    position=pos)


def _draw_youth(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    layer = factor_layer(a, "access")
    entries = {}
    if layer is not None and "role" in layer.columns:
        gaps = layer[layer["role"] == "gap"]
        spaces = layer[layer["role"] == "space"]
        if len(gaps):
            gaps = gaps.assign(youth_walk_m=gaps["youth_walk_m"].round(0))
            maps.add_vector_layer(m, gaps, name="Service gaps (long walk to a youth space)",
                                  color=COLOURS["gap"], weight=0.5, fill_opacity=0.4,
                                  simplify_m=None, tooltip_fields=["youth_walk_m"])
            entries["Service gap: more than a 10-min walk"] = COLOURS["gap"]
    else:
        spaces = _map_layer(a, "youth")
    if spaces is not None and len(spaces):
        maps.add_vector_layer(m, spaces, name="Youth and community spaces",
                              color=COLOURS["youth"], fill_opacity=0.45,
                              tooltip_fields=_tooltip_columns(spaces, ["kind", "name"]))
        entries["Youth or community space"] = COLOURS["youth"]
    if entries:
        maps.add_legend(m, "Youth spaces", entries, position=pos)


def _youth_available(a: Analysis) -> bool:
    return factor_layer(a, "access") is not None or _map_layer(a, "youth") is not None


def _draw_lamps(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    maps.add_vector_layer(m, _map_layer(a, "lamps"), name="Street lamps (mapped)",
                          color=COLOURS["lamps"], radius=3)
    maps.add_legend(m, "Street lamps", {"Mapped street lamp": COLOURS["lamps"]}, position=pos)


def _draw_rtm(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    values = _masked(a, publish_array(a, "rtm_score", privacy))
    legend = maps.add_raster_overlay(m, values, a.grid.transform, a.grid.crs,
                                     name="Risk terrain", cmap="YlOrRd", opacity=0.7,
                                     vmax=_robust_max(values))
    maps.add_legend(m, "Risk terrain score", legend, units="relative risk", position=pos)


def _draw_change(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    labels = np.asarray(_array(a, "change_class"), dtype=object)
    cells = a.grid.to_geodataframe({"change": labels})
    cats = {"increase": ("More incidents in the later period", "#b2182b"),
            "decrease": ("Fewer incidents in the later period", "#2166ac")}
    entries = maps.add_cells(m, cells, "change", name="Change between periods",
                             categories=cats, tooltip_fields=["cell_id"])
    if entries:
        maps.add_legend(m, "Change between periods", entries, position=pos,
                        note=_change_note(a))


def _change_note(a: Analysis) -> str:
    change = (a.trends or {}).get("change") or {}
    if change.get("before") and change.get("after"):
        return f"{change['before']} vs {change['after']}"
    return ""


def _has_change(a: Analysis) -> bool:
    labels = _array(a, "change_class")
    if labels is None:
        return False
    return bool(np.isin(np.asarray(labels, dtype=object), ["increase", "decrease"]).any())


def _trend_colours() -> dict[str, str]:
    from hotspot_env.temporal.trends import NO_PATTERN, TREND_COLOURS

    return {k: v for k, v in TREND_COLOURS.items() if k != NO_PATTERN}


def _has_trend(a: Analysis) -> bool:
    labels = _array(a, "trend_class")
    if labels is None:
        return False
    return bool(np.isin(np.asarray(labels, dtype=object), list(_trend_colours())).any())


def _draw_trend(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    labels = np.asarray(_array(a, "trend_class"), dtype=object)
    cells = a.grid.to_geodataframe({"trend": labels})
    cats = {name: (name.capitalize(), colour) for name, colour in _trend_colours().items()}
    entries = maps.add_cells(m, cells, "trend", name="Emerging hot spots", categories=cats,
                             tooltip_fields=["cell_id"])
    if entries:
        maps.add_legend(m, "Emerging hot spots", entries, position=pos)


#: Every layer the Explore page can show, in drawing order (bottom to top).
LAYERS: list[LayerSpec] = [
    LayerSpec("density", "Classic KDE (rule of thumb)",
              "Where recorded incidents concentrate, smoothed over the rule-of-thumb radius. "
              "Not validated: on the real cities measured it ranked next year's incidents "
              "worse than plain counts. A surface of places: no individual incident is shown.",
              _has_array("kde"), _draw_density, True),
    LayerSpec("forecast", "Validated forecast (next year)",
              "Expected incidents per place next year, from the model that ranked held-out "
              "periods of your own data best (see Transparency: it is compared there with "
              "plain counts and the classic KDE).", _has_array("forecast"), _draw_forecast,
              True),
    LayerSpec("lighting", "Street lighting",
              "Modelled street light (lux) from mapped lamps: a proxy, not a survey. Dark blue "
              "is dark; below 2 lux counts as dark.", _has_array("lamp_lux"), _draw_lighting),
    LayerSpec("sightlines", "Sightlines",
              "How far a person on the street can see before a building blocks the view "
              "(mean over 16 directions, up to 100 m). Short sightlines mean less natural "
              "surveillance.", _has_array("sightline_m"), _draw_sightlines),
    LayerSpec("rtm", "Risk terrain",
              "Relative risk from the features of each place (lighting, sightlines, vacant "
              "land...), estimated by the risk terrain model.", _has_array("rtm_score"),
              _draw_rtm),
    LayerSpec("trend", "Trend over time",
              "Emerging hot spot classes (new, intensifying, persistent... hot and cold spots) "
              "from Gi* in every time step and a Mann-Kendall trend test.",
              _has_trend, _draw_trend),
    LayerSpec("change", "Change between periods",
              "Places where incidents rose or fell significantly between the two halves of the "
              "record (binomial test, false-discovery rate controlled).", _has_change,
              _draw_change),
    LayerSpec("hotspots", "Gi* hot spots",
              "Cells whose counts, with their neighbours', are significantly high (red) or low "
              "(blue), with the false-discovery rate controlled.", _has_array("gi_bin"),
              _draw_hotspots, True),
    LayerSpec("vacant", "Vacant land",
              "Vacant lots, brownfields and derelict buildings mapped in OpenStreetMap or your "
              "layers.", lambda a: factor_layer(a, "vacancy") is not None
              or _map_layer(a, "vacant") is not None, _draw_vacant),
    LayerSpec("youth", "Youth spaces and service gaps",
              "Youth and community spaces (green) and places more than a 10-minute walk from "
              "any of them (orange), measured along streets.", _youth_available, _draw_youth),
    LayerSpec("dark", "Dark segments",
              "Street segments whose modelled light is below 2 lux.",
              lambda a: factor_layer(a, "lighting") is not None, _draw_dark_segments),
    LayerSpec("lamps", "Street lamps",
              "Street lamps mapped in OpenStreetMap (often incomplete).",
              lambda a: _map_layer(a, "lamps") is not None, _draw_lamps),
]

#: Layer specs by key.
LAYER_BY_KEY: dict[str, LayerSpec] = {spec.key: spec for spec in LAYERS}


def available_layers(analysis: Analysis) -> list[LayerSpec]:
    """The layers this analysis has data for, in drawing order."""
    return [spec for spec in LAYERS if spec.available(analysis)]


def missing_layers(analysis: Analysis) -> list[LayerSpec]:
    """The layers whose data this analysis does not have (their stage did not run)."""
    return [spec for spec in LAYERS if not spec.available(analysis)]


# --------------------------------------------------------------------------- maps


def bounds_wgs84(analysis: Analysis) -> tuple[float, float, float, float]:
    """The study area's ``(west, south, east, north)`` in degrees."""
    area = gpd.GeoSeries([analysis.area], crs=analysis.grid.crs).to_crs(4326)
    return tuple(float(v) for v in area.total_bounds)


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
        layer = _map_layer(analysis, name)
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
    if not _has_array("gi_bin")(analysis):
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
    drawn = 0
    for spec in LAYERS:
        if spec.key in wanted and spec.available(analysis):
            pos = ("bottomright", "bottomleft")[drawn % 2]
            # one period's classes come from its exact counts: internal mode only
            if spec.key == "hotspots" and period is not None and privacy == "internal":
                _draw_period_hotspots(m, analysis, period, privacy, pos)
            else:
                spec.draw(m, analysis, privacy, pos)
            drawn += 1
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
    drawn = 0
    for spec in LAYERS:
        if spec.key in layer_keys and spec.available(analysis):
            spec.draw(m, analysis, privacy, ("bottomleft", "bottomright")[drawn % 2])
            drawn += 1
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
