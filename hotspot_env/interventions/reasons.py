"""Plain-words reasons for each candidate.

A reason joins, in this order: what the evidence found (study, effect,
interval), what is wrong at the place (dark street, vacant lot, short
sightlines, youth-space gap, proposal), how much of the harm the evidence can
touch (share after dark for lighting, expected incidents in reach), the
cell's risk explanation (``arrays["why"]`` of the risk terrain model) and its
timing (``arrays["timing"]``) when those exist. Reasons are plain text: the
app and the work-order writer escape them. They hold only place-level
aggregates, never anything about a person or a single incident.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from hotspot_env import settings
from hotspot_env.interventions.impact import describe_effect
from hotspot_env.interventions.impact_model import ImpactModel
from hotspot_env.outputs.labels import type_label


def cell_texts(values: Any, cells: np.ndarray) -> np.ndarray:
    """Per-cell text of an object array (``why``, ``timing``) at flat cells ("" if none)."""
    out = np.full(len(cells), "", dtype=object)
    if values is None:
        return out
    flat = np.asarray(values, dtype=object).ravel()
    ok = (cells >= 0) & (cells < flat.size)
    for i in np.flatnonzero(ok):
        v = flat[cells[i]]
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        out[i] = str(v).strip()
    return out


#: Candidate columns :func:`reasons` reads.
_REASON_COLUMNS: tuple[str, ...] = ("type", "source", "kind", "length_m", "lux_mean", "area_m2",
                                    "sightline_m", "n_points", "gap_demand")


def reasons(
    cands: pd.DataFrame,
    model: ImpactModel,
    *,
    why: np.ndarray | None = None,
    timing: np.ndarray | None = None,
    time_source: str = "incident times",
    dark_lux: float | None = None,
    youth_walk_m: float | None = None,
) -> np.ndarray:
    """One plain-words reason per candidate (aligned with ``model.ids``).

    Parameters
    ----------
    cands : DataFrame
        Candidates in ``model.ids`` order (``type``, ``source``, ``kind``,
        ``length_m``, ``lux_mean``, ``area_m2``, ``sightline_m``, ``n_points``,
        ``gap_demand``).
    model : ImpactModel
        For the main evidence row, reach baselines and darkness shares.
    why, timing : ndarray, optional
        Per-cell object arrays of text (``grid.shape`` or flat).
    time_source : str
        How darkness shares were obtained (``StrataBaseline.notes``).
    dark_lux : float, optional
        The darkness threshold (default :data:`settings.dark_lux`).
    youth_walk_m : float, optional
        The run's youth-space walking threshold (default
        :data:`settings.youth_walk_threshold_m`), named by youth-space reasons.
    """
    dark_lux = settings.dark_lux if dark_lux is None else dark_lux
    youth_walk_m = settings.youth_walk_threshold_m if youth_walk_m is None else youth_walk_m
    rows = model.rows
    main = model.main_row()
    why_t = cell_texts(why, model.main_cell)
    timing_t = cell_texts(timing, model.main_cell)
    out = np.empty(model.n, dtype=object)
    # only the columns the reasons read: to_dict on the whole table (geometry, long
    # texts) cost more than writing the reasons
    recs = cands[[c for c in _REASON_COLUMNS if c in cands.columns]].to_dict("records")
    effects = {r: describe_effect(rec) for r, rec in zip(rows.index, rows.to_dict("records"),
                                                         strict=True)}
    by_type = {t: (bool((g["hours"] == "dark").any()), float(g["reach_m"].max()))
               for t, g in rows.groupby("intervention_type")}
    caveats = _caveats(rows)
    dark_note = (" (estimated from the hours of darkness: incident times unknown)"
                 if time_source.startswith("hours") else "")
    for i, rec in enumerate(recs):
        parts: list[str] = []
        r = int(main[i])
        known, caveat = caveats.get(rec["type"], (True, ""))
        if not known:
            parts.append("Effect at a place unknown: no study measured it well enough to rank "
                         "it by prevented incidents, so this is offered as a community-led option")
        else:
            parts.append(effects[r] if r >= 0 else
                         "No evidence row covers the incidents recorded around this place")
        if caveat:
            parts.append(f"Caveat: {caveat}")
        parts.append(_place(rec, dark_lux, youth_walk_m))
        is_dark, reach = by_type.get(rec["type"], (False, float("nan")))
        if is_dark and np.isfinite(model.dark_share[i]):
            parts.append(f"{model.dark_share[i] * 100:.0f} % of the expected incidents here "
                         f"happen after dark{dark_note}")
        parts.append(f"{model.baseline_reach[i]:.2f} expected incidents per year within "
                     f"{reach:g} m, {model.baseline_covered[i]:.2f} of them of the kinds and "
                     "hours the evidence covers")
        if why_t[i]:
            parts.append(f"Place risk: {why_t[i]}")
        timing_text = timing_for(timing_t[i], rec["type"])
        if timing_text:
            parts.append(f"Timing: {timing_text}")
        out[i] = ". ".join(p.rstrip(".") for p in parts if p) + "."
    return out


#: Clause of a place's timing advice that only concerns youth spaces.
YOUTH_HOURS_CLAUSE = ": match youth-space opening hours to them"
#: Start of the clause that only concerns lighting work.
LIGHTING_CLAUSE = "order lighting work"


def timing_for(text: str, ctype: str) -> str:
    """The parts of a place's timing advice that concern intervention type ``ctype``.

    The advice names when incidents peak for every kind of work; a street-light
    reason must not end by telling a crew to match youth-space opening hours,
    and a youth-space reason need not schedule lighting work.
    """
    parts = [p for p in str(text or "").split("; ") if p]
    out = []
    for part in parts:
        if part.startswith(LIGHTING_CLAUSE) and ctype not in ("streetlight_upgrade",
                                                              "new_streetlight"):
            continue
        if ctype != "youth_space":
            part = part.replace(YOUTH_HOURS_CLAUSE, "")
        out.append(part)
    return "; ".join(out)


def _caveats(rows: pd.DataFrame) -> dict[str, tuple[bool, str]]:
    """Per type: whether some row is applied (``active``) and its rows' caveats, joined.

    A type with an applied row shows the caveats of its applied rows (e.g.
    the studied dose of new lighting); a type with none shows all of its own.
    """
    out: dict[str, tuple[bool, str]] = {}
    active = rows["active"] if "active" in rows else pd.Series(True, index=rows.index)
    caveat = rows["caveat"] if "caveat" in rows else pd.Series("", index=rows.index)
    for itype, idx in rows.groupby("intervention_type").groups.items():
        on = active.loc[idx].astype(bool)
        known = bool(on.any())
        texts = caveat.loc[idx][on] if known else caveat.loc[idx]
        out[str(itype)] = (known, "; ".join(dict.fromkeys(
            str(t).strip().rstrip(".") for t in texts if str(t).strip())))
    return out


def _place(rec: dict[str, Any], dark_lux: float, youth_walk_m: float) -> str:
    kind = str(rec.get("kind") or "")
    ctype = rec["type"]
    if rec.get("source") == "proposal":
        return "Proposed by a resident or user"
    if ctype in ("streetlight_upgrade", "new_streetlight"):
        lux = _num(rec.get("lux_mean"))
        light = ("no street light modelled" if not lux else
                 f"mean {lux:.1f} lux, below the {dark_lux:g} lux of the lowest pedestrian "
                 "lighting class")
        return f"Dark street: {_num(rec.get('length_m')):.0f} m with {light}"
    if ctype == "abandoned_building_remediation":
        return f"Derelict building ({kind})"
    if ctype in ("vacant_lot_greening", "vacant_lot_cleanup"):
        area = _num(rec.get("area_m2"))
        size = f" of about {area:,.0f} m²" if area >= 1 else " (mapped as a point)"
        return f"Vacant land ({kind}){size}"
    if ctype == "sightline_clearing":
        return (f"{_num(rec.get('n_points')):.0f} street points see only "
                f"{_num(rec.get('sightline_m')):.0f} m on average ({kind}, short for this area), "
                "with walls or vegetation nearby")
    if ctype == "youth_space":
        return (f"Site on {kind or 'open land'}; {_num(rec.get('gap_demand')):.2f} expected "
                "incidents per year in the hours the evidence covers fall in cells more than a "
                f"{youth_walk_m:g} m walk from any youth space")
    return f"{type_label(ctype)} candidate"


def _num(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0
