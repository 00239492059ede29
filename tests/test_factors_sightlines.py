"""Tests for hotspot_env.factors.sightlines (ray casting against obstacle edges)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from _factor_data import box_grid, frame, helsinki, value_at

from hotspot_env.factors import sightlines

X0, Y0 = 385_000.0, 6_672_000.0


@pytest.fixture(scope="module")
def hel(tmp_path_factory):
    return helsinki(tmp_path_factory)


def canyon_mean(half_width: float, n_rays: int = 16, max_m: float = 100.0) -> float:
    """Hand value: mean of min(max_m, w / |sin a|) over the ray angles, walls at +-w."""
    total = 0.0
    for k in range(n_rays):
        s = abs(math.sin(2 * math.pi * k / n_rays))
        total += max_m if s < 1e-12 else min(max_m, half_width / s)
    return total / n_rays


def street(x0, y0, x1, y1, **cols):
    return frame([shapely.LineString([(x0, y0), (x1, y1)])],
                 **({"osm_id": [1], "name": ["st"], "highway": ["residential"]} | cols))


def test_canyon_hand_value():
    # 2 * 100 + 4 * (5/sin 22.5 + 5/sin 45 + 5/sin 67.5) + 2 * 5, over 16 rays = 19.512 m
    assert canyon_mean(5.0) == pytest.approx(19.5122, abs=1e-4)


def test_free_distances_exact_in_a_canyon():
    edges = sightlines.obstacle_edges(np.array([shapely.box(-300, 5, 300, 25),
                                                shapely.box(-300, -25, 300, -5)]))
    rays = sightlines.free_distances(np.array([0.0]), np.array([0.0]), edges)
    assert rays.shape == (1, 16)
    assert rays[0, 4] == pytest.approx(5.0)  # north
    assert rays[0, 2] == pytest.approx(5 / math.sin(math.pi / 4))
    assert rays[0, 0] == rays[0, 8] == 100.0  # along the street
    assert rays.mean() == pytest.approx(canyon_mean(5.0), rel=1e-9)


def test_canyon_street_observers():
    grid = box_grid(X0 - 200, Y0 - 100, X0 + 200, Y0 + 100, 20)
    buildings = frame([shapely.box(X0 - 300, Y0 + 5, X0 + 300, Y0 + 25),
                       shapely.box(X0 - 300, Y0 - 25, X0 + 300, Y0 - 5)])
    streets = street(X0 - 60, Y0, X0 + 60, Y0)
    res = sightlines.compute({"streets": streets, "buildings": buildings}, grid)
    assert len(res.layer) == 8  # 120 m / 15 m
    np.testing.assert_allclose(res.layer["sightline_m"], canyon_mean(5.0), rtol=0.02)
    cell = value_at(grid, res.values["sightline_m"], X0 - 50, Y0 + 1)
    assert cell == pytest.approx(canyon_mean(5.0), rel=0.02)
    assert math.isnan(value_at(grid, res.values["sightline_m"], X0 + 150, Y0 + 80))
    assert set(res.features["source"]) == {"buildings"}


def test_open_field_sees_max_length():
    grid = box_grid(X0 - 200, Y0 - 200, X0 + 200, Y0 + 200, 25)
    far_building = frame([shapely.box(X0 + 180, Y0 + 180, X0 + 190, Y0 + 190)])
    streets = street(X0 - 50, Y0, X0 + 50, Y0)
    res = sightlines.compute({"streets": streets, "buildings": far_building}, grid,
                             min_blocked_share=0)
    assert (res.layer["sightline_m"] == 100.0).all()
    # The isovist of 16 rays of 100 m is the regular 16-gon of radius 100 m.
    assert res.layer["isovist_m2"].iloc[0] == pytest.approx(0.5 * 16 * 100**2 * math.sin(
        2 * math.pi / 16))


def test_too_few_buildings_is_not_measured():
    grid = box_grid(X0 - 200, Y0 - 200, X0 + 200, Y0 + 200, 25)
    far_building = frame([shapely.box(X0 + 180, Y0 + 180, X0 + 190, Y0 + 190)])
    res = sightlines.compute({"streets": street(X0 - 50, Y0, X0 + 50, Y0),
                              "buildings": far_building}, grid)
    assert np.isnan(res.values["sightline_m"]).all()
    assert "incomplete" in res.choices[0].rule


def test_walls_block_and_inside_observers_are_dropped():
    grid = box_grid(X0 - 200, Y0 - 200, X0 + 200, Y0 + 200, 25)
    # A wall 10 m north of the street, and a building the street's east end passes through.
    walls = frame([shapely.LineString([(X0 - 500, Y0 + 10), (X0 + 500, Y0 + 10)])])
    building = frame([shapely.box(X0 + 40, Y0 - 30, X0 + 80, Y0 - 20),
                      shapely.box(X0 + 100, Y0 - 10, X0 + 140, Y0 + 5)])
    streets = street(X0 - 60, Y0, X0 + 140, Y0)
    with_wall = sightlines.compute({"streets": streets, "buildings": building, "walls": walls},
                                   grid)
    without = sightlines.compute({"streets": streets, "buildings": building}, grid)
    assert with_wall.layer["sightline_m"].mean() < without.layer["sightline_m"].mean()
    assert (with_wall.layer.geometry.x < X0 + 100).all()  # the observers inside are gone
    assert len(with_wall.layer) == 13 - 3  # 200 m / 15 m = 13 observers, 3 inside
    assert set(with_wall.features["source"]) == {"buildings", "walls"}


def test_no_buildings_returns_nan_with_a_message():
    grid = box_grid(X0, Y0, X0 + 100, Y0 + 100, 10)
    res = sightlines.compute({"streets": street(X0, Y0 + 50, X0 + 100, Y0 + 50)}, grid)
    assert np.isnan(res.values["sightline_m"]).all()
    assert res.layer is None
    assert "buildings" in res.choices[0].rule


def test_helsinki_plausible(hel):
    layers, grid = hel
    res = sightlines.compute(layers, grid)
    values = res.values["sightline_m"]
    assert 0.3 < np.isfinite(values).mean() <= 1.0  # cells with a street
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 100
    assert 20 < np.nanmedian(values) < 80
    assert {"segment_id", "sightline_m", "isovist_m2"} <= set(res.layer.columns)
