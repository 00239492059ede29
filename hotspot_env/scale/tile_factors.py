"""Risk factors per tile: the sightline rays cast by dask tasks, tile by tile.

The tiled engine (:mod:`hotspot_env.scale.engine`) runs the factor stage with
the expensive, local part of the sightlines factor on the workers:

* the client places the observers along the outdoor streets (cheap, and the
  sampler's sums run along the whole layer) and writes them and the obstacles
  (buildings, walls, vegetation) once, as GeoParquet with a covering ``bbox``
  column (:func:`spill_layers`);
* each tile task reads the observers in the region it owns and the obstacles
  whose box meets that region plus the factor's halo (the longest sightline)
  (``geopandas.read_parquet(..., bbox=...)``: row groups and rows are skipped
  by their bounding boxes), drops observers inside a building and casts the
  rays (:func:`tile_sightlines`);
* the client puts the observers back in the single-machine order and builds
  the same :class:`~hotspot_env.factors.base.FactorResult`
  (:func:`merge_sightlines`): per-cell means, the observer layer, the
  "buildings look incomplete" test over all observers, and the choice.

Every observer belongs to exactly one tile: the tile of its cell, or for an
observer in a block without a tile (outside the study area, or beyond the
grid), the nearest tile's block (:func:`block_owners`). A ray is at most
``max_m`` long and the halo is wider, so a tile sees every obstacle its
observers' rays can meet, and each ray is the single machine's ray (bit for
bit, tested).

The other factors (lighting, darkness, vacancy, access, custom layers) run in
the client on the merged result, as before; the run announces which is which.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from hotspot_env.core.grid import Grid
from hotspot_env.factors import sightlines
from hotspot_env.factors.base import (
    FactorResult,
    get_layer,
    outdoor_streets,
    sample_along,
)
from hotspot_env.scale.threads import single_threaded
from hotspot_env.scale.tiles import Tile, TileOnGrid

#: Factors whose costly work runs in the tile tasks.
PER_TILE_FACTORS: tuple[str, ...] = ("lighting", "sightlines", "vacancy", "custom")
#: Defaults of :func:`hotspot_env.factors.sightlines.compute`.
SIGHTLINE_DEFAULTS: dict[str, float] = {"step_m": 15.0, "n_rays": 16, "max_m": 100.0,
                                        "min_blocked_share": 0.1}


def spill_layers(layers: dict[str, gpd.GeoDataFrame], grid: Grid,
                 folder: str | os.PathLike[str], step_m: float) -> dict[str, Any] | None:
    """Write the sightlines factor's inputs as GeoParquet for the tiles to read by box.

    The observers are placed here, along every outdoor street at once, exactly
    as :func:`hotspot_env.factors.sightlines.compute` places them (the sampler
    sums lengths along the whole layer, so a tile's part would differ in the
    last bits); the rays, the costly part, are the tiles' work.

    Returns
    -------
    dict or None
        ``observers`` and ``obstacles`` paths, each observer's street label
        (``segment_id``), the obstacles frame, and the observers' and
        obstacles' bounds; None when the factor has nothing to measure (the
        client then runs it as usual).
    """
    streets = outdoor_streets(get_layer(layers, "streets"))
    buildings = get_layer(layers, "buildings")
    if streets is None or buildings is None:
        return None
    obstacles = sightlines.obstacles_of(layers, buildings, grid)
    x, y, line = sample_along(streets.geometry.to_numpy(), step_m)
    folder = Path(folder)
    paths = {"observers": folder / "observers.parquet", "obstacles": folder / "obstacles.parquet"}
    frames = {"observers": gpd.GeoDataFrame({"_pos": np.arange(x.size, dtype=np.int64)},
                                            geometry=shapely.points(x, y), crs=grid.crs),
              "obstacles": gpd.GeoDataFrame({"_pos": np.arange(len(obstacles), dtype=np.int64)},
                                            geometry=obstacles.geometry.to_numpy(),
                                            crs=grid.crs)}
    for name, frame in frames.items():
        frame.to_parquet(paths[name], write_covering_bbox=True, row_group_size=4096)
    bounds = np.vstack([frames["observers"].total_bounds, obstacles.total_bounds])
    return {"paths": paths, "obstacles": obstacles, "n_observers": int(x.size),
            "segment_id": np.asarray(streets.index, dtype=np.int64)[line],
            "bounds": (float(bounds[:, 0].min()), float(bounds[:, 1].min()),
                       float(bounds[:, 2].max()), float(bounds[:, 3].max()))}


def block_owners(tiles: list[Tile]) -> np.ndarray:
    """The tile owning each block of the tiling: its own, or the nearest tile's.

    Blocks are the tiling's ``side`` x ``side`` squares; a block without a tile
    (no study-area cell) goes to the tile whose block is nearest (ties: the
    lower tile index), so every observer anywhere has one owner.
    """
    side, n_rows, n_cols = tiles[0].side, tiles[0].n_rows, tiles[0].n_cols
    n_br, n_bc = -(-n_rows // side), -(-n_cols // side)
    have = np.array([(t.row0 // side, t.col0 // side) for t in tiles], dtype=float)
    rr, cc = np.meshgrid(np.arange(n_br), np.arange(n_bc), indexing="ij")
    d2 = (rr.ravel()[:, None] - have[:, 0]) ** 2 + (cc.ravel()[:, None] - have[:, 1]) ** 2
    return np.argmin(d2, axis=1).reshape(n_br, n_bc).astype(np.int64)


def _owner_of(x: np.ndarray, y: np.ndarray, x0: float, top: float, cell: float,
              shape: tuple[int, int], owners: np.ndarray, side: int) -> np.ndarray:
    """Owning tile of points: the block of their cell, clamped onto the grid."""
    col = np.clip(np.floor((x - x0) / cell), 0, shape[1] - 1).astype(np.int64)
    row = np.clip(np.floor((top - y) / cell), 0, shape[0] - 1).astype(np.int64)
    return owners[row // side, col // side]


@dataclass(frozen=True)
class OwnedPayload(TileOnGrid):
    """A tile task over points that each belong to one tile (:func:`block_owners`).

    Starts with the tile on its grid (:class:`~hotspot_env.scale.tiles.TileOnGrid`).

    Attributes
    ----------
    shape : tuple of int
        The global grid's rows and columns.
    owners : ndarray of int
        The owning tile of each block of the tiling.
    own_bbox : tuple of float
        The box of the tile's owned blocks, where its own points are read.
    bbox : tuple of float
        That box grown by the task's reach, where what the points look at is read.
    """

    shape: tuple[int, int]
    owners: np.ndarray
    own_bbox: tuple[float, float, float, float]
    bbox: tuple[float, float, float, float]

    def owns(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Which of the points at ``x``, ``y`` this tile owns."""
        return _owner_of(x, y, self.x0, self.top, self.cell_size, self.shape, self.owners,
                         self.tile.side) == self.tile.index


def owned_fields(tile: Tile, grid: Grid, owners: np.ndarray, reach_m: float,
                 bounds: tuple[float, float, float, float]) -> tuple[Any, ...]:
    """The fields of a tile's :class:`OwnedPayload`, in order (the task's own fields follow)."""
    top = grid.bounds[3]
    return (tile, grid.x0, top, grid.cell_size, grid.shape, owners,
            tile_bbox(tile, owners, grid.x0, top, grid.cell_size, 0.0, bounds),
            tile_bbox(tile, owners, grid.x0, top, grid.cell_size, reach_m, bounds))


@dataclass(frozen=True)
class SightlinePayload(OwnedPayload):
    """One tile's sightline task: where to read, what it owns, the factor's options."""

    observers_path: str
    obstacles_path: str
    n_rays: int
    max_m: float


@dataclass(frozen=True)
class SightlinePart:
    """The observers one tile owns, with their rays' summaries (single-machine order keys)."""

    pos: np.ndarray
    x: np.ndarray
    y: np.ndarray
    mean: np.ndarray
    isovist: np.ndarray
    all_open: np.ndarray
    n_inside: int
    rows_read: int
    seconds: float


def tile_bbox(tile: Tile, owners: np.ndarray, x0: float, top: float, cell: float,
              halo_m: float, layer_bounds: tuple[float, float, float, float]
              ) -> tuple[float, float, float, float]:
    """The box a tile reads: its owned blocks plus the halo, out to the layers' edge
    on a side where it owns blocks at the edge of the tiling."""
    side = tile.side
    br, bc = np.nonzero(owners == tile.index)
    r0, r1 = int(br.min()) * side, min(tile.n_rows, (int(br.max()) + 1) * side)
    c0, c1 = int(bc.min()) * side, min(tile.n_cols, (int(bc.max()) + 1) * side)
    minx, maxx = x0 + c0 * cell - halo_m, x0 + c1 * cell + halo_m
    miny, maxy = top - r1 * cell - halo_m, top - r0 * cell + halo_m
    lx0, ly0, lx1, ly1 = layer_bounds
    if c0 == 0:
        minx = min(minx, lx0 - halo_m)
    if c1 == tile.n_cols:
        maxx = max(maxx, lx1 + halo_m)
    if r0 == 0:
        maxy = max(maxy, ly1 + halo_m)
    if r1 == tile.n_rows:
        miny = min(miny, ly0 - halo_m)
    return (minx, miny, maxx, maxy)


def _read(path: str, bbox: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """The rows of a spilled layer whose box meets ``bbox``, in their original order."""
    frame = gpd.read_parquet(path, bbox=bbox)
    return frame.sort_values("_pos", kind="stable").reset_index(drop=True)


@single_threaded  # numba and BLAS on one thread per task (scale.threads)
def tile_sightlines(p: SightlinePayload) -> SightlinePart:
    """Place, keep and cast the observers one tile owns (runs in a worker)."""
    start = time.perf_counter()
    observers, obstacles = _read(p.observers_path, p.own_bbox), _read(p.obstacles_path, p.bbox)
    x, y = shapely.get_x(observers.geometry.to_numpy()), shapely.get_y(
        observers.geometry.to_numpy())
    own = p.owns(x, y)
    x, y = x[own], y[own]
    pos = observers["_pos"].to_numpy()[own]
    geoms = obstacles.geometry.to_numpy()
    solid = geoms[np.isin(shapely.get_type_id(geoms), (3, 6))]
    inside = np.zeros(x.size, dtype=bool)
    if solid.size and x.size:
        hit, _ = shapely.STRtree(solid).query(shapely.points(x, y), predicate="within")
        inside[hit] = True
    keep = ~inside
    rays = sightlines.free_distances(x[keep], y[keep], sightlines.obstacle_edges(geoms),
                                     p.n_rays, p.max_m)
    isovist = (0.5 * math.sin(2.0 * math.pi / p.n_rays)
               * (rays * np.roll(rays, -1, axis=1)).sum(1))
    return SightlinePart(pos[keep], x[keep], y[keep], rays.mean(axis=1), isovist,
                         (rays >= p.max_m).all(axis=1), int(inside.sum()),
                         len(observers) + len(obstacles), time.perf_counter() - start)


def merge_sightlines(grid: Grid, parts: list[SightlinePart], spilled: dict[str, Any],
                     options: dict[str, Any]) -> FactorResult:
    """The sightlines factor of the whole grid from the tiles' observers.

    The same arrays, layer, choice and "not measured" test as
    :func:`hotspot_env.factors.sightlines.compute` on one machine.
    """
    step_m, n_rays, max_m = options["step_m"], int(options["n_rays"]), options["max_m"]
    pos = np.concatenate([p.pos for p in parts])
    order = np.argsort(pos, kind="stable")

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])[order]

    x, y, mean, isovist = joined("x"), joined("y"), joined("mean"), joined("isovist")
    all_open = joined("all_open")
    open_share = float(all_open.mean()) if all_open.size else 1.0
    return sightlines.observers_result(
        grid, x, y, mean, isovist, open_share=open_share,
        segment_id=spilled["segment_id"][pos[order]], geometry=shapely.points(x, y),
        n_inside=sum(p.n_inside for p in parts), obstacles=spilled["obstacles"],
        step_m=step_m, n_rays=n_rays, max_m=max_m,
        min_blocked_share=options["min_blocked_share"])


class TiledSightlines:
    """:func:`hotspot_env.factors.sightlines.compute` with its rays cast per tile on dask.

    Given to the factor stage as its sightlines function (``computes``) by the
    tiled engine; the tiles and halo are the engine's, known once the surfaces ran.
    Each tile reads its box grown by the factor's own halo (the longest
    sightline and a cell), narrower than the engine's halo. Falls back to the
    single-machine function when the factor has nothing to measure.
    """

    def __init__(self, client: Any, engine: Any) -> None:
        self.client = client
        self.engine = engine
        #: Per tile: rows read and seconds, for the run manifest.
        self.reports: list[dict[str, Any]] = []

    def __call__(self, layers: dict[str, gpd.GeoDataFrame], grid: Grid,
                 incidents: gpd.GeoDataFrame | None = None, **options: Any) -> FactorResult:
        import tempfile

        opts = {**SIGHTLINE_DEFAULTS, **options}
        opts["n_rays"] = sightlines._checked_rays(opts["step_m"], opts["n_rays"], opts["max_m"])
        tiles = self.engine.tiles
        if not tiles:
            return sightlines.compute(layers, grid, incidents, **options)
        # the factor's own halo: no ray is longer than max_m (a cell more for rounding)
        halo_m = float(opts["max_m"]) + grid.cell_size
        with tempfile.TemporaryDirectory(prefix="hotspot-sightlines-") as tmp:
            spilled = spill_layers(layers, grid, tmp, float(opts["step_m"]))
            if spilled is None:  # nothing to measure: the factor says so itself
                return sightlines.compute(layers, grid, incidents, **options)
            owners = block_owners(tiles)
            payloads = [SightlinePayload(
                *owned_fields(t, grid, owners, halo_m, spilled["bounds"]),
                str(spilled["paths"]["observers"]), str(spilled["paths"]["obstacles"]),
                opts["n_rays"], float(opts["max_m"]))
                for t in tiles]
            parts = self.client.gather(self.client.map(tile_sightlines, payloads, pure=False))
        rows_total = spilled["n_observers"] + len(spilled["obstacles"])
        self.reports = [{"tile": t.index, "rows_read": p.rows_read, "rows_total": rows_total,
                         "halo_m": halo_m,
                         "observers": int(p.x.size), "seconds": round(p.seconds, 4)}
                        for t, p in zip(tiles, parts, strict=True)]
        return merge_sightlines(grid, parts, spilled, opts)


@dataclass(frozen=True)
class LightPayload(OwnedPayload):
    """One tile's illuminance task: its points (owned), the lamps in reach, the lamp model."""

    points_path: str
    lamps_path: str
    radius_m: float


@single_threaded  # numba and BLAS on one thread per task (scale.threads)
def tile_illuminance(p: LightPayload) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Lux at the points one tile owns, from the lamps within reach (runs in a worker).

    Returns the points' positions, their lux, the rows read and the seconds.
    """
    from hotspot_env.factors.lighting import illuminance

    start = time.perf_counter()
    points, lamps = _read(p.points_path, p.own_bbox), _read(p.lamps_path, p.bbox)
    geoms = points.geometry.to_numpy()
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    own = p.owns(x, y)
    lamp_geoms = lamps.geometry.to_numpy()
    lux = illuminance(x[own], y[own], shapely.get_x(lamp_geoms), shapely.get_y(lamp_geoms),
                      lamps["lumens"].to_numpy(float), lamps["height_m"].to_numpy(float),
                      p.radius_m)
    return (points["_pos"].to_numpy()[own], lux, len(points) + len(lamps),
            time.perf_counter() - start)


class TiledIlluminance:
    """:func:`hotspot_env.factors.lighting.illuminance` evaluated tile by tile on dask.

    The client writes the points and the lamps as GeoParquet; each tile task
    reads the points it owns (:func:`block_owners`) and the lamps whose box
    meets its region grown by ``radius_m`` and a cell, and sums the lamps in
    reach of each point. A point's sum runs over the same lamps as on one
    machine, in the order the KD-tree pairs them, so values agree to about
    1e-15 relative (tested at 1e-9), not bit for bit.
    """

    def __init__(self, client: Any, tiles: list[Tile], grid: Grid) -> None:
        self.client, self.tiles, self.grid = client, tiles, grid
        self.reports: list[dict[str, Any]] = []

    def __call__(self, x: np.ndarray, y: np.ndarray, lamp_x: np.ndarray, lamp_y: np.ndarray,
                 lumens: np.ndarray | float, height_m: np.ndarray | float,
                 radius_m: float = 60.0) -> np.ndarray:
        import tempfile

        from hotspot_env.factors.lighting import illuminance

        x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
        if not self.tiles or not x.size or not np.size(lamp_x):
            return illuminance(x, y, lamp_x, lamp_y, lumens, height_m, radius_m)
        n_lamps = np.size(lamp_x)
        grid, owners = self.grid, block_owners(self.tiles)
        reach = float(radius_m) + grid.cell_size
        with tempfile.TemporaryDirectory(prefix="hotspot-lux-") as tmp:
            paths = {"points": Path(tmp) / "points.parquet", "lamps": Path(tmp) / "lamps.parquet"}
            gpd.GeoDataFrame({"_pos": np.arange(x.size, dtype=np.int64)},
                             geometry=shapely.points(x, y)).to_parquet(
                paths["points"], write_covering_bbox=True, row_group_size=4096)
            gpd.GeoDataFrame(
                {"_pos": np.arange(n_lamps, dtype=np.int64),
                 "lumens": np.broadcast_to(np.asarray(lumens, float), (n_lamps,)),
                 "height_m": np.broadcast_to(np.asarray(height_m, float), (n_lamps,))},
                geometry=shapely.points(lamp_x, lamp_y)).to_parquet(
                paths["lamps"], write_covering_bbox=True, row_group_size=4096)
            bounds = (min(x.min(), np.min(lamp_x)), min(y.min(), np.min(lamp_y)),
                      max(x.max(), np.max(lamp_x)), max(y.max(), np.max(lamp_y)))
            payloads = [LightPayload(
                *owned_fields(t, grid, owners, reach, bounds),
                str(paths["points"]), str(paths["lamps"]), float(radius_m))
                for t in self.tiles]
            parts = self.client.gather(self.client.map(tile_illuminance, payloads, pure=False))
        out = np.zeros(x.size)
        for pos, lux, _, _ in parts:
            out[pos] = lux
        self.reports.append({"points": int(x.size), "rows_total": int(x.size + n_lamps),
                             "rows_read": [int(r) for _, _, r, _ in parts],
                             "seconds": [round(s, 4) for _, _, _, s in parts]})
        return out


class _PerTileFactor:
    """A factor's ``compute`` with its costly part evaluated on the tiles.

    Subclasses name the factor's function, the keyword through which it takes
    the per-tile helper, and the helper (:meth:`_parts`); the helper's
    ``reports`` (rows read, seconds per tile) are kept for the run manifest.
    """

    def __init__(self, client: Any, engine: Any) -> None:
        self.client, self.engine = client, engine
        self.reports: Any = []

    def _parts(self, grid: Grid) -> tuple[Callable[..., FactorResult], str, Any]:
        raise NotImplementedError

    def _keep(self, reports: list[dict[str, Any]], options: dict[str, Any]) -> None:
        self.reports = reports

    def __call__(self, layers: dict[str, gpd.GeoDataFrame], grid: Grid,
                 incidents: gpd.GeoDataFrame | None = None, **options: Any) -> FactorResult:
        compute, keyword, helper = self._parts(grid)
        result = compute(layers, grid, incidents, **{keyword: helper}, **options)
        self._keep(helper.reports, options)
        return result


class TiledLighting(_PerTileFactor):
    """:func:`hotspot_env.factors.lighting.compute` with the lux evaluated per tile."""

    def _parts(self, grid: Grid) -> tuple[Callable[..., FactorResult], str, Any]:
        from hotspot_env.factors import lighting

        return (lighting.compute, "illuminate",
                TiledIlluminance(self.client, self.engine.tiles, grid))


@dataclass(frozen=True)
class DistancePayload(TileOnGrid):
    """One tile's distance task: its interior cells, the features' file and the box to read.

    Starts with the tile on its grid (:class:`~hotspot_env.scale.tiles.TileOnGrid`).
    """

    mask: np.ndarray
    bbox: tuple[float, float, float, float]
    features_path: str


@single_threaded  # numba and BLAS on one thread per task (scale.threads)
def tile_distances(p: DistancePayload) -> tuple[np.ndarray, int, float]:
    """Distance from the tile's interior cell centres to the nearest feature read in its box.

    The centres are the global grid's own numbers (the same formula as
    :meth:`Grid.centres`), so each distance is the single machine's when its
    nearest feature lies in the box. Returns the interior array (NaN outside
    the area or with no feature read), the rows read and the seconds.
    """
    from hotspot_env.factors.base import distances_to

    start = time.perf_counter()
    features = _read(p.features_path, p.bbox)
    t = p.tile
    xs = p.x0 + (np.arange(t.n_cols) + 0.5) * p.cell_size
    ys = p.top - (np.arange(t.n_rows) + 0.5) * p.cell_size
    cx, cy = np.meshgrid(xs[t.col0:t.col1], ys[t.row0:t.row1])
    out = np.full(t.shape, np.nan)
    out[p.mask] = distances_to(cx[p.mask], cy[p.mask], features.geometry.to_numpy())
    return out, len(features), time.perf_counter() - start


class TiledDistance:
    """:func:`hotspot_env.factors.base.distance_to_features` tile by tile on dask.

    Each tile reads the features whose box meets its interior grown by
    ``reach_m`` (the engine's halo) and measures its interior cells. A
    distance up to ``reach_m`` is exact (the nearest feature lies in the box);
    the cells whose nearest feature lies further (or with none in the box) are
    measured in the client against every feature. Bit for bit the single
    machine's answer.
    """

    def __init__(self, client: Any, tiles: list[Tile], reach_m: float) -> None:
        self.client, self.tiles, self.reach_m = client, tiles, float(reach_m)
        self.reports: list[dict[str, Any]] = []

    def __call__(self, grid: Grid, geoms: np.ndarray) -> np.ndarray:
        import tempfile

        from hotspot_env.factors.base import distance_to_features, distances_to

        geoms = np.asarray(geoms)
        if not self.tiles or not geoms.size:
            return distance_to_features(grid, geoms)
        top, reach = grid.bounds[3], self.reach_m
        with tempfile.TemporaryDirectory(prefix="hotspot-dist-") as tmp:
            path = Path(tmp) / "features.parquet"
            gpd.GeoDataFrame({"_pos": np.arange(geoms.size, dtype=np.int64)},
                             geometry=geoms).to_parquet(path, write_covering_bbox=True,
                                                        row_group_size=4096)
            payloads = []
            for t in self.tiles:
                minx, miny, maxx, maxy = t.bounds(grid)
                payloads.append(DistancePayload(
                    t, grid.x0, top, grid.cell_size,
                    grid.mask[t.row0:t.row1, t.col0:t.col1],
                    (minx - reach, miny - reach, maxx + reach, maxy + reach), str(path)))
            parts = self.client.gather(self.client.map(tile_distances, payloads, pure=False))
        out = np.full(grid.shape, np.nan)
        for t, (part, _, _) in zip(self.tiles, parts, strict=True):
            out[t.row0:t.row1, t.col0:t.col1] = part
        # beyond the reach (or nothing in the box): the client measures against every feature
        again = grid.mask & ~(out <= reach)
        if again.any():
            cx, cy = grid.centres()
            out[again] = distances_to(cx[again], cy[again], geoms)
        self.reports.append({"cells": int(grid.mask.sum()), "in_client": int(again.sum()),
                             "rows_total": int(geoms.size),
                             "rows_read": [int(r) for _, r, _ in parts],
                             "seconds": [round(s, 4) for _, _, s in parts]})
        return out


class TiledVacancy(_PerTileFactor):
    """:func:`hotspot_env.factors.vacancy.compute` with its distances measured per tile."""

    def _parts(self, grid: Grid) -> tuple[Callable[..., FactorResult], str, Any]:
        from hotspot_env.factors import vacancy

        return (vacancy.compute, "measure",
                TiledDistance(self.client, self.engine.tiles, self.engine.halo_m))


class TiledCustom(_PerTileFactor):
    """:func:`hotspot_env.factors.custom.compute` with a vector layer's distances per tile.

    ``reports`` are kept per custom factor (by its ``name``).
    """

    def __init__(self, client: Any, engine: Any) -> None:
        super().__init__(client, engine)
        self.reports: dict[str, list[dict[str, Any]]] = {}

    def _parts(self, grid: Grid) -> tuple[Callable[..., FactorResult], str, Any]:
        from hotspot_env.factors import custom

        return (custom.compute, "measure",
                TiledDistance(self.client, self.engine.tiles, self.engine.halo_m))

    def _keep(self, reports: list[dict[str, Any]], options: dict[str, Any]) -> None:
        self.reports[str(options.get("name"))] = reports


def with_tiled_factors(stage_options: dict[str, dict[str, Any]] | None, client: Any,
                       engine: Any) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The run's stage options with the factor stage's per-tile functions, and those
    functions by factor (their ``reports`` go to the manifest)."""
    per_tile = {"lighting": TiledLighting(client, engine),
                "sightlines": TiledSightlines(client, engine),
                "vacancy": TiledVacancy(client, engine), "custom": TiledCustom(client, engine)}
    options = {**(stage_options or {})}
    options["factors"] = {**(options.get("factors") or {}), "computes": per_tile}
    return options, per_tile


def factor_reports(per_tile: dict[str, Any]) -> dict[str, Any]:
    """What each per-tile factor function did (rows read, seconds per tile), for the manifest."""
    return {name: function.reports for name, function in per_tile.items()}
