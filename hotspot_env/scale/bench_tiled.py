"""The national benchmark with the tiled engine (``--engine dask``).

:func:`hotspot_env.scale.engine.analyze_tiled` reads the whole input in the
client, computes counts, KDE and Gi* per tile on the cluster (Gi*'s moments
and the FDR cut-offs over all cells), then runs the later stages on the merged
arrays in the client. So its memory is the client's, and only the per-tile
surfaces scale with the workers: this benchmark reports both.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import geopandas as gpd

from hotspot_env.scale.country import read_country


def country_layers_gpkg(country: Path, path: Path) -> Path:
    """Every layer of the country in one GeoPackage (what ``--layers`` reads)."""
    for folder in sorted(p for p in (country / "layers").iterdir() if p.is_dir()):
        frame = gpd.read_parquet(folder)
        frame.drop(columns=["region"]).to_file(path, layer=folder.name, driver="GPKG",
                                               engine="pyogrio", use_arrow=True,
                                               layer_options={"SPATIAL_INDEX": "NO"})
    return path


def _worker_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tiled_run(country: Path, out: Path, workers: int, scheduler: str | None,
              write: bool = True) -> dict[str, Any]:
    """One tiled run of the country: wall seconds per step, peaks, the run's tile reports."""
    from hotspot_env.scale.bench_common import (
        NATIONAL_CELL_SIZE_M,
        close_client,
        local_cluster,
    )
    from hotspot_env.scale.engine import analyze_tiled
    from hotspot_env.scale.tiled_outputs import write_tiled_run

    meta = read_country(country)
    seconds: dict[str, float] = {}
    client = local_cluster(workers, scheduler)
    try:
        t_start = time.perf_counter()
        incidents = gpd.read_parquet(country / "incidents")
        seconds["read_incidents"] = time.perf_counter() - t_start
        t0 = time.perf_counter()
        gpkg = country_layers_gpkg(country, out.parent / f".{out.name}-layers.gpkg")
        seconds["layers_to_gpkg"] = time.perf_counter() - t0
        run = analyze_tiled(incidents.drop(columns=["region"]), layers=gpkg,
                            cell_size=NATIONAL_CELL_SIZE_M, scheduler=client, simulated=True)
        seconds.update({k: float(v) for k, v in run.analysis.timings.items()})
        if write:
            t0 = time.perf_counter()
            regions = {t["region"]: tuple(t["bounds"]) for t in meta["tiles"]}
            write_tiled_run(run, out, regions)
            seconds["write_national"] = time.perf_counter() - t0
        wall = time.perf_counter() - t_start
        peaks = client.run(_worker_peak_mb)
    finally:
        close_client(client)
    gpkg.unlink(missing_ok=True)
    tile_s = [float(r["seconds"]) for r in run.reports]
    return {"wall_s": wall, "seconds": seconds, "tile_s": tile_s, "n_cells": int(
        run.analysis.grid.mask.sum()), "n_tiles": len(run.tiles),
        "incidents_used": int(run.analysis.counts["incidents_used"]),
        "peak_rss_mb_per_worker": {str(k): round(v, 1) for k, v in peaks.items()},
        "client_peak_rss_mb": round(_worker_peak_mb(), 1)}


def bench_tiled(base: Path, country: dict[str, Any], workers: int, scheduler: str | None,
                speedup: bool) -> dict[str, Any]:
    """The ``--engine dask`` result: stages, peaks, tile costs and the 1 -> N speed-up."""
    from hotspot_env.scale.bench_common import projection

    run = tiled_run(Path(country["folder"]), base / "national", workers, scheduler)
    tile_total = sum(run["tile_s"])
    serial = run["wall_s"] - tile_total / max(workers, 1)  # client-side part, not parallel
    result: dict[str, Any] = {
        "engine": "dask", "statistics": "global: Gi* moments and FDR over all cells, the "
        "risk terrain model from per-tile frequency tables, the forecast's cross-validation "
        "from per-tile parts; the other later stages on the merged arrays in the client",
        "n_regions": len(country["regions"]), "n_tiles": run["n_tiles"],
        "n_incidents_used": run["incidents_used"], "n_cells": run["n_cells"],
        "total_s": round(run["wall_s"], 3),
        "stages": {k: round(v, 4) for k, v in run["seconds"].items()},
        "tile_surfaces_worker_s": round(tile_total, 3),
        "peak_rss_mb_per_worker": run["peak_rss_mb_per_worker"],
        "client_peak_rss_mb": run["client_peak_rss_mb"],
        "projection_s": projection(run["tile_s"], max(serial, 0.0)),
    }
    if speedup and workers > 1 and not scheduler:
        walls = {k: tiled_run(Path(country["folder"]), base / f"speedup-{k}", k, None,
                              write=False)["wall_s"] for k in (1, workers)}
        result["speedup"] = {"regions": len(country["regions"]),
                             "wall_s_1": round(walls[1], 3),
                             f"wall_s_{workers}": round(walls[workers], 3),
                             "speedup": round(walls[1] / walls[workers], 3)}
    return result

