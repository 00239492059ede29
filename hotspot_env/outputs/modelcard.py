"""The model card: what the tool is for, what it used, what it chose, and where it fails.

:func:`model_card` gathers, from one :class:`~hotspot_env.core.analysis.Analysis`,
everything the app's Transparency page shows: intents, data sources with
dates, every parameter and automatic choice, validation figures when a stage
produced them, known limits, warnings about reporting bias and feedback loops,
and the privacy settings. It holds no incident coordinates.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any

import pandas as pd

from hotspot_env import settings
from hotspot_env.outputs.privacy import privacy_metadata, public_choice, public_totals

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: What the tool is for, and what it is not for.
INTENTS: tuple[str, ...] = (
    "Prevention through environmental design: change places (light, sightlines, vacant land, "
    "spaces for young people) so that harm becomes less likely.",
    "Places, never people: incidents are only ever counted per grid cell or street segment; "
    "no output names or locates a person or a single incident.",
    "Not for patrol targeting, enforcement quotas or judging individuals or groups.",
    "A support for planners, public-works crews and residents deciding together, not an "
    "automatic decision.",
)

#: Known limits, in plain words.
LIMITS: tuple[str, ...] = (
    "Recorded incidents are not all incidents: many are never reported, and reporting differs "
    "between neighbourhoods and groups.",
    "Risk factors come from OpenStreetMap or your layers: missing lamps, unmapped vacant lots "
    "or youth spaces change the results.",
    "Street light is a modelled proxy (lamp positions and default lamp power), not a survey.",
    "Sightlines ignore trees, parked vehicles and building heights.",
    "Intervention effects come from studies elsewhere (data/evidence.csv) and may not transfer; "
    "intervals show that uncertainty, and costs (data/costs.csv) should be set locally.",
    "Associations between places and incidents are not proof that a feature causes harm.",
)

#: Warnings about bias and feedback loops.
WARNINGS: tuple[str, ...] = (
    "Reporting bias: recorded incidents reflect where people call and where enforcement "
    "looked, not only where harm happened.",
    "Feedback loops: acting where records are high produces more records there (Lum & Isaac "
    "2016; Ensign et al. 2018). Officer-initiated records are left out by default where a "
    "source column exists.",
    "Displacement and diffusion: prevention at one place can move or spread effects nearby; "
    "the evidence table says what studies found.",
    "Stigma: a map of risky places can harm the people who live there. Share public-mode "
    "outputs, and involve residents (Co-design page).",
)


def data_sources(analysis: Analysis) -> pd.DataFrame:
    """Inputs with what they are, their dates and hashes.

    Columns: ``source``, ``what``, ``dates``, ``sha256``. Incident dates are
    the first and last recorded day (an aggregate), never a single incident.
    """
    rows = []
    simulated = bool(analysis.parameters.get("simulated"))
    period = _period(analysis)
    for item in analysis.inputs:
        name = str(item.get("path", ""))
        lower = name.lower()
        if lower.endswith((".pbf", ".osm")):
            what = "OpenStreetMap extract (© OpenStreetMap contributors, ODbL)"
            dates = "as extracted (see file)"
        elif lower.startswith("place: "):
            what = "OpenStreetMap via osmnx for a place (© OpenStreetMap contributors, ODbL)"
            dates = "as fetched (osmnx cache)"
        elif lower.endswith(".gpkg") and item is not analysis.inputs[0]:
            what = "risk-factor layers"
            dates = "as supplied"
        else:
            what = "simulated incidents (demo)" if simulated else "recorded incidents"
            dates = period
        rows.append({"source": name, "what": what, "dates": dates,
                     "sha256": str(item.get("sha256") or "")[:16]})
    for file, what in (("evidence.csv", "intervention effects from published studies"),
                       ("costs.csv", "intervention unit costs")):
        path = settings.data_folder / file
        if path.is_file():
            when = dt.date.fromtimestamp(os.path.getmtime(path)).isoformat()
            rows.append({"source": f"data/{file}", "what": what,
                         "dates": f"table edited {when}; studies' years inside",
                         "sha256": ""})
    return pd.DataFrame(rows, columns=["source", "what", "dates", "sha256"])


def _period(analysis: Analysis) -> str:
    points = getattr(analysis, "points", None)
    if points is None or "datetime" not in points or not points["datetime"].notna().any():
        return "no dates"
    when = points["datetime"].dropna()
    return f"{when.min().date().isoformat()} to {when.max().date().isoformat()}"


def parameter_table(analysis: Analysis) -> pd.DataFrame:
    """Every parameter used, flattened to ``parameter, value`` rows (text)."""
    rows = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        else:
            rows.append({"parameter": prefix, "value": _text(value)})

    walk("", analysis.parameters)
    return pd.DataFrame(rows, columns=["parameter", "value"])


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return str(value)


def choices_table(analysis: Analysis) -> pd.DataFrame:
    """Automatic choices: ``parameter, value, rule``."""
    shown = (public_choice(analysis, c) for c in analysis.choices)  # public: tallies rounded
    return pd.DataFrame([{"parameter": c.name, "value": _text(c.value), "rule": c.rule}
                         for c in shown], columns=["parameter", "value", "rule"])


def privacy_settings(analysis: Analysis) -> dict[str, Any]:
    """The privacy mode and what it does."""
    mode = analysis.parameters.get("privacy", "internal")
    k = analysis.parameters.get("k_threshold", settings.k_threshold)
    return {
        "mode": mode,
        "small_counts": (f"counts of 1 to {int(k) - 1} shown as <{k}" if mode == "public"
                         else "shown as counted (internal use only)"),
        "kde_bandwidth_minimum_m": settings.public_min_bandwidth_m if mode == "public" else None,
        "differential_privacy_epsilon": analysis.parameters.get("dp_epsilon"),
        "incident_points_in_outputs": "never",
        "protection": privacy_metadata(analysis),
    }


def validation(analysis: Analysis, compute: bool = True) -> dict[str, pd.DataFrame]:
    """Validation tables by name: ``pai``, ``pei``, ``hit_rate``, ``calibration``, ``errors``,
    and ``verdict`` (one row: ``verdict``, ``winner``, ``outcome``, ``caution``,
    ``best_baseline``, ``difference``, ``ci_low``, ``ci_high``). Methods carry their plain names
    (:data:`hotspot_env.models.validation.LABELS`).

    From ``analysis.validation`` when a stage stored the tidy table of
    :func:`hotspot_env.models.validation.validate` there, else computed here when
    ``compute`` is true and the incidents have dates (fit on the earlier
    period, scored on the last one; well under a second on the demo).
    Returns ``{}`` when no validation is possible, with the reason in
    ``{"message": DataFrame}``.
    """
    table = analysis.validation
    if not isinstance(table, pd.DataFrame):
        table = None
        if compute and getattr(analysis, "has_dates", False):
            from hotspot_env.errors import HotspotEnvError
            from hotspot_env.models.validation import validate

            try:
                table = validate(analysis)
            except HotspotEnvError as exc:
                return {"message": pd.DataFrame({"message": [str(exc)]})}
    if table is None or table.empty or "metric" not in table.columns:
        return {}
    from hotspot_env.models.validation import LABELS, caution, chart_frame, verdict_sentence

    out: dict[str, pd.DataFrame] = {}
    for metric in ("pai", "pei", "hit_rate"):
        sub = chart_frame(table, metric)
        if not sub.empty:
            out[metric] = sub.reset_index(drop=True)
    comp = table.attrs.get("meta", {}).get("comparison")
    if comp:
        out["verdict"] = pd.DataFrame([{
            "verdict": verdict_sentence(comp), "winner": comp.get("winner"),
            "outcome": comp.get("outcome"), "caution": caution(comp),
            "best_baseline": LABELS.get(comp.get("best_baseline"), comp.get("best_baseline")),
            "difference": comp.get("difference"), "ci_low": comp.get("ci_low"),
            "ci_high": comp.get("ci_high"), "treatable_share": comp.get("treatable_share"),
            "default": default_ranking(analysis)}])
    pred = table[table["metric"] == "calibration_predicted"]
    obs = table[table["metric"] == "calibration_observed"]
    if not pred.empty and not obs.empty:
        cal = pred.merge(obs, on=["method", "decile"], suffixes=("_p", "_o"))
        out["calibration"] = pd.DataFrame({"method": cal["method"].map(lambda m: LABELS.get(m, m)),
                                           "decile": cal["decile"],
                                           "predicted": cal["value_p"],
                                           "observed": cal["value_o"]})
    errors = table[table["metric"].isin(["poisson_deviance", "mse"])]
    if not errors.empty:
        out["errors"] = errors.pivot_table(index="method", columns="metric", values="value"
                                           ).reset_index()
        out["errors"]["method"] = out["errors"]["method"].map(lambda m: LABELS.get(m, m))
    return out


def default_ranking(analysis: Analysis) -> str:
    """What the maps and shortlists rank by, in plain words ("" without a forecast)."""
    fc = analysis.parameters.get("forecast") or {}
    if not fc:
        return ""
    if fc.get("naive_baseline_won"):
        return (f"The default ranking on the maps and shortlists IS a naive baseline: "
                f"{fc['naive_baseline_won']}.")
    return ("The default ranking on the maps and shortlists is the validated forecast: "
            f"{fc.get('description', fc.get('model', ''))}.")


def model_card(analysis: Analysis) -> dict[str, Any]:
    """Every section of the model card as data (lists, dicts and DataFrames)."""
    return {
        "intents": list(INTENTS),
        "data_sources": data_sources(analysis),
        "parameters": parameter_table(analysis),
        "choices": choices_table(analysis),
        "counts": public_totals(analysis),
        "validation": validation(analysis),
        "limits": list(LIMITS),
        "warnings": list(WARNINGS),
        "privacy": privacy_settings(analysis),
        "simulated": bool(analysis.parameters.get("simulated")),
    }
