"""Benchmark: the whole pipeline on a synthetic city, timed stage by stage, with peers.

``hotspot-env bench --scale quick|city|metro`` generates the seeded synthetic
city of :func:`hotspot_env.inputs.synth.simulate_city`, writes it as a user would hand
it over (``incidents.csv`` and ``layers.gpkg``, via
:meth:`~hotspot_env.inputs.synth.SyntheticCity.write`), runs
:func:`hotspot_env.core.pipeline.run` on those files exactly as ``hotspot-env
analyze`` does, and times every stage with :func:`time.perf_counter` (wall) and
:func:`time.process_time` (CPU). The pipeline, its stages and the writers name
their steps with the timing hooks of :mod:`hotspot_env.core.timing`, which the
benchmark records (nothing is patched or re-implemented), so the numbers are
those of the real code path; time in ``analyze`` not spent in a named step is
reported as ``analyze_other`` (source filter, cell indexing, dropping points
outside the area). A step the table expects (:func:`expected_steps`) but the
run did not time is listed in ``stages_untimed``.

Later stages (risk factors, forecast, risk terrain model, trends, candidates
and ranking of interventions) are those of
:func:`hotspot_env.core.pipeline.default_stages`; a stage that raises is reported as
``"error: ..."`` in ``stage_status`` and listed in ``stages_missing``, never
faked.

The city is generated in a separate process so that ``peak_rss_mb`` (the
``ru_maxrss`` of this process, read right after the pipeline) measures the
pipeline and not the generator. The peer comparisons run afterwards on the
same data (:mod:`hotspot_env.bench.peers`: counts vs geopandas ``sjoin``, KDE vs
scikit-learn and KDEpy, Gi* vs esda), then re-ranking the run's intervention
candidates under varied budgets is timed.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hotspot_env.bench.peers import compare_counts, compare_gi, compare_kde
from hotspot_env.core.timing import StageTimer, recording
from hotspot_env.errors import InputError

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Cell side used at every scale (metro: ~240k cells).
BENCH_CELL_SIZE_M: float = 50.0

#: Seed of the synthetic city.
BENCH_SEED: int = 20240601

#: Re-rank timings taken (p95 over these).
RERANK_REPEATS: int = 60

#: Scales: the presets of :data:`hotspot_env.inputs.synth.SCALES`, plus ``tiny``, a
#: test-only size (1.5 km square, 3,000 incidents) for the test suite.
SCALES: tuple[str, ...] = ("tiny", "quick", "city", "metro")
TINY_SCALE: dict[str, float] = {"size_m": 1_500.0, "n_incidents": 3_000}

#: Keys every benchmark result holds.
RESULT_KEYS: tuple[str, ...] = (
    "scale", "generator", "n_incidents", "n_incidents_used", "n_cells", "cell_size_m",
    "bandwidth_m", "stages", "stages_missing", "total_s", "peak_rss_mb",
    "kde_speedup_vs_sklearn", "kde_max_rel_err", "gi_speedup_vs_esda", "gi_max_abs_dz",
    "rerank_p95_ms", "rerank_10k_p95_ms", "counts_speedup_vs_sjoin", "stages_untimed",
    "machine",
)


# ---------------------------------------------------------------- generation
def _prepare_inputs(seed: int, scale: str, folder: str) -> dict[str, Any]:
    """Generate the city and write it as a user gets it (runs in a child process).

    The files are those of :meth:`hotspot_env.inputs.synth.SyntheticCity.write`:
    ``incidents.csv`` (lon/lat in WGS 84, ISO timestamps) and ``layers.gpkg``,
    the inputs of ``hotspot-env analyze --incidents ... --layers ...``.

    Returns
    -------
    dict
        ``incidents`` and ``layers`` paths, feature counts, ``generator``,
        ``generate_s`` and ``write_s``.
    """
    from hotspot_env.inputs.synth import simulate_city

    t0 = time.perf_counter()
    if scale == "tiny":
        city = simulate_city(seed, scale="quick", **TINY_SCALE)
    else:
        city = simulate_city(seed, scale=scale)
    generate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    paths = city.write(folder)
    write_s = time.perf_counter() - t0
    return {"incidents": str(paths["incidents"]), "layers": str(paths["layers"]),
            "generator": "synth.simulate_city", "generate_s": generate_s, "write_s": write_s,
            "n_incidents": int(len(city.incidents)),
            "layer_features": {k: int(len(v)) for k, v in city.layers.items()}}


def _prepare_in_child(seed: int, scale: str, folder: str) -> dict[str, Any]:
    """Run :func:`_prepare_inputs` in a fresh Python process and return its result.

    A separate process keeps the generator's memory out of this process's
    ``ru_maxrss``, so ``peak_rss_mb`` is the pipeline's.
    """
    code = ("import json, sys; from hotspot_env.bench import _prepare_inputs; "
            "json.dump(_prepare_inputs(int(sys.argv[1]), sys.argv[2], sys.argv[3]), "
            "open(sys.argv[4], 'w'))")
    result_path = Path(folder) / "inputs.json"
    proc = subprocess.run([sys.executable, "-c", code, str(seed), scale, folder,
                           str(result_path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"generating the {scale} city failed:\n{proc.stderr[-3000:]}")
    return json.loads(result_path.read_text())


# ------------------------------------------------------------------ timing
#: Later stages the issue expects (factor layers, RTM, candidates and ranking).
EXPECTED_STAGES: tuple[str, ...] = ("factors", "rtm", "interventions")


def _timed_run(timer: StageTimer, incidents: str, layers: str, out: Path,
               status: dict[str, str]) -> Analysis:
    """Run :func:`hotspot_env.core.pipeline.run` while recording its timing hooks into ``timer``.

    The pipeline, its stages and the writers time themselves
    (:func:`hotspot_env.core.timing.timed`); nothing is patched. ``status``
    receives ``"ran"`` or ``"error: ..."`` per later stage: a failing stage is
    reported, with the time it took until it failed, and the run goes on.
    """
    from hotspot_env.core import pipeline

    errors: dict[str, str] = {}

    def record_error(name: str, exc: Exception) -> None:
        errors[name] = f"error: {type(exc).__name__}: {str(exc)[:200]}"

    with recording(timer):
        analysis = pipeline.run(incidents, layers=layers, out=out, cell_size=BENCH_CELL_SIZE_M,
                                simulated=True, on_stage_error=record_error)
    status.update({name: errors.get(name, "ran") for name, _ in pipeline.default_stages()})
    return analysis



def _peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (``ru_maxrss`` is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def machine_info() -> dict[str, Any]:
    """CPU count and model, RAM, Python and key library versions."""
    import numba
    import psutil

    model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu_count": os.cpu_count(), "cpu_model": model,
            "ram_gb": round(psutil.virtual_memory().total / 1024**3, 1),
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "numba_threads": numba.get_num_threads(),
            "platform": platform.platform()}


def time_rerank(analysis: Analysis) -> dict[str, Any]:
    """p95 of re-ranking the run's candidates under varied budgets, when the engine exists.

    Uses ``analysis.interventions.rerank(budget=...)`` (the fast,
    greedy re-rank behind ``hotspot-env rank`` and the app's budget slider),
    :data:`RERANK_REPEATS` times with budgets from 1 % to 50 % of the cost of
    every candidate, and no budget.
    """
    result = analysis.interventions
    if result is None or not callable(getattr(result, "rerank", None)):
        return {"rerank_p95_ms": None, "rerank_candidates": 0,
                "rerank_note": "interventions engine not available in this run"}
    n = int(len(result.candidates))
    total = float(np.nansum(result.candidates["cost"].to_numpy(dtype=float)))
    budgets = [None] + [total * f for f in (0.01, 0.05, 0.1, 0.25, 0.5)]
    result.rerank(budget=budgets[1])  # warm-up, untimed
    times = []
    for i in range(RERANK_REPEATS):
        t0 = time.perf_counter()
        result.rerank(budget=budgets[i % len(budgets)])
        times.append((time.perf_counter() - t0) * 1000)
    return {"rerank_p95_ms": float(np.percentile(times, 95)),
            "rerank_median_ms": float(np.median(times)), "rerank_candidates": n}


#: Size of the stand-alone re-rank measurement (the target is stated for 10k candidates).
RERANK_SIZE: int = 10_000


def random_impact_model(n: int, n_groups: int, per_candidate: int, seed: int = 0,
                        n_draws: int = 1000) -> Any:
    """A random :class:`~hotspot_env.interventions.impact.ImpactModel` without geometry.

    ``n`` candidates each reach ``per_candidate`` random groups of a shared pool
    of ``n_groups`` (so candidates overlap, as neighbouring streetlights do),
    with covers in [0.2, 1] and one of three evidence rows. Used to time the
    re-rank at a fixed size and by the optimiser tests.
    """
    import pandas as pd

    from hotspot_env.interventions.impact import effect_draws
    from hotspot_env.interventions.impact_model import ImpactModel

    rng = np.random.default_rng(seed)
    rows = pd.DataFrame({"intervention_type": ["a", "b", "c"], "outcome": ["x", "x", "x"],
                         "rate_ratio": [0.8, 0.7, 0.9], "ci_low": [0.6, 0.5, 0.8],
                         "ci_high": [1.0, 0.95, 1.0], "hours": ["all"] * 3,
                         "categories": [("all",)] * 3, "window": [None] * 3,
                         "reach_m": [50.0] * 3, "short": ["T 2020"] * 3,
                         "verified": ["no"] * 3})
    rows["sigma"] = (np.log(rows["ci_high"]) - np.log(rows["ci_low"])) / (2 * 1.96)
    ids = np.array([f"{i:012x}" for i in range(n)])
    cand = np.repeat(np.arange(n), per_candidate)
    group = np.concatenate([rng.choice(n_groups, per_candidate, replace=False)
                            for _ in range(n)])
    order = np.lexsort((group, cand))
    cand, group = cand[order], group[order]
    row = np.repeat(rng.integers(0, 3, n), per_candidate)
    scale = rng.uniform(0.2, 1.0, cand.size)
    base = rng.gamma(1.0, 1.0, n_groups)
    cat = rng.integers(0, 9, n_groups)
    reach = np.bincount(cand, weights=base[group] * scale, minlength=n)
    return ImpactModel(ids, rows, effect_draws(rows, n_draws, seed), base, cat,
                       np.arange(n_groups), np.arange(n_groups), cand, group, row[order],
                       scale, reach, reach, np.full(n, np.nan), np.zeros(n, dtype=np.int64))


def bare_result(model: Any, cost: np.ndarray, types: np.ndarray, grid: Any = None) -> Any:
    """An :class:`InterventionsResult` around a bare model (ranking needs no geometry)."""
    import geopandas as gpd
    import scipy.sparse as sp
    import shapely
    from pyproj import CRS

    from hotspot_env.core.grid import Grid
    from hotspot_env.interventions.baseline import StrataBaseline
    from hotspot_env.interventions.equity import grid_districts
    from hotspot_env.interventions.evidence import load_library
    from hotspot_env.interventions.result import InterventionsResult

    if grid is None:
        grid = Grid.from_area(shapely.box(500_000, 6_000_000, 501_000, 6_001_000),
                              CRS.from_epsg(32633), 100.0)
    n = model.n
    cands = gpd.GeoDataFrame(
        {"intervention_id": model.ids, "type": types, "cost": cost, "capital_cost": cost,
         "site": "", "district": "D01", "location": "here", "quantity": 1.0, "unit": "site",
         "source": "test", "note": "", "reason": "because"},
        geometry=[shapely.Point(grid.x0 + 50, grid.y0 + 50)] * n, crs=grid.crs)
    baseline = StrataBaseline(grid, np.zeros(grid.shape), (), np.zeros(0, np.int64),
                              sp.csr_matrix((0, 18)))
    return InterventionsResult(cands, model, baseline, grid_districts(grid), load_library(), {})


def time_rerank_at_size(n: int = RERANK_SIZE, seed: int = 1) -> dict[str, Any]:
    """p95 of the re-rank on ``n`` random overlapping candidates, budgets and weights varied.

    The run's own candidate count depends on the city (7,894 at metro); this
    measures the stated size directly: 60 groups per candidate from a pool
    of 4 ``n``, costs 100-5,000 a year, every intervention type.
    """
    from hotspot_env.interventions.evidence import load_library

    model = random_impact_model(n, 4 * n, 60, seed=seed)
    rng = np.random.default_rng(seed)
    types = np.array(load_library().types)[rng.integers(0, len(load_library().types), n)]
    cost = rng.uniform(100, 5000, n)
    result = bare_result(model, cost, types)
    total = float(cost.sum())
    budgets = [None] + [total * f for f in (0.01, 0.05, 0.1, 0.25, 0.5)]
    weights = [None, {"violence": 2.0}, {"youth_space": 1.5}]
    result.rerank(budget=budgets[1])  # warm-up, untimed
    times = []
    for i in range(RERANK_REPEATS):
        t0 = time.perf_counter()
        result.rerank(budgets[i % len(budgets)], weights[i % len(weights)])
        times.append((time.perf_counter() - t0) * 1000)
    return {f"rerank_{n // 1000}k_p95_ms": float(np.percentile(times, 95)),
            f"rerank_{n // 1000}k_median_ms": float(np.median(times))}


# -------------------------------------------------------------------- main
#: Peer libraries the comparisons need (the [bench] extra); KDEpy is compared when present.
PEER_MODULES: tuple[str, ...] = ("sklearn", "esda", "libpysal")


def run_bench(scale: str = "quick", out: str | os.PathLike[str] | None = None,
              seed: int = BENCH_SEED, peers: bool = True) -> dict[str, Any]:
    """Generate the synthetic city, run the pipeline stage by stage and compare with peers.

    Parameters
    ----------
    scale : {"quick", "city", "metro"}
        City size (``"tiny"`` is for the test suite).
    out : path, optional
        Folder for the pipeline outputs (default: a temporary folder, removed).
    seed : int
        Seed of the synthetic city.
    peers : bool
        Run the peer comparisons (scikit-learn, esda, geopandas, KDEpy).

    Returns
    -------
    dict
        JSON-ready result with at least :data:`RESULT_KEYS`.
    """
    if scale not in SCALES:
        raise InputError(f"unknown scale {scale!r}: use quick, city or metro")
    needed = ("psutil", *(PEER_MODULES if peers else ()))
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise InputError(f"the benchmark needs {', '.join(missing)}: install the [bench] extra "
                         "(pip install 'hotspot-env[bench]')")
    analysis, result = _measure_pipeline(scale, seed, out)
    grid = analysis.grid
    xs = analysis.points.geometry.x.to_numpy()
    ys = analysis.points.geometry.y.to_numpy()
    if peers:
        bandwidth = float(analysis.parameters["bandwidth_m"])
        counts = np.asarray(analysis.arrays["incidents"])
        result.update(compare_counts(grid, xs, ys, grid.crs))
        result.update(compare_kde(grid, xs, ys, bandwidth, seed=seed))
        result.update(compare_gi(grid, counts))
    else:
        result.update({k: None for k in ("kde_speedup_vs_sklearn", "kde_max_rel_err",
                                         "gi_speedup_vs_esda", "gi_max_abs_dz",
                                         "counts_speedup_vs_sjoin")})
    result.update(time_rerank(analysis))
    result.update(time_rerank_at_size())
    result["peak_rss_mb_with_peers"] = _peak_rss_mb()
    result["machine"] = machine_info()
    return result


def _measure_pipeline(scale: str, seed: int, out: str | os.PathLike[str] | None
                      ) -> tuple[Analysis, dict[str, Any]]:
    """Generate the city, run the pipeline on its files while timing it; the result's first keys."""
    stage_status: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="hotspot-bench-") as tmp:
        # tiny (tests) generates in-process: its generator memory is negligible
        inputs = (_prepare_inputs(seed, scale, tmp) if scale == "tiny"
                  else _prepare_in_child(seed, scale, tmp))
        out_dir = Path(out) if out is not None else Path(tmp) / "out"
        gc.collect()
        load_before = os.getloadavg()[0]
        timer = StageTimer()
        t0, c0 = time.perf_counter(), time.process_time()
        analysis = _timed_run(timer, inputs["incidents"], inputs["layers"], out_dir,
                              stage_status)
        total_s = time.perf_counter() - t0
        total_cpu_s = time.process_time() - c0
        peak_rss_mb = _peak_rss_mb()
        output_bytes = {p.name: p.stat().st_size for p in out_dir.iterdir() if p.is_file()}
    stages, substages = _stage_table(timer.stages), _substage_table(timer.stages)
    expected_stages, expected_parts = expected_steps()
    grid = analysis.grid
    return analysis, {
        "scale": scale, "generator": inputs["generator"], "seed": seed,
        "n_incidents": inputs["n_incidents"],
        "n_incidents_used": int(analysis.counts["incidents_used"]),
        "layer_features": inputs["layer_features"],
        "n_cells": int(grid.n_cells), "grid_shape": list(grid.shape),
        "cell_size_m": grid.cell_size, "bandwidth_m": analysis.parameters["bandwidth_m"],
        "generate_s": inputs["generate_s"], "write_inputs_s": inputs["write_s"],
        "stages": stages, "stages_cpu": _stage_table(timer.cpu), "substages": substages,
        "stage_status": stage_status,
        "stages_missing": [k for k in EXPECTED_STAGES if stage_status.get(k) != "ran"],
        "stages_untimed": ([k for k in expected_stages if k not in stages]
                           + [k for k in expected_parts if k not in substages]),
        "total_s": total_s, "total_cpu_s": total_cpu_s, "peak_rss_mb": peak_rss_mb,
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0], "output_bytes": output_bytes,
    }


#: Stages of :func:`hotspot_env.core.analysis.analyze`, in order.
ANALYZE_STAGES: tuple[str, ...] = (
    "load_incidents", "load_layers", "area", "project", "grid", "counts", "bandwidth", "kde",
    "gi_star", "analyze_other")

#: Steps of the interventions stage timed as parts (``interventions/<step>``).
INTERVENTION_STEPS: tuple[str, ...] = (
    "interventions/baseline", "interventions/candidates", "interventions/impact",
    "interventions/zones", "interventions/reasons", "interventions/basemap",
    "interventions/ranking")


def expected_steps() -> tuple[list[str], list[str]]:
    """Names a complete run's stage table and parts table hold, in order.

    Returns
    -------
    stages : list of str
        :data:`ANALYZE_STAGES`, every later stage of
        :func:`~hotspot_env.core.pipeline.default_stages`, then each file written
        (``export_<writer>`` for :func:`~hotspot_env.outputs.export.default_writers`)
        and ``export_other``.
    parts : list of str
        ``factors/<name>`` for each built-in factor, then :data:`INTERVENTION_STEPS`.
    """
    from hotspot_env import factors
    from hotspot_env.core.pipeline import default_stages
    from hotspot_env.outputs.export import default_writers

    stages = [*ANALYZE_STAGES, *(name for name, _ in default_stages()),
              "export_cells_gpkg", "export_density_tif",
              *(f"export_{name}" for name in default_writers()),
              "export_report", "export_manifest", "export_other"]
    return stages, [*(f"factors/{name}" for name in factors.FACTORS), *INTERVENTION_STEPS]


def _stage_table(raw: dict[str, float]) -> dict[str, float]:
    """Stage seconds in pipeline order, with ``analyze_other`` for the untimed remainder."""
    stages = {k: raw[k] for k in ANALYZE_STAGES[:-1] if k in raw}
    if "analyze" in raw:
        stages["analyze_other"] = max(0.0, raw["analyze"] - sum(stages.values()))
    for key, value in raw.items():
        if key.startswith("stage:"):
            stages[key.removeprefix("stage:")] = value
    for key in ("export_cells_gpkg", "export_density_tif"):
        if key in raw:
            stages[key] = raw[key]
    for key, value in raw.items():
        if key.startswith("export:"):
            stages[key.replace(":", "_", 1)] = value
    for key in ("export_report", "export_manifest"):
        if key in raw:
            stages[key] = raw[key]
    if "export" in raw:
        written = sum(v for k, v in stages.items() if k.startswith("export_"))
        stages["export_other"] = max(0.0, raw["export"] - written)
    return {k: round(v, 4) for k, v in stages.items()}


def _substage_table(raw: dict[str, float]) -> dict[str, float]:
    """Seconds of the steps inside later stages (``stage/step``; parts of ``stages``)."""
    return {k: round(v, 4) for k, v in raw.items() if "/" in k}


def format_table(result: dict[str, Any]) -> str:
    """A human-readable summary of one benchmark result."""
    lines = [f"scale {result['scale']}: {result['n_incidents']:,} incidents "
             f"({result['n_incidents_used']:,} used), {result['n_cells']:,} cells of "
             f"{result['cell_size_m']:g} m, bandwidth {result['bandwidth_m']:g} m "
             f"[{result['generator']}]"]
    lines.append(f"  {'stage':<28}{'wall s':>9}{'CPU s':>9}")
    for name, seconds in result["stages"].items():
        lines.append(f"  {name:<28}{seconds:9.3f}{result['stages_cpu'].get(name, 0):9.3f}")
    lines.append(f"  {'total':<28}{result['total_s']:9.3f}{result['total_cpu_s']:9.3f}")
    for name, seconds in result.get("substages", {}).items():
        lines.append(f"    part of {name:<24}{seconds:9.3f}")
    lines.append(f"peak RSS {result['peak_rss_mb']:,.0f} MB")
    if result["stages_missing"]:
        lines.append(f"stages not available yet: {', '.join(result['stages_missing'])}")
    if result.get("stages_untimed"):
        lines.append(f"steps not timed (a timing hook is missing): "
                     f"{', '.join(result['stages_untimed'])}")

    def fmt(key: str, spec: str) -> str:
        value = result.get(key)
        return "n/a" if value is None else format(value, spec)

    lines.append(f"KDE: {fmt('kde_speedup_vs_sklearn', '.0f')}x scikit-learn, max rel err "
                 f"{fmt('kde_max_rel_err', '.1e')}")
    lines.append(f"Gi*: {fmt('gi_speedup_vs_esda', '.0f')}x esda, max |dz| "
                 f"{fmt('gi_max_abs_dz', '.1e')}")
    lines.append(f"counts: {fmt('counts_speedup_vs_sjoin', '.0f')}x geopandas.sjoin")
    lines.append(f"re-rank p95: {fmt('rerank_p95_ms', '.1f')} ms")
    lines.append(f"re-rank p95 at {RERANK_SIZE:,} random candidates: "
                 f"{fmt(f'rerank_{RERANK_SIZE // 1000}k_p95_ms', '.1f')} ms")
    return "\n".join(lines)


def to_json(result: dict[str, Any]) -> str:
    """Serialise a result (numpy scalars made plain)."""
    def default(value: Any) -> Any:
        if hasattr(value, "item"):
            return value.item()
        return str(value)

    return json.dumps(result, indent=2, default=default)
