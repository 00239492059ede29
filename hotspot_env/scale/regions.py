"""A national run region by region: one single-city analysis per region, on dask.

Each region (a city of :mod:`hotspot_env.scale.country`) is analysed as its
own study area by :func:`hotspot_env.core.pipeline.run`, in one dask task
that reads only that region's GeoParquet partition and the layer rows inside
its bounding box, and writes that region's part of the national outputs
(:func:`hotspot_env.scale.outputs.write_region`). Only a small record comes
back to the client, which then writes the density mosaic and the manifest.

Every model is fitted **per region** (cell size and bandwidth choices, Gi*
mean and variance, FDR, the risk terrain model, forecast selection and the
intervention portfolio with its budget): the manifest says so. A tiled run
with global statistics is :mod:`hotspot_env.scale.engine`'s job.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numba

from hotspot_env._atomic import staged_folder
from hotspot_env._hashing import file_sha256
from hotspot_env.errors import InputError
from hotspot_env.outputs.privacy import tally_for
from hotspot_env.scale.checks import check_country
from hotspot_env.scale.country import read_country, read_layers_tile, require_empty
from hotspot_env.scale.national_portfolio import (
    NATIONAL_PORTFOLIO_NOTE,
    national_options,
    national_portfolio,
)
from hotspot_env.scale.outputs import (
    mosaic_tags,
    national_manifest,
    write_density_mosaic,
    write_manifest,
)
from hotspot_env.scale.threads import single_threaded, worker_threads

#: What the manifest says about the statistics of a region-by-region run.
PER_REGION_NOTE: str = (
    "each region was analysed as its own study area: cell size, bandwidth, Gi* mean and "
    "variance, FDR threshold, risk terrain model, forecast choice and the intervention "
    "portfolio (and its budget) are per region, not national")


@single_threaded
def analyze_region(country_folder: str | os.PathLike[str], region: str,
                   stage_dir: str | os.PathLike[str], options: dict[str, Any],
                   national: bool = False) -> dict[str, Any]:
    """Analyse one region and write its outputs into ``stage_dir`` (runs in a worker).

    Parameters
    ----------
    country_folder : path
        Folder of :func:`hotspot_env.scale.country.write_country`.
    region : str
        Region to analyse.
    stage_dir : path
        Staging folder of the national run.
    options : dict
        Passed to :func:`hotspot_env.core.pipeline.run` (``cell_size``,
        ``bandwidth``, ``privacy``, ``stage_options``, ``stages`` ...).
    national : bool
        The portfolio is chosen nationally: the region ranks its candidates
        without selecting, keeps its interventions state in ``stage_dir`` and
        returns its candidate list under ``"candidates"``
        (:mod:`hotspot_env.scale.national_portfolio`); its interventions files
        are written after the national choice.

    Returns
    -------
    dict
        The region's manifest record, with ``seconds`` per step (read, layers,
        each pipeline stage, write), the worker's ``peak_rss_mb`` and the
        ``numba_threads`` its kernels ran on (1 on a dask worker:
        :mod:`hotspot_env.scale.threads`).
    """
    import geopandas as gpd

    from hotspot_env.core.pipeline import run
    from hotspot_env.scale.outputs import write_region

    country = Path(country_folder)
    meta = read_country(country)
    tile = next(t for t in meta["tiles"] if t["region"] == region)
    seconds: dict[str, float] = {}
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    part = country / "incidents" / f"{region}.parquet"
    incidents = gpd.read_parquet(part)
    seconds["read_incidents"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    layers = read_layers_tile(country, tuple(tile["bounds"]))
    seconds["read_layers"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix=f"hotspot-{region}-") as tmp:
        # analyze() reads user layers from a GeoPackage, as a single-city user hands them over
        t0 = time.perf_counter()
        gpkg = Path(tmp) / f"{region}.gpkg"
        for name, frame in layers.items():
            # read whole by analyze(): a spatial index would cost 40 % of this step for nothing
            frame.drop(columns="region").to_file(gpkg, layer=name, driver="GPKG",
                                                 engine="pyogrio", use_arrow=True,
                                                 layer_options={"SPATIAL_INDEX": "NO"})
        del layers
        seconds["layers_to_gpkg"] = time.perf_counter() - t0
        analysis = run(incidents, layers=gpkg, simulated=True, **options)
    del incidents
    seconds.update({k: float(v) for k, v in analysis.timings.items()})
    t0 = time.perf_counter()
    candidates = _keep_for_national(analysis, region, stage_dir) if national else None
    record = write_region(analysis, region, stage_dir)
    if candidates is not None:
        record["candidates"] = candidates
    seconds["write"] = time.perf_counter() - t0
    # public mode withholds the incidents' hash (core.public_basis.withhold_incident_hash)
    digest = None if analysis.protection is not None else file_sha256(part)
    record["inputs"] = [{"path": f"incidents/{region}.parquet", "sha256": digest}]
    record["bounds"] = tile["bounds"]
    record["seconds"] = seconds
    # CPU seconds of the task: its cost without the waiting a shared machine adds
    record["cpu_s"] = time.process_time() - cpu0
    record["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record["pid"] = os.getpid()
    record["numba_threads"] = numba.get_num_threads()
    return record


def _public_country(meta: dict[str, Any], privacy: str) -> dict[str, Any]:
    """The country's description as the manifest states it.

    ``n_incidents`` is rounded as every public tally is (public mode): exact, it
    and the other tallies would give each region's exact count.
    """
    country = {k: meta[k] for k in ("scale", "seed", "crs", "bounds", "n_incidents")}
    country["n_incidents"] = tally_for(country["n_incidents"], privacy)
    return country


def _keep_for_national(analysis: Any, region: str, stage_dir: str | os.PathLike[str]
                       ) -> Any:
    """Save the region's interventions state for the national choice; its candidate list.

    The interventions are taken off ``analysis``, so :func:`write_region` writes
    them only after the national choice (:func:`national_portfolio.write_region_portfolio`).
    """
    from hotspot_env.scale.national_portfolio import candidates_of, state_folder

    result = analysis.interventions
    if result is None:
        return None
    folder = state_folder(stage_dir, region)
    folder.mkdir(parents=True, exist_ok=True)
    result.save_state(folder)
    analysis.interventions = None
    return candidates_of(result, region)


def run_national(country_folder: str | os.PathLike[str], out: str | os.PathLike[str], *,
                 client: Any = None, regions: list[str] | None = None,
                 national_budget: float | None = None,
                 region_budgets: dict[str, float] | list[str] | None = None,
                 **options: Any) -> dict[str, Any]:
    """Analyse every region of a synthetic country and write the national outputs.

    Parameters
    ----------
    country_folder : path
        Folder of :func:`hotspot_env.scale.country.write_country`.
    out : path
        Output folder; written through a staging folder and renamed together.
    client : dask.distributed.Client, optional
        One task per region on this cluster (default: in this process).
    regions : list of str, optional
        Regions to analyse (default: all).
    national_budget : float, optional
        USD per year: choose **one national portfolio** over every region's
        candidates under this budget (:mod:`hotspot_env.scale.national_portfolio`)
        instead of one portfolio per region; announced in the manifest.
    region_budgets : dict or list of str, optional
        With ``national_budget``: caps per region (``["city_00=50000"]``).
    **options
        Passed to :func:`hotspot_env.core.pipeline.run` in each region.

    Returns
    -------
    dict
        The national manifest (``manifest.json``), with ``wall_s``.
    """
    meta = check_country(country_folder, "country folder")  # before any region runs
    names = regions or list(meta["regions"])
    unknown = [name for name in names if name not in meta["regions"]]
    if unknown:
        raise InputError(f"regions {', '.join(map(str, unknown))} are not in the country: use "
                         f"some of {', '.join(meta['regions'][:12])}"
                         + (", ..." if len(meta["regions"]) > 12 else ""))
    national = national_budget is not None or region_budgets is not None
    if national:  # refused before any region is analysed
        options = national_options(names, national_budget, region_budgets, options)
    require_empty(out)
    t_start = time.perf_counter()
    with staged_folder(out) as stage:
        if client is None:
            records = [analyze_region(country_folder, r, stage, options, national)
                       for r in names]
        else:
            futures = client.map(analyze_region, [str(country_folder)] * len(names), names,
                                 [str(stage)] * len(names), [options] * len(names),
                                 [national] * len(names), pure=False)
            records = list(client.gather(futures))
        portfolio = (national_portfolio(records, stage, client, national_budget,
                                        region_budgets, options) if national else {})
        t0 = time.perf_counter()
        write_density_mosaic(stage, records, tags={"simulated": "true", **mosaic_tags(records)})
        mosaic_s = time.perf_counter() - t0
        manifest = national_manifest(records, {
            "engine": "regions", **portfolio,
            "statistics": NATIONAL_PORTFOLIO_NOTE if national else PER_REGION_NOTE,
            "country": _public_country(meta, options.get("privacy", "internal")),
            "options": options, "simulated": True, "mosaic_s": mosaic_s,
            "worker_threads": worker_threads(client) if client is not None else None,
            "wall_s": time.perf_counter() - t_start})
        write_manifest(stage, manifest)
    return manifest

