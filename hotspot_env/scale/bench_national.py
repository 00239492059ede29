"""National benchmark: a synthetic country analysed on a dask cluster, region by region.

``hotspot-env bench --scale national [--engine regions] [--workers N]``
generates the country of :mod:`hotspot_env.scale.country` (25 metro-sized
cities, ~25M incidents, ~6M cells of 50 m) tile by tile on the cluster, runs
:func:`hotspot_env.scale.regions.run_national` on it and reports:

* ``stages``: worker-seconds per step summed over regions (read, layers, each
  pipeline stage, write) plus the client's mosaic and manifest;
* ``total_s``: wall time of the national run (analysis and outputs), the
  generation of the inputs apart (``generate_s``);
* ``peak_rss_mb_per_worker``: the largest ``ru_maxrss`` of each worker process;
* ``incidents_per_s`` and ``s_per_million_incidents``, against metro's from
  ``benchmarks/results-metro.json``;
* ``speedup``: the same regions on 1 worker and on N workers;
* ``projection``: the wall time expected on more workers, from the measured
  per-region costs (``ceil(regions / workers) x mean region cost + reduction``).

Each worker is one process with one thread, and the numeric libraries inside
it are held to one thread (``NUMBA_NUM_THREADS=1``...), so N workers use N
cores and the 1 -> N speed-up measures the cluster, not numba's threads.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from hotspot_env.errors import InputError
from hotspot_env.scale.bench_common import (
    NATIONAL_CELL_SIZE_M,
    close_client,
    local_cluster,
    projection,
)

#: The metro benchmark's committed result (a source checkout; absent from a wheel).
METRO_RESULTS: Path = Path(__file__).resolve().parents[2] / "benchmarks" / "results-metro.json"

#: ``--scale`` names of the national benchmark -> country presets.
NATIONAL_SCALES: dict[str, str] = {
    "national": "national", "regional": "regional",
    "country-small": "small", "country-test": "test"}

#: Engines: ``regions`` (:mod:`hotspot_env.scale.regions`), ``dask`` (the tiled engine).
ENGINES: tuple[str, ...] = ("regions", "dask")



def _timed_run(country: Path, out: Path, n_workers: int, scheduler: str | None,
               regions: list[str] | None, budgets: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """One national run on a fresh cluster of ``n_workers``; the manifest plus ``wall_s``.

    ``budgets``: ``national_budget`` and ``region_budgets`` (a dict) of
    :func:`run_national`; caps of regions outside ``regions`` are left out.
    """
    from hotspot_env.scale.regions import run_national

    client = local_cluster(n_workers, scheduler)
    try:
        t0 = time.perf_counter()
        manifest = run_national(country, out, client=client, regions=regions,
                                cell_size=NATIONAL_CELL_SIZE_M, **_of_regions(budgets, regions))
        manifest["wall_s"] = time.perf_counter() - t0
    finally:
        close_client(client)
    return manifest


def _of_regions(budgets: dict[str, Any] | None, regions: list[str] | None) -> dict[str, Any]:
    """The national budget and the caps of ``regions`` (all of them when None)."""
    if not budgets:
        return {}
    caps = budgets.get("region_budgets")
    if caps and regions is not None:
        caps = {name: amount for name, amount in caps.items() if name in regions} or None
    return {"national_budget": budgets["national_budget"], "region_budgets": caps}


def stage_table(manifest: dict[str, Any]) -> dict[str, float]:
    """Worker-seconds per step, summed over regions, then the client's reduction."""
    table: dict[str, float] = {}
    for record in manifest["tiles"]:
        for name, seconds in record["seconds"].items():
            table[name] = table.get(name, 0.0) + float(seconds)
    table["mosaic_and_manifest"] = float(manifest["mosaic_s"])
    return {k: round(v, 4) for k, v in table.items()}


def peak_per_worker(manifest: dict[str, Any]) -> dict[str, float]:
    """The largest resident set of each worker process (MiB), by process id."""
    peaks: dict[str, float] = {}
    for record in manifest["tiles"]:
        key = str(record["pid"])
        peaks[key] = max(peaks.get(key, 0.0), float(record["peak_rss_mb"]))
    return peaks


def add_preset_projection(result: dict[str, Any]) -> dict[str, Any]:
    """Project a run of some of a preset's cities to all of them (wall and CPU seconds).

    Adds ``projection_preset_s`` (from the measured wall seconds per region,
    waiting on a shared machine included) and ``projection_preset_cpu_s``
    (from each region's CPU seconds: the cost on cores of its own), both with
    :func:`~hotspot_env.scale.bench_common.projection` over ``preset_n_cities``
    regions of the measured mean cost.
    """
    n = int(result.get("preset_n_cities", 0))
    if "region_s" not in result or not n or n <= result["n_regions"]:
        return result
    reduction = float(result["stages"].get("mosaic_and_manifest", 0.0))
    for key, per_region in (("projection_preset_s", "region_s"),
                            ("projection_preset_cpu_s", "region_cpu_s")):
        costs = list(result.get(per_region, {}).values())
        if costs:
            result[key] = projection([sum(costs) / len(costs)] * n, reduction)
    return result


def metro_reference(path: Path) -> dict[str, Any] | None:
    """Seconds per million incidents of the metro benchmark, when its result file exists."""
    if not path.is_file():
        return None
    metro = json.loads(path.read_text(encoding="utf-8"))
    return {"total_s": metro["total_s"], "n_incidents": metro["n_incidents"],
            "s_per_million_incidents": metro["total_s"] / metro["n_incidents"] * 1e6}


def run_bench_national(scale: str = "national", *, engine: str = "regions", workers: int = 2,
                       scheduler: str | None = None, out: str | os.PathLike[str] | None = None,
                       seed: int = 20240601, speedup_regions: int | None = 4,
                       n_cities: int | None = None,
                       metro_results: str | os.PathLike[str] | None = None,
                       country: str | os.PathLike[str] | None = None,
                       national_budget: float | None = None,
                       region_budgets: dict[str, float] | list[str] | None = None,
                       ) -> dict[str, Any]:
    """Generate the synthetic country, run it on a cluster and time it.

    Parameters
    ----------
    scale : str
        One of :data:`NATIONAL_SCALES`.
    engine : {"regions", "dask"}
        ``regions``: one single-city analysis per region
        (:mod:`hotspot_env.scale.regions`); ``dask``: the tiled engine with
        global statistics (:mod:`hotspot_env.scale.engine`), when installed.
    workers : int
        Workers of the LocalCluster (ignored with ``scheduler``).
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://HOST:8786``).
    out : path, optional
        Keep the country and the national outputs here (default: temporary).
    seed : int
        Country seed.
    speedup_regions : int, optional
        Regions timed on 1 worker and on ``workers`` workers for the speed-up
        (``None``: all of them; 0: no speed-up run).
    n_cities : int, optional
        Generate only this many of the preset's cities (same cities, same
        seeds: a country's first cities are the same whatever its size), to
        measure per-region costs of a large preset on a small machine.
    metro_results : path, optional
        The metro benchmark's result, for time per million incidents (default:
        ``benchmarks/results-metro.json`` of the source tree).
    country : path, optional
        Reuse the country an earlier run wrote (``OUT/country``) instead of
        generating it again; its ``country.json`` must match ``scale``,
        ``seed`` and ``n_cities``. ``generate_s`` is then 0 and
        ``country_reused`` true.
    national_budget, region_budgets : optional
        ``engine="regions"``: one national portfolio under this budget (USD
        per year) with optional caps per region (``["city_00=50000"]``), as
        :func:`hotspot_env.scale.regions.run_national`; the speed-up runs keep
        the caps of their regions.

    Returns
    -------
    dict
        JSON-ready result (see the module docstring).
    """
    budgets = _check_before_work(scale, engine, workers, scheduler, out, seed, n_cities,
                                 country, national_budget, region_budgets)
    with tempfile.TemporaryDirectory(prefix="hotspot-national-") as tmp:
        base = Path(out) if out is not None else Path(tmp)
        load_before = os.getloadavg()[0]
        if country is not None:
            meta, generate_s = reuse_country(Path(country), NATIONAL_SCALES[scale], seed,
                                             n_cities), 0.0
        else:
            meta, generate_s = _generate(base, NATIONAL_SCALES[scale], seed, workers,
                                         scheduler, n_cities)
        if engine == "dask":
            from hotspot_env.scale.bench_tiled import bench_tiled

            result = bench_tiled(base, meta, workers, scheduler, speedup_regions != 0)
        else:
            result = _bench_regions(base, meta, workers, scheduler, speedup_regions, budgets)
        result.update(_summary(result, scale, meta, generate_s, workers, scheduler,
                               Path(metro_results) if metro_results else METRO_RESULTS))
        result["country_reused"] = country is not None
        from hotspot_env.scale.country import COUNTRY_SCALES

        result["preset_n_cities"] = int(COUNTRY_SCALES[NATIONAL_SCALES[scale]]["n_cities"])
        add_preset_projection(result)
        result["load_average_1min_before"] = load_before
        result["load_average_1min_after"] = os.getloadavg()[0]
        return result


def _check_before_work(scale: str, engine: str, workers: int, scheduler: str | None,
                       out: str | os.PathLike[str] | None, seed: int, n_cities: int | None,
                       country: str | os.PathLike[str] | None, national_budget: float | None,
                       region_budgets: dict[str, float] | list[str] | None
                       ) -> dict[str, Any]:
    """Every option of the benchmark, checked before the country is generated or read.

    Returns the national budget and caps as :func:`run_national` takes them
    (empty without a national budget).
    """
    from hotspot_env.scale.checks import check_scheduler, check_workers
    from hotspot_env.scale.country import country_tiles, require_empty

    if scale not in NATIONAL_SCALES:
        raise InputError(f"unknown national scale {scale!r}: use {', '.join(NATIONAL_SCALES)}")
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    check_workers(workers)
    if scheduler is not None:
        check_scheduler(scheduler)
    if out is not None:  # outputs of an earlier run would mix with this one's partitions
        for name in ("national", "speedup-1", f"speedup-{workers}",
                     *(("country",) if country is None else ())):
            require_empty(Path(out) / name)
    if national_budget is None and region_budgets is None:
        return {}
    if engine != "regions":
        raise InputError("--national-budget and --region-budget apply to --engine regions: "
                         "drop them or use --engine regions")
    regions = (reuse_country(Path(country), NATIONAL_SCALES[scale], seed, n_cities)["regions"]
               if country is not None else
               [t.region for t in country_tiles(NATIONAL_SCALES[scale], seed,
                                                n_cities=n_cities)])
    from hotspot_env.interventions.region_budgets import parse_region_budgets
    from hotspot_env.scale.national_portfolio import national_options

    national_options(list(regions), national_budget, region_budgets, {})
    return {"national_budget": national_budget,
            "region_budgets": parse_region_budgets(region_budgets, national_budget)}


def _generate(base: Path, preset: str, seed: int, workers: int, scheduler: str | None,
              n_cities: int | None = None) -> tuple[dict[str, Any], float]:
    """Write the country on the cluster, one task per city; its metadata and seconds."""
    from hotspot_env.scale.country import country_tiles, write_country

    client = local_cluster(workers, scheduler)
    try:
        t0 = time.perf_counter()
        tiles = country_tiles(preset, seed, n_cities=n_cities) if n_cities else None
        country = write_country(base / "country", preset, seed, client=client, tiles=tiles)
        return {**country, "folder": str(base / "country")}, time.perf_counter() - t0
    finally:
        close_client(client)


def reuse_country(folder: Path, preset: str, seed: int, n_cities: int | None
                  ) -> dict[str, Any]:
    """The metadata of a country written earlier, checked against the run's preset and seed."""
    from hotspot_env.scale.checks import check_country

    meta = check_country(folder)
    wanted = {"scale": preset, "seed": int(seed)}
    found = {key: meta.get(key) for key in wanted}
    if found != wanted or (n_cities is not None and len(meta["regions"]) != n_cities):
        raise InputError(f"--country {folder} holds {found} with {len(meta['regions'])} "
                         f"regions, not {wanted}: generate it again (drop --country)")
    return {**meta, "folder": str(folder)}


def _summary(result: dict[str, Any], scale: str, country: dict[str, Any], generate_s: float,
             workers: int, scheduler: str | None, metro_path: Path) -> dict[str, Any]:
    """Fields common to both engines: sizes, rates, the metro comparison, the machine."""
    from hotspot_env.bench import machine_info

    n = int(country["n_incidents"])
    wall = result["total_s"]
    summary = {"scale": scale, "workers": workers, "scheduler": scheduler or "LocalCluster",
               "n_incidents": n, "cell_size_m": NATIONAL_CELL_SIZE_M,
               "generate_s": round(generate_s, 3), "incidents_per_s": round(n / wall, 1),
               "s_per_million_incidents": round(wall / n * 1e6, 3),
               "metro": metro_reference(metro_path), "machine": machine_info()}
    if summary["metro"]:
        summary["vs_metro_per_million"] = round(
            summary["s_per_million_incidents"] / summary["metro"]["s_per_million_incidents"], 3)
    return summary


def _bench_regions(base: Path, country: dict[str, Any], workers: int, scheduler: str | None,
                   speedup_regions: int | None, budgets: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """The region-by-region engine: one single-city run per region on the cluster."""
    run = _timed_run(Path(country["folder"]), base / "national", workers, scheduler, None,
                     budgets)
    result: dict[str, Any] = {
        "engine": "regions", "statistics": run["statistics"],
        "n_regions": len(run["tiles"]),
        "n_incidents_used": int(sum(t["counts"].get("incidents_used", 0)
                                    for t in run["tiles"])),
        "n_cells": int(run["n_cells"]), "total_s": round(run["wall_s"], 3),
        "stages": stage_table(run),
        "region_s": {t["region"]: round(sum(t["seconds"].values()), 3) for t in run["tiles"]},
        "region_cpu_s": {t["region"]: round(t["cpu_s"], 3) for t in run["tiles"]},
        "peak_rss_mb_per_worker": peak_per_worker(run),
    }
    result["projection_s"] = projection(list(result["region_s"].values()),
                                        float(run["mosaic_s"]))
    if speedup_regions != 0 and workers > 1 and not scheduler:
        result["speedup"] = _speedup(base, country, workers, speedup_regions, budgets)
    if "portfolio" in run:
        result["portfolio"] = run["portfolio"]
    return result


def _speedup(base: Path, country: dict[str, Any], workers: int,
             n_regions: int | None, budgets: dict[str, Any] | None = None) -> dict[str, Any]:
    """Wall time of the same regions on 1 worker and on ``workers`` workers."""
    regions = country["regions"]
    subset = regions if n_regions is None else regions[:n_regions]
    walls = {}
    for k in (1, workers):
        run = _timed_run(Path(country["folder"]), base / f"speedup-{k}", k, None, subset,
                         budgets)
        walls[k] = run["wall_s"]
    return {"regions": len(subset), "wall_s_1": round(walls[1], 3),
            f"wall_s_{workers}": round(walls[workers], 3),
            "speedup": round(walls[1] / walls[workers], 3)}


def format_table(result: dict[str, Any]) -> str:
    """The result as a short text table (what the CLI prints without ``--json``)."""
    lines = [f"scale {result['scale']} ({result['engine']}, {result['workers']} workers): "
             f"{result['n_regions']} regions, {result['n_incidents']:,} incidents, "
             f"{result['n_cells']:,} cells", f"{'step':<28}{'worker-s':>12}"]
    lines += [f"{name:<28}{seconds:>12.2f}" for name, seconds in result["stages"].items()]
    lines.append(f"generation {result['generate_s']:.1f} s; national run {result['total_s']:.1f} s "
                 f"wall, {result['s_per_million_incidents']:.1f} s per million incidents")
    if result.get("metro"):
        lines.append(f"metro: {result['metro']['s_per_million_incidents']:.1f} s per million "
                     f"(ratio {result['vs_metro_per_million']:.2f})")
    peaks = result["peak_rss_mb_per_worker"]
    lines.append("peak memory per worker (MiB): " + ", ".join(f"{v:,.0f}" for v in peaks.values()))
    if "speedup" in result:
        s = result["speedup"]
        lines.append(f"speed-up 1 -> {result['workers']} workers on {s['regions']} regions: "
                     f"{s['speedup']:.2f}x")
    return "\n".join(lines)


def bench_national_cli(scale: str, engine: str, workers: int, scheduler: str | None,
                       out: str | os.PathLike[str] | None, json_output: bool,
                       country: str | os.PathLike[str] | None = None,
                       national_budget: float | None = None,
                       region_budgets: list[str] | None = None) -> str:
    """``hotspot-env bench --scale national``: run, write ``results-SCALE.json`` into ``out``."""
    from hotspot_env._atomic import write_text
    from hotspot_env.bench import to_json

    result = run_bench_national(scale, engine=engine, workers=workers, scheduler=scheduler,
                                out=out, country=country, national_budget=national_budget,
                                region_budgets=region_budgets)
    text = to_json(result)
    if out is not None:
        write_text(Path(out) / f"results-{scale}.json", text + "\n")
    return text if json_output else format_table(result)
