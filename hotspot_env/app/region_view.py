"""What the app's pages show for one region of a national run: maps, a place, tables, files.

Everything comes from the region's saved outputs, loaded alone by
:func:`hotspot_env.scale.outputs.open_region` into a
:class:`~hotspot_env.scale.outputs.RegionView`: the published cells (their
per-cell layers as ``grid.shape`` arrays), the ranked interventions and the
region's manifest record. Those tables passed the privacy gate when the run
was written, in the run's mode; :func:`hotspot_env.app.national.check_privacy`
keeps an internal run out of public sessions, so nothing here re-publishes.

A national run saves no basemap layers, no incident times (trends, profiles)
and no interventions state (re-ranking by budget and weights): pages say so
with :data:`hotspot_env.app.national.NOT_SAVED`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from hotspot_env.app import maps
from hotspot_env.app.places import CELL_FIELDS, format_cell_value
from hotspot_env.outputs.labels import type_label

if TYPE_CHECKING:
    from hotspot_env.scale.outputs import RegionView


@dataclass(frozen=True)
class RegionLayer:
    """One map layer a region can show, drawn from one per-cell column.

    Attributes
    ----------
    key : str
        Short id (widget keys, tests).
    title : str
        Name in the layer list and the legend.
    column : str
        Per-cell column of the region's cells.
    note : str
        What it shows, in plain words.
    cmap : str or None
        Colour map of a surface; None for the Gi* classes (drawn as cells).
    units : str
        Legend units.
    default : bool
        Ticked when the page opens.
    """

    key: str
    title: str
    column: str
    note: str
    cmap: str | None = "magma_r"
    units: str = ""
    default: bool = False


#: The layers a region can show, bottom to top.
REGION_LAYERS: tuple[RegionLayer, ...] = (
    RegionLayer("density", "Classic KDE (rule of thumb)", "kde",
                "Where recorded incidents concentrate, smoothed over the region's "
                "rule-of-thumb radius. No individual incident is shown.", default=True),
    RegionLayer("forecast", "Validated forecast (next year)", "forecast",
                "Expected incidents per place next year, from the model chosen for this region.",
                units="incidents next year"),
    RegionLayer("rtm", "Risk terrain", "rtm_score",
                "Relative risk from the features of each place, from this region's risk "
                "terrain model.", cmap="YlOrRd", units="relative risk"),
    RegionLayer("lighting", "Street lighting", "lamp_lux",
                "Modelled street light from mapped lamps (below 2 lux counts as dark).",
                cmap="cividis", units="lux"),
    RegionLayer("sightlines", "Sightlines", "sightline_m",
                "Mean free sightline along the street (up to 100 m).", cmap="viridis",
                units="m"),
    RegionLayer("hotspots", "Gi* hot spots", "gi_bin",
                "Cells whose counts, with their neighbours', are significantly high (red) or "
                "low (blue), with the false-discovery rate controlled within the region.",
                cmap=None, default=True),
)


def available_layers(view: RegionView) -> list[RegionLayer]:
    """The layers whose column the region's cells hold (with a finite value somewhere)."""
    return [layer for layer in REGION_LAYERS
            if layer.column in view.arrays and np.isfinite(view.arrays[layer.column]).any()]


def bounds_wgs84(view: RegionView) -> tuple[float, float, float, float]:
    """The region's cells' ``(west, south, east, north)`` in degrees."""
    return tuple(float(v) for v in view.cells.to_crs(4326).total_bounds)


def hotspot_cells(view: RegionView) -> gpd.GeoDataFrame:
    """The region's significant Gi* cells, with their published count and z-score."""
    keep = [c for c in ("cell_id", "incidents", "gi_z", "gi_bin") if c in view.cells.columns]
    cells = view.cells.loc[view.cells["gi_bin"] != 0, keep + ["geometry"]].copy()
    if "gi_z" in cells and pd.api.types.is_float_dtype(cells["gi_z"]):
        cells["gi_z"] = cells["gi_z"].round(2)
    return cells


def _draw(m: Any, view: RegionView, layer: RegionLayer, position: str) -> None:
    if layer.cmap is None:
        cells = hotspot_cells(view)
        tips = [c for c in ("cell_id", "incidents", "gi_z") if c in cells.columns]
        entries = maps.add_cells(m, cells, layer.column, name=layer.title, tooltip_fields=tips,
                                 areas_below_zoom=_cells_zoom(view))
        if entries:
            maps.add_legend(m, "Gi* hot and cold spots", entries, position=position)
        return
    values = view.arrays[layer.column]
    finite = values[np.isfinite(values)]
    top = float(np.percentile(finite, 99.5)) if finite.size else None
    legend = maps.add_raster_overlay(m, values, view.grid.transform, view.grid.crs,
                                     name=layer.title, cmap=layer.cmap, opacity=0.65,
                                     vmax=top if layer.key != "density" else None,
                                     transparent_zero=layer.key in ("density", "forecast"))
    maps.add_legend(m, layer.title, legend, units=layer.units, position=position)


def _cells_zoom(view: RegionView) -> float:
    _west, south, _east, north = bounds_wgs84(view)
    return maps.zoom_for_width(view.grid.cell_size, (south + north) / 2, 12.0)


def region_map(view: RegionView, layer_keys: Sequence[str], *, sites: gpd.GeoDataFrame | None
               = None, online_tiles: bool = False, height: int = 560,
               large_print: bool = False) -> Any:
    """An offline map of the region with the chosen layers (and intervention sites).

    Parameters
    ----------
    view : RegionView
    layer_keys : sequence of str
        Keys of :data:`REGION_LAYERS`; those the region lacks are skipped.
    sites : GeoDataFrame, optional
        Intervention sites drawn on top (tooltips: rank, type, location).
    online_tiles : bool
        OpenStreetMap tiles under the layers (needs internet).
    height : int
        Map height in pixels.
    large_print : bool
        Legends and tooltips readable on a projected wall.
    """
    m = maps.make_map(bounds_wgs84(view), online_tiles=online_tiles, height=height,
                      zoom_snap=0.25, zoom_delta=0.5)
    if large_print:
        maps.large_print(m)
    wanted = set(layer_keys)
    drawn = 0
    for layer in available_layers(view):
        if layer.key in wanted:
            _draw(m, view, layer, ("bottomright", "bottomleft")[drawn % 2])
            drawn += 1
    if sites is not None and len(sites):
        sites = sites.assign(type=sites["type"].map(type_label))
        tips = [c for c in ("rank", "type", "location") if c in sites.columns]
        maps.add_vector_layer(m, sites, name="Intervention sites", color="#0057b8", weight=4,
                              radius=7, fill_opacity=0.5, simplify_m=None, tooltip_fields=tips)
        maps.add_legend(m, "Sites", {"Intervention site": "#0057b8"}, position="topright")
    maps.finish(m, collapsed=True)
    return m


def place_table(view: RegionView, row: int, col: int) -> tuple[dict[str, str], pd.DataFrame]:
    """A clicked cell of the region: its headline values and a table of its saved layers.

    Returns
    -------
    headline : dict
        ``cell_id``, ``incidents`` (as published), ``hot_spot`` (the Gi* class)
        and ``why`` (the risk terrain reason, when saved).
    table : DataFrame
        ``Measure``, ``Value``, ``What it means`` for each saved layer of
        :data:`hotspot_env.app.places.CELL_FIELDS`.
    """
    cell_id = view.cell_id(row, col)
    match = view.cells.loc[view.cells["cell_id"] == cell_id]
    if match.empty:
        raise KeyError(f"cell {cell_id} is not a cell of region {view.region}")
    cell = match.iloc[0]
    gi_bin = int(cell["gi_bin"]) if "gi_bin" in cell.index else 0
    label = maps.GI_BINS.get(gi_bin, ("Not significant", ""))[0]
    headline = {"cell_id": str(cell_id),
                "incidents": str(cell["incidents"]) if "incidents" in cell.index else "–",
                "hot_spot": label,
                "why": str(cell["why"]) if "why" in cell.index and pd.notna(cell["why"]) else ""}
    rows = [{"Measure": lab, "Value": format_cell_value(cell[key], unit), "What it means": mean}
            for key, (lab, unit, mean) in CELL_FIELDS.items() if key in cell.index]
    return headline, pd.DataFrame(rows, columns=["Measure", "Value", "What it means"])


#: Columns of the interventions table as the page shows them.
TABLE_COLUMNS: tuple[str, ...] = ("rank", "type", "location", "district", "cost",
                                  "prevented_mean", "prevented_lo", "prevented_hi",
                                  "prevented_per_cost", "selected", "evidence", "reason")


def interventions_table(view: RegionView) -> pd.DataFrame | None:
    """The region's ranked interventions (no geometry), best first; None when not saved."""
    frame = view.interventions
    if frame is None:
        return None
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    table = table[[c for c in TABLE_COLUMNS if c in table.columns]]
    if "type" in table:
        table["type"] = table["type"].map(type_label)
    return table.sort_values("rank", kind="stable").reset_index(drop=True) \
        if "rank" in table else table


def sites(view: RegionView, n: int | None = None) -> gpd.GeoDataFrame | None:
    """The region's intervention sites for a map: the selected ones, else the ``n`` best."""
    frame = view.interventions
    if frame is None or not len(frame):
        return None
    frame = frame.sort_values("rank", kind="stable") if "rank" in frame else frame
    chosen = frame[frame["selected"].astype(bool)] if "selected" in frame else frame.iloc[:0]
    return chosen if len(chosen) or n is None else frame.head(n)


def ranking_message(view: RegionView) -> str:
    """What the run said about its ranking (budget, how many selected)."""
    params = (view.record.get("parameters") or {}).get("interventions") or {}
    return str((params.get("ranking") or {}).get("message") or "")


def top_places(view: RegionView, n: int = 10) -> pd.DataFrame:
    """The region's ``n`` cells with the highest risk terrain score (else density)."""
    cells = view.cells
    key = "rtm_score" if "rtm_score" in cells and cells["rtm_score"].nunique() > 1 else "kde"
    order = cells[key].astype(float).fillna(-np.inf).sort_values(ascending=False, kind="stable")
    top = cells.loc[order.index[:n]]
    out = pd.DataFrame({"cell_id": top["cell_id"].to_numpy(),
                        "incidents": top["incidents"].astype(str).to_numpy()
                        if "incidents" in top else "–",
                        ("risk score" if key == "rtm_score" else "density"):
                        np.round(top[key].astype(float).to_numpy(), 2)})
    if "why" in top:
        out["why"] = top["why"].fillna("").astype(str).to_numpy()
    return out


#: Work-order files of a region, by suffix: (label, MIME type).
WORK_ORDER_FILES: dict[str, tuple[str, str]] = {
    ".csv": ("Ranked list (CSV)", "text/csv"),
    ".geojson": ("Sites (GeoJSON)", "application/geo+json"),
    ".gpkg": ("Sites (GeoPackage)", "application/geopackage+sqlite3"),
    ".html": ("Printable work orders (HTML)", "text/html"),
}


def work_order_files(folder: str | Path, view: RegionView) -> list[tuple[str, Path, str]]:
    """The region's saved work-order files: ``(label, path, mime)``, in the manifest's order.

    Only files the region's manifest record lists under ``workorders/<region>/``
    are offered, and only if they are still inside the run folder.
    """
    root = Path(folder).resolve()
    prefix = f"workorders/{view.region}/"
    out = []
    for name in view.record.get("files", []):
        path = (root / name).resolve()
        kind = WORK_ORDER_FILES.get(path.suffix)
        if (str(name).startswith(prefix) and kind is not None and path.is_file()
                and path.is_relative_to(root)):
            label = kind[0] if path.stem != "equity" else "Equity by district (CSV)"
            out.append((label, path, kind[1]))
    return out
