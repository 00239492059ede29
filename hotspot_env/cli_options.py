"""The options several ``hotspot-env`` commands share, each with its help text once.

Typer reads a parameter's option from its ``Annotated`` type, so a command
declares ``cell_size: CellSize = None`` and every command shows the same help.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only print errors and the summary.")]
OsmPath = Annotated[Path | None, typer.Option(help="OSM extract (.pbf or .osm).")]
LayersPath = Annotated[Path | None, typer.Option(help="GeoPackage of factor layers.")]
PlaceName = Annotated[str | None, typer.Option(help="Place name (osmnx, online).")]
Bbox = Annotated[str | None, typer.Option(help="Study area W,S,E,N in degrees.")]
CsvCrs = Annotated[str | None, typer.Option(help="CRS of CSV x/y columns.")]
Timezone = Annotated[str | None, typer.Option(help="Zone of times without offset.")]
CellSize = Annotated[float | None, typer.Option(help="Cell side in metres (default: automatic).")]
Bandwidth = Annotated[float | None, typer.Option(help="KDE radius in metres (default: automatic).")]
Privacy = Annotated[str, typer.Option(help="internal, or public (suppress counts below k).")]
DpEpsilon = Annotated[float | None, typer.Option(
    help="Public mode: the run's differential-privacy budget epsilon (0.01 to 10), split over "
         "its count releases by sequential composition; smaller is more private, e.g. 1.0.")]
TreatableShare = Annotated[float, typer.Option(
    help="Share of the area crews can treat (0-1): the forecast is chosen by how many "
         "incidents its top cells of this share catch (PEI).")]
Engine = Annotated[str, typer.Option(
    help="inprocess (one process, the default), or dask: tiles with halos on dask.distributed "
         "(pip install 'hotspot_env[scale]'), the same answers.")]
Scheduler = Annotated[str | None, typer.Option(
    help="--engine dask: address of a running dask scheduler, e.g. tcp://HOST:8786 "
         "(default: a local cluster of --workers processes).")]
TileKm = Annotated[float | None, typer.Option(
    help="--engine dask: tile side in km, in whole cells (default 10).")]
Workers = Annotated[int | None, typer.Option(
    help="--engine dask: worker processes of the local cluster (default 2).")]
DpSeed = Annotated[int | None, typer.Option(
    envvar="HOTSPOT_ENV_DP_SEED", show_default=False, min=0,
    help="Not supported: the --dp-epsilon noise comes from OpenDP's secure sampler, which "
         "cannot be seeded.")]
