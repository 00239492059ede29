"""Candidate interventions, generated from the analysis and from proposals.

Rules (all distances in metres; constants below, documented in
``docs/interventions.md``):

``streetlight_upgrade`` / ``new_streetlight``
    One candidate per dark street segment of the lighting factor (mean light
    below 2 lux or tagged ``lit=no``), long segments cut into pieces of at most
    :data:`MAX_SEGMENT_M`. A segment with some modelled light
    (mean above :data:`LAMP_PRESENT_LUX`) has lamps that are too dim or too
    sparse -> upgrade; a segment with none -> new lamps. Quantity: one lamp per
    :data:`LAMP_SPACING_M` of length (at least one).
``vacant_lot_greening`` / ``vacant_lot_cleanup``
    Each vacant lot (polygon or point of the vacancy factor that is not a
    building) gives both, as alternatives on the same site. Quantity: lot
    units of :data:`LOT_UNIT_M2` (at least one).
``abandoned_building_remediation``
    Vacant features tagged ``building=ruins|abandoned|derelict`` or ``ruins=*``;
    one building each.
``sightline_clearing``
    Street observers whose mean free sightline is short (below the study
    area's :data:`SHORT_SIGHTLINE_QUANTILE` quantile and below
    :data:`SHORT_SIGHTLINE_MAX_M`), grouped along their street segment when
    consecutive observers are within :data:`SIGHTLINE_CLUSTER_GAP_M`; groups
    of at least :data:`MIN_CLUSTER_POINTS` observers with walls or vegetation
    (the obstacles that can be cleared) within :data:`CLEARABLE_RADIUS_M`.
    Drawn as the stretch of street through its observers (a line), never as
    sample points: see :func:`_street_stretches`.
``youth_space``
    Sites chosen by a maximal covering model over youth-service gaps
    (:mod:`hotspot_env.interventions.youth_sites`).
proposals
    Resident or user proposals (``type``, ``note``, geometry, optional
    ``quantity``) are scored exactly like generated candidates.

Every candidate gets a stable ``intervention_id`` (:func:`candidate_id`), a
human ``location`` (:func:`locate`), and a ``site`` key: candidates that would
occupy the same land (:data:`LAND_TYPES`) or light the same street
(:data:`LIGHTING_TYPES`) with the same geometry are alternatives, and at most
one of them is selected.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from pyproj import CRS

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.interventions.candidate_table import (
    BUILDING_KINDS,
    LIGHTING_TYPES,
    candidate_frame,
    concat_candidates,
    empty_candidates,
    geometry_key,
    id_from_key,
    number_column,
    site_from_key,
    text_column,
)
from hotspot_env.interventions.evidence import SURVEILLANCE_WORDS, EvidenceLibrary
from hotspot_env.interventions.youth_sites import youth_candidates, youth_sites

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Lamp spacing (m): one lamp per 30 m of dark street. Residential lighting
#: columns are usually 25-40 m apart (about 3.5-5 x an 8 m mounting height).
LAMP_SPACING_M: float = 30.0
#: Longest street piece (m) ranked as one lighting candidate.
MAX_SEGMENT_M: float = 200.0
#: Segments whose mean modelled light exceeds this (lux) already have lamps.
LAMP_PRESENT_LUX: float = 0.5
#: Area (m^2) of one "lot" unit, the unit of the vacant-lot costs: one Philadelphia row-house
#: parcel (about 16 x 100 ft), the lot the Branas et al. cost per lot refers to (docs/evidence.md).
LOT_UNIT_M2: float = 150.0
#: Sightlines: short = below this quantile of all observers...
SHORT_SIGHTLINE_QUANTILE: float = 0.2
#: ... and below this length (m).
SHORT_SIGHTLINE_MAX_M: float = 40.0
#: Consecutive short observers closer than this (m) along a segment form one group.
SIGHTLINE_CLUSTER_GAP_M: float = 35.0
#: Fewest short observers in a sightline-clearing group.
MIN_CLUSTER_POINTS: int = 2
#: Walls or vegetation within this distance (m) make a group clearable.
CLEARABLE_RADIUS_M: float = 25.0
#: Farthest named street or address (m) used to describe a location.
LOCATE_MAX_M: float = 150.0


# ================================================================= lighting
def lighting_candidates(dark: gpd.GeoDataFrame | None, crs: Any) -> gpd.GeoDataFrame:
    """Lighting candidates from the lighting factor's dark segments.

    Parameters
    ----------
    dark : GeoDataFrame or None
        Dark street segments (lines) with ``name``, ``lux_mean``, ``lux_min``.
    crs : CRS
        Grid CRS (the layer's).
    """
    if dark is None or not len(dark):
        return empty_candidates(crs)
    dark = dark[dark.geometry.notna() & ~dark.geometry.is_empty].reset_index(drop=True)
    parts = shapely.get_parts(dark.geometry.to_numpy(), return_index=True)
    lines, owner = parts
    lines_ok = np.isin(shapely.get_type_id(lines), (1, 2))
    lines, owner = lines[lines_ok], owner[lines_ok]
    pieces, src, labels = [], [], []
    lengths = shapely.length(lines)
    for line, i, length in zip(lines, owner, lengths, strict=True):
        k = max(1, math.ceil(length / MAX_SEGMENT_M - 1e-9))
        if k == 1:
            pieces.append(line)
            labels.append("")
        else:
            for p in range(k):
                pieces.append(shapely.ops.substring(line, p * length / k, (p + 1) * length / k))
                labels.append(f" (part {p + 1} of {k})")
        src.extend([i] * k)
    src = np.asarray(src, dtype=np.int64)
    geoms = np.asarray(pieces, dtype=object)
    length = shapely.length(geoms)
    lux_mean = number_column(dark, "lux_mean", np.nan)[src]
    lux_min = number_column(dark, "lux_min", np.nan)[src]
    ctype = np.where(np.nan_to_num(lux_mean) > LAMP_PRESENT_LUX, "streetlight_upgrade",
                     "new_streetlight")
    names = text_column(dark, "name")[src]
    location = np.array([f"{n}{lab}" if n else "" for n, lab in zip(names, labels, strict=True)],
                        dtype=object)
    return candidate_frame({"type": ctype, "location": location,
                   "quantity": np.maximum(1, np.ceil(length / LAMP_SPACING_M - 1e-9)),
                   "source": np.full(len(geoms), "dark street segment", dtype=object),
                   "kind": np.full(len(geoms), "street", dtype=object), "length_m": length,
                   "lux_mean": lux_mean, "lux_min": lux_min}, geoms, crs)


# =================================================================== vacancy
def vacant_candidates(vacant: gpd.GeoDataFrame | None, crs: Any) -> gpd.GeoDataFrame:
    """Greening/cleanup candidates for vacant lots, remediation for derelict buildings."""
    if vacant is None or not len(vacant):
        return empty_candidates(crs)
    vacant = vacant[vacant.geometry.notna() & ~vacant.geometry.is_empty].reset_index(drop=True)
    geoms = vacant.geometry.to_numpy()
    gtype = shapely.get_type_id(geoms)
    areal = np.isin(gtype, (0, 3, 4, 6))  # points and polygons; lines are not lots
    vacant, geoms = vacant[areal].reset_index(drop=True), geoms[areal]
    kind = text_column(vacant, "kind")
    kind = np.where(kind == "", "vacant", kind)
    building = np.array([k.startswith(BUILDING_KINDS) for k in kind], dtype=bool)
    area = shapely.area(geoms)
    lots = np.maximum(1, np.round(area / LOT_UNIT_M2))
    frames = []
    for ctype, sel in (("vacant_lot_greening", ~building), ("vacant_lot_cleanup", ~building),
                       ("abandoned_building_remediation", building)):
        if not sel.any():
            continue
        qty = np.ones(int(sel.sum())) if ctype.startswith("abandoned") else lots[sel]
        frames.append(candidate_frame({
            "type": np.full(int(sel.sum()), ctype, dtype=object),
            "quantity": qty, "source": np.full(int(sel.sum()), "vacant land", dtype=object),
            "kind": kind[sel], "area_m2": area[sel]}, geoms[sel], crs))
    return concat_candidates(frames, crs)


# ================================================================ sightlines
def _street_stretches(points: np.ndarray, group: np.ndarray, along: np.ndarray) -> np.ndarray:
    """One line per group through its observers in street order: the stretch to clear.

    A group is drawn as the piece of street it covers, not as its observer points: the
    points are a fixed sampling of the public street network, but streets are also where
    incidents are geocoded, so a published sample point can land within a metre of one
    by chance. A stretch of a public street publishes nothing a basemap does not.
    """
    order = np.lexsort((along, group))
    coords = shapely.get_coordinates(points[order])
    return np.asarray(shapely.linestrings(coords, indices=group[order]), dtype=object)


def sightline_candidates(
    observers: gpd.GeoDataFrame | None,
    obstacles: gpd.GeoDataFrame | None,
    crs: Any,
) -> tuple[gpd.GeoDataFrame, list[Choice]]:
    """Sightline-clearing candidates from groups of short-sightline observers.

    Parameters
    ----------
    observers : GeoDataFrame or None
        Points with ``sightline_m`` and optional ``segment_id``.
    obstacles : GeoDataFrame or None
        Obstacles with a ``source`` column ("buildings", "walls", "vegetation").
    crs : CRS
        Grid CRS.
    """
    choices: list[Choice] = []
    if observers is None or not len(observers) or "sightline_m" not in observers:
        return empty_candidates(crs), choices
    obs = observers[np.isfinite(observers["sightline_m"].to_numpy(dtype=float))]
    if not len(obs):
        return empty_candidates(crs), choices
    sight = obs["sightline_m"].to_numpy(dtype=float)
    threshold = min(float(np.quantile(sight, SHORT_SIGHTLINE_QUANTILE)), SHORT_SIGHTLINE_MAX_M)
    short = sight < threshold
    if not short.any():
        return empty_candidates(crs), choices
    pts = obs.geometry.to_numpy()[short]
    seg = (obs["segment_id"].to_numpy(dtype=np.int64)[short] if "segment_id" in obs
           else np.full(int(short.sum()), -1, dtype=np.int64))
    row = np.flatnonzero(short)  # observers come in order along their street
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    order = np.lexsort((y, x, seg))
    pts, seg, x, y, s_val = pts[order], seg[order], x[order], y[order], sight[short][order]
    row = np.where(seg >= 0, row[order], np.arange(order.size))
    gap = np.hypot(np.diff(x), np.diff(y))
    new = np.r_[True, (seg[1:] != seg[:-1]) | (gap > SIGHTLINE_CLUSTER_GAP_M)]
    cluster = np.cumsum(new) - 1
    sizes = np.bincount(cluster)
    keep = sizes[cluster] >= MIN_CLUSTER_POINTS
    if not keep.any():
        return empty_candidates(crs), choices
    cl = cluster[keep]
    uniq, cl = np.unique(cl, return_inverse=True)
    geoms = _street_stretches(pts[keep], cl, row[keep])
    mean_sight = np.bincount(cl, weights=s_val[keep]) / np.bincount(cl)
    n_pts = np.bincount(cl).astype(float)
    if obstacles is not None and len(obstacles) and "source" in obstacles:
        clearable = obstacles[obstacles["source"].isin(["walls", "vegetation"]).to_numpy()]
        if len(clearable):
            tree = shapely.STRtree(clearable.geometry.to_numpy())
            hits = tree.query(geoms, predicate="dwithin", distance=CLEARABLE_RADIUS_M)
            ok = np.zeros(len(geoms), dtype=bool)
            ok[hits[0]] = True
        else:
            ok = np.zeros(len(geoms), dtype=bool)
        dropped = int((~ok).sum())
        if dropped:
            choices.append(announce(Choice(
                "sightline_groups_not_clearable", dropped,
                "groups of short sightlines blocked only by buildings were left out: only "
                "walls and vegetation can be cleared")))
        geoms, mean_sight, n_pts = geoms[ok], mean_sight[ok], n_pts[ok]
    else:
        choices.append(announce(Choice(
            "sightline_obstacles", "unknown",
            "obstacle types are not known, so every group of short sightlines is a candidate: "
            "check on site that walls or vegetation (not buildings) block the view")))
    n = len(geoms)
    return candidate_frame({"type": np.full(n, "sightline_clearing", dtype=object),
                   "quantity": np.ones(n), "source": np.full(n, "short sightlines", dtype=object),
                   "kind": np.full(n, f"below {threshold:.0f} m", dtype=object),
                   "sightline_m": mean_sight, "n_points": n_pts}, geoms, crs), choices




# ================================================================ proposals
def read_proposals(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Read a proposals file: GeoJSON/GPKG/Shapefile, or CSV with ``lon``/``lat`` or ``wkt``.

    CSV coordinates are WGS 84 longitude/latitude.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"proposals file {path} does not exist: check the path")
    if path.stat().st_size == 0:
        raise InputError(f"proposals file {path.name} is empty: save the proposals again "
                         "(CSV with lon, lat, type)")
    if path.suffix.lower() == ".csv":
        try:
            frame = pd.read_csv(path, encoding="utf-8", dtype=str, keep_default_na=False)
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"{path} cannot be read as UTF-8 CSV: save it as UTF-8 with a "
                             "header row") from exc
        cols = {c.lower(): c for c in frame.columns}
        if "wkt" in cols:
            try:
                geom = shapely.from_wkt(frame[cols["wkt"]].to_numpy())
            except shapely.errors.GEOSException as exc:
                raise InputError(f"{path}: a wkt value cannot be read ({exc})") from exc
        elif "lon" in cols and "lat" in cols:
            lon = pd.to_numeric(frame[cols["lon"]], errors="coerce").to_numpy()
            lat = pd.to_numeric(frame[cols["lat"]], errors="coerce").to_numpy()
            if not (np.isfinite(lon) & np.isfinite(lat)).all():
                bad = int(np.flatnonzero(~(np.isfinite(lon) & np.isfinite(lat)))[0]) + 2
                raise InputError(f"{path} line {bad}: lon/lat are not numbers: check them or "
                                 "remove the line")
            geom = shapely.points(lon, lat)
        else:
            raise InputError(f"{path}: a CSV of proposals needs lon and lat columns (WGS 84) or a "
                             "wkt column")
        return gpd.GeoDataFrame(frame, geometry=geom, crs=4326)
    try:
        return gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types
        raise InputError(f"cannot read proposals file {path} ({exc.__class__.__name__}): use "
                         "GeoJSON, GeoPackage or CSV with lon/lat") from exc


def proposal_candidates(
    proposals: gpd.GeoDataFrame | str | os.PathLike[str] | None,
    library: EvidenceLibrary,
    crs: Any,
) -> gpd.GeoDataFrame:
    """Candidates from resident/user proposals (``type``, ``note``, geometry, ``quantity``).

    Raises
    ------
    InputError
        Unknown or surveillance type, missing geometry or CRS, bad quantity;
        the message names the row (1 = first proposal).
    """
    if proposals is None:
        return empty_candidates(crs)
    if not isinstance(proposals, gpd.GeoDataFrame):
        proposals = read_proposals(proposals)
    if not len(proposals):
        return empty_candidates(crs)
    cols = {c.lower(): c for c in proposals.columns}
    if "type" not in cols:
        raise InputError("proposals need a 'type' column naming the intervention type, e.g. "
                         f"{', '.join(library.types[:3])}")
    if proposals.crs is None:
        raise InputError("proposals have no CRS: save them with one (e.g. EPSG:4326)")
    _check_proposal_coordinates(proposals)
    frame = proposals.to_crs(crs) if CRS.from_user_input(proposals.crs) != CRS.from_user_input(
        crs) else proposals
    _check_proposal_coordinates(frame)  # a projection can still end at infinity
    types = frame[cols["type"]].astype(str).str.strip().str.lower().to_numpy()
    notes = (frame[cols["note"]].fillna("").astype(str).to_numpy() if "note" in cols
             else np.full(len(frame), "", dtype=object))
    geoms = frame.geometry.to_numpy()
    known = set(library.types)
    for i, (t, g) in enumerate(zip(types, geoms, strict=True), start=1):
        if any(w in t for w in SURVEILLANCE_WORDS):
            raise InputError(f"proposal {i}: {t!r} is a surveillance or policing measure, out "
                             "of scope (places, never people): propose an environmental change")
        if t not in known:
            raise InputError(f"proposal {i}: unknown type {t!r}: use one of "
                             f"{', '.join(sorted(known))}")
        if g is None or shapely.is_empty(g):
            raise InputError(f"proposal {i}: no geometry: draw a point, line or area")
    if "quantity" in cols:
        qty = pd.to_numeric(frame[cols["quantity"]], errors="coerce").to_numpy(dtype=float)
    else:
        qty = np.full(len(frame), np.nan)
    auto = default_quantity(types, geoms)
    bad = np.isfinite(qty) & ~(qty > 0)
    if bad.any():
        raise InputError(f"proposal {int(np.flatnonzero(bad)[0]) + 1}: quantity must be above 0")
    qty = np.where(np.isfinite(qty), qty, auto)
    return candidate_frame({"type": types.astype(object), "quantity": qty,
                   "source": np.full(len(frame), "proposal", dtype=object),
                   "note": notes.astype(object), "kind": np.full(len(frame), "proposal",
                                                                 dtype=object),
                   "length_m": shapely.length(geoms), "area_m2": shapely.area(geoms)},
                  geoms, crs)


def _check_proposal_coordinates(frame: gpd.GeoDataFrame) -> None:
    """Refuse proposals whose coordinates are not finite or, in degrees, out of range.

    A point at latitude 95 projects to ``POINT (inf inf)``; it must stop here
    rather than be written to the outputs.
    """
    geoms = frame.geometry.to_numpy()
    counts = shapely.get_num_coordinates(geoms)
    coords = shapely.get_coordinates(geoms)
    row = np.repeat(np.arange(len(geoms)), counts)
    bad = ~np.isfinite(coords).all(axis=1)
    crs = CRS.from_user_input(frame.crs)
    if crs.is_geographic:
        bad |= (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
    if bad.any():
        raise InputError(f"proposal {int(row[np.flatnonzero(bad)[0]]) + 1}: coordinates outside "
                         "longitude -180..180 / latitude -90..90 (or not finite): check them, "
                         "longitude first")


def default_quantity(types: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    length = shapely.length(geoms)
    area = shapely.area(geoms)
    lamps = np.maximum(1, np.ceil(np.where(area > 0, shapely.length(shapely.boundary(geoms)),
                                           length) / LAMP_SPACING_M - 1e-9))
    lots = np.maximum(1, np.round(area / LOT_UNIT_M2))
    is_lamp = np.isin(types, list(LIGHTING_TYPES))
    is_lot = np.isin(types, ["vacant_lot_greening", "vacant_lot_cleanup",
                             "busy_streets_maintenance"])
    return np.where(is_lamp, lamps, np.where(is_lot, lots, 1.0))


# ================================================================== location
def locate(
    geoms: np.ndarray,
    grid: Grid,
    streets: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
) -> np.ndarray:
    """Human location of each geometry.

    The nearest named street within :data:`LOCATE_MAX_M`, else the nearest
    building address within it, else ``"near cell <id>"``.
    """
    geoms = np.asarray(geoms)
    out = np.full(geoms.size, "", dtype=object)
    if geoms.size == 0:
        return out
    rep = shapely.point_on_surface(geoms)
    for layer, col in ((streets, "name"), (buildings, "address")):
        todo = np.flatnonzero(out == "")
        if layer is None or not len(layer) or col not in layer or todo.size == 0:
            continue
        text = text_column(layer, col)
        named = text != ""
        if not named.any():
            continue
        tree = shapely.STRtree(layer.geometry.to_numpy()[named])
        (src, tgt), dist = tree.query_nearest(rep[todo], max_distance=LOCATE_MAX_M,
                                              return_distance=True, all_matches=True)
        if src.size:
            labels = text[named][tgt]
            order = np.lexsort((labels, dist, src))  # nearest; equal distances by name
            first = np.r_[True, src[order][1:] != src[order][:-1]]
            out[todo[src[order][first]]] = labels[order][first]
    todo = np.flatnonzero(out == "")
    if todo.size:
        row, col = grid.cell_index(shapely.get_x(rep[todo]), shapely.get_y(rep[todo]))
        ids = np.where(row >= 0, row * grid.n_cols + col, -1)
        out[todo] = [f"near cell {i}" if i >= 0 else "outside the study area" for i in ids]
    return out


# ================================================================== assembly
def generate(
    analysis: Analysis,
    library: EvidenceLibrary,
    youth_demand: np.ndarray,
    proposals: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
) -> tuple[gpd.GeoDataFrame, list[Choice]]:
    """All candidates of an analysis plus proposals, with ids, sites and locations.

    Parameters
    ----------
    analysis : Analysis
        Uses ``analysis.factors`` (lighting, vacancy, sightlines, access),
        ``arrays["youth_walk_m"]`` with the run's threshold
        (:attr:`Analysis.youth_walk_m`) and ``map_layers`` (``streets``,
        ``buildings``, ``vacant``, ``landuse``).
    library : EvidenceLibrary
        Types without evidence are not generated.
    youth_demand : ndarray
        ``grid.shape``: expected incidents the youth evidence covers, per cell.
    proposals : GeoDataFrame or path, optional
        Resident/user proposals.

    Returns
    -------
    candidates : GeoDataFrame
        Sorted by ``intervention_id`` (unique), in ``grid.crs``.
    choices : list of Choice
    """
    grid = analysis.grid
    crs = grid.crs
    factors = analysis.factors or {}
    choices: list[Choice] = []

    lighting = factors.get("lighting")
    frames = [lighting_candidates(getattr(lighting, "layer", None), crs)]
    if lighting is None:
        choices.append(announce(Choice("lighting_candidates", "none",
                                       "the lighting factor did not run: no dark segments")))
    vac = factors.get("vacancy")
    vacant = getattr(vac, "layer", None)
    if vacant is None:
        vacant = analysis.layer("vacant")
    frames.append(vacant_candidates(vacant, crs))
    sight = factors.get("sightlines")
    sight_frame, sight_choices = sightline_candidates(getattr(sight, "layer", None),
                                                      getattr(sight, "features", None), crs)
    frames.append(sight_frame)
    choices += sight_choices
    walk = analysis.arrays.get("youth_walk_m")
    sites = youth_sites(vacant, analysis.layer("landuse"), crs)
    youth_frame, youth_choices = youth_candidates(grid, walk, youth_demand, sites,
                                                 threshold_m=analysis.youth_walk_m)
    frames.append(youth_frame)
    choices += youth_choices
    frames.append(proposal_candidates(proposals, library, crs))
    cands = concat_candidates(frames, crs)
    cands = cands[cands["type"].isin(library.types).to_numpy()].reset_index(drop=True)
    cands, dup_choice = finalise(cands, grid, analysis.layer("streets"),
                                 analysis.layer("buildings"))
    choices += dup_choice
    return cands, choices


def finalise(
    cands: gpd.GeoDataFrame,
    grid: Grid,
    streets: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, list[Choice]]:
    """Give ids, site keys and locations; merge duplicates; sort by id."""
    choices: list[Choice] = []
    if not len(cands):
        return cands, choices
    geoms = cands.geometry.to_numpy()
    types = cands["type"].to_numpy(dtype=str)
    cands = cands.copy()
    # one vectorised pass for the keys (shapely per geometry was most of the cost)
    keys = geometry_key(geoms)
    cands["intervention_id"] = [id_from_key(t, k) for t, k in zip(types, keys, strict=True)]
    cands["site"] = [site_from_key(t, k) for t, k in zip(types, keys, strict=True)]
    missing = cands["location"].fillna("").astype(str).to_numpy() == ""
    if missing.any():
        loc = cands["location"].fillna("").astype(object).to_numpy().copy()
        loc[missing] = locate(geoms[missing], grid, streets, buildings)
        cands["location"] = loc
    # the same type on the same geometry twice (e.g. a proposal of a generated candidate):
    # keep one row, the generated one first, and join the notes
    is_prop = (cands["source"] == "proposal").to_numpy()
    cands = cands.iloc[np.lexsort((is_prop, cands["intervention_id"].to_numpy()))]
    dup = cands["intervention_id"].duplicated(keep="first").to_numpy()
    if dup.any():
        notes = cands.groupby("intervention_id", sort=True)["note"].agg(
            lambda s: " | ".join(dict.fromkeys(v for v in s.astype(str) if v)))
        cands = cands[~dup].copy()
        cands["note"] = notes.reindex(cands["intervention_id"]).to_numpy()
        choices.append(announce(Choice(
            "duplicate_candidates", int(dup.sum()),
            "candidates with the same type and geometry were merged (notes kept)")))
    return cands.reset_index(drop=True), choices


def attach_costs(cands: gpd.GeoDataFrame, library: EvidenceLibrary) -> gpd.GeoDataFrame:
    """Add ``unit``, ``unit_cost``, ``capital_cost`` and annualised ``cost`` (USD/year)."""
    cands = cands.copy()
    costs = library.costs.reindex(cands["type"])
    qty = cands["quantity"].to_numpy(dtype=float)
    cands["unit"] = costs["unit"].to_numpy(dtype=object)
    cands["capital_cost"] = qty * costs["unit_cost"].to_numpy(dtype=float)
    cands["cost"] = qty * costs["annual_unit_cost"].to_numpy(dtype=float)
    return cands


