"""Run an analysis on dask.distributed, tile by tile, with one machine's answers.

``hotspot-env analyze ... --engine dask`` and :func:`analyze_tiled` read the
inputs and choose the grid, bandwidth and every other parameter exactly as the
in-process run does (:func:`hotspot_env.core.analysis.analyze`); then the
per-cell surfaces are computed by dask tasks, one per tile with its halo
(:mod:`hotspot_env.scale.tiles`):

* **per tile** (dask tasks): incident counts, the KDE, and Gi*'s queen local
  sums and its sufficient statistics (``n``, ``sum x``, ``sum x²``);
* **global** (the client, from the tiles' small summaries): Gi*'s mean and
  variance, then each tile's z and p, and the Benjamini-Hochberg FDR cut-offs
  over all cells, against which every tile's cells are binned
  (:mod:`hotspot_env.scale.global_stats`);
* **the risk terrain model from per-tile sums**: each tile builds its cells'
  rows of the design from the features near it and keeps them on its worker;
  the one RTM selection runs in the client on the tiles' summed frequency
  tables, density moments and candidate digests
  (:mod:`hotspot_env.scale.tiled_design`, :mod:`hotspot_env.scale.tile_rtm`);
* **the forecast's cross-validation from per-tile parts**: each tile keeps its
  window of the count cube and scores every candidate on it; the client picks
  the candidate from the tiles' sums, maxima and an exact distributed selection
  of each fold's top share (:mod:`hotspot_env.scale.tiled_forecast`,
  :mod:`hotspot_env.scale.tile_forecast`); the calibration reads the chosen
  candidate's scores merged;
* **on the merged result** (the client, in process): the other later stages
  (risk factors, validation, trends,
  interventions, and the RTM's per-cell reasons) run on the tiles' arrays put
  back together, so they see the same grid and arrays as one machine. This is
  announced as the choice ``later_stages``.

The cluster is a :class:`dask.distributed.LocalCluster` by default, or any
running scheduler (``--scheduler tcp://HOST:8786``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hotspot_env.core.analysis import Analysis
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.core.hotspots import GiStar
from hotspot_env.errors import InputError
from hotspot_env.scale.checks import check_tile_km, require_dask
from hotspot_env.scale.global_stats import GiMoments, bins_from_cutoffs, fdr_cutoffs, tile_gi
from hotspot_env.scale.threads import WORKER_ENV, WORKER_THREADS_NOTE, worker_threads
from hotspot_env.scale.tile_factors import factor_reports, with_tiled_factors
from hotspot_env.scale.tile_tasks import TilePayload, TileSurfaces, tile_counts, tile_surfaces
from hotspot_env.scale.tiled_design import rtm_design_stats, with_tiled_rtm
from hotspot_env.scale.tiled_forecast import forecast_cube_stats, with_tiled_forecast
from hotspot_env.scale.tiles import (
    DEFAULT_TILE_KM,
    Tile,
    assemble,
    choose_halo,
    halo_distances,
    make_tiles,
    points_in_halos,
)

#: Which stages run per tile, which globally from tile summaries, which on the merged result.
STAGE_PLACEMENT: dict[str, str] = {
    "counts": "per tile", "kde": "per tile",
    "gi_star": "per tile (local sums) + global (mean and variance from n, sum x, sum x²)",
    "fdr": "global (one Benjamini-Hochberg cut-off per level over all cells)",
    "factors": "lighting's lux, sightline rays, distances to vacant land and to user layers "
               "per tile (halo), merged in the client; darkness and access on the merged "
               "result",
    "forecast": "per tile (each tile's window of the count cube and its smooths, every "
                "candidate's scores) + global (the smooths' floor and period totals, the "
                "tie-break's largest value, each fold's PEI cut-off by an exact distributed "
                "selection; the one-SE choice); the calibration on the chosen candidate's "
                "scores merged in the client",
    "validation": "merged result",
    "rtm": "per tile (each tile's rows of the design, from the features near it) + global "
           "(candidates, density thresholds and every fit from the tiles' summed frequency "
           "tables of indicator pattern and count: the sufficient statistics of every IRLS "
           "step); the per-cell reasons on the merged result",
    "trends": "merged result", "interventions": "merged result (one candidate list)",
}

#: The ``later_stages`` announcement: where each later stage ran.
LATER_STAGES: str = (
    "the street-light illuminance, the sightline rays and the distances to vacant land and "
    "to user layers ran per tile (each tile's own points or cells, the lamps, obstacles and "
    "features read by box with the factor's halo); darkness, youth-space access, validation, "
    "trends and interventions run once on the tiles' arrays put back together (the same grid "
    "and arrays as one machine); counts, KDE and Gi* ran per tile, Gi*'s moments and the FDR "
    "cut-offs over all cells; the risk terrain model was fitted once in the client from "
    "per-tile sums (each tile's rows of the design stayed on its worker); the forecast's "
    "candidates were scored on the tiles (each tile's count cube stayed on its worker) and "
    "chosen in the client from the tiles' sums, maxima and top-share selections, then "
    "calibrated on the chosen candidate's merged scores")


#: Seconds to wait for a ``--scheduler`` before saying it cannot be reached.
CONNECT_TIMEOUT_S: float = 10.0


@contextlib.contextmanager
def connect(scheduler: Any = None, n_workers: int = 2) -> Iterator[Any]:
    """A dask client: an existing ``Client``, a scheduler address, or a new LocalCluster.

    Parameters
    ----------
    scheduler : Client, str or None
        ``None`` starts a :class:`LocalCluster` of ``n_workers`` processes of
        one thread each, numba, BLAS and OpenMP held to one thread too
        (:mod:`hotspot_env.scale.threads`), and closes it after.
        A string is a scheduler address such as ``tcp://HOST:8786``.
    n_workers : int
        Workers of the LocalCluster.
    """
    distributed = require_dask()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if scheduler is None:
        if not (isinstance(n_workers, int) and n_workers >= 1):
            raise InputError(f"--workers must be a whole number of 1 or more, got {n_workers!r}")
        # ":0": the scheduler's HTTP server on a free port (8787 may be another cluster's)
        # silence_logs: a worker slow to stop on a busy machine is killed, which is no news
        # WORKER_ENV: numba, BLAS and OpenMP start one thread each in a worker
        # (the tile tasks also hold them to one: hotspot_env.scale.threads)
        with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                      processes=True, dashboard_address=":0", env=WORKER_ENV,
                                      silence_logs=logging.ERROR) as cluster, \
                distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(str(scheduler), timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the dask scheduler at {scheduler}: start one "
                         "(dask scheduler) and its workers, or drop --scheduler for a local "
                         "cluster") from exc
    with client:
        yield client


class TiledSurfaces:
    """The surface engine of :func:`hotspot_env.core.analysis.analyze` on dask.

    Called by ``analyze`` once the grid and bandwidth are chosen; computes
    counts, KDE and Gi* tile by tile on ``client`` and keeps what it did
    (:attr:`tiles`, :attr:`reports`, :attr:`halo_m`) for the run manifest.
    """

    def __init__(self, client: Any, tile_km: float = DEFAULT_TILE_KM,
                 halo_options: dict[str, float | None] | None = None) -> None:
        self.client = client
        self.tile_km = float(tile_km)
        self.halo_options = dict(halo_options or {})
        self.tiles: list[Tile] = []
        self.reports: list[dict[str, Any]] = []
        self.halo_m: float = 0.0
        self.distances: dict[str, float] = {}
        #: Wall seconds of each step (``plan``, ``tasks``, ``global``): with the per-tile
        #: seconds of :attr:`reports`, what a scaling projection needs.
        self.timings: dict[str, float] = {}

    def __call__(self, grid: Grid, xs: np.ndarray, ys: np.ndarray, bandwidth: float,
                 protection: Any = None
                 ) -> tuple[np.ndarray, np.ndarray, GiStar, list[Choice]]:
        t0 = time.perf_counter()
        self.distances = halo_distances(grid, bandwidth, **self.halo_options)
        self.halo_m, halo_choice = choose_halo(self.distances, grid.cell_size)
        self.tiles = make_tiles(grid, self.tile_km, self.halo_m)
        rows, cols = grid.cell_index(xs, ys)
        members = points_in_halos(self.tiles, rows, cols)
        payloads = [self._payload(grid, tile, bandwidth, rows[i], cols[i], xs[i], ys[i])
                    for tile, i in zip(self.tiles, members, strict=True)]
        t1 = time.perf_counter()
        counts = None
        if protection is not None:  # public: protect the global counts, then tiles read those
            counts = self._assemble_counts(grid, self._run(tile_counts, payloads))
            basis = np.where(grid.mask, protection.counts("incidents", counts).imputed, 0)
            payloads = [self._public_payload(p, basis) for p in payloads]
        results: list[TileSurfaces] = self._run(tile_surfaces, payloads)
        t2 = time.perf_counter()
        if counts is None:
            counts = self._assemble_counts(grid, [r.counts for r in results])
        density = assemble(self.tiles, [r.density for r in results], grid.shape, 0.0)
        gi = self._global_gi(grid, results)
        self.timings = {"plan": t1 - t0, "tasks": t2 - t1, "global": time.perf_counter() - t2}
        self.reports = [{**t.to_dict(grid), "points_read": r.n_points,
                         "seconds": round(r.seconds, 4)}
                        for t, r in zip(self.tiles, results, strict=True)]
        tiling = announce(Choice(
            "tiles", len(self.tiles),
            f"the grid cut into tiles of {self.tiles[0].side if self.tiles else 0} x "
            f"{self.tiles[0].side if self.tiles else 0} cells (--tile-km {self.tile_km:g}) "
            "with a halo each; tiles with no cell in the study area are left out"))
        return counts, density, gi, [halo_choice, tiling]

    def _payload(self, grid: Grid, tile: Tile, bandwidth: float, rows: np.ndarray,
                 cols: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> TilePayload:
        r0, r1, c0, c1 = tile.window()
        return TilePayload(tile, grid.x0, grid.bounds[3], grid.cell_size, grid.crs,
                           grid.mask[r0:r1, c0:c1], float(bandwidth), rows, cols, xs, ys)

    @staticmethod
    def _public_payload(payload: TilePayload, basis: np.ndarray) -> TilePayload:
        r0, r1, c0, c1 = payload.tile.window()
        empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
        return TilePayload(payload.tile, payload.x0, payload.top, payload.cell_size,
                           payload.crs, payload.mask, payload.bandwidth, empty_i, empty_i,
                           empty_f, empty_f, basis[r0:r1, c0:c1])

    def _run(self, func: Any, payloads: list[TilePayload]) -> list[Any]:
        """``func`` on every payload, as dask tasks; results in tile order."""
        scattered = self.client.scatter(payloads, hash=False)  # no hashing of big arrays
        return self.client.gather(self.client.map(func, scattered, pure=False))

    def _assemble_counts(self, grid: Grid, parts: list[np.ndarray]) -> np.ndarray:
        return assemble(self.tiles, parts, grid.shape, 0, np.int64)

    def _global_gi(self, grid: Grid, results: list[TileSurfaces]) -> GiStar:
        """Gi* z and p per tile from the global moments; bins from global FDR cut-offs."""
        moments = GiMoments.merge([r.moments for r in results])
        zp = []
        for tile, r in zip(self.tiles, results, strict=True):
            mask = grid.mask[tile.row0:tile.row1, tile.col0:tile.col1]
            zp.append(tile_gi(r.local_sum, r.cardinality, mask, moments))
        cutoffs = fdr_cutoffs(np.concatenate([p[~np.isnan(p)] for _, p in zp])
                              if zp else np.zeros(0))
        z = assemble(self.tiles, [z for z, _ in zp], grid.shape, np.nan, np.float64)
        p = assemble(self.tiles, [p for _, p in zp], grid.shape, np.nan, np.float64)
        bins = assemble(self.tiles, [bins_from_cutoffs(z, p, cutoffs) for z, p in zp],
                        grid.shape, 0, np.int8)
        return GiStar(z, p, bins)


@dataclass
class TiledRun:
    """A run on dask: the merged :class:`Analysis` plus what each tile did.

    Attribute access falls through to :attr:`analysis` (``run.grid``,
    ``run.arrays``, ``run.rtm``...), so a ``TiledRun`` reads like an Analysis.

    Attributes
    ----------
    analysis : Analysis
        The merged result: global grid, per-cell arrays in global cell order,
        every stage's result, choices (the tiling and halo included).
    tiles : list of Tile
        The tiling.
    reports : list of dict
        Per tile: rows, columns, bounds, halo, points read, seconds.
    halo_m : float
        The halo width (metres).
    halo_distances : dict of str to float
        The neighbourhood of each stage the halo covers.
    scheduler : str
        The scheduler's address.
    timings : dict of str to float
        Wall seconds of the engine's steps: ``plan`` (halo, tiles, points per
        tile), ``tasks`` (the tile tasks, scatter and gather included) and
        ``global`` (merging, Gi*'s moments, FDR cut-offs).
    rtm_design : dict of str to int
        The risk terrain model's design on the tiles: ``tiles``, ``candidates``
        and ``round_trips`` (frequency tables fetched); empty without the RTM stage.
    worker_threads : dict
        The workers' threads (:func:`hotspot_env.scale.threads.worker_threads`).
    forecast_cube : dict of str to int
        The forecast's count cube on the tiles: ``tiles`` and ``round_trips``;
        empty when the forecast did not cross-validate.
    """

    analysis: Analysis
    tiles: list[Tile]
    reports: list[dict[str, Any]]
    halo_m: float
    halo_distances: dict[str, float] = field(default_factory=dict)
    scheduler: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    rtm_design: dict[str, int] = field(default_factory=dict)
    worker_threads: dict[str, Any] = field(default_factory=dict)
    forecast_cube: dict[str, int] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name == "analysis":  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.analysis, name)

    def tile_arrays(self, tile: Tile | int) -> dict[str, np.ndarray]:
        """The per-cell arrays of one tile's interior."""
        t = self.tiles[tile] if isinstance(tile, int) else tile
        return {name: values[t.row0:t.row1, t.col0:t.col1]
                for name, values in self.analysis.arrays.items()}

    def manifest(self) -> dict[str, Any]:
        """The engine's part of the run manifest (``parameters["engine"]``)."""
        return {"engine": "dask", "scheduler": self.scheduler, "halo_m": self.halo_m,
                "halo_distances_m": self.halo_distances, "stages": STAGE_PLACEMENT,
                "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
                "rtm_design": self.rtm_design, "worker_threads": self.worker_threads,
                "forecast_cube": self.forecast_cube,
                "tiles": self.reports}


def analyze_tiled(
    incidents: Any,
    *,
    layers: str | os.PathLike[str] | None = None,
    osm: str | os.PathLike[str] | None = None,
    cell_size: float | None = None,
    bandwidth: float | None = None,
    tile_km: float = DEFAULT_TILE_KM,
    scheduler: Any = None,
    n_workers: int = 2,
    privacy: str = "internal",
    out: str | os.PathLike[str] | None = None,
    stages: list[str] | None = None,
    stage_options: dict[str, dict[str, Any]] | None = None,
    simulated: bool = False,
    halo_options: dict[str, float | None] | None = None,
    **analyze_options: Any,
) -> TiledRun:
    """Analyse ``incidents`` on dask, tile by tile, with the in-process run's answers.

    Parameters
    ----------
    incidents : path, GeoDataFrame or Incidents
        As :func:`hotspot_env.core.pipeline.run`.
    layers, osm, cell_size, bandwidth, privacy : optional
        As :func:`hotspot_env.core.analysis.analyze`.
    tile_km : float
        Tile side in kilometres (whole cells).
    scheduler : Client, str or None
        A dask ``Client``, a scheduler address (``tcp://HOST:8786``) or
        ``None`` for a LocalCluster of ``n_workers`` processes.
    n_workers : int
        Workers of the LocalCluster.
    out : path, optional
        Output folder (the manifest lists every tile).
    stages, stage_options, simulated :
        As :func:`hotspot_env.core.pipeline.run`.
    halo_options : dict, optional
        ``block_length_m``, ``walk_m``, ``reach_m`` for
        :func:`hotspot_env.scale.tiles.halo_distances`.
    **analyze_options
        Other options of :func:`hotspot_env.core.analysis.analyze`.

    Returns
    -------
    TiledRun
    """
    from hotspot_env.core.pipeline import run

    check_tile_km(tile_km)
    if out is not None:  # before the analysis, not after
        from hotspot_env._atomic import check_inputs_outside

        check_inputs_outside(out, (incidents, osm, layers))
    halo_options = dict(halo_options or {})
    youth_walk_m = ((stage_options or {}).get("factors") or {}).get("youth_walk_m")
    if youth_walk_m is not None and halo_options.get("walk_m") is None:
        halo_options["walk_m"] = youth_walk_m  # the run's threshold sizes the halo
    with connect(scheduler, n_workers) as client:
        engine = TiledSurfaces(client, tile_km, halo_options)
        options = with_tiled_forecast(with_tiled_rtm(stage_options, client, lambda: engine.tiles),
                                      client, lambda: engine.tiles)
        options, per_tile = with_tiled_factors(options, client, engine)
        analysis = run(incidents, layers=layers, osm=osm, cell_size=cell_size,
                       bandwidth=bandwidth, privacy=privacy, simulated=simulated,
                       stages=stages, stage_options=options, surfaces=engine,
                       **analyze_options)
        address = str(client.scheduler.address)
        threads = worker_threads(client)
    analysis.choices.append(announce(Choice("later_stages", "merged result", LATER_STAGES)))
    analysis.choices.append(announce(Choice("worker_threads", 1, WORKER_THREADS_NOTE)))
    tiled = TiledRun(analysis, engine.tiles, engine.reports, engine.halo_m, engine.distances,
                     address, engine.timings, rtm_design_stats(options), threads,
                     forecast_cube_stats(options))
    analysis.parameters["engine"] = {**tiled.manifest(), "factor_tiles": factor_reports(per_tile)}
    if out is not None:
        _write(analysis, out)
    return tiled


def _write(analysis: Analysis, out: str | os.PathLike[str]) -> None:
    from hotspot_env.outputs.export import write_outputs

    t0 = time.perf_counter()
    write_outputs(analysis, out)
    analysis.timings["write"] = time.perf_counter() - t0
