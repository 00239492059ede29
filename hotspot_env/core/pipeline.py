"""The full run: analysis, then every later stage, then the files.

:func:`run` is the one call behind ``hotspot-env analyze``, ``hotspot-env
demo`` and the app. Stages after the core analysis (risk factors, the risk
terrain model, the forecast, trends, interventions) are listed in order by
:func:`default_stages`, each a function ``f(analysis, **options) -> None`` that
adds to typed fields of ``analysis`` and never reaches back; what each reads and
adds is declared with :func:`hotspot_env.core.stages.declares` and the order is
checked before anything runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from hotspot_env.core.analysis import Analysis, analyze
from hotspot_env.core.stages import check_order
from hotspot_env.core.timing import timed


def default_stages() -> list[tuple[str, Callable[..., None]]]:
    """The later stages in the order they run: ``(name, function)``.

    Risk factors first (everything else reads them), then the forecast, its
    validation against the naive baselines (which may make a baseline the
    default ranking), the risk terrain model (the intervention baseline and ``why`` texts), then the
    time analyses (work timing), and last the interventions, which read all of
    the above.
    """
    from hotspot_env import factors, interventions
    from hotspot_env.models import forecast, rtm, validation
    from hotspot_env.temporal import trends

    return [("factors", factors.stage), ("forecast", forecast.stage),
            ("validation", validation.stage), ("rtm", rtm.stage),
            ("trends", trends.stage), ("interventions", interventions.stage)]


def run(
    incidents: Any,
    *,
    out: str | os.PathLike[str] | None = None,
    simulated: bool = False,
    stage_options: dict[str, dict[str, Any]] | None = None,
    stages: list[str] | None = None,
    on_stage_error: Callable[[str, Exception], None] | None = None,
    **analyze_options: Any,
) -> Analysis:
    """Analyse ``incidents`` through every stage and optionally write outputs.

    Parameters
    ----------
    incidents : path or GeoDataFrame
        Incident points.
    out : path, optional
        Folder for the outputs; nothing is written when ``None``.
    simulated : bool
        Mark the run as using simulated incidents (shown on every output).
    stage_options : dict, optional
        Options per later stage name, e.g. ``{"factors": {"youth_walk_m": 400}}``
        for this run's youth-space walking threshold.
    stages : list of str, optional
        Names of the later stages to run (default: all of :func:`default_stages`).
    on_stage_error : callable, optional
        ``f(stage_name, exception)``, called instead of raising when a later
        stage fails; the run goes on (``hotspot-env bench`` reports the
        failure rather than stopping). Default: the error propagates.
    **analyze_options
        Passed to :func:`hotspot_env.core.analysis.analyze`.

    Returns
    -------
    Analysis
        With ``analysis.timings`` (seconds per stage).

    Notes
    -----
    The analysis, each later stage (``stage:<name>``) and the writers are
    timed with :func:`hotspot_env.core.timing.timed` when a caller records.
    """
    if out is not None:
        from hotspot_env._atomic import check_inputs_outside

        check_inputs_outside(out, (incidents, analyze_options.get("osm"),
                                   analyze_options.get("layers")))
    selected = [(name, stage) for name, stage in default_stages()
                if stages is None or name in stages]
    check_order(selected)
    _check_options_early(stage_options)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with timed("analyze", exclusive=False):
        analysis = analyze(incidents, **analyze_options)
    timings["analyze"] = time.perf_counter() - start
    _check_after_grid(analysis, [name for name, _ in selected], stage_options or {})
    analysis.parameters["simulated"] = bool(simulated)
    for name, stage in selected:
        t0 = time.perf_counter()
        with timed(f"stage:{name}"):
            _run_stage(name, stage, analysis, (stage_options or {}).get(name, {}),
                       on_stage_error)
        timings[name] = time.perf_counter() - t0
    if out is not None:
        from hotspot_env.outputs.export import write_outputs

        t0 = time.perf_counter()
        write_outputs(analysis, out)
        timings["write"] = time.perf_counter() - t0
    analysis.timings = timings
    return analysis


def _check_options_early(stage_options: dict[str, dict[str, Any]] | None) -> None:
    """Refuse a bad stage option before the analysis, not minutes later in its stage."""
    youth_walk_m = ((stage_options or {}).get("factors") or {}).get("youth_walk_m")
    if youth_walk_m is not None:
        from hotspot_env.factors.access import check_walk_threshold

        check_walk_threshold(youth_walk_m)


def _check_after_grid(analysis: Analysis, names: list[str],
                      stage_options: dict[str, dict[str, Any]]) -> None:
    """Refuse options that need the grid (district caps) before any later stage runs."""
    options = stage_options.get("interventions") or {}
    if "interventions" in names and options.get("region_budgets") is not None:
        from hotspot_env.interventions.district_caps import check_district_caps

        trends = stage_options.get("trends") if "trends" in names else None
        check_district_caps(analysis, options, trends)


def _run_stage(name: str, stage: Callable[..., None], analysis: Analysis,
               options: dict[str, Any],
               on_error: Callable[[str, Exception], None] | None) -> None:
    """Run one later stage; hand its failure to ``on_error`` when one is given."""
    if on_error is None:
        stage(analysis, **options)
        return
    try:
        stage(analysis, **options)
    except Exception as exc:
        on_error(name, exc)
