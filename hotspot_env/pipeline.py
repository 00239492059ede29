"""The full run: analysis, then every later stage, then the files.

:func:`run` is the one call behind ``hotspot-env analyze``, ``hotspot-env
demo`` and the app. Stages after the core analysis (risk factors, the risk
terrain model, interventions, trends) are appended to :data:`STAGES` by their
modules, each a function ``f(analysis, **options) -> None`` that adds to
``analysis`` and never reaches back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from hotspot_env.analysis import Analysis, analyze

#: Ordered later stages: ``(name, function)``.
STAGES: list[tuple[str, Callable[..., None]]] = []


def run(
    incidents: Any,
    *,
    out: str | os.PathLike[str] | None = None,
    simulated: bool = False,
    stage_options: dict[str, dict[str, Any]] | None = None,
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
    **analyze_options
        Passed to :func:`hotspot_env.analysis.analyze`.

    Returns
    -------
    Analysis
        With ``extras["timings"]`` (seconds per stage).
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    analysis = analyze(incidents, **analyze_options)
    timings["analyze"] = time.perf_counter() - start
    analysis.parameters["simulated"] = bool(simulated)
    for name, stage in STAGES:
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
