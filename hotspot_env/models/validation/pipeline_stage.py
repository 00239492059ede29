"""The validation in the pipeline: score the forecast, fall back to a baseline that beat it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import shapely

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.stages import declares
from hotspot_env.models.forecast import TREATABLE_SHARE, Candidate, fit_forecast
from hotspot_env.models.validation.constants import LABELS, STAGE_METHODS
from hotspot_env.models.validation.holdout import validate
from hotspot_env.models.validation.tables import json_safe
from hotspot_env.models.validation.verdict import WORSE
from hotspot_env.outputs.privacy import Kind, declare, public_tally

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis


@declares(reads=("forecast",), adds=("validation", "forecast", "arrays.forecast"))
def stage(analysis: Analysis, **options: Any) -> None:
    """Pipeline stage: score the forecast against the naive baselines on the last period.

    Runs :func:`validate` with :data:`STAGE_METHODS` (the risk terrain methods
    only in ``hotspot-env validate``) and stores the tidy table in
    ``analysis.validation`` and its comparison in ``parameters["validation"]``.
    When a count baseline beat the forecast on the held-out period and the
    whole bootstrap interval lies below zero, the default ranking
    (``arrays["forecast"]``) becomes that baseline, announced. Undated
    incidents, or a record too short to split, give a notice only.
    """
    from hotspot_env.errors import HotspotEnvError

    if not analysis.has_dates:
        analysis.choices.append(announce(Choice(
            "validation", "not made", "the incidents have no dates: nothing to hold out")))
        return
    options.setdefault("methods", STAGE_METHODS)
    public = analysis.parameters.get("privacy") == "public"
    if public:  # the held-out forecast is chosen as the published one is
        from hotspot_env import settings

        options.setdefault("min_radius_m", max(settings.public_min_bandwidth_m,
                                               2 * analysis.grid.cell_size))
        from hotspot_env.models.validation.public import basis_choice, protected_view

        scored, split, test_end = protected_view(analysis)  # the protected counts only
        if options.get("split_date") is not None:  # a chosen split: its window, not the period
            test_end = None
        options.setdefault("split_date", split)
        analysis.choices.append(basis_choice())
    else:
        scored, test_end = analysis, None
    try:
        table = validate(scored, **options)
    except HotspotEnvError as exc:
        analysis.choices.append(announce(Choice("validation", "not made", str(exc))))
        return
    meta = table.attrs["meta"]
    if public and test_end is not None:
        meta["test_end"] = test_end
    comp = meta["comparison"]
    analysis.validation = table
    analysis.parameters["validation"] = json_safe({
        "split_date": meta["split_date"], "test_end": meta["test_end"],
        # public mode: tallies of the stand-ins, rounded as every public tally is
        "n_train": public_tally(analysis, meta["n_train"]),
        "n_test": public_tally(analysis, meta["n_test"]), **comp})
    analysis.choices.append(announce(Choice(
        "validation", comp.get("outcome") or "none",
        f"held out {meta['split_date']} to {meta['test_end']} ({meta['n_test']:,} incidents): "
        + comp["verdict"])))
    if not public:  # a count baseline would publish the counts
        _fall_back_if_beaten(analysis, comp, options.get("treatable_share", TREATABLE_SHARE))


def _fall_back_if_beaten(analysis: Analysis, comp: dict[str, Any], share: float) -> None:
    """Make a count baseline the default ranking when it clearly beat the forecast."""
    best = comp.get("best_baseline")
    beaten = comp.get("outcome") == WORSE  # the whole interval below zero
    pick = {"long_run_counts": Candidate("all"),
            "last_period_counts": Candidate("last", 1)}.get(best)
    if not beaten or pick is None or analysis.forecast is None:
        return
    pts = analysis.points
    geoms = pts.geometry.values
    result = fit_forecast(analysis.grid, shapely.get_x(geoms), shapely.get_y(geoms),
                          pts["datetime"], treatable_share=share, pool=[pick])
    declare(analysis, "forecast", result.forecast, Kind.COUNT_DERIVED)  # internal runs only
    analysis.forecast = result
    analysis.parameters["forecast"] = result.to_dict()
    analysis.choices.append(announce(Choice(
        "forecast", pick.name,
        f"{LABELS[best]} beat the validated forecast on the held-out period (the whole 95 % "
        "bootstrap interval below zero): the default ranking IS that naive baseline")))
