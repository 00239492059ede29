"""Why a view is empty, and the step that fills it; incidents the inputs do not cover.

The app shows these sentences where a table or map would otherwise be empty,
so the reason is on the page, not only among the automatic choices. The CLI
announces the same facts as choices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: The steps that give the candidates and the risk model something to measure.
FILL_STEPS: str = ("upload an OpenStreetMap extract of the area (.pbf) on the Data page or "
                   "pass --osm, give a place name with --place, add a layer (a GeoPackage "
                   "of streets, lamps, buildings or vacant lots) with --layers, or import a "
                   "walk audit with --walk-audit")


def interventions_empty_reason(analysis: Analysis | None) -> str | None:
    """Why no intervention was ranked and what fills the list; None when some were."""
    result = analysis.interventions if analysis is not None else None
    if result is None:
        return ("The interventions stage has not run for this analysis: run the full "
                "analysis (hotspot-env analyze) to rank interventions.")
    if len(result.candidates):
        return None
    from hotspot_env.interventions.audit import has_layers

    if not has_layers(analysis):
        why = ("No intervention could be ranked because no layers were given: lamps, dark "
               "streets, vacant lots and sightlines are measured from map layers.")
    else:
        why = ("No intervention could be ranked: the layers given show no dark street, vacant "
               "lot, short sightline or youth-space gap near the harm.")
    return f"{why} To fill this list, {FILL_STEPS}. Meanwhile the places below are worth a survey."


def audit_table(analysis: Analysis | None, privacy: str | None = None) -> pd.DataFrame | None:
    """The "audit this place" shortlist without geometry (None when not made).

    ``privacy="public"`` on an internal run publishes its counts as public mode
    would (``"<k"`` below the threshold), e.g. for the residents' page.
    """
    audit = analysis.audit_places if analysis is not None else None
    if audit is None or not len(audit):
        return None
    table = pd.DataFrame(audit.drop(columns=audit.geometry.name))
    if privacy == "public" and analysis.parameters.get("privacy") != "public":
        from hotspot_env.outputs.privacy import publishable_counts

        k = analysis.parameters.get("k_threshold")
        for name in ("incidents", "busiest_cell_incidents"):
            values = table[name].to_numpy(dtype=np.int64)
            table[name] = [str(v) for v in publishable_counts(values, "public", k)]
    return table


def coverage_notice(analysis: Analysis | None) -> str | None:
    """How many incidents fall outside the inputs' coverage, and the fix; None when all inside."""
    if analysis is None:
        return None
    counts = analysis.counts
    outside = int(counts.get("incidents_outside_area", 0))
    if not outside:
        return None
    total = outside + int(counts.get("incidents_used", 0))
    area = next((str(c.value) for c in analysis.choices if c.name == "study_area"), "")
    fix = ("use an OSM extract (or --bbox, --place) that covers all the incidents, e.g. the "
           "region's Geofabrik .pbf, or clip the incidents to the area on purpose")
    return (f"{outside:,} of {total:,} incidents ({outside / total:.0%}) fall outside the "
            f"study area{f' ({area})' if area else ''} and are not analysed. To include them, "
            f"{fix}.")


def rtm_empty_reason(analysis: Analysis | None) -> str | None:
    """Why the risk terrain model has no factor table, and what fills it; None when it has."""
    if analysis is None:
        return None
    rtm = analysis.rtm
    table = getattr(rtm, "table", None)
    if isinstance(table, pd.DataFrame) and not table.empty:
        return None
    return ("No risk terrain model: no factor layer varies across the study area, so no "
            f"place feature can explain where incidents concentrate. To fit it, {FILL_STEPS}.")


def trends_empty_reason(analysis: Analysis | None) -> str | None:
    """Why there are no trends over time, and what fills them; None when there are."""
    if analysis is None or analysis.trends:
        return None
    return ("No trends over time: the incidents have no dates. Add a date column (datetime, "
            "date, or month as YYYY-MM, as police.uk files have) and run the analysis again.")


def audit_caption(table: pd.DataFrame) -> str:
    """One line above the audit table: how many places, and where to start."""
    first = table.iloc[0]
    where = first["street"] if isinstance(first["street"], str) and first["street"] else (
        f"near {first['location']}")
    return (f"{len(table)} places ranked by recorded incidents; start with {first['audit_id']} "
            f"({where}, {first['incidents']} incidents in its area).")


def ranking_caution(analysis: Analysis | None) -> str:
    """What Explore says first when its default ranking did not clearly beat counting.

    "" when the analysis has no validated forecast, no held-out comparison, or one whose
    whole bootstrap interval favours the forecast
    (:func:`hotspot_env.models.validation.caution`).
    """
    from hotspot_env.models.validation import caution

    if analysis is None or analysis.arrays.get("forecast") is None:
        return ""
    return caution(analysis.parameters.get("validation"))
