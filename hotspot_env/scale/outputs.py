"""Outputs of a national run: partitioned GeoParquet, a COG mosaic, work orders, one manifest.

A national run folder holds::

    manifest.json                    every region's inputs, parameters and choices
    density.tif                      Cloud-Optimized GeoTIFF mosaic of the KDE (overviews)
    cells/<region>.parquet           GeoParquet of the published cells, one file per region
    interventions/<region>.parquet   GeoParquet of the ranked interventions per region
    workorders/<region>/...          the work-order files of each region (CSV, GeoJSON,
                                     GeoPackage, equity CSV, workorders.html)

Every table passes the privacy gate of :mod:`hotspot_env.outputs.privacy`
(cells through :func:`~hotspot_env.outputs.export.cells_frame`, interventions
through :func:`~hotspot_env.interventions.workorders.published_rows`), so a
national file holds exactly what the region's own single-city outputs would,
plus a ``region`` column. Files are written into a staging folder and renamed
into place together (:func:`hotspot_env._atomic.staged_folder`).

GeoParquet files carry a GeoParquet 1.1 covering ``bbox`` column and one row
group per block, so a reader can load one region, or one tile's bounding box,
without reading the rest (:func:`read_region_cells`,
:func:`hotspot_env.scale.country.read_tile`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import rasterio
from pandas.api.types import is_numeric_dtype
from pyproj import CRS
from rasterio.transform import Affine

from hotspot_env._atomic import atomic_path, write_text
from hotspot_env.scale.country import BLOCK_M, write_blocked_parquet

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis
    from hotspot_env.core.grid import Grid

#: Version of the national manifest layout.
NATIONAL_MANIFEST_VERSION: int = 1

#: Block size of the density COG (pixels; a power of two, as the COG driver wants).
COG_BLOCK: int = 256

#: Sub-folder per partitioned table.
CELLS_DIR, INTERVENTIONS_DIR, WORKORDERS_DIR, PIECES_DIR = (
    "cells", "interventions", "workorders", ".density-pieces")


# ------------------------------------------------------------ per region
def grid_record(grid: Grid) -> dict[str, Any]:
    """A grid as JSON: enough to rebuild it (:func:`grid_from_record`) with its mask."""
    return {"crs": grid.crs.to_wkt(), "x0": float(grid.x0), "y0": float(grid.y0),
            "cell_size": float(grid.cell_size), "n_cols": int(grid.n_cols),
            "n_rows": int(grid.n_rows)}


def grid_from_record(record: dict[str, Any], mask: np.ndarray | None = None) -> Grid:
    """Rebuild the :class:`~hotspot_env.core.grid.Grid` of :func:`grid_record`."""
    from hotspot_env.core.grid import Grid

    shape = (int(record["n_rows"]), int(record["n_cols"]))
    return Grid(CRS.from_wkt(record["crs"]), float(record["x0"]), float(record["y0"]),
                float(record["cell_size"]), shape[1], shape[0],
                mask if mask is not None else np.ones(shape, dtype=bool))


def _block_sizes(frame: gpd.GeoDataFrame, block_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Row order grouping ``frame`` by ``block_m`` block of its centroids, and block sizes."""
    if not len(frame):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    b = frame.geometry.bounds.to_numpy()
    x, y = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    col = ((x - x.min()) // block_m).astype(np.int64)
    row = ((y - y.min()) // block_m).astype(np.int64)
    block = row * (int(col.max()) + 1) + col
    order = np.argsort(block, kind="stable")
    sizes = np.bincount(block)
    return order, sizes[sizes > 0]


def write_partition(frame: gpd.GeoDataFrame, path: Path, block_m: float = BLOCK_M) -> Path:
    """Write one region's table as GeoParquet with covering bbox and block row groups."""
    path.parent.mkdir(parents=True, exist_ok=True)
    order, sizes = _block_sizes(frame, block_m)
    return write_blocked_parquet(frame.iloc[order].reset_index(drop=True), path, sizes)


def write_region(analysis: Analysis, region: str, folder: str | os.PathLike[str],
                 block_m: float = BLOCK_M) -> dict[str, Any]:
    """Write one region's part of a national run into ``folder`` (a staging folder).

    Writes ``cells/<region>.parquet``, a density piece for the mosaic, and,
    when the interventions stage ran, ``interventions/<region>.parquet`` and
    the region's work orders
    (:func:`hotspot_env.interventions.workorders.write_intervention_files`).

    Returns
    -------
    dict
        The region's manifest record: grid, parameters, choices, inputs,
        counts, timings and the files written (relative to ``folder``).
    """
    from hotspot_env.outputs.export import _privacy_tags, cells_frame
    from hotspot_env.outputs.privacy import public_totals, publish_array

    folder = Path(folder)
    files: list[str] = []
    tags = _privacy_tags(analysis)
    cells = cells_frame(analysis).assign(region=region)
    cells.attrs.update(tags)  # geopandas keeps attrs in the GeoParquet metadata
    files.append(_rel(write_partition(cells, folder / CELLS_DIR / f"{region}.parquet",
                                      block_m), folder))
    grid = analysis.grid
    piece = np.where(grid.mask, publish_array(analysis, "kde"), np.nan).astype("float32")
    (folder / PIECES_DIR).mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / PIECES_DIR / f"{region}.npy") as tmp:
        np.save(tmp, piece, allow_pickle=False)
    files += _write_interventions(analysis, region, folder, block_m, tags)
    return {
        "region": region, "privacy": tags,
        "grid": grid_record(grid),
        "n_cells": int(grid.mask.sum()),
        "parameters": _jsonable(analysis.parameters),
        "choices": analysis.choice_messages(),
        "inputs": analysis.inputs,
        "counts": _jsonable(public_totals(analysis)),  # public mode: no exact tally
        "timings": {k: float(v) for k, v in analysis.timings.items()},
        "files": files,
    }


def _write_interventions(analysis: Analysis, region: str, folder: Path,
                         block_m: float, tags: dict[str, str]) -> list[str]:
    """The region's interventions table and work orders, when the stage ran."""
    result = analysis.interventions
    if result is None:
        return []
    return write_region_interventions(result, result.ranking or result.rerank(), region,
                                      folder, tags, block_m)


def write_region_interventions(result: Any, ranking: Any, region: str, folder: Path,
                               tags: dict[str, str], block_m: float = BLOCK_M) -> list[str]:
    """``interventions/<region>.parquet`` and ``workorders/<region>/`` of one ranking.

    Returns the files written, relative to ``folder``.
    """
    from hotspot_env.interventions.workorders import published_rows, write_intervention_files

    frame = published_rows(result.table(ranking), result.grid.crs,
                           result.parameters.get("privacy", "internal"))
    frame = frame.assign(region=region)
    frame.attrs.update(tags)
    path = write_partition(frame, folder / INTERVENTIONS_DIR / f"{region}.parquet", block_m)
    written = write_intervention_files(result, folder / WORKORDERS_DIR / region, ranking)
    return [_rel(path, folder)] + sorted(_rel(p, folder) for p in written.values())


def _rel(path: Path, folder: Path) -> str:
    return Path(path).relative_to(folder).as_posix()


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and tuples turned into JSON types (others as text)."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# ------------------------------------------------------------ the mosaic
def mosaic_grid(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The grid record covering every region's grid (same CRS and cell size, aligned).

    Raises
    ------
    ValueError
        When the regions' grids differ in CRS or cell size, or are not aligned
        on the same cell lattice (their origins are not whole cells apart).
    """
    if not records:
        raise ValueError("no region to mosaic")
    grids = [r["grid"] for r in records]
    first = grids[0]
    size = first["cell_size"]
    crs = CRS.from_wkt(first["crs"])
    for g in grids[1:]:
        if g["cell_size"] != size or not CRS.from_wkt(g["crs"]).equals(crs):
            raise ValueError("regions differ in CRS or cell size: no common mosaic")
        for key in ("x0", "y0"):
            steps = (g[key] - first[key]) / size
            if abs(steps - round(steps)) > 1e-6:
                raise ValueError(f"region grids are not aligned ({key} is off the lattice)")
    x0 = min(g["x0"] for g in grids)
    y0 = min(g["y0"] for g in grids)
    x1 = max(g["x0"] + g["n_cols"] * size for g in grids)
    y1 = max(g["y0"] + g["n_rows"] * size for g in grids)
    return {"crs": first["crs"], "x0": x0, "y0": y0, "cell_size": size,
            "n_cols": int(round((x1 - x0) / size)), "n_rows": int(round((y1 - y0) / size))}


def write_cog(values: np.ndarray, grid: dict[str, Any], path: Path,
              tags: dict[str, str] | None = None) -> Path:
    """Write a float32 band as a Cloud-Optimized GeoTIFF with overviews, atomically.

    The array is first written to an in-memory GeoTIFF, then copied with
    GDAL's ``COG`` driver (tiled ``COG_BLOCK`` blocks, deflate, overviews by
    averaging until the image fits one block), the layout a web map or
    ``/vsicurl/`` reader fetches piece by piece.
    """
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy as rio_copy

    n_rows, n_cols = values.shape
    transform = Affine(grid["cell_size"], 0, grid["x0"], 0, -grid["cell_size"],
                       grid["y0"] + n_rows * grid["cell_size"])
    profile = {"driver": "GTiff", "height": n_rows, "width": n_cols, "count": 1,
               "dtype": "float32", "crs": grid["crs"], "transform": transform,
               "nodata": np.nan}
    with MemoryFile() as memfile:
        with memfile.open(**profile) as dst:
            dst.write(values.astype("float32"), 1)
            dst.update_tags(**(tags or {}))
        with memfile.open() as src, atomic_path(path) as tmp:
            rio_copy(src, tmp, driver="COG", blocksize=COG_BLOCK, compress="DEFLATE",
                     overview_resampling="AVERAGE", BIGTIFF="IF_SAFER")
    return path


def write_density_mosaic(folder: Path, records: list[dict[str, Any]],
                         tags: dict[str, str] | None = None) -> Path:
    """Paste each region's density piece into the national grid and write ``density.tif``.

    Cells outside every region are NaN (no data). The pieces are removed after.
    """
    grid = mosaic_grid(records)
    size = grid["cell_size"]
    top = grid["y0"] + grid["n_rows"] * size
    values = np.full((grid["n_rows"], grid["n_cols"]), np.nan, dtype="float32")
    for record in records:
        g = record["grid"]
        piece = np.load(folder / PIECES_DIR / f"{record['region']}.npy", allow_pickle=False)
        row0 = int(round((top - (g["y0"] + g["n_rows"] * size)) / size))
        col0 = int(round((g["x0"] - grid["x0"]) / size))
        window = values[row0:row0 + g["n_rows"], col0:col0 + g["n_cols"]]
        np.copyto(window, piece, where=~np.isnan(piece))
    path = write_cog(values, grid, folder / "density.tif", tags)
    for record in records:
        (folder / PIECES_DIR / f"{record['region']}.npy").unlink()
    (folder / PIECES_DIR).rmdir()
    return path


def mosaic_tags(records: list[dict[str, Any]]) -> dict[str, str]:
    """The mosaic's privacy metadata: the run's mode, and each region's protection."""
    modes = sorted({r["privacy"]["privacy_mode"] for r in records})
    return {"privacy_mode": ",".join(modes),
            "privacy": json.dumps({r["region"]: json.loads(r["privacy"]["privacy"])
                                   for r in records}, sort_keys=True)}


# ------------------------------------------------------------ manifest
def national_manifest(records: list[dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    """One manifest for the whole run: the run's own fields plus every region's record."""
    from hotspot_env.outputs.manifest import package_versions

    records = sorted(records, key=lambda r: r["region"])
    return {"manifest_version": NATIONAL_MANIFEST_VERSION, **_jsonable(run),
            "regions": [r["region"] for r in records],
            "n_cells": int(sum(r["n_cells"] for r in records)),
            "packages": package_versions(), "tiles": records}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` (atomically; :func:`staged_folder` moves it last)."""
    return write_text(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")


# ------------------------------------------------------------ reading back
def read_manifest(run_folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``manifest.json`` of a national run folder."""
    path = Path(run_folder) / "manifest.json"
    if not path.is_file():
        from hotspot_env.errors import InputError

        raise InputError(f"{run_folder} is not a national run: it has no manifest.json")
    return json.loads(path.read_text(encoding="utf-8"))


def read_region_cells(run_folder: str | os.PathLike[str], region: str,
                      bbox: tuple[float, float, float, float] | None = None
                      ) -> gpd.GeoDataFrame:
    """The published cells of one region (optionally only those meeting ``bbox``)."""
    path = Path(run_folder) / CELLS_DIR / f"{region}.parquet"
    return gpd.read_parquet(path, bbox=bbox) if bbox is not None else gpd.read_parquet(path)


@dataclass
class RegionView:
    """One region of a national run, loaded alone (what the app shows for a region).

    Attributes
    ----------
    region : str
        The region's name.
    grid : Grid
        The region's grid cut to the rows and columns its cells occupy (a
        tiled run's regions share one national grid: a region loads its own
        window, not the country), its mask the cells written.
    arrays : dict of str to ndarray
        Numeric per-cell columns of ``cells`` as ``grid.shape`` arrays (NaN
        outside the region; count columns of a public run are protected text
        and stay in ``cells``).
    cells : GeoDataFrame
        The region's published cells.
    interventions : GeoDataFrame or None
        The region's ranked interventions, when the stage ran.
    record : dict
        The region's manifest record (parameters, choices, inputs, counts).
    window : tuple of int
        ``(row0, col0, n_cols)``: where ``grid`` starts in the run's grid, and
        that grid's width, so :meth:`cell_id` gives the saved ``cell_id``.
    """

    region: str
    grid: Grid
    arrays: dict[str, np.ndarray]
    cells: gpd.GeoDataFrame = field(repr=False)
    interventions: gpd.GeoDataFrame | None = field(default=None, repr=False)
    record: dict[str, Any] = field(default_factory=dict, repr=False)
    window: tuple[int, int, int] | None = None

    def cell_id(self, row: int, col: int) -> int:
        """The saved ``cell_id`` of row ``row``, column ``col`` of :attr:`grid`."""
        row0, col0, n_cols = self.window or (0, 0, self.grid.n_cols)
        return int((row + row0) * n_cols + col + col0)

    @property
    def choices(self) -> list[str]:
        """The region's automatic choices, as announced."""
        return list(self.record.get("choices", []))


def open_region(run_folder: str | os.PathLike[str], region: str) -> RegionView:
    """Load one region of a national run, and nothing of the others.

    Reads the manifest, then only ``cells/<region>.parquet`` and
    ``interventions/<region>.parquet``.

    Raises
    ------
    InputError
        When the folder is not a national run or has no such region.
    """
    from hotspot_env.errors import InputError

    manifest = read_manifest(run_folder)
    records = {r["region"]: r for r in manifest["tiles"]}
    if region not in records:
        raise InputError(f"no region {region!r} in {run_folder}: choose one of "
                         f"{', '.join(sorted(records))}")
    record = records[region]
    cells = read_region_cells(run_folder, region)
    grid, window = _region_window(record["grid"], cells["cell_id"].to_numpy(dtype=np.int64))
    shape = (int(grid["n_rows"]), int(grid["n_cols"]))
    rows, cols = np.divmod(cells["cell_id"].to_numpy(dtype=np.int64), window[2])
    rows, cols = rows - window[0], cols - window[1]
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    arrays: dict[str, np.ndarray] = {}
    for name in cells.columns:
        if name in ("geometry", "cell_id", "region") or not is_numeric_dtype(cells[name]):
            continue
        values = np.full(shape, np.nan)
        values[rows, cols] = cells[name].to_numpy(dtype=float)
        arrays[name] = values
    path = Path(run_folder) / INTERVENTIONS_DIR / f"{region}.parquet"
    interventions = gpd.read_parquet(path) if path.is_file() else None
    return RegionView(region, grid_from_record(grid, mask), arrays, cells,
                      interventions, record, window)


def _region_window(grid: dict[str, Any], cell_ids: np.ndarray
                   ) -> tuple[dict[str, Any], tuple[int, int, int]]:
    """The grid record cut to the rows and columns holding ``cell_ids``, and its window."""
    n_cols = int(grid["n_cols"])
    if not cell_ids.size:
        return grid, (0, 0, n_cols)
    rows, cols = np.divmod(cell_ids, n_cols)
    row0, row1 = int(rows.min()), int(rows.max()) + 1
    col0, col1 = int(cols.min()), int(cols.max()) + 1
    size = float(grid["cell_size"])
    south = float(grid["y0"]) + (int(grid["n_rows"]) - row1) * size  # row 0 is the north edge
    cut = {**grid, "x0": float(grid["x0"]) + col0 * size, "y0": south,
           "n_rows": row1 - row0, "n_cols": col1 - col0}
    return cut, (row0, col0, n_cols)


def cog_layout(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What makes a GeoTIFF cloud-optimised, as read back by rasterio.

    Returns
    -------
    dict
        ``tiled``, ``block_shape``, ``overviews`` (decimation factors),
        ``layout`` (GDAL's ``IMAGE_STRUCTURE`` ``LAYOUT``, ``"COG"`` for a COG).
    """
    with rasterio.open(path) as src:
        return {"tiled": bool(src.profile.get("tiled", False)),
                "block_shape": list(src.block_shapes[0]),
                "overviews": src.overviews(1),
                "layout": src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT"),
                "shape": [src.height, src.width],
                "n_overviews_expected": max(0, math.ceil(math.log2(
                    max(src.height, src.width) / COG_BLOCK)))}
