"""Community walk audits (Safetipin-style ratings) as risk-factor layers.

A walk audit rates places along a route: lighting, openness, visibility,
people, security, walk path, transport and overall feeling (Safetipin's
parameters, each scored 0-3, 0 = poor; Viswanath & Basu 2015). Points or
segments with any of these rating columns are read by :func:`read_walk_audit`.

Each rating becomes a factor for the risk terrain model and the "why" texts:
the places rated *poor* on it (the lower third of the scale: 0 or 1 of 0-3)
are a custom factor ``poor_<rating>`` (distance from each cell to the nearest
one, :mod:`hotspot_env.factors.custom`). The lighting rating is also
*measured light*: its ratings become illuminance points (:data:`LIGHTING_LUX`)
that replace modelled light on the nearest street segment
(:func:`hotspot_env.factors.lighting.compute`, ``measured``).

References
----------
Viswanath, K. & Basu, A. (2015). SafetiPin: an innovative mobile app to
collect data on women's safety in Indian cities. Gender & Development 23(1).
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError

#: Rating names and the column names accepted for each (lower case).
RATINGS: dict[str, tuple[str, ...]] = {
    "lighting": ("lighting", "light"),
    "openness": ("openness",),
    "visibility": ("visibility",),
    "people": ("people", "crowd"),
    "security": ("security",),
    "walk_path": ("walk_path", "walkpath", "walk path"),
    "transport": ("transport", "public_transport", "public transport"),
    "feeling": ("feeling", "overall"),
}

#: Safetipin's scale: every rating 0 (poor) to 3 (good).
SCALE: tuple[float, float] = (0.0, 3.0)

#: Ratings at or below this share of the scale count as poor (0 and 1 of 0-3).
POOR_SHARE: float = 1.0 / 3.0

#: Lighting rating -> illuminance (lux) used as measured light: 0 none, 1 dim
#: (below the 2 lux dark threshold), 2 enough, 3 bright. An assumption,
#: announced: a rating is a walker's judgement, not a light meter.
LIGHTING_LUX: dict[int, float] = {0: 0.0, 1: 1.0, 2: 5.0, 3: 15.0}

#: Spacing (m) of the measured-light points placed along a rated segment.
SEGMENT_STEP_M: float = 10.0


def read_walk_audit(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Read walk-audit points or segments with their ratings.

    Parameters
    ----------
    path : path-like
        CSV with ``lon``/``lat`` (or ``longitude``/``latitude``) and rating
        columns, or a vector file (GeoJSON, GeoPackage) of points or lines.

    Returns
    -------
    GeoDataFrame
        EPSG:4326, one column per rating found (float, NaN where not rated),
        named as in :data:`RATINGS`. Other columns (auditor names, comments,
        photos) are never kept.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"walk-audit file {path} does not exist: check the path")
    if path.suffix.lower() == ".csv":
        table = pd.read_csv(path, dtype=str)
        lower = {c.strip().lower(): c for c in table.columns}
        xcol = next((lower[n] for n in ("lon", "longitude", "lng") if n in lower), None)
        ycol = next((lower[n] for n in ("lat", "latitude") if n in lower), None)
        if xcol is None or ycol is None:
            raise InputError(f"{path.name}: a walk-audit CSV needs lon and lat columns")
        xs = pd.to_numeric(table[xcol], errors="coerce")
        ys = pd.to_numeric(table[ycol], errors="coerce")
        frame = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(xs, ys), crs=4326)
        frame = frame[xs.notna().to_numpy() & ys.notna().to_numpy()]
    else:
        try:
            frame = gpd.read_file(path, engine="pyogrio")
        except Exception as exc:
            raise InputError(f"cannot read walk-audit file {path.name}: {exc}") from exc
        if frame.crs is None:
            raise InputError(f"{path.name} has no CRS: save it with one (e.g. EPSG:4326)")
        frame = frame.to_crs(4326)
        kinds = set(frame.geom_type.dropna())
        if kinds - {"Point", "LineString", "MultiLineString"}:
            raise InputError(f"{path.name}: walk-audit features must be points or lines, "
                             f"found {', '.join(sorted(kinds))}")
    lower = {str(c).strip().lower(): c for c in frame.columns}
    out = gpd.GeoDataFrame(geometry=frame.geometry.values, crs=4326)
    for rating, names in RATINGS.items():
        col = next((lower[n] for n in names if n in lower), None)
        if col is None:
            continue
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        lo, hi = SCALE
        if np.any((values < lo) | (values > hi)):
            raise InputError(f"{path.name}: {col!r} has ratings outside {lo:g}-{hi:g} "
                             "(Safetipin's scale): rescale them to 0 (poor) - 3 (good)")
        out[rating] = values
    if len(out.columns) == 1:
        raise InputError(f"{path.name}: no rating column found; name them "
                         f"{', '.join(RATINGS)} (scores 0-3)")
    return out.reset_index(drop=True)


def factor_params(audit: gpd.GeoDataFrame) -> tuple[dict[str, dict], list[Choice]]:
    """Factor-stage parameters from a walk audit: custom ``poor_<rating>`` factors and light.

    Returns
    -------
    params : dict
        ``{"custom:poor_<rating>": {"source": features}, "lighting": {"measured": points}}``
        for :func:`hotspot_env.factors.compute_all`.
    choices : list of Choice
    """
    params: dict[str, dict] = {}
    choices: list[Choice] = []
    cut = SCALE[0] + POOR_SHARE * (SCALE[1] - SCALE[0])
    made = []
    for rating in RATINGS:
        if rating not in audit.columns:
            continue
        poor = audit[audit[rating].le(cut).to_numpy()]
        if len(poor):
            params[f"custom:poor_{rating}"] = {"source": poor[[poor.geometry.name]]}
            made.append(f"poor_{rating} ({len(poor)})")
    if made:
        choices.append(announce(Choice(
            "walk_audit_factors", made,
            f"walk-audit places rated {cut:g} or less on a 0-3 scale are risk factors, one "
            "per rating (distance to the nearest)")))
    if "lighting" in audit.columns:
        light = measured_light(audit)
        if len(light):
            params["lighting"] = {"measured": light}
            choices.append(announce(Choice(
                "walk_audit_light", len(light),
                "lighting ratings read as measured light (0 -> 0, 1 -> 1, 2 -> 5, 3 -> 15 lux; "
                "a walker's judgement, not a light meter) replace modelled light on the "
                "nearest street")))
    return params, choices


def measured_light(audit: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Points with a ``lux`` column from the lighting ratings (segments sampled every 10 m)."""
    rated = audit[audit["lighting"].notna().to_numpy()]
    if not len(rated):
        return gpd.GeoDataFrame({"lux": []}, geometry=[], crs=4326)
    local = rated.to_crs(rated.estimate_utm_crs())
    geoms, lux = [], []
    for geom, value in zip(local.geometry.values, local["lighting"].to_numpy(), strict=True):
        level = LIGHTING_LUX[int(np.clip(np.rint(value), 0, 3))]
        if geom.geom_type == "Point":
            pts = [geom]
        else:
            n = max(1, int(np.ceil(geom.length / SEGMENT_STEP_M)))  # spacing at most 10 m
            pts = list(shapely.line_interpolate_point(geom, np.linspace(0, geom.length, n + 1)))
        geoms += pts
        lux += [level] * len(pts)
    return gpd.GeoDataFrame({"lux": lux}, geometry=geoms, crs=local.crs).to_crs(4326)
