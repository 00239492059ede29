"""Plain words for people: labels of column names and intervention types, and a glossary.

Machines keep the ids (``streetlight_upgrade``, ``gi_z``) in CSV, GeoPackage and
JSON files; what people read (tables, charts, tooltips, printed sheets) uses
these labels. A name without a label falls back to its words with
underscores removed, so nothing shows a raw snake_case id.
"""

from __future__ import annotations

import math
from typing import Any

#: Intervention type id -> what a crew or resident calls it.
TYPE_LABELS: dict[str, str] = {
    "streetlight_upgrade": "Street light upgrade",
    "new_streetlight": "New street light",
    "vacant_lot_greening": "Vacant lot greening",
    "vacant_lot_cleanup": "Vacant lot clean-up",
    "abandoned_building_remediation": "Abandoned building repair",
    "youth_space": "Youth space",
    "sightline_clearing": "Sightline clearing",
    "alley_gating": "Alley gating",
    "busy_streets_maintenance": "Lot maintenance (Busy Streets)",
}

#: Simple priority weights (the app's sliders) -> their labels.
WEIGHT_LABELS: dict[str, str] = {
    "violence": "Preventing violence", "property": "Preventing property crime",
    "youth": "Youth provision", "equity": "Fair spread across neighbourhoods",
    "nuisance": "Preventing nuisance", "night": "Safety after dark",
}

#: Simple priority weights and the engine keys they set: crime categories,
#: or intervention types (``youth_space``).
WEIGHT_GROUPS: dict[str, tuple[str, ...]] = {
    "violence": ("violence", "gun_violence", "robbery"),
    "property": ("burglary", "theft", "vandalism"),
    "youth": ("youth_space",),
}

#: Column or field name -> label with its unit.
FIELD_LABELS: dict[str, str] = {
    "cell_id": "Place (cell) number",
    "incidents": "Recorded incidents",
    "count": "Recorded incidents",
    "gi_z": "Hot-spot score (Gi* z)",
    "gi_bin": "Hot-spot class",
    "density": "Incidents per km² per year",
    "youth_walk_m": "Walk to the nearest youth space (m)",
    "kind": "Kind",
    "name": "Name",
    "rank": "Rank",
    "type": "Intervention",
    "street": "Where",
    "cost": "Cost (USD per year)",
    "prevented": "Prevented incidents per year",
    "prevented_low": "Prevented per year, low (80 % interval)",
    "prevented_high": "Prevented per year, high (80 % interval)",
    "prevented_per_1000": "Prevented per year per USD 1,000",
    "selected": "Within budget",
    "source": "Proposed by",
    "district": "District",
    "reason": "Why here",
    "evidence": "Evidence",
    "site_id": "Site id",
    "note": "Note",
    "trend": "Trend over time",
    "cells": "Places (cells)",
    "lit": "Street lit (OSM)",
    "highway": "Street type",
    "dark_share": "Share of the street that is dark",
    "lux": "Modelled light (lux)",
    "rmse": "Typical error (RMSE, incidents per cell)",
    "mae": "Mean absolute error (incidents per cell)",
    "poisson_deviance": "Poisson deviance (lower is better)",
    "mse": "Mean squared error (incidents² per cell)",
    "pai": "Prediction accuracy index (PAI)",
    "method": "Method",
    "why": "Why it ranks",
    "risk score": "Risk score (relative)",
    "risk_score": "Risk score (relative)",
    "factor": "Feature of the place",
    "operation": "Measured as",
    "distance_m": "Distance (m)",
    "coefficient": "Model coefficient",
    "rrv": "Relative risk (RRV)",
    "ci_low": "RRV, low (95 %)",
    "ci_high": "RRV, high (95 %)",
    "p_value": "p-value",
}

#: Parameter names (API, manifest, automatic choices) -> plain words.
PARAMETER_LABELS: dict[str, str] = {
    "bandwidth_m": "Density radius (bandwidth, m)",
    "cell_size_m": "Cell size (m)",
    "crs": "Map projection (CRS)",
    "input_crs": "Coordinate system of the input",
    "study_area": "Study area",
    "study_area_lattice_m": "Lattice the public study area is snapped to (m)",
    "delimiter": "CSV column separator",
    "time_step": "Time step of the trend analysis",
    "change_periods": "Periods compared for change",
    "districts": "Districts",
    "equity_zones": "Zones for the fairness check",
    "forecast_period": "Forecast period",
    "kde_lookback": "History used by the forecast",
    "kde_lookback_periods": "History used by the forecast (periods)",
    "weight_recent_counts": "Weight of recent counts in the forecast",
    "intervention_baseline": "Expected incidents without intervention",
    "lighting_candidates": "Streets considered for lighting",
    "candidates_near_harm": "Candidate sites near recorded harm",
    "rtm": "Risk factors kept in the model",
    "rtm_family": "Count model of the risk terrain (Poisson or negative binomial)",
    "privacy": "Privacy mode",
    "k_threshold": "Smallest count shown in public mode",
    "timezone": "Time zone",
    "simulated": "Simulated incidents",
    "time_lag": "Neighbouring time steps in the trend test",
    "trend_alpha": "Significance level of trends",
}

#: Method ids used in validation tables -> plain names.
METHOD_LABELS: dict[str, str] = {
    "kde": "Incident density (KDE)",
    "rtm": "Risk terrain model",
    "rtm_x_kde": "Risk terrain × incident density",
    "rtm_kde": "Risk terrain × incident density",
    "gi": "Hot spots (Gi*)",
    "naive": "Last period's counts",
    "forecast": "Forecast",
}

#: Terms a reader may not know -> one or two plain sentences (shown on hover).
GLOSSARY: dict[str, str] = {
    "Gi*": "Getis-Ord Gi*: compares the incidents in a place AND its neighbours with the "
           "whole area. A place with no incident of its own can be in a hot spot when the "
           "places around it have many.",
    "hot spot": "A group of neighbouring places with more incidents than chance would give "
                "(Gi*, false-discovery rate controlled at 1 %, 5 % or 10 %).",
    "RRV": "Relative risk value: how many times more incidents a place with this feature has "
           "than an otherwise equal place without it (1 = no difference).",
    "KDE": "Kernel density estimate: incidents spread smoothly over a radius (the bandwidth), "
           "shown as incidents per km² per year.",
    "bandwidth": "The radius (metres) over which each incident is spread in the density map.",
    "FDR": "False-discovery rate: of the places called significant, at most this share would "
           "be so by chance.",
    "PAI": "Prediction accuracy index: the share of next period's incidents caught, divided "
           "by the share of the area flagged (1 = no better than chance).",
    "RMSE": "Root mean square error: the typical size of a prediction's miss, in incidents.",
    "Poisson deviance": "How far predicted counts are from observed ones, for count data "
                        "(lower is better; 0 is perfect).",
    "risk terrain": "Risk terrain modelling: which features of the environment (dark "
                    "streets, vacant lots...) go with more incidents nearby, and by how much.",
    "emerging hot spot": "How a place's hot-spot status changes over time: new, "
                         "intensifying, persistent, diminishing (cooling) or sporadic.",
}


def _words(value: Any) -> str:
    text = str(value).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def type_label(value: Any) -> str:
    """``streetlight_upgrade`` -> ``Street light upgrade`` (unknown ids: words, capitalised)."""
    return TYPE_LABELS.get(str(value), _words(value))


def field_label(name: Any) -> str:
    """``gi_z`` -> ``Hot-spot score (Gi* z)`` (unknown names: words, capitalised)."""
    return FIELD_LABELS.get(str(name), _words(name))


def parameter_label(name: Any) -> str:
    """``bandwidth_m`` -> ``Density radius (bandwidth, m)``."""
    return PARAMETER_LABELS.get(str(name)) or FIELD_LABELS.get(str(name)) or _words(name)


def choice_sentence(choice: Any) -> str:
    """An automatic choice in plain words: ``Cell size (m): 50, chosen automatically: …``."""
    from hotspot_env.core.choices import format_value

    return (f"{parameter_label(choice.name)}: {format_value(choice.value)}, chosen "
            f"automatically ({choice.rule})")


def method_label(name: Any) -> str:
    """``rtm_x_kde`` -> ``Risk terrain × incident density``."""
    return METHOD_LABELS.get(str(name), _words(name))


def weights_text(weights: dict[str, float]) -> str:
    """Engine weights in the words of the app's sliders: ``Preventing violence ×2``.

    Keys that make up a slider's group with one value are named by the slider;
    other keys by their own label. Weights of 1 (neutral) are left out.
    """
    rest = {str(k): float(v) for k, v in weights.items()}
    parts: list[str] = []
    for name, keys in WEIGHT_GROUPS.items():
        values = {rest[k] for k in keys if k in rest}
        if len(values) == 1:
            value = values.pop()
            for k in keys:
                rest.pop(k, None)
            if value != 1:
                parts.append(f"{WEIGHT_LABELS[name]} ×{value:g}")
    for key, value in sorted(rest.items()):
        if value != 1:
            parts.append(f"{TYPE_LABELS.get(key) or field_label(key)} ×{value:g}")
    return ", ".join(parts)


def glossary(term: str) -> str:
    """The glossary entry of ``term`` (``KeyError`` if missing: a label must exist)."""
    return GLOSSARY[term]


def risk_headline(numbers: dict[str, float]) -> str:
    """The risk terrain summary in one sentence that does not contradict itself.

    The "top 10 %" cells can cover more than 10 % of the area when cells tie at
    the threshold score; say what was measured instead (``numbers`` from
    :func:`hotspot_env.models.rtm.headline`).
    """
    area, held = numbers.get("area_pct"), numbers.get("incident_pct")
    if area is None or held is None or not (math.isfinite(area) and math.isfinite(held)):
        return "The risk terrain model could not rank places (no incidents to compare)."
    top = numbers.get("top_pct", 10)
    return (f"The highest-risk places, {area:.1f} % of the study area, held {held:.1f} % of "
            f"the recorded incidents (aiming at the top {top:g} % of places; places tied "
            "at the same risk are kept together, so the share can be larger).")


def parse_amount(text: str) -> float:
    """Read a money amount a person typed: ``105,000``, ``$ 105 000``, ``105000 USD``.

    Raises
    ------
    ValueError
        With a plain message, for anything that is not a non-negative amount.
    """
    cleaned = str(text).strip().upper().removesuffix("USD").removeprefix("USD").strip()
    cleaned = cleaned.removeprefix("$").replace(",", "").replace(" ", "").replace("\u202f", "")
    try:
        amount = float(cleaned)
    except ValueError:
        raise ValueError(f"the budget must be an amount such as 105,000, not {text!r:.40}")\
            from None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError("the budget must be zero or more")
    return amount


def plain_number(value: float, digits: int = 2) -> str:
    """A number a person reads: thousands separators, no scientific notation.

    Small values keep ``digits`` significant digits (``0.000123``); zero and
    non-finite values read ``0`` and ``–``.
    """
    value = float(value)
    if not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    decimals = digits - 1 - math.floor(math.log10(magnitude))
    return f"{value:.{decimals}f}"
