import math

import numpy as np
import pytest
import shapely
from pyproj import CRS

from hotspot_env import settings
from hotspot_env.core.grid import Grid, choose_cell_size, choose_crs
from hotspot_env.errors import GridTooLargeError, InputError

UTM = CRS("EPSG:32635")


def test_origin_is_snapped_so_ids_are_stable():
    a = Grid.from_area(shapely.box(1003, 2017, 1990, 2960), UTM, 50)
    b = Grid.from_area(shapely.box(1010, 2040, 1990, 2960), UTM, 50)
    assert (a.x0, a.y0) == (1000.0, 2000.0)
    assert a.x0 == b.x0 and a.n_cols == b.n_cols
    assert a.x0 % 50 == 0 and a.y0 % 50 == 0


def test_cell_index_half_open_and_outside():
    g = Grid.from_area(shapely.box(0, 0, 100, 100), UTM, 50)
    row, col = g.cell_index(np.array([0, 49.99, 50, 99.9, 100, 150, np.nan]),
                            np.array([0, 99.9, 50, 0.1, 100, 10, 1]))
    # row 0 is north; a point on an inner line goes east/north; grid edges stay inside
    assert row.tolist() == [1, 0, 0, 1, 0, -1, -1]
    assert col.tolist() == [0, 0, 1, 1, 1, -1, -1]


def test_mask_follows_polygon_and_cells_outside_are_not_reported():
    tri = shapely.Polygon([(0, 0), (1000, 0), (0, 1000)])
    g = Grid.from_area(tri, UTM, 100)
    assert g.shape == (10, 10)
    assert 50 < g.n_cells < 100  # all_touched keeps the diagonal cells
    gdf = g.to_geodataframe({"v": np.ones(g.shape)})
    assert len(gdf) == g.n_cells
    assert gdf.geometry.area.round().eq(10_000).all()
    assert gdf.intersects(tri).all()


def test_cell_ceiling_gives_clear_error():
    with pytest.raises(GridTooLargeError, match="larger --cell-size"):
        Grid.from_area(shapely.box(0, 0, 100_000, 100_000), UTM, 10, max_cells=1000)


@pytest.mark.parametrize("bad", [0, -5, math.nan, math.inf, "10"])
def test_bad_cell_size(bad):
    with pytest.raises(InputError, match="cell size"):
        Grid.from_area(shapely.box(0, 0, 100, 100), UTM, bad)


def test_cell_size_rule_uses_area_not_points_and_is_round():
    size, choice = choose_cell_size((0, 0, 5000, 3000))
    assert size == 50.0  # 3000 / 50 = 60 -> nice 50
    assert choice.name == "cell_size_m" and "3,000" in choice.rule
    assert choose_cell_size((0, 0, 100, 100))[0] == settings.min_auto_cell_size_m
    assert choose_cell_size((0, 0, 1e6, 1e6))[0] == settings.max_auto_cell_size_m


def test_choose_crs_utm_and_projected_passthrough():
    import geopandas as gpd

    pts = gpd.GeoSeries(shapely.points([24.94, 24.95], [60.17, 60.16]), crs=4326)
    crs, choice = choose_crs(pts)
    assert crs.to_epsg() == 32635 and "UTM" in choice.rule
    crs2, _ = choose_crs(pts.to_crs(3067))
    assert crs2.to_epsg() == 3067


def test_padded_cell_index_by_hand_and_against_cell_index():
    grid = Grid.from_area(shapely.box(1000, 2000, 1300, 2200), CRS("EPSG:32633"), 100)
    west, north = grid.x0, grid.bounds[3]
    # half a cell west of and above the grid's NW corner: the padded grid's first cell
    assert grid.padded_cell_index(np.array([west - 50]), np.array([north + 50]), 1) == (
        np.array([0]), np.array([0]))
    assert grid.padded_cell_index(np.array([west + 250]), np.array([north - 150]), 2) == (
        np.array([3]), np.array([4]))
    rng = np.random.default_rng(3)
    x = rng.uniform(grid.bounds[0], grid.bounds[2], 500)
    y = rng.uniform(grid.bounds[1], grid.bounds[3], 500)
    row, col = grid.cell_index(x, y)
    prow, pcol = grid.padded_cell_index(x, y, 3)
    inside = row >= 0
    assert inside.sum() > 100
    np.testing.assert_array_equal(prow[inside] - 3, row[inside])
    np.testing.assert_array_equal(pcol[inside] - 3, col[inside])
