"""Tests for hotspot_env.factors.custom (user layers as named factors)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
import shapely
from _factor_data import CRS_M, box_grid, frame, helsinki, value_at
from rasterio.transform import Affine

from hotspot_env.errors import InputError
from hotspot_env.factors import custom

X0, Y0 = 385_000.0, 6_672_000.0


@pytest.fixture(scope="module")
def hel(tmp_path_factory):
    return helsinki(tmp_path_factory)


def grid100():
    return box_grid(X0, Y0, X0 + 100, Y0 + 100, 10)


def test_point_layer_distance():
    bars = frame([shapely.Point(X0 + 5, Y0 + 5), shapely.Point(X0 + 95, Y0 + 95)])
    grid = grid100()
    res = custom.compute({}, grid, name="bars", source=bars)
    d = res.values["bars_dist_m"]
    assert value_at(grid, d, X0 + 5, Y0 + 5) == 0.0
    assert value_at(grid, d, X0 + 45, Y0 + 35) == pytest.approx(50.0)
    assert value_at(grid, d, X0 + 95, Y0 + 65) == pytest.approx(30.0)
    assert res.name == "bars" and len(res.features) == 2


@pytest.mark.parametrize("kinds", [("point",), ("point", "line", "polygon"), ("polygon",)])
def test_distance_equals_brute_force_for_mixed_layers(kinds):
    # Points take a KD-tree and lines/polygons a shapely tree: the merged
    # nearest distance must equal shapely.distance to every feature.
    from hotspot_env.factors.base import distance_to_features

    rng = np.random.default_rng(11)
    grid = box_grid(X0, Y0, X0 + 400, Y0 + 300, 10)
    geoms = []
    for _ in range(15):
        x, y = X0 + rng.uniform(-50, 450), Y0 + rng.uniform(-50, 350)
        if "point" in kinds:
            geoms.append(shapely.Point(x, y))
        if "line" in kinds:
            geoms.append(shapely.LineString([(x, y), (x + rng.uniform(-60, 60), y + 30)]))
        if "polygon" in kinds:
            geoms.append(shapely.box(x, y, x + 25, y + 15))
    geoms = np.array(geoms, dtype=object)
    got = distance_to_features(grid, geoms)
    cx, cy = grid.centres()
    centres = shapely.points(cx[grid.mask], cy[grid.mask])
    brute = shapely.distance(centres[:, None], geoms[None, :]).min(axis=1)
    np.testing.assert_allclose(got[grid.mask], brute, rtol=1e-12, atol=1e-9)
    assert np.isnan(got[~grid.mask]).all()


def test_line_layer_in_other_crs_and_from_a_file(tmp_path):
    grid = grid100()
    line = frame([shapely.LineString([(X0, Y0 + 50), (X0 + 100, Y0 + 50)])]).to_crs("EPSG:4326")
    path = tmp_path / "rail.gpkg"
    line.to_file(path)
    for source in (line, path, str(path)):
        d = custom.compute({}, grid, name="rail", source=source).values["rail_dist_m"]
        assert value_at(grid, d, X0 + 45, Y0 + 95) == pytest.approx(45.0, abs=0.01)
        assert value_at(grid, d, X0 + 45, Y0 + 55) == pytest.approx(5.0, abs=0.01)


def test_layer_taken_from_layers_by_name():
    grid = grid100()
    poly = frame([shapely.box(X0, Y0, X0 + 20, Y0 + 20)])
    d = custom.compute({"atms": poly}, grid, name="atms").values["atms_dist_m"]
    assert value_at(grid, d, X0 + 5, Y0 + 5) == 0.0
    assert value_at(grid, d, X0 + 55, Y0 + 5) == pytest.approx(35.0)


def test_raster_is_sampled_at_cell_centres(tmp_path):
    grid = grid100()
    path = tmp_path / "noise.tif"
    data = np.arange(100, dtype="float32").reshape(10, 10)  # 10 m pixels aligned with the grid
    profile = {"driver": "GTiff", "width": 10, "height": 10, "count": 1, "dtype": "float32",
               "crs": CRS_M, "transform": Affine(10, 0, X0, 0, -10, Y0 + 100), "nodata": -1}
    data[9, 9] = -1
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    res = custom.compute({}, grid, name="noise", source=path)
    v = res.values["noise"]
    np.testing.assert_array_equal(v[:3, :3], data[:3, :3])
    assert math.isnan(v[9, 9])
    assert res.features is None


def test_bad_inputs():
    grid = grid100()
    with pytest.raises(InputError, match="name"):
        custom.compute({}, grid, name="Bad Name", source=frame([shapely.Point(X0, Y0)]))
    with pytest.raises(InputError, match="does not exist"):
        custom.compute({}, grid, name="x", source="/no/such/file.gpkg")
    res = custom.compute({}, grid, name="nothing")
    assert np.isnan(res.values["nothing_dist_m"]).all() and res.choices[0].value == "not measured"


def test_helsinki_landuse_as_custom(hel):
    layers, grid = hel
    res = custom.compute(layers, grid, name="landuse")
    d = res.values["landuse_dist_m"]
    assert np.isfinite(d).all() and (d == 0).mean() > 0.05  # some cells inside land-use areas
    assert d.max() < 1000
