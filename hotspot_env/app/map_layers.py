"""The layers the app's maps can show: what each shows in plain words, and how to draw it.

Built on :mod:`hotspot_env.app.maps` (offline Leaflet, escaped text). Each
:class:`LayerSpec` says what one layer shows, whether the analysis has the data
for it, and how to draw it with its legend (:data:`LAYERS`, in drawing order). A
layer whose stage has not run is simply not offered, so the app grows as stages
land. Maps never hold incident points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hotspot_env.app import maps
from hotspot_env.app.layer_data import (
    cell_array,
    cells_zoom,
    factor_layer,
    has_array,
    hotspot_cells,
    map_layer,
    masked,
    robust_max,
    tooltip_columns,
)
from hotspot_env.outputs.privacy import publish_array

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


# --------------------------------------------------------------------------- drawing


def _draw_density(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    legend = maps.add_raster_overlay(m, masked(a, publish_array(a, "kde", privacy)),
                                     a.grid.transform,
                                     a.grid.crs, name="Classic KDE", cmap="magma_r",
                                     opacity=0.6)
    maps.add_legend(m, "Classic KDE (rule-of-thumb radius)", legend,
                    note=a.parameters.get("kde_units", ""), position=pos)


def _draw_forecast(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    values = masked(a, a.arrays["forecast"])
    legend = maps.add_raster_overlay(m, values, a.grid.transform, a.grid.crs,
                                     name="Validated forecast", cmap="magma_r", opacity=0.6,
                                     vmin=0.0, vmax=robust_max(values, 99.5))
    model = (a.parameters.get("forecast") or {}).get("description", "")
    maps.add_legend(m, "Validated forecast", legend, units="incidents next year",
                    note=model, position=pos)


def _draw_hotspots(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    cells = hotspot_cells(a, privacy)
    if pd.api.types.is_float_dtype(cells["gi_z"]):
        cells["gi_z"] = cells["gi_z"].round(2)
    entries = maps.add_cells(m, cells, "gi_bin", name="Gi* hot and cold spots",
                             tooltip_fields=["cell_id", "incidents", "gi_z"],
                             areas_below_zoom=cells_zoom(a))
    if entries:
        maps.add_legend(m, "Gi* hot and cold spots", entries, position=pos)


def draw_period_hotspots(m: Any, a: Analysis, period: Any, privacy: str, pos: str) -> None:
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
    lux = masked(a, cell_array(a, "lamp_lux"))
    top = robust_max(lux) or 1.0
    legend = maps.add_raster_overlay(m, lux, a.grid.transform, a.grid.crs,
                                     name="Modelled street light", cmap="cividis",
                                     opacity=0.7, vmin=0.0, vmax=max(top, 2.0),
                                     transparent_zero=False)
    maps.add_legend(m, "Modelled street light", legend, units="lux", position=pos)


def _draw_dark_segments(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    layer = factor_layer(a, "lighting")
    maps.add_vector_layer(m, layer, name="Dark street segments", color=COLOURS["dark"],
                          weight=4, tooltip_fields=tooltip_columns(
                              layer, ["name", "lux_mean", "lux_min", "length_m", "segment_id"]))
    maps.add_legend(m, "Dark street segments", {"Modelled light below 2 lux": COLOURS["dark"]},
                    position=pos)


def _draw_sightlines(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    values = masked(a, cell_array(a, "sightline_m"))
    legend = maps.add_raster_overlay(m, values, a.grid.transform, a.grid.crs,
                                     name="Sightlines", cmap="viridis", opacity=0.7,
                                     vmin=0.0, transparent_zero=False)
    maps.add_legend(m, "Mean free sightline", legend, units="m", position=pos)


def _draw_vacant(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    layer = factor_layer(a, "vacancy")
    if layer is None:
        layer = map_layer(a, "vacant")
    maps.add_vector_layer(m, layer, name="Vacant or derelict land", color=COLOURS["vacant"],
                          fill_opacity=0.45, tooltip_fields=tooltip_columns(
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
        spaces = map_layer(a, "youth")
    if spaces is not None and len(spaces):
        maps.add_vector_layer(m, spaces, name="Youth and community spaces",
                              color=COLOURS["youth"], fill_opacity=0.45,
                              tooltip_fields=tooltip_columns(spaces, ["kind", "name"]))
        entries["Youth or community space"] = COLOURS["youth"]
    if entries:
        maps.add_legend(m, "Youth spaces", entries, position=pos)


def _youth_available(a: Analysis) -> bool:
    return factor_layer(a, "access") is not None or map_layer(a, "youth") is not None


def _draw_lamps(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    maps.add_vector_layer(m, map_layer(a, "lamps"), name="Street lamps (mapped)",
                          color=COLOURS["lamps"], radius=3)
    maps.add_legend(m, "Street lamps", {"Mapped street lamp": COLOURS["lamps"]}, position=pos)


def _draw_rtm(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    values = masked(a, publish_array(a, "rtm_score", privacy))
    legend = maps.add_raster_overlay(m, values, a.grid.transform, a.grid.crs,
                                     name="Risk terrain", cmap="YlOrRd", opacity=0.7,
                                     vmax=robust_max(values))
    maps.add_legend(m, "Risk terrain score", legend, units="relative risk", position=pos)


def _draw_change(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    labels = np.asarray(cell_array(a, "change_class"), dtype=object)
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
    labels = cell_array(a, "change_class")
    if labels is None:
        return False
    return bool(np.isin(np.asarray(labels, dtype=object), ["increase", "decrease"]).any())


def _trend_colours() -> dict[str, str]:
    from hotspot_env.temporal.trends import NO_PATTERN, TREND_COLOURS

    return {k: v for k, v in TREND_COLOURS.items() if k != NO_PATTERN}


def _has_trend(a: Analysis) -> bool:
    labels = cell_array(a, "trend_class")
    if labels is None:
        return False
    return bool(np.isin(np.asarray(labels, dtype=object), list(_trend_colours())).any())


def _draw_trend(m: Any, a: Analysis, privacy: str, pos: str) -> None:
    labels = np.asarray(cell_array(a, "trend_class"), dtype=object)
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
              has_array("kde"), _draw_density, True),
    LayerSpec("forecast", "Validated forecast (next year)",
              "Expected incidents per place next year, from the model that ranked held-out "
              "periods of your own data best (see Transparency: it is compared there with "
              "plain counts and the classic KDE).", has_array("forecast"), _draw_forecast,
              True),
    LayerSpec("lighting", "Street lighting",
              "Modelled street light (lux) from mapped lamps: a proxy, not a survey. Dark blue "
              "is dark; below 2 lux counts as dark.", has_array("lamp_lux"), _draw_lighting),
    LayerSpec("sightlines", "Sightlines",
              "How far a person on the street can see before a building blocks the view "
              "(mean over 16 directions, up to 100 m). Short sightlines mean less natural "
              "surveillance.", has_array("sightline_m"), _draw_sightlines),
    LayerSpec("rtm", "Risk terrain",
              "Relative risk from the features of each place (lighting, sightlines, vacant "
              "land...), estimated by the risk terrain model.", has_array("rtm_score"),
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
              "(blue), with the false-discovery rate controlled.", has_array("gi_bin"),
              _draw_hotspots, True),
    LayerSpec("vacant", "Vacant land",
              "Vacant lots, brownfields and derelict buildings mapped in OpenStreetMap or your "
              "layers.", lambda a: factor_layer(a, "vacancy") is not None
              or map_layer(a, "vacant") is not None, _draw_vacant),
    LayerSpec("youth", "Youth spaces and service gaps",
              "Youth and community spaces (green) and places more than a 10-minute walk from "
              "any of them (orange), measured along streets.", _youth_available, _draw_youth),
    LayerSpec("dark", "Dark segments",
              "Street segments whose modelled light is below 2 lux.",
              lambda a: factor_layer(a, "lighting") is not None, _draw_dark_segments),
    LayerSpec("lamps", "Street lamps",
              "Street lamps mapped in OpenStreetMap (often incomplete).",
              lambda a: map_layer(a, "lamps") is not None, _draw_lamps),
]

#: Layer specs by key.
LAYER_BY_KEY: dict[str, LayerSpec] = {spec.key: spec for spec in LAYERS}

