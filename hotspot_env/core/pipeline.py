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


def all_stages() -> list[tuple[str, Callable[..., None]]]:
    """The stages :func:`run` runs (the benchmark wraps this to time each stage)."""
    return default_stages()


def run(
    incidents: Any,
    *,
    out: str | os.PathLike[str] | None = None,
    simulated: bool = False,
    stage_options: dict[str, dict[str, Any]] | None = None,
    stages: list[str] | None = None,
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
        Options per later stage name.
    stages : list of str, optional
        Names of the later stages to run (default: all of :func:`default_stages`).
    **analyze_options
        Passed to :func:`hotspot_env.core.analysis.analyze`.

    Returns
    -------
    Analysis
        With ``analysis.timings`` (seconds per stage).
    """
    if out is not None:
        from hotspot_env._atomic import check_inputs_outside

        check_inputs_outside(out, (incidents, analyze_options.get("osm"),
                                   analyze_options.get("layers")))
    selected = [(name, stage) for name, stage in all_stages()
                if stages is None or name in stages]
    check_order(selected)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    analysis = analyze(incidents, **analyze_options)
    timings["analyze"] = time.perf_counter() - start
    analysis.parameters["simulated"] = bool(simulated)
    for name, stage in selected:
        t0 = time.perf_counter()
        stage(analysis, **(stage_options or {}).get(name, {}))
        timings[name] = time.perf_counter() - t0
    if out is not None:
        from hotspot_env.outputs.export import write_outputs

        t0 = time.perf_counter()
        write_outputs(analysis, out)
        timings["write"] = time.perf_counter() - t0
    analysis.timings = timings
    return analysis
