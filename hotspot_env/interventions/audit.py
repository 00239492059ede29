"""'Audit this place': a shortlist when no candidate intervention can be generated.

Candidates (dark streets, vacant lots, short sightlines, youth-space gaps) come
from layers. With incidents only, or layers that show none of those near the
harm, the ranked table would be empty; crews and residents still need to know
where to look first. Each Gi* hot spot area (connected hot cells,
:func:`hotspot_env.temporal.profiles.hotspot_areas`) becomes an audit place, ranked by
the recorded incidents in it, with the survey to do there and the reason no
measured candidate exists. When there is no hot spot cell, the cells with the
most incidents stand in (announced).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env.app.places import nearest_street
from hotspot_env.core.choices import Choice, announce
from hotspot_env.outputs.privacy import Kind, count_basis, published_counts

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Most audit places listed.
MAX_AUDIT_PLACES: int = 20

#: What a crew does at an audit place.
AUDIT_ACTION: str = ("street-lighting and sightline survey at night and by day; "
                     "walk-audit checklist with residents (lighting, openness, visibility, "
                     "people, security, walk path, transport, feeling)")

#: Reason when the run had no layer at all.
NO_LAYERS_REASON: str = "no layers were given for this place"

#: Reason when layers were given but showed nothing to act on near the harm.
NOTHING_MAPPED_REASON: str = ("the layers given show no dark street, vacant lot, short "
                              "sightline or youth-space gap near the harm here")

#: Columns of the audit table (besides geometry), in order.
AUDIT_COLUMNS: tuple[str, ...] = ("audit_id", "rank", "location", "street", "cells",
                                  "busiest_cell_incidents", "area_km2", "incidents", "action",
                                  "reason")

#: Privacy kinds of :data:`AUDIT_COLUMNS`. Both counts are the published cell
#: counts or sums of them in public mode (:func:`hotspot_env.outputs.privacy.count_basis`).
AUDIT_KINDS: dict[str, Kind] = {
    "audit_id": Kind.IDENTIFIER, "rank": Kind.LABEL, "location": Kind.IDENTIFIER,
    "street": Kind.IDENTIFIER, "cells": Kind.FACTOR,
    "busiest_cell_incidents": Kind.PROTECTED_DERIVED, "area_km2": Kind.FACTOR,
    "incidents": Kind.PROTECTED_DERIVED, "action": Kind.LABEL, "reason": Kind.LABEL}


def has_layers(analysis: Analysis) -> bool:
    """True when the run had any OSM or user layer with a feature."""
    return any(layer is not None and len(layer) for name, layer in analysis.map_layers.items()
               if name not in ("emerging_hot_spots",))


def audit_places(analysis: Analysis,
                 n: int = MAX_AUDIT_PLACES) -> tuple[gpd.GeoDataFrame, Choice]:
    """Hot spot areas as "audit this place" candidates, ranked by harm.

    Parameters
    ----------
    analysis : Analysis
        After the core analysis (counts and Gi* bins).
    n : int
        Most places returned.

    Returns
    -------
    GeoDataFrame
        :data:`AUDIT_COLUMNS`; geometry, ``location`` and ``street`` are the
        area's busiest cell, where the survey starts (grid CRS).
        ``incidents`` (the area) and ``busiest_cell_incidents`` are as
        publishable (:mod:`hotspot_env.outputs.privacy`): exact in internal mode; in
        public mode the cell is the published (protected) count and the area
        total the sum of the protected counts.
    Choice
        The announcement (how many places, from what).
    """
    grid = analysis.grid
    # public mode: the protected counts, so areas, busiest cells and totals are post-processing
    # of the published cells layer (the same values as cells.gpkg, "<k" as its stand-in)
    counts = np.nan_to_num(np.asarray(count_basis(analysis), dtype=float))
    index, source = _place_index(analysis, counts, n)
    n_areas = int(index.max()) + 1 if index.size and index.max() >= 0 else 0
    keep = min(n, n_areas)
    inside = (index >= 0) & (index < keep)
    ids = index[inside]
    rows, cols = np.nonzero(inside)
    harm = np.bincount(ids, weights=counts[inside], minlength=keep)
    n_cells = np.bincount(ids, minlength=keep)
    s = grid.cell_size
    x0 = grid.x0 + cols * s
    y1 = grid.bounds[3] - rows * s
    boxes = shapely.box(x0, y1 - s, x0 + s, y1)
    order = np.argsort(-harm, kind="stable")
    # a large hot area (a whole city centre) is no place for one crew: the survey starts
    # at its busiest cell, which names and draws it (a place, never an incident)
    local = counts[inside]
    busiest = np.array([np.flatnonzero(ids == i)[np.argmax(local[ids == i])]
                        for i in range(keep)], dtype=np.int64)
    geoms = boxes[busiest] if keep else np.array([], dtype=object)
    cells_rc = list(zip(rows[busiest].tolist(), cols[busiest].tolist(), strict=True))
    streets = nearest_street(analysis, cells_rc, max_m=max(60.0, s))
    centres = shapely.centroid(geoms)
    lonlat = gpd.GeoSeries(centres, crs=grid.crs).to_crs(4326)
    location = [f"{lonlat.y.iloc[i]:.3f}, {lonlat.x.iloc[i]:.3f}" for i in range(keep)]
    shown = _published(harm, analysis)
    reason = NO_LAYERS_REASON if not has_layers(analysis) else NOTHING_MAPPED_REASON
    cell_counts = published_counts(analysis).astype(object)  # the same values as cells.gpkg
    frame = pd.DataFrame({
        "audit_id": [f"A{i + 1:02d}" for i in range(keep)],
        "rank": np.arange(1, keep + 1),
        "location": [location[i] for i in order],
        "street": [streets[i] for i in order],
        "cells": n_cells[order].astype(int),
        "busiest_cell_incidents": [cell_counts[rows[busiest[i]], cols[busiest[i]]]
                                   for i in order],
        "area_km2": np.round(n_cells[order] * grid.cell_area_km2, 3),
        "incidents": [shown[i] for i in order],
        "action": AUDIT_ACTION,
        "reason": reason,
    })
    table = gpd.GeoDataFrame(frame, geometry=[geoms[i] for i in order], crs=grid.crs)
    step = ("add layers (--osm, --place, --layers or --walk-audit)" if reason == NO_LAYERS_REASON
            else "map what the survey finds (lamps, vacant lots, walls) in --layers or "
            "--walk-audit")
    choice = announce(Choice(
        "audit_places", int(keep),
        f"no candidate intervention is left to rank ({reason}), so {source} are listed as "
        f"'audit this place', ranked by recorded incidents: survey them, then {step} to rank "
        "measured interventions"))
    return table, choice


def _place_index(analysis: Analysis, counts: np.ndarray, n: int) -> tuple[np.ndarray, str]:
    """Place number per cell (-1 none) and where the places come from: the Gi* hot spot
    areas, else (no significant cluster) the ``n`` busiest cells, one place each."""
    from hotspot_env.temporal.profiles import hotspot_areas

    grid = analysis.grid
    areas = hotspot_areas(grid, analysis.arrays.get("gi_bin", np.zeros(grid.shape)), counts)
    if areas.ids:
        return areas.index, "Gi* hot spot areas (connected hot cells)"
    flat = np.where(grid.mask & (counts > 0), counts, 0).ravel()
    top = np.argsort(-flat, kind="stable")[:n]
    top = top[flat[top] > 0]
    index = np.full(grid.shape, -1, dtype=np.int64)
    index.ravel()[top] = np.arange(top.size)
    return index, "the cells with the most incidents (no Gi* hot spot cell)"


def _published(harm: np.ndarray, analysis: Analysis, privacy: str | None = None) -> list[Any]:
    """Area totals as they may be shown.

    Internal mode: exact integers. Public mode: the totals are sums of the
    protected cell counts (:func:`hotspot_env.outputs.privacy.count_basis`), a
    function of the published ``cells`` layer, so they are shown as they are;
    no new noise (which would spend ε again).
    """
    return [int(v) for v in np.rint(np.asarray(harm, dtype=float)).tolist()]
