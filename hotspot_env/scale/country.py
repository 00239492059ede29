"""A synthetic country: many simulated cities, generated tile by tile, as GeoParquet.

Everything here is **simulated** (see :mod:`hotspot_env.inputs.synth`): no
record describes a real event or a person.

The country is a square arrangement of ``n_cities`` cities, each one a whole
:func:`hotspot_env.inputs.synth.simulate_city` with its own street grid, lamps,
buildings, bars, vacant lots, youth spaces and decoys, and its own planted risk
model. Cities are separated by empty land wider than any halo a tiled run
needs, so no neighbourhood (KDE radius, Gi* neighbours, factor distances)
reaches from one city into another.

Generation is **per tile**: a city is the generation tile, and its seed is
derived from the country seed and the city's index alone
(``SeedSequence([seed, index])``), so any worker can generate any city without
the others and the result does not depend on the order or the number of
workers. The national preset (:data:`COUNTRY_SCALES`) is 25 metro-sized cities:
about 25 million incidents and 6 million cells of 50 m.

Files (:func:`write_country`), all in the country's projected CRS::

    country.json                  tiles, CRS, bounds, seeds and each city's truth
    incidents/<region>.parquet    GeoParquet, one file per city
    layers/<layer>/<region>.parquet

Each GeoParquet file carries a GeoParquet 1.1 covering ``bbox`` column and is
cut into one row group per ``block_m`` block of the city, so a reader asking for
a tile's bounding box (:func:`read_tile`, or ``geopandas.read_parquet(...,
bbox=...)``) skips every other block from the row-group statistics, without
reading them.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyproj import CRS, Transformer

from hotspot_env._atomic import atomic_path, staged_folder, write_text
from hotspot_env.inputs.synth import SyntheticCity, simulate_city
from hotspot_env.scale.threads import single_threaded

#: Country presets: number of cities, side of each city (m) and expected
#: incidents per city. ``test`` is for the test suite, ``national`` is the
#: issue's target (25 metro cities: ~25M incidents, 25 x 490 x 490 = 6.0M cells of 50 m).
COUNTRY_SCALES: dict[str, dict[str, float]] = {
    "test": {"n_cities": 4, "city_size_m": 1_500.0, "n_incidents": 2_000},
    "small": {"n_cities": 4, "city_size_m": 3_000.0, "n_incidents": 20_000},
    "regional": {"n_cities": 25, "city_size_m": 10_000.0, "n_incidents": 150_000},
    "national": {"n_cities": 25, "city_size_m": 24_500.0, "n_incidents": 1_000_000},
}

#: Empty land between two cities (m): wider than twice the largest halo a tiled
#: run uses (the metro KDE bandwidth is 1.4 km), so cities never interact.
CITY_GAP_M: float = 6_000.0

#: Side of the blocks a city's files are cut into (one row group each).
BLOCK_M: float = 5_000.0

#: Country centre (open water east of Bornholm, as :mod:`hotspot_env.inputs.synth`).
COUNTRY_CENTRE_LONLAT: tuple[float, float] = (16.0, 55.5)
COUNTRY_CRS: str = "EPSG:32633"

#: Name of the covering bounding-box column (GeoParquet 1.1).
BBOX_COLUMN: str = "bbox"


@dataclass(frozen=True)
class CityTile:
    """One city of the country: everything a worker needs to generate it alone.

    Attributes
    ----------
    region : str
        Name of the city (``city_00`` ...), used as the region everywhere.
    index : int
        Position in the country, row-major from the south-west.
    seed : int
        Seed of :func:`~hotspot_env.inputs.synth.simulate_city`, derived from the
        country seed and ``index`` only.
    x0, y0 : float
        South-west corner in the country CRS (metres, multiples of 1 km).
    size_m : float
        Side of the city square.
    n_incidents : int
        Expected incidents.
    crs : str
        Projected CRS of the country.
    """

    region: str
    index: int
    seed: int
    x0: float
    y0: float
    size_m: float
    n_incidents: int
    crs: str = COUNTRY_CRS

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` of the city in the country CRS."""
        return (self.x0, self.y0, self.x0 + self.size_m, self.y0 + self.size_m)


def require_empty(folder: str | os.PathLike[str]) -> None:
    """Refuse a folder that already holds files.

    A partitioned dataset is read as a whole folder: a partition left by an
    earlier, larger run would silently join the new one.

    Raises
    ------
    InputError
        When ``folder`` exists and is not empty.
    """
    path = Path(folder)
    if path.exists() and any(path.iterdir()):
        from hotspot_env.errors import InputError

        raise InputError(f"{path} already holds files: partitions of an earlier run would mix "
                         "with this one; choose an empty or new folder")


def tile_seed(seed: int, index: int) -> int:
    """Seed of city ``index``: a function of the country seed and the index alone."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def country_tiles(scale: str = "national", seed: int = 20240601, *,
                  n_cities: int | None = None, city_size_m: float | None = None,
                  n_incidents: int | None = None) -> list[CityTile]:
    """The cities of a synthetic country, without generating any of them.

    Parameters
    ----------
    scale : {"test", "small", "regional", "national"}
        Preset from :data:`COUNTRY_SCALES`.
    seed : int
        Country seed.
    n_cities, city_size_m, n_incidents : optional
        Override the preset (incidents are per city).

    Returns
    -------
    list of CityTile
        Row-major from the south-west, on a square layout of
        ``ceil(sqrt(n_cities))`` columns with :data:`CITY_GAP_M` between cities.

    Raises
    ------
    ValueError
        For an unknown scale or a non-positive size.
    """
    if scale not in COUNTRY_SCALES:
        raise ValueError(f"unknown country scale {scale!r}: use one of "
                         f"{', '.join(COUNTRY_SCALES)}")
    preset = COUNTRY_SCALES[scale]
    n = int(n_cities if n_cities is not None else preset["n_cities"])
    size = float(city_size_m if city_size_m is not None else preset["city_size_m"])
    per_city = int(n_incidents if n_incidents is not None else preset["n_incidents"])
    if n < 1 or size <= 0 or per_city < 1:
        raise ValueError("a country needs at least one city, a positive size and incidents")
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    # pitch in whole kilometres so every city corner is on simulate_city's 1 km lattice
    pitch = math.ceil((size + CITY_GAP_M) / 1000.0) * 1000.0
    cx, cy = Transformer.from_crs("EPSG:4326", COUNTRY_CRS, always_xy=True).transform(
        *COUNTRY_CENTRE_LONLAT)
    x_start = math.floor((cx - cols * pitch / 2) / 1000.0) * 1000.0
    y_start = math.floor((cy - rows * pitch / 2) / 1000.0) * 1000.0
    return [CityTile(region=f"city_{i:02d}", index=i, seed=tile_seed(seed, i),
                     x0=x_start + (i % cols) * pitch, y0=y_start + (i // cols) * pitch,
                     size_m=size, n_incidents=per_city)
            for i in range(n)]


def generate_tile(tile: CityTile) -> SyntheticCity:
    """Generate one city of the country (needs nothing but ``tile``)."""
    crs = CRS.from_user_input(tile.crs)
    # simulate_city floors (centre - size/2) to whole kilometres: aim half a metre
    # inside the corner so rounding of the lon/lat round trip cannot move it
    cx = tile.x0 + tile.size_m / 2 + 0.5
    cy = tile.y0 + tile.size_m / 2 + 0.5
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(cx, cy)
    city = simulate_city(tile.seed, tile.size_m, n_incidents=tile.n_incidents, crs=tile.crs,
                         centre_lonlat=(lon, lat))
    lattice = city.truth["lattice"]
    if (lattice["x0"], lattice["y0"]) != (tile.x0, tile.y0):  # pragma: no cover - guard
        raise RuntimeError(f"{tile.region} landed at {lattice['x0']}, {lattice['y0']} "
                           f"instead of {tile.x0}, {tile.y0}")
    return city


# ------------------------------------------------------------------ writing
def _block_order(frame: gpd.GeoDataFrame, tile: CityTile, block_m: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Row order that groups ``frame`` by ``block_m`` block, and each block's row count."""
    if not len(frame):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    centre = frame.geometry.bounds.to_numpy()
    x = (centre[:, 0] + centre[:, 2]) / 2
    y = (centre[:, 1] + centre[:, 3]) / 2
    n_side = max(1, math.ceil(tile.size_m / block_m))
    col = np.clip(((x - tile.x0) // block_m).astype(np.int64), 0, n_side - 1)
    row = np.clip(((y - tile.y0) // block_m).astype(np.int64), 0, n_side - 1)
    block = row * n_side + col
    order = np.argsort(block, kind="stable")
    sizes = np.bincount(block, minlength=n_side * n_side)
    return order, sizes[sizes > 0]


def write_blocked_parquet(frame: gpd.GeoDataFrame, path: Path, sizes: Iterable[int]) -> Path:
    """Write ``frame`` as GeoParquet with a covering bbox and one row group per block.

    Parameters
    ----------
    frame : GeoDataFrame
        Rows already ordered by block.
    path : Path
        Final file; written to a temporary name and renamed.
    sizes : iterable of int
        Rows per block, in order (they sum to ``len(frame)``).
    """
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, write_covering_bbox=True)
    table = pq.read_table(pa.BufferReader(buffer.getvalue()))
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, table.schema) as writer:
            start = 0
            for size in sizes:
                writer.write_table(table.slice(start, int(size)), row_group_size=int(size))
                start += int(size)
            if not len(frame):
                writer.write_table(table)
    return path


def write_tile(tile: CityTile, folder: str | os.PathLike[str],
               block_m: float = BLOCK_M) -> dict[str, Any]:
    """Generate city ``tile`` and write its incidents and layers under ``folder``.

    Returns
    -------
    dict
        The tile's record for ``country.json``: its fields, bounds, realised
        incident and feature counts, and its planted truth.
    """
    folder = Path(folder)
    city = generate_tile(tile)
    incidents = city.incidents.assign(region=tile.region)
    (folder / "incidents").mkdir(parents=True, exist_ok=True)
    order, sizes = _block_order(incidents, tile, block_m)
    write_blocked_parquet(incidents.iloc[order], folder / "incidents" / f"{tile.region}.parquet",
                          sizes)
    for name, layer in city.layers.items():
        (folder / "layers" / name).mkdir(parents=True, exist_ok=True)
        layer = layer.assign(region=tile.region)
        order, sizes = _block_order(layer, tile, block_m)
        write_blocked_parquet(layer.iloc[order], folder / "layers" / name /
                              f"{tile.region}.parquet", sizes)
    truth = {k: city.truth[k] for k in ("factors", "beta0", "lattice", "n_incidents",
                                         "counts", "period", "model")}
    return {**asdict(tile), "bounds": list(tile.bounds), "truth": truth}


def write_country(folder: str | os.PathLike[str], scale: str = "national",
                  seed: int = 20240601, *, client: Any = None,
                  tiles: list[CityTile] | None = None,
                  block_m: float = BLOCK_M) -> dict[str, Any]:
    """Generate a synthetic country tile by tile and write it as GeoParquet.

    The files are written into a hidden staging folder inside ``folder`` and
    moved into place together when every city is written (``country.json``
    last), so a failed run leaves nothing half-written.

    Parameters
    ----------
    folder : path
        Output folder (created if needed).
    scale : str
        Preset of :data:`COUNTRY_SCALES`.
    seed : int
        Country seed.
    client : dask.distributed.Client, optional
        Generate the cities on this cluster (one task per city); default: in
        this process, one after the other.
    tiles : list of CityTile, optional
        The cities (default :func:`country_tiles` of ``scale`` and ``seed``).
    block_m : float
        Side of the row-group blocks.

    Returns
    -------
    dict
        The content of ``country.json``.
    """
    tiles = tiles if tiles is not None else country_tiles(scale, seed)
    require_empty(folder)
    with staged_folder(folder) as stage:
        records = _map(lambda t: write_tile(t, stage, block_m), tiles, client)
        records.sort(key=lambda r: r["index"])
        meta = country_metadata(records, scale, seed, block_m)
        write_text(stage / "country.json", json.dumps(meta, indent=2) + "\n")
    return meta


def _map(func: Callable[[CityTile], dict[str, Any]], tiles: list[CityTile],
         client: Any) -> list[dict[str, Any]]:
    """Apply ``func`` to every tile, on ``client`` if given (results gathered here)."""
    if client is None:
        return [func(t) for t in tiles]
    futures = client.map(single_threaded(func), tiles, pure=False)
    return list(client.gather(futures))


def country_metadata(records: list[dict[str, Any]], scale: str, seed: int,
                     block_m: float) -> dict[str, Any]:
    """The ``country.json`` document: what was generated, where, and from which seeds."""
    bounds = np.array([r["bounds"] for r in records], dtype=float)
    return {
        "simulated": True,
        "generator": "hotspot_env.scale.country.write_country",
        "scale": scale, "seed": int(seed), "crs": records[0]["crs"] if records else COUNTRY_CRS,
        "block_m": block_m, "city_gap_m": CITY_GAP_M,
        "bounds": [float(bounds[:, 0].min()), float(bounds[:, 1].min()),
                   float(bounds[:, 2].max()), float(bounds[:, 3].max())] if records else None,
        "n_incidents": int(sum(r["truth"]["n_incidents"] for r in records)),
        "regions": [r["region"] for r in records],
        "tiles": records,
    }


# ------------------------------------------------------------------ reading
def read_country(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``country.json`` of a folder written by :func:`write_country`."""
    return json.loads((Path(folder) / "country.json").read_text(encoding="utf-8"))


def read_tile(path: str | os.PathLike[str], bbox: tuple[float, float, float, float],
              columns: list[str] | None = None) -> gpd.GeoDataFrame:
    """Read the rows of a GeoParquet file or folder whose bounding box meets ``bbox``.

    Only the row groups whose covering-bbox statistics meet ``bbox`` are read
    (pyarrow predicate push-down), then rows are filtered on the same covering
    column; the rest of the dataset is never loaded.

    Parameters
    ----------
    path : path
        A GeoParquet file or a folder of them (same schema).
    bbox : tuple of float
        ``(xmin, ymin, xmax, ymax)`` in the data's CRS.
    columns : list of str, optional
        Columns to read besides the geometry.

    Returns
    -------
    GeoDataFrame
    """
    wanted = None if columns is None else [*columns, "geometry"]
    # geopandas turns bbox into a filter on the covering column: pyarrow prunes
    # row groups by their statistics, then filters the remaining rows
    return gpd.read_parquet(path, bbox=tuple(float(v) for v in bbox), columns=wanted)


def read_layers_tile(folder: str | os.PathLike[str], bbox: tuple[float, float, float, float]
                     ) -> dict[str, gpd.GeoDataFrame]:
    """Every layer of a country folder, restricted to ``bbox`` (see :func:`read_tile`)."""
    root = Path(folder) / "layers"
    return {p.name: read_tile(p, bbox) for p in sorted(root.iterdir()) if p.is_dir()}
