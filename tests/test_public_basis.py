"""Public mode's basis: cells and protected counts, never positions inside a cell.

References are independent: numpy on the points repeated by their weights
(``np.percentile``, ``np.std``), and the bandwidth rule applied to those
repeated points.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS

from hotspot_env.core.density import choose_bandwidth, count_incidents, frequency_percentile
from hotspot_env.core.grid import Grid
from hotspot_env.core.public_basis import (
    protected_bandwidth,
    snap_to_cells,
    withhold_incident_hash,
)
from hotspot_env.outputs.privacy import Protection


@pytest.fixture
def grid():
    return Grid.from_area(shapely.box(0, 0, 3000, 2000), CRS.from_epsg(32633), 100.0)


@pytest.mark.parametrize("seed", range(5))
def test_frequency_percentile_equals_numpy_on_the_repeated_values(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=rng.integers(2, 40))
    weights = rng.integers(0, 6, values.size)
    weights[0] += 1
    q = [0, 10, 25, 33.3, 50, 75, 99, 100]
    expected = np.percentile(np.repeat(values, weights), q)
    np.testing.assert_allclose(frequency_percentile(values, weights, q), expected,
                               rtol=0, atol=1e-12)


def test_weighted_bandwidth_is_the_bandwidth_of_the_repeated_points():
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0, 5000, 300), rng.uniform(0, 3000, 300)
    w = rng.integers(0, 9, 300)
    value, choice = choose_bandwidth(x, y, 100.0, weights=w)
    ref, ref_choice = choose_bandwidth(np.repeat(x, w), np.repeat(y, w), 100.0)
    assert value == ref and choice.rule == ref_choice.rule
    assert f"n = {int(w.sum()):,}" in choice.rule


def test_a_single_weighted_point_falls_back_to_the_cell_floor():
    value, choice = choose_bandwidth(np.array([5.0, 9.0]), np.array([1.0, 2.0]), 100.0,
                                     weights=np.array([1, 0]))
    assert "fewer than 2 incidents" in choice.rule and value > 0


def test_snap_keeps_each_cell_and_lands_on_its_centre(grid):
    rng = np.random.default_rng(1)
    pts = gpd.GeoDataFrame({"n": np.arange(500)}, crs=grid.crs,
                           geometry=gpd.points_from_xy(rng.uniform(0, 3000, 500),
                                                       rng.uniform(0, 2000, 500)))
    snapped = snap_to_cells(pts, grid, choices := [])
    x, y = snapped.geometry.x.to_numpy(), snapped.geometry.y.to_numpy()
    np.testing.assert_array_equal(count_incidents(grid, x, y),
                                  count_incidents(grid, pts.geometry.x, pts.geometry.y))
    # a cell's centre is half a cell from its west and north edges
    assert np.allclose((x - grid.x0) % grid.cell_size, grid.cell_size / 2)
    assert np.allclose((grid.bounds[3] - y) % grid.cell_size, grid.cell_size / 2)
    assert list(snapped["n"]) == list(pts["n"]) and choices[0].value == "cell centres"


def test_protected_bandwidth_reads_only_the_protected_counts(grid):
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 3000, 400), rng.uniform(0, 2000, 400)
    protection = Protection(k=5)
    value, choice = protected_bandwidth(grid, x, y, protection)
    imputed = protection.layers["incidents"].imputed
    cx, cy = grid.centres()
    reps = np.where(grid.mask, imputed, 0).ravel()
    ref, _ = choose_bandwidth(np.repeat(cx.ravel(), reps), np.repeat(cy.ravel(), reps), 100.0)
    assert value == ref
    assert choice.rule.startswith("public mode: bandwidth from the protected cell counts")
    # moving every point within its cell changes nothing
    row, col = grid.cell_index(x, y)
    west, north = grid.x0 + col * grid.cell_size, grid.bounds[3] - row * grid.cell_size
    u, v = rng.uniform(0.01, 0.99, (2, x.size))
    moved, _ = protected_bandwidth(grid, west + u * grid.cell_size,
                                   north - v * grid.cell_size, Protection(k=5))
    assert moved == value


def test_only_the_incident_file_hash_is_withheld():
    inputs = [{"path": "incidents.csv", "sha256": "ab" * 32},
              {"path": "city.osm.pbf", "sha256": "cd" * 32}]
    shown = withhold_incident_hash(inputs, "/data/incidents.csv", choices := [])
    assert shown == [{"path": "incidents.csv", "sha256": None}, inputs[1]]
    assert inputs[0]["sha256"] == "ab" * 32  # the run's own record is not changed
    assert choices[0].name == "incidents_sha256"
    assert withhold_incident_hash(inputs[1:], None, []) == inputs[1:]  # a frame: no file
