"""Benchmark: the whole pipeline on a synthetic city, timed stage by stage, with peers.

``hotspot-env bench --scale quick|city|metro`` generates the seeded synthetic
city of :func:`hotspot_env.inputs.synth.simulate_city`, writes it as a user would hand
it over (``incidents.csv`` and ``layers.gpkg``, via
:meth:`~hotspot_env.inputs.synth.SyntheticCity.write`), runs
:func:`hotspot_env.core.pipeline.run` on those files exactly as ``hotspot-env
analyze`` does, and times every stage with :func:`time.perf_counter` (wall) and
:func:`time.process_time` (CPU). Stages are timed by temporarily wrapping the
functions the pipeline calls (never by re-implementing them), so the numbers
are those of the real code path; time in ``analyze`` not spent in a wrapped
function is reported as ``analyze_other`` (source filter, cell indexing,
dropping points outside the area).

Later stages (risk factors, forecast, risk terrain model, trends, candidates
and ranking of interventions) are those of
:func:`hotspot_env.core.pipeline.all_stages`; a stage that raises is reported as
``"error: ..."`` in ``stage_status`` and listed in ``stages_missing``, never
faked.

The city is generated in a separate process so that ``peak_rss_mb`` (the
``ru_maxrss`` of this process, read right after the pipeline) measures the
pipeline and not the generator. The peer comparisons run afterwards on the
same data (see ``benchmarks/README.md`` for how each is made fair):

* counts vs ``geopandas.sjoin(points, cells, predicate="within")`` + groupby;
* KDE (epanechnikov) vs scikit-learn ``KernelDensity`` (kd-tree, exact) and,
  if installed, KDEpy ``FFTKDE`` (a binned approximation);
* Gi* vs ``esda.G_Local(star=True, transform="B", permutations=0)`` with a
  ``libpysal.weights.lat2W`` queen W of the full rectangular grid;
* re-ranking the run's intervention candidates under varied budgets.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hotspot_env.errors import InputError

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Cell side used at every scale (metro: ~240k cells).
BENCH_CELL_SIZE_M: float = 50.0

#: Seed of the synthetic city.
BENCH_SEED: int = 20240601

#: Cell centres scikit-learn is evaluated at (random sample, time scaled up).
SKLEARN_SAMPLE_CELLS: int = 2_000

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
    "rerank_p95_ms", "rerank_10k_p95_ms", "counts_speedup_vs_sjoin", "machine",
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
class _Timer:
    """Accumulates wall-clock and CPU seconds per stage name, in first-seen order.

    CPU time (:func:`time.process_time`, all threads of this process) is kept
    beside wall time: on a shared machine other processes stretch wall time,
    while CPU time stays close to what the stage itself costs.
    """

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._depth = 0

    def add(self, name: str, seconds: float, cpu_seconds: float = 0.0) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + seconds
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu_seconds

    def wrap(self, name: str, func: Callable[..., Any], exclusive: bool = True
             ) -> Callable[..., Any]:
        """``func`` timed under ``name``.

        An exclusive stage counts only when no other exclusive stage is running
        (so ``to_crs`` inside ``study_area`` counts as ``area``); a
        non-exclusive one (``analyze``) wraps others without hiding them.
        """

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not exclusive:
                t0, c0 = time.perf_counter(), time.process_time()
                try:
                    return func(*args, **kwargs)
                finally:
                    self.add(name, time.perf_counter() - t0, time.process_time() - c0)
            if self._depth:
                return func(*args, **kwargs)
            self._depth += 1
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                self._depth -= 1
                self.add(name, time.perf_counter() - t0, time.process_time() - c0)

        timed.__wrapped__ = func  # type: ignore[attr-defined]
        return timed


@contextlib.contextmanager
def _patched(targets: list[tuple[Any, str, Callable[..., Any]]]) -> Iterator[None]:
    """Temporarily replace ``getattr(obj, attr)`` by the given callables."""
    missing = object()
    saved = [(obj, attr, vars(obj).get(attr, missing)) for obj, attr, _ in targets]
    try:
        for obj, attr, new in targets:
            setattr(obj, attr, new)
        yield
    finally:
        for obj, attr, old in reversed(saved):
            if old is missing:
                delattr(obj, attr)
            else:
                setattr(obj, attr, old)


def _instrumented_run(timer: _Timer, incidents: str, layers: str, out: Path,
                      status: dict[str, str]) -> Any:
    """Run :func:`hotspot_env.core.pipeline.run` with every stage function timed.

    ``status`` receives ``"ran"`` or ``"error: ..."`` per later stage.
    """
    import geopandas as gpd

    from hotspot_env.core import analysis as an
    from hotspot_env.core import pipeline
    from hotspot_env.core.grid import Grid
    from hotspot_env.outputs import export, report

    from_area = Grid.__dict__["from_area"].__func__

    def timed_from_area(cls: type, *args: Any, **kwargs: Any) -> Any:
        return from_area(cls, *args, **kwargs)

    all_stages = pipeline.all_stages
    all_writers = export.all_writers

    def timed_stages() -> list[tuple[str, Callable[..., None]]]:
        return [(name, timer.wrap(f"stage:{name}", _guarded(name, func, status)))
                for name, func in all_stages()]

    def timed_writers() -> dict[str, Callable[..., Any]]:
        return {name: timer.wrap(f"export:{name}", func) for name, func in all_writers().items()}

    to_crs = gpd.GeoDataFrame.to_crs
    targets: list[tuple[Any, str, Callable[..., Any]]] = [
        (an, "read_incidents", timer.wrap("load_incidents", an.read_incidents)),
        (an, "read_layers", timer.wrap("load_layers", an.read_layers)),
        (an, "choose_crs", timer.wrap("area", an.choose_crs)),
        (an, "study_area", timer.wrap("area", an.study_area)),
        (gpd.GeoDataFrame, "to_crs", timer.wrap("project", to_crs)),
        (Grid, "from_area", classmethod(timer.wrap("grid", timed_from_area))),
        (an, "count_incidents", timer.wrap("counts", an.count_incidents)),
        (an, "choose_bandwidth", timer.wrap("bandwidth", an.choose_bandwidth)),
        (an, "kde", timer.wrap("kde", an.kde)),
        (an, "gi_star", timer.wrap("gi_star", an.gi_star)),
        (pipeline, "analyze", timer.wrap("analyze", an.analyze, exclusive=False)),
        (pipeline, "all_stages", timed_stages),
        (export, "write_outputs", timer.wrap("export", export.write_outputs, exclusive=False)),
        (export, "write_cells", timer.wrap("export_cells_gpkg", export.write_cells)),
        (export, "write_density", timer.wrap("export_density_tif", export.write_density)),
        (export, "all_writers", timed_writers),
        (report, "write_report", timer.wrap("export_report", report.write_report)),
        (export, "build_manifest", timer.wrap("export_manifest", export.build_manifest)),
    ]
    targets += _substage_targets(timer)
    with _patched(targets), _patched_items(_factor_targets(timer)):
        return pipeline.run(incidents, layers=layers, out=out, cell_size=BENCH_CELL_SIZE_M,
                            simulated=True)


#: Steps inside later stages timed separately (``stage/step``): module, attribute, step.
SUBSTAGES: tuple[tuple[str, str, str], ...] = (
    ("hotspot_env.interventions", "build_baseline", "interventions/baseline"),
    ("hotspot_env.interventions", "generate", "interventions/candidates"),
    ("hotspot_env.interventions", "build_impact", "interventions/impact"),
    ("hotspot_env.interventions", "choose_zones", "interventions/zones"),
    ("hotspot_env.interventions", "reasons", "interventions/reasons"),
    ("hotspot_env.interventions", "make_basemap", "interventions/basemap"),
    ("hotspot_env.interventions.result", "InterventionsResult.rerank",
     "interventions/ranking"),
)


def _substage_targets(timer: _Timer) -> list[tuple[Any, str, Callable[..., Any]]]:
    """Timers for :data:`SUBSTAGES` that exist in this checkout (never blocking inner timers)."""
    targets = []
    for module_name, attr, label in SUBSTAGES:
        try:
            owner: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        func = vars(owner).get(name) if owner is not None else None
        if callable(func):
            targets.append((owner, name, timer.wrap(label, func, exclusive=False)))
    return targets


def _factor_targets(timer: _Timer) -> list[tuple[dict[str, Any], str, Callable[..., Any]]]:
    """Timers for each risk factor in :data:`hotspot_env.factors.FACTORS` (``factors/<name>``)."""
    from hotspot_env import factors

    table = factors.FACTORS
    return [(table, name, timer.wrap(f"factors/{name}", func, exclusive=False))
            for name, func in table.items()]


@contextlib.contextmanager
def _patched_items(targets: list[tuple[dict[str, Any], str, Callable[..., Any]]]
                   ) -> Iterator[None]:
    """Temporarily replace dictionary entries."""
    saved = [(table, key, table[key]) for table, key, _ in targets]
    try:
        for table, key, new in targets:
            table[key] = new
        yield
    finally:
        for table, key, old in saved:
            table[key] = old


#: Later stages the issue expects (factor layers, RTM, candidates and ranking).
EXPECTED_STAGES: tuple[str, ...] = ("factors", "rtm", "interventions")


def _guarded(name: str, func: Callable[..., None], status: dict[str, str]
             ) -> Callable[..., None]:
    """A later stage whose failure is reported in ``status`` instead of stopping the run.

    Modules still in progress must not stop the benchmark; a failed stage is
    reported as ``"error: ..."`` with the time it took until it failed.
    """

    def run_stage(analysis: Analysis, **options: Any) -> None:
        try:
            func(analysis, **options)
            status[name] = "ran"
        except Exception as exc:
            status[name] = f"error: {type(exc).__name__}: {str(exc)[:200]}"

    return run_stage


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


# ------------------------------------------------------------------- peers
def compare_counts(grid: Any, x: np.ndarray, y: np.ndarray, crs: Any) -> dict[str, Any]:
    """Counts per cell: ours vs ``geopandas.sjoin(..., predicate="within")`` + groupby."""
    import geopandas as gpd
    import shapely

    from hotspot_env.core.density import count_incidents

    t0 = time.perf_counter()
    ours = count_incidents(grid, x, y)
    ours_s = time.perf_counter() - t0
    cells = grid.to_geodataframe()
    points = gpd.GeoDataFrame(geometry=shapely.points(x, y), crs=crs)
    t0 = time.perf_counter()
    joined = gpd.sjoin(points, cells[["cell_id", "geometry"]], predicate="within", how="inner")
    theirs = joined.groupby("cell_id").size()
    sjoin_s = time.perf_counter() - t0
    flat = np.zeros(grid.n_rows * grid.n_cols, dtype=np.int64)
    flat[theirs.index.to_numpy()] = theirs.to_numpy()
    mismatch = int(np.abs(flat - ours.ravel()).sum())
    return {"counts_s": ours_s, "sjoin_s": sjoin_s,
            "counts_speedup_vs_sjoin": sjoin_s / max(ours_s, 1e-9),
            "counts_mismatch_points": mismatch}


def compare_kde(grid: Any, x: np.ndarray, y: np.ndarray, bandwidth: float,
                seed: int = 0) -> dict[str, Any]:
    """Epanechnikov KDE at every cell centre: ours vs scikit-learn (and KDEpy).

    scikit-learn is timed on :data:`SKLEARN_SAMPLE_CELLS` random cell centres
    (all of them if the grid is smaller) and its time scaled linearly to the
    whole grid; the tree build (``fit``) is counted once, unscaled. The error
    is measured on the sampled cells whose density exceeds 1 % of the maximum.
    """
    from sklearn.neighbors import KernelDensity

    from hotspot_env.core.density import kde

    kde(grid, x[:10], y[:10], bandwidth, kernel="epanechnikov")  # compile outside the timing
    t0 = time.perf_counter()
    ours = kde(grid, x, y, bandwidth, kernel="epanechnikov")
    ours_s = time.perf_counter() - t0

    n_all = grid.n_rows * grid.n_cols
    rng = np.random.default_rng(seed)
    sample = (np.arange(n_all) if n_all <= SKLEARN_SAMPLE_CELLS
              else np.sort(rng.choice(n_all, SKLEARN_SAMPLE_CELLS, replace=False)))
    cx, cy = grid.centres()
    query = np.c_[cx.ravel()[sample], cy.ravel()[sample]]
    pts = np.c_[x, y].astype(np.float64)
    t0 = time.perf_counter()
    model = KernelDensity(kernel="epanechnikov", bandwidth=bandwidth, algorithm="kd_tree",
                          rtol=0, atol=0).fit(pts)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with np.errstate(divide="ignore"):
        theirs = np.exp(model.score_samples(query)) * len(pts)
    score_s = time.perf_counter() - t0
    sklearn_s = fit_s + score_s * n_all / sample.size
    mine = ours.ravel()[sample]
    big = mine > 0.01 * ours.max()
    rel = np.abs(mine[big] - theirs[big]) / theirs[big] if big.any() else np.zeros(1)
    result: dict[str, Any] = {
        "kde_s": ours_s, "sklearn_s_scaled": sklearn_s, "sklearn_fit_s": fit_s,
        "sklearn_sample_cells": int(sample.size), "sklearn_sample_score_s": score_s,
        "kde_speedup_vs_sklearn": sklearn_s / max(ours_s, 1e-9),
        "kde_max_rel_err": float(rel.max()), "kde_cells_compared": int(big.sum()),
    }
    result.update(_compare_kdepy(grid, x, y, bandwidth, ours))
    return result


def _compare_kdepy(grid: Any, x: np.ndarray, y: np.ndarray, bandwidth: float,
                   ours: np.ndarray) -> dict[str, Any]:
    """KDEpy ``FFTKDE`` (binned, linear binning) on the cell-centre lattice, if installed."""
    try:
        from KDEpy import FFTKDE
    except ImportError:
        return {"kdepy_s": None, "kde_speedup_vs_kdepy": None, "kdepy_max_rel_err": None}
    cs = grid.cell_size
    # KDEpy's bw is the kernel's 1-D standard deviation: its epanechnikov has
    # variance 1/5 at unit radius, so radius h means bw = h / sqrt(5) (in 2-D too).
    bw = bandwidth / math.sqrt(5.0)
    pad = int(math.ceil(bandwidth / cs)) + 2
    xs = grid.x0 + (np.arange(-pad, grid.n_cols + pad) + 0.5) * cs
    ys = grid.bounds[3] - (np.arange(-pad, grid.n_rows + pad) + 0.5) * cs
    keep = (x > xs[0]) & (x < xs[-1]) & (y > ys[-1]) & (y < ys[0])
    pts = np.c_[x[keep], y[keep]]
    lattice = np.stack(np.meshgrid(xs, ys[::-1], indexing="ij"), axis=-1).reshape(-1, 2)
    t0 = time.perf_counter()
    values = FFTKDE(kernel="epa", bw=bw, norm=2).fit(pts).evaluate(lattice)
    kdepy_s = time.perf_counter() - t0
    dens = (values.reshape(xs.size, ys.size)[:, ::-1].T * keep.sum())
    dens = dens[pad:pad + grid.n_rows, pad:pad + grid.n_cols]
    big = ours > 0.01 * ours.max()
    rel = np.abs(dens[big] - ours[big]) / ours[big]
    return {"kdepy_s": kdepy_s, "kdepy_max_rel_err": float(rel.max()),
            "kdepy_note": "FFTKDE is a binned (linear binning) approximation"}


def compare_gi(grid: Any, counts: np.ndarray) -> dict[str, Any]:
    """Gi* on the full rectangular grid: ours vs ``esda.G_Local`` with a lat2W queen W."""
    import warnings

    import esda
    import libpysal

    from hotspot_env.core.hotspots import gi_star

    full = replace(grid, mask=np.ones(grid.shape, dtype=bool))
    y = counts.astype(np.float64)
    gi_star(full, y)  # warm-up (imports, caches), untimed
    t0 = time.perf_counter()
    ours = gi_star(full, y)
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    w = libpysal.weights.lat2W(grid.n_rows, grid.n_cols, rook=False)
    w_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = esda.G_Local(y.ravel(), w, star=True, transform="B", permutations=0)
    esda_s = time.perf_counter() - t0
    dz = np.abs(ours.z.ravel() - ref.Zs)
    return {"gi_s": ours_s, "esda_s": esda_s, "esda_w_build_s": w_s,
            "gi_speedup_vs_esda": esda_s / max(ours_s, 1e-9),
            "gi_max_abs_dz": float(np.nanmax(dz)), "gi_cells_compared": int(dz.size)}


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

    from hotspot_env.interventions.impact import ImpactModel, effect_draws

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
    from hotspot_env.interventions.equity import grid_districts
    from hotspot_env.interventions.evidence import load_library
    from hotspot_env.interventions.impact import StrataBaseline
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
    stage_status: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="hotspot-bench-") as tmp:
        # tiny (tests) generates in-process: its generator memory is negligible
        inputs = (_prepare_inputs(seed, scale, tmp) if scale == "tiny"
                  else _prepare_in_child(seed, scale, tmp))
        out_dir = Path(out) if out is not None else Path(tmp) / "out"
        gc.collect()
        load_before = os.getloadavg()[0]
        timer = _Timer()
        t0, c0 = time.perf_counter(), time.process_time()
        analysis = _instrumented_run(timer, inputs["incidents"], inputs["layers"], out_dir,
                                     stage_status)
        total_s = time.perf_counter() - t0
        total_cpu_s = time.process_time() - c0
        peak_rss_mb = _peak_rss_mb()
        output_bytes = {p.name: p.stat().st_size for p in out_dir.iterdir() if p.is_file()}

    stages = _stage_table(timer.stages)
    stages_cpu = _stage_table(timer.cpu)
    substages = _substage_table(timer.stages)
    grid = analysis.grid
    xs = analysis.points.geometry.x.to_numpy()
    ys = analysis.points.geometry.y.to_numpy()
    result: dict[str, Any] = {
        "scale": scale, "generator": inputs["generator"], "seed": seed,
        "n_incidents": inputs["n_incidents"],
        "n_incidents_used": int(analysis.counts["incidents_used"]),
        "layer_features": inputs["layer_features"],
        "n_cells": int(grid.n_cells), "grid_shape": list(grid.shape),
        "cell_size_m": grid.cell_size, "bandwidth_m": analysis.parameters["bandwidth_m"],
        "generate_s": inputs["generate_s"], "write_inputs_s": inputs["write_s"],
        "stages": stages, "stages_cpu": stages_cpu, "substages": substages,
        "stage_status": stage_status,
        "stages_missing": [k for k in EXPECTED_STAGES if stage_status.get(k) != "ran"],
        "total_s": total_s, "total_cpu_s": total_cpu_s, "peak_rss_mb": peak_rss_mb,
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0], "output_bytes": output_bytes,
    }
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


#: Stages of :func:`hotspot_env.core.analysis.analyze`, in order.
ANALYZE_STAGES: tuple[str, ...] = (
    "load_incidents", "load_layers", "area", "project", "grid", "counts", "bandwidth", "kde",
    "gi_star", "analyze_other")


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
