"""Residents' proposals placed on the map, validated, and exported as CSV or GeoJSON."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from hotspot_env import settings
from hotspot_env.app.redress import spreadsheet_safe
from hotspot_env.errors import InputError
from hotspot_env.outputs import labels

#: Longest proposal note kept.
MAX_NOTE_CHARS = 500

#: Most proposals one session may add (keeps pages and exports small).
MAX_PROPOSALS = 200


@dataclass(frozen=True)
class Proposal:
    """A resident's proposal placed on the map.

    Attributes
    ----------
    proposal_id : str
        ``P001``, ``P002``... within a session.
    type : str
        Intervention type (e.g. ``streetlight_upgrade``).
    note : str
        Free text (escaped wherever it is shown).
    lat, lon : float
        Where (rounded to 6 decimals, about 0.1 m).
    cell_id : int or None
        The grid cell under the point.
    created_utc : str
        ISO time to the second.
    """

    proposal_id: str
    type: str
    note: str
    lat: float
    lon: float
    cell_id: int | None = None
    created_utc: str = ""


def intervention_types(engine: Any = None) -> list[str]:
    """Intervention types residents can propose.

    The engine's evidence library types when it has them, else the cost table
    ``data/costs.csv`` (one row per type).
    """
    types = getattr(getattr(engine, "library", None), "types", None)
    if types:
        return [str(t) for t in types]
    path = settings.data_folder / "costs.csv"
    try:
        costs = pd.read_csv(path)
        return [str(v) for v in pd.unique(costs["intervention_type"].dropna())]
    except (OSError, KeyError, pd.errors.ParserError):
        return ["streetlight_upgrade", "vacant_lot_greening", "youth_space", "sightline_clearing"]


def type_label(value: str) -> str:
    """``vacant_lot_greening`` -> ``Vacant lot greening`` (:mod:`~hotspot_env.outputs.labels`)."""
    return labels.type_label(value)


def make_proposal(
    existing: Sequence[Proposal], *, type: str, note: str, lat: float, lon: float,
    cell_id: int | None = None, allowed_types: Sequence[str] | None = None,
) -> Proposal:
    """Validate and build a proposal.

    Raises
    ------
    InputError
        Unknown type, coordinates that are not numbers, or too many proposals.
    """
    if len(existing) >= MAX_PROPOSALS:
        raise InputError(f"this session already has {MAX_PROPOSALS} proposals: export them and "
                         "start a new session")
    if allowed_types is not None and type not in allowed_types:
        raise InputError(f"choose one of the listed intervention types, not {str(type)[:40]!r}")
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError) as exc:
        raise InputError("click a place on the map first") from exc
    if not (math.isfinite(lat_f) and math.isfinite(lon_f) and -90 <= lat_f <= 90
            and -180 <= lon_f <= 180):
        raise InputError("click a place on the map first")
    note = " ".join(str(note or "").split())[:MAX_NOTE_CHARS]
    number = max([int(p.proposal_id[1:]) for p in existing if p.proposal_id[1:].isdigit()],
                 default=0) + 1
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return Proposal(f"P{number:03d}", str(type), note, round(lat_f, 6), round(lon_f, 6),
                    None if cell_id is None else int(cell_id), now)


def proposals_frame(proposals: Sequence[Proposal]) -> gpd.GeoDataFrame:
    """Proposals as points in EPSG:4326 (columns of :class:`Proposal`)."""
    columns = [f for f in Proposal.__dataclass_fields__]
    rows = [asdict(p) for p in proposals]
    frame = pd.DataFrame(rows, columns=columns)
    geometry = shapely.points(frame["lon"].to_numpy(dtype=float),
                              frame["lat"].to_numpy(dtype=float)) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=4326)


def proposals_csv(proposals: Sequence[Proposal]) -> bytes:
    """Proposals as UTF-8 CSV (spreadsheet-safe text)."""
    frame = pd.DataFrame(proposals_frame(proposals).drop(columns="geometry"))
    for column in ("type", "note"):
        frame[column] = frame[column].map(spreadsheet_safe)
    return frame.to_csv(index=False).encode("utf-8")


def proposals_geojson(proposals: Sequence[Proposal]) -> str:
    """Proposals as a GeoJSON FeatureCollection (EPSG:4326)."""
    features = [{"type": "Feature", "id": p.proposal_id,
                 "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                 "properties": asdict(p)} for p in proposals]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
