"""National outputs of a tiled run (:func:`hotspot_env.scale.engine.analyze_tiled`).

The tiled engine returns one merged analysis on a global grid. This module
writes it in the national layout of :mod:`hotspot_env.scale.outputs`:

* ``cells/<region>.parquet``: the published cells, cut by region (each cell
  goes to the region whose bounds hold its centre; with no regions given, to
  the dask tile that computed it, ``tile_000`` ...);
* ``density.tif``: the global KDE as a Cloud-Optimized GeoTIFF;
* ``interventions/<region>.parquet`` and ``workorders/<region>/interventions.csv``
  / ``.geojson``: the one national portfolio, each region's rows apart; the
  printable sheet ``workorders/national/`` is written once, because its
  headline (incidents prevented by the portfolio) is a national figure;
* ``manifest.json``: the run's inputs, parameters and choices, every dask
  tile's report (:meth:`~hotspot_env.scale.engine.TiledRun.manifest`), and per
  region the files and cells written.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from hotspot_env._atomic import staged_folder, write_text
from hotspot_env.scale.country import BLOCK_M, require_empty
from hotspot_env.scale.outputs import (
    CELLS_DIR,
    INTERVENTIONS_DIR,
    WORKORDERS_DIR,
    _jsonable,
    grid_record,
    national_manifest,
    write_cog,
    write_manifest,
    write_partition,
)


def label_points(x: np.ndarray, y: np.ndarray,
                 regions: dict[str, tuple[float, float, float, float]]) -> np.ndarray:
    """The region whose ``(xmin, ymin, xmax, ymax)`` holds each point; ``""`` for none.

    Bounds are half-open on the east and north edges, so a point on a shared
    edge belongs to one region only.
    """
    labels = np.full(len(x), "", dtype=object)
    for name, (xmin, ymin, xmax, ymax) in regions.items():
        inside = (x >= xmin) & (x < xmax) & (y >= ymin) & (y < ymax) & (labels == "")
        labels[inside] = name
    return labels


def tile_labels(run: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The dask tile (``tile_000`` ...) whose interior holds each cell ``(row, col)``."""
    labels = np.full(len(rows), "", dtype=object)
    for tile in run.tiles:
        inside = ((rows >= tile.row0) & (rows < tile.row1)
                  & (cols >= tile.col0) & (cols < tile.col1))
        labels[inside] = f"tile_{tile.index:03d}"
    return labels


def write_tiled_run(run: Any, out: str | os.PathLike[str],
                    regions: dict[str, tuple[float, float, float, float]] | None = None,
                    block_m: float = BLOCK_M) -> dict[str, Any]:
    """Write a :class:`~hotspot_env.scale.engine.TiledRun` as national outputs.

    Parameters
    ----------
    run : TiledRun
        The tiled run.
    out : path
        Output folder (staged, renamed into place together).
    regions : dict of str to bounds, optional
        Region name -> ``(xmin, ymin, xmax, ymax)`` in the grid's CRS (for a
        synthetic country: each city's ``bounds`` from ``country.json``).
        Default: one partition per dask tile.
    block_m : float
        Row-group block side of the GeoParquet files.

    Returns
    -------
    dict
        The manifest written.
    """
    from hotspot_env.outputs.export import _privacy_tags, cells_frame
    from hotspot_env.outputs.privacy import publish_array

    require_empty(out)
    analysis = run.analysis
    grid = analysis.grid
    t0 = time.perf_counter()
    with staged_folder(out) as stage:
        tags = _privacy_tags(analysis)
        cells = cells_frame(analysis)
        cells.attrs.update(tags)  # kept in each GeoParquet file's metadata
        rows, cols = np.divmod(cells["cell_id"].to_numpy(dtype=np.int64), grid.n_cols)
        if regions:
            centres = cells.geometry.centroid
            labels = label_points(centres.x.to_numpy(), centres.y.to_numpy(), regions)
        else:
            labels = tile_labels(run, rows, cols)
        labels[labels == ""] = "outside_regions"
        files: dict[str, list[str]] = {}
        n_cells: dict[str, int] = {}
        for name in sorted(set(labels)):
            part = cells[labels == name].assign(region=name)
            path = write_partition(part, stage / CELLS_DIR / f"{name}.parquet", block_m)
            files[name] = [path.relative_to(stage).as_posix()]
            n_cells[name] = int(len(part))
        density = np.where(grid.mask, publish_array(analysis, "kde"), np.nan)
        write_cog(density.astype("float32"), grid_record(grid), stage / "density.tif", tags)
        _write_portfolio(run, stage, regions, files, block_m)
        records = [{"region": name, "grid": grid_record(grid), "n_cells": n_cells[name],
                    "files": sorted(files[name]), "choices": [], "counts": {},
                    "bounds": list(regions[name]) if regions and name in regions else None}
                   for name in sorted(n_cells)]
        manifest = national_manifest(records, {
            "engine": run.manifest(), "statistics": "global (see engine.stages)",
            "parameters": _jsonable(analysis.parameters),
            "choices": analysis.choice_messages(), "inputs": analysis.inputs,
            "counts": _jsonable(analysis.counts), "grid": grid_record(grid),
            "write_s": time.perf_counter() - t0})
        write_manifest(stage, manifest)
    return manifest


def _write_portfolio(run: Any, stage: Path,
                     regions: dict[str, tuple[float, float, float, float]] | None,
                     files: dict[str, list[str]], block_m: float) -> None:
    """The national portfolio: one sheet, and each region's rows as GeoParquet, CSV, GeoJSON."""
    result = run.analysis.interventions
    if result is None:
        return
    from hotspot_env.interventions.workorders import (
        csv_text,
        geojson_text,
        published_rows,
        write_intervention_files,
    )
    from hotspot_env.outputs.export import _privacy_tags

    ranking = result.ranking or result.rerank()
    frame = published_rows(result.table(ranking), result.grid.crs,
                           result.parameters.get("privacy", "internal"))
    write_intervention_files(result, stage / WORKORDERS_DIR / "national", ranking)
    centres = frame.geometry.centroid
    if regions:
        labels = label_points(centres.x.to_numpy(), centres.y.to_numpy(), regions)
    else:
        rows, cols = run.analysis.grid.cell_index(centres.x.to_numpy(), centres.y.to_numpy())
        labels = tile_labels(run, np.asarray(rows), np.asarray(cols))
    labels[labels == ""] = "outside_regions"
    frame.attrs.update(_privacy_tags(run.analysis))
    for name in sorted(set(labels)):
        part = frame[labels == name].assign(region=name)
        folder = stage / WORKORDERS_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        written = [write_partition(part, stage / INTERVENTIONS_DIR / f"{name}.parquet", block_m),
                   write_text(folder / "interventions.csv", csv_text(part)),
                   write_text(folder / "interventions.geojson", geojson_text(part))]
        files.setdefault(name, []).extend(p.relative_to(stage).as_posix() for p in written)

