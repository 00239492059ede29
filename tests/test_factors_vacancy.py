"""Tests for hotspot_env.factors.vacancy (distance to vacant/derelict features)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from _factor_data import box_grid, frame, helsinki, value_at

from hotspot_env.errors import InputError
from hotspot_env.factors import vacancy

X0, Y0 = 385_000.0, 6_672_000.0


@pytest.fixture(scope="module")
def hel(tmp_path_factory):
    return helsinki(tmp_path_factory)


def grid100():
    return box_grid(X0, Y0, X0 + 100, Y0 + 100, 10)  # centres at X0 + 5, 15, ..., 95


def test_distance_to_a_point_matches_hand_values():
    vacant = frame([shapely.Point(X0 + 5, Y0 + 5)], kind=["landuse=brownfield"])
    res = vacancy.compute({"vacant": vacant}, grid100())
    d = res.values["vacant_dist_m"]
    grid = grid100()
    assert value_at(grid, d, X0 + 5, Y0 + 5) == 0.0
    assert value_at(grid, d, X0 + 35, Y0 + 5) == pytest.approx(30.0)
    assert value_at(grid, d, X0 + 95, Y0 + 95) == pytest.approx(90 * math.sqrt(2))
    assert value_at(grid, d, X0 + 45, Y0 + 35) == pytest.approx(50.0)  # 3-4-5 triangle
    assert not np.isnan(d).any()
    assert list(res.layer["kind"]) == ["landuse=brownfield"]


def test_polygon_inside_is_zero_and_outside_is_edge_distance():
    vacant = frame([shapely.box(X0 + 40, Y0 + 40, X0 + 60, Y0 + 60)], kind=["building=ruins"])
    grid = grid100()
    d = vacancy.compute({"vacant": vacant}, grid).values["vacant_dist_m"]
    assert value_at(grid, d, X0 + 45, Y0 + 55) == 0.0
    assert value_at(grid, d, X0 + 85, Y0 + 55) == pytest.approx(25.0)
    assert value_at(grid, d, X0 + 5, Y0 + 95) == pytest.approx(math.hypot(35, 35))


def test_user_parcels_only_flagged_ones_count():
    grid = grid100()
    parcels = frame([shapely.box(X0, Y0, X0 + 10, Y0 + 10),
                     shapely.box(X0 + 90, Y0 + 90, X0 + 100, Y0 + 100),
                     shapely.box(X0 + 90, Y0, X0 + 100, Y0 + 10)],
                    vacant=[1, "no", "yes"]).to_crs("EPSG:4326")
    res = vacancy.compute({}, grid, parcels=parcels)
    d = res.values["vacant_dist_m"]
    assert value_at(grid, d, X0 + 5, Y0 + 5) == 0.0
    assert value_at(grid, d, X0 + 95, Y0 + 5) == 0.0
    assert value_at(grid, d, X0 + 95, Y0 + 95) == pytest.approx(85.0, abs=0.01)  # unflagged
    assert list(res.features["source"]) == ["user", "user"]

    with pytest.raises(InputError, match="flag"):
        vacancy.compute({}, grid, parcels=parcels.drop(columns="vacant"))


def test_osm_and_parcels_combined():
    grid = grid100()
    vacant = frame([shapely.Point(X0 + 5, Y0 + 95)], kind=["disused=*"])
    parcels = frame([shapely.Point(X0 + 95, Y0 + 5)], vacant=[True])
    res = vacancy.compute({"vacant": vacant}, grid, parcels=parcels)
    d = res.values["vacant_dist_m"]
    assert value_at(grid, d, X0 + 5, Y0 + 5) == pytest.approx(90.0)
    assert value_at(grid, d, X0 + 95, Y0 + 95) == pytest.approx(90.0)
    assert sorted(res.layer["kind"]) == ["disused=*", "parcel"]


def test_no_features_is_not_measured():
    res = vacancy.compute({"vacant": frame([], kind=[])}, grid100())
    assert np.isnan(res.values["vacant_dist_m"]).all()
    assert res.choices[0].value == "not measured"


def test_helsinki_plausible(hel):
    layers, grid = hel
    res = vacancy.compute(layers, grid)
    d = res.values["vacant_dist_m"]
    assert np.isfinite(d).all()
    diagonal = math.hypot(grid.n_cols * grid.cell_size, grid.n_rows * grid.cell_size)
    assert 0 <= d.min() < 25 and d.max() < diagonal
    assert len(res.features) == len(layers["vacant"])
