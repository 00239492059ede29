"""Tests for hotspot_env.factors.access (walking distance over the street network)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from _factor_data import box_grid, frame, helsinki, value_at
from scipy.sparse.csgraph import connected_components

from hotspot_env.factors import access


@pytest.fixture(scope="module")
def hel(tmp_path_factory):
    return helsinki(tmp_path_factory)


def river_town():
    """Two banks 100 m apart (a river between y=0 and y=100), one bridge at x=900."""
    streets = frame([shapely.LineString([(0, 0), (900, 0), (1000, 0)]),
                     shapely.LineString([(0, 100), (900, 100), (1000, 100)]),
                     shapely.LineString([(900, 0), (900, 100)])],
                    osm_id=[1, 2, 3], name=["south", "north", "bridge"], highway="residential",
                    lit=None)
    youth = frame([shapely.Point(100, 110)], kind=["leisure=playground"], name=["play"])
    grid = box_grid(0, -200, 1000, 300, 20)  # centres at x = 10, 30, ... and y = ..., -10, 10
    return {"streets": streets, "youth": youth}, grid


def test_network_distance_goes_over_the_bridge():
    layers, grid = river_town()
    res = access.compute(layers, grid, attach_m=12)
    walk = res.values["youth_walk_m"]
    # South bank cell (110, -10): 10 m to the node (110, 0), 790 m east to the bridge,
    # 100 m across, 800 m west to (100, 100), 10 m to the playground = 1,710 m.
    south = value_at(grid, walk, 110, -10)
    assert south == pytest.approx(10 + 790 + 100 + 800 + 10, abs=1e-6)
    assert south > 10 * math.hypot(10, 120)  # over ten times the 120 m straight line
    # North bank cell (110, 110): 10 m to (110, 100), 10 m along, 10 m to the playground.
    assert value_at(grid, walk, 110, 110) == pytest.approx(30.0, abs=1e-6)


def test_gap_layer_and_threshold():
    layers, grid = river_town()
    res = access.compute(layers, grid, threshold_m=800, attach_m=12)
    gaps = res.layer[res.layer["role"] == "gap"]
    spaces = res.layer[res.layer["role"] == "space"]
    assert (gaps["youth_walk_m"] > 800).all()
    assert len(spaces) == 1 and spaces["name"].iloc[0] == "play"
    walk = res.values["youth_walk_m"]
    assert len(gaps) == int((walk[grid.mask] > 800).sum()) > 0
    assert gaps.geometry.contains(shapely.Point(110, -10)).any()
    assert not gaps.geometry.contains(shapely.Point(110, 110)).any()
    assert any(c.name == "youth_walk_threshold_m" and c.value == 800 for c in res.choices)


def test_polygon_space_is_entered_from_nodes_inside_it():
    layers, grid = river_town()
    layers["youth"] = frame([shapely.box(480, 90, 520, 130)], kind=["leisure=park"], name=["p"])
    walk = access.compute(layers, grid).values["youth_walk_m"]
    assert value_at(grid, walk, 490, 110) == pytest.approx(10.0, abs=1e-6)  # to node (490, 100)


def test_crossing_without_shared_vertex_is_not_a_junction():
    # A bridge (B) over a road (A): they cross at (50, 0) but share no vertex.
    streets = frame([shapely.LineString([(0, 0), (100, 0)]),
                     shapely.LineString([(50, -50), (50, 50)])])
    graph, xy = access.street_graph(streets, largest_component=False)
    assert connected_components(graph, directed=False)[0] == 2
    # With the vertex shared, it is one network.
    streets = frame([shapely.LineString([(0, 0), (50, 0), (100, 0)]),
                     shapely.LineString([(50, -50), (50.4, 0.3), (50, 50)])])
    graph, _ = access.street_graph(streets, largest_component=False)
    assert connected_components(graph, directed=False)[0] == 1


def test_network_distance_public_api():
    layers, _ = river_town()
    graph, xy = access.street_graph(layers["streets"])
    assert graph.shape == (len(xy), len(xy))
    assert abs(graph - graph.T).max() == 0  # symmetric
    d = access.network_distance(graph, xy, np.array([[0.0, 0.0]]), np.array([[0, -5], [0, 95]]),
                                attach_m=1)
    assert d == pytest.approx([5.0, 900 + 100 + 900 + 5.0])
    assert np.isinf(access.network_distance(graph, xy, np.zeros((0, 2)), np.zeros((1, 2))))


def test_motorways_are_not_walked():
    layers, grid = river_town()
    layers["streets"] = layers["streets"].copy()
    layers["streets"].loc[2, "highway"] = "motorway"  # the only bridge
    graph, xy = access.street_graph(layers["streets"], largest_component=False)
    assert connected_components(graph, directed=False)[0] == 2


def test_missing_spaces_or_streets_are_not_measured():
    layers, grid = river_town()
    for missing in ("youth", "streets"):
        res = access.compute({k: v for k, v in layers.items() if k != missing}, grid)
        assert np.isnan(res.values["youth_walk_m"]).all()
        assert res.choices[0].value == "not measured"


def test_helsinki_plausible(hel):
    layers, grid = hel
    res = access.compute(layers, grid)
    walk = res.values["youth_walk_m"]
    assert np.isfinite(walk).all()
    assert walk.min() >= 0
    assert 20 < np.median(walk) < 400  # 48 spaces in about 1 x 1.6 km
    cx, cy = grid.centres()
    spaces = layers["youth"].geometry.to_numpy()
    straight = shapely.distance(shapely.points(cx.ravel(), cy.ravel())[:, None],
                                spaces[None, :]).min(axis=1)
    # Walking is never shorter than the crow flies (triangle inequality), and mostly longer.
    assert (walk.ravel() >= straight - 1e-6).all()
    assert np.median(walk.ravel() / np.maximum(straight, 1.0)) > 1.1
    assert set(res.layer["role"]) <= {"gap", "space"}
    assert len(res.features) == len(layers["youth"])
