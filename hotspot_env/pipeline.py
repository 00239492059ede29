"""The full run: analysis, then every later stage, then the files.

:func:`run` is the one call behind ``hotspot-env analyze``, ``hotspot-env
demo`` and the app. Stages after the core analysis (risk factors, the risk
terrain model, the forecast, trends, interventions) are listed in order by
:func:`default_stages`, each a function ``f(analysis, **options) -> None`` that
adds to ``analysis`` and never reaches back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from hotspot_env.analysis import Analysis, analyze


def default_stages() -> list[tuple[str, Callable[..., None]]]:
    """The later stages in the order they run: ``(name, function)``.

    Risk factors first (everything else reads them), then the forecast and the
    risk terrain model (the intervention baseline and ``why`` texts), then the
    time analyses (work timing), and last the interventions, which read all of
    the above.
    """
    from hotspot_env import factors, forecast, interventions, rtm, trends

    return [("factors", factors.stage), ("forecast", forecast.stage), ("rtm", rtm.stage),
            ("trends", trends.stage), ("interventions", interventions.stage)]


#: Extra stages added at run time (e.g. by a plugin or the benchmark), run after
#: the defaults; a name already in :func:`default_stages` replaces that stage.
STAGES: list[tuple[str, Callable[..., None]]] = []


def all_stages() -> list[tuple[str, Callable[..., None]]]:
    """Default stages with :data:`STAGES` overrides applied, then extra stages."""
    extra = dict(STAGES)
    stages = [(name, extra.pop(name, func)) for name, func in default_stages()]
    return stages + list(extra.items())


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
        Passed to :func:`hotspot_env.analysis.analyze`.

    Returns
    -------
    Analysis
        With ``extras["timings"]`` (seconds per stage).
    """
    if out is not None:
        from hotspot_env.atomic import check_inputs_outside

        check_inputs_outside(out, (incidents, analyze_options.get("osm"),
                                   analyze_options.get("layers")))
    timings: dict[str, float] = {}
    start = time.perf_counter()
    analysis = analyze(incidents, **analyze_options)
    timings["analyze"] = time.perf_counter() - start
    analysis.parameters["simulated"] = bool(simulated)
    for name, stage in all_stages():
        if stages is not None and name not in stages:
            continue
        t0 = time.perf_counter()
        stage(analysis, **(stage_options or {}).get(name, {}))
        timings[name] = time.perf_counter() - t0
    if out is not None:
        from hotspot_env.export import write_outputs

        t0 = time.perf_counter()
        write_outputs(analysis, out)
        timings["write"] = time.perf_counter() - t0
    analysis.extras["timings"] = timings
    return analysis
