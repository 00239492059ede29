"""The rows of an evaluation table: estimates, displacement quotient, recording guard, money.

:func:`effect_row` turns one panel (a type's, or all types pooled) and its estimates into a
row of :data:`TABLE_COLUMNS`; :func:`overall_row` pools the types.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from hotspot_env.evaluation.estimation import Estimate, did_poisson, wdq

#: Two-sided p-value below which a change in the officer-initiated share is flagged.
RECORDING_ALPHA: float = 0.05
#: Smallest change (share points, treated minus control) of the officer share that is flagged.
RECORDING_MIN_CHANGE: float = 0.02
#: The ``type`` of the row that pools every type.
OVERALL: str = "all"

TABLE_COLUMNS: tuple[str, ...] = (
    "type", "n_done", "n_controls", "outcome", "rate_ratio", "rr_lo", "rr_hi", "p_value",
    "rr_all_records", "prior_rr", "prior_lo", "prior_hi", "prior_source", "ring_rr", "ring_lo",
    "ring_hi", "wdq", "treated_before", "treated_after", "ring_before", "ring_after",
    "control_before", "control_after", "months_before", "months_after",
    "officer_share_treated_before", "officer_share_treated_after",
    "officer_share_control_before", "officer_share_control_after", "recording_ratio",
    "recording_p", "recording_flag", "prevented_expected", "prevented_measured",
    "prevented_measured_lo", "prevented_measured_hi", "capital_cost", "cost", "note", "reach_m",
    "officer_treated_before", "officer_treated_after", "records_treated_before",
    "records_treated_after", "officer_control_before", "officer_control_after",
    "records_control_before", "records_control_after",
)


def before_after(panel: pd.DataFrame, role: str, col: str, split: int
                  ) -> tuple[int, int, int, int]:
    """Counts and unit-months before and after (controls split at ``split``)."""
    part = panel[panel["role"] == role]
    if role == "control":
        after = part["period"] > split
        before = part["period"] < split
    else:
        after = part["period"] > part["start"]
        before = part["period"] < part["start"]
    return (int(part.loc[before, col].sum()), int(part.loc[after, col].sum()),
            int(before.sum()), int(after.sum()))


def overall_row(panel: pd.DataFrame, ledger: gpd.GeoDataFrame, has_source: bool
                ) -> dict[str, Any]:
    """The row of all types pooled (one period per type and month)."""
    pooled = panel.assign(period=panel["type"] + ":" + panel["period"].astype(str))
    est = did_poisson(pooled, "y", ("treated_post", "ring_post"))
    est_all = did_poisson(pooled, "y_all", ("treated_post",)) if has_source else est
    split = int(np.median(panel.loc[panel["role"] == "treated", "start"]))
    n_controls = int(panel.loc[panel["role"] == "control", "unit"].nunique())
    return effect_row(OVERALL, panel, est, est_all, ledger, n_controls, has_source, split,
                "each type's own outcome", (math.nan,) * 3, "", math.nan, pooled=pooled)


def effect_row(itype: str, panel: pd.DataFrame, est: dict[str, Estimate],
         est_all: dict[str, Estimate], done: gpd.GeoDataFrame, n_controls: int,
         has_source: bool, split: int, outcome_text: str, prior: tuple[float, float, float],
         prior_source: str, reach: float, pooled: pd.DataFrame | None = None
         ) -> dict[str, Any]:
    """One row of the evaluation table: estimates, WDQ, recording guard, money, counts."""
    t = est["treated_post"]
    r = est["ring_post"]
    tb, ta, tbm, tam = before_after(panel, "treated", "y", split)
    rb, ra, rbm, ram = before_after(panel, "ring", "y", split)
    cb, ca, cbm, cam = before_after(panel, "control", "y", split)
    quotient = math.nan
    if min(tbm, tam, rbm, ram, cbm, cam) > 0:
        quotient = wdq((tb / tbm, ta / tam), (rb / rbm, ra / ram), (cb / cbm, ca / cam))
    # officer share and its DiD odds ratio (treated vs controls)
    shares, officer = {}, {}
    for role in ("treated", "control"):
        ob, oa, _, _ = before_after(panel, role, "officer", split)
        nb, na, _, _ = before_after(panel, role, "records", split)
        shares[role] = (ob / nb if nb else math.nan, oa / na if na else math.nan)
        officer.update({f"officer_{role}_before": ob, f"officer_{role}_after": oa,
                        f"records_{role}_before": nb, f"records_{role}_after": na})
    rec = Estimate()
    if has_source:
        guard = (pooled if pooled is not None else panel)
        guard = guard[guard["role"] != "ring"]
        rec = did_poisson(guard, "officer", ("treated_post",), exposure="records")[
            "treated_post"]
    change = (shares["treated"][1] - shares["treated"][0]) - (
        shares["control"][1] - shares["control"][0])
    flag = bool(rec.ok and rec.p < RECORDING_ALPHA and abs(change) >= RECORDING_MIN_CHANGE)
    years_after = tam / 12.0 / max(1, len(done))  # per place: months after / 12
    measured = lo = hi = math.nan
    if t.ok and years_after > 0:
        # incidents that would have happened without the work, minus those that did, per year
        per_year = ta / years_after
        measured, lo, hi = (per_year * (1 / t.rr - 1), per_year * (1 / t.hi - 1),
                            per_year * (1 / t.lo - 1))
    return {
        "type": itype, "n_done": int(len(done)), "n_controls": int(n_controls),
        "outcome": outcome_text, "rate_ratio": t.rr, "rr_lo": t.lo, "rr_hi": t.hi,
        "p_value": t.p, "rr_all_records": est_all["treated_post"].rr,
        "prior_rr": prior[0], "prior_lo": prior[1], "prior_hi": prior[2],
        "prior_source": prior_source, "ring_rr": r.rr, "ring_lo": r.lo, "ring_hi": r.hi,
        "wdq": quotient, "treated_before": tb, "treated_after": ta, "ring_before": rb,
        "ring_after": ra, "control_before": cb, "control_after": ca,
        "months_before": tbm, "months_after": tam,
        "officer_share_treated_before": shares["treated"][0],
        "officer_share_treated_after": shares["treated"][1],
        "officer_share_control_before": shares["control"][0],
        "officer_share_control_after": shares["control"][1],
        "recording_ratio": rec.rr, "recording_p": rec.p, "recording_flag": flag,
        "prevented_expected": float(np.nansum(done["prevented_mean"].to_numpy(dtype=float)))
        if "prevented_mean" in done else math.nan,
        "prevented_measured": measured, "prevented_measured_lo": lo,
        "prevented_measured_hi": hi,
        "capital_cost": float(np.nansum(done["capital_cost"].to_numpy(dtype=float)))
        if "capital_cost" in done else math.nan,
        "cost": float(np.nansum(done["cost"].to_numpy(dtype=float))) if "cost" in done
        else math.nan,
        "note": t.note, "reach_m": reach, **officer,
    }
