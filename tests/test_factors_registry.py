"""Tests for the factor registry and shared helpers (hotspot_env.factors, factors.base)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from _factor_data import box_grid, frame, helsinki

from hotspot_env.errors import InputError
from hotspot_env.factors import FACTORS, FactorResult, compute_all
from hotspot_env.factors.base import cell_mean, sample_along


@pytest.fixture(scope="module")
def hel(tmp_path_factory):
    return helsinki(tmp_path_factory)


def test_sample_along_spacing_and_midpoints():
    lines = np.array([shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(0, 0), (3, 0)])])
    x, y, line = sample_along(lines, 10.0)
    np.testing.assert_allclose(x, [5, 15, 25, 35, 45, 55, 65, 75, 85, 95, 1.5])
    assert list(line) == [0] * 10 + [1]


@pytest.mark.parametrize("multi", [False, True])
def test_sample_along_equals_shapely_interpolation(multi):
    # The numpy walk must put every sample where GEOS's line_interpolate_point
    # does, across zero-length pieces, zero-length lines and line boundaries;
    # multi-part lines take shapely's own path.
    rng = np.random.default_rng(3)
    lines = []
    for i in range(400):
        c = rng.uniform(0, 300, (int(rng.integers(2, 7)), 2))
        if i % 7 == 0:
            c[1] = c[0]
        if i % 50 == 0:
            c[:] = c[0]
        lines.append(shapely.LineString(c))
    if multi:
        lines.append(shapely.MultiLineString([[(0, 0), (40, 0)], [(50, 0), (50, 30)]]))
    geoms = np.array(lines, dtype=object)
    x, y, line = sample_along(geoms, 7.0)
    lengths = shapely.length(geoms)
    n = np.maximum(1, np.round(lengths / 7.0)).astype(np.int64)
    k = np.arange(line.size) - np.repeat(np.cumsum(n) - n, n)
    ref = shapely.get_coordinates(
        shapely.line_interpolate_point(geoms[line], (k + 0.5) * lengths[line] / n[line]))
    np.testing.assert_allclose(np.column_stack([x, y]), ref, atol=1e-7)
    np.testing.assert_array_equal(line, np.repeat(np.arange(geoms.size), n))


def test_cell_mean_ignores_nan_and_outside_points():
    grid = box_grid(0, 0, 20, 20, 10)
    m = cell_mean(grid, np.array([1, 2, 3, 15, 50]), np.array([1, 2, 3, 15, 50]),
                  np.array([1.0, 3.0, np.nan, 7.0, 100.0]))
    assert m[1, 0] == 2.0 and m[0, 1] == 7.0
    assert np.isnan(m[0, 0]) and np.isnan(m[1, 1])


def test_compute_all_on_empty_layers_never_crashes():
    grid = box_grid(0, 0, 100, 100, 10)
    results = compute_all({}, grid)
    assert list(results) == list(FACTORS)
    for name, res in results.items():
        assert isinstance(res, FactorResult) and res.name == name
        assert res.choices and res.choices[0].value == "not measured"
        for values in res.values.values():
            assert values.shape == grid.shape and np.isnan(values).all()


def test_compute_all_params_and_custom():
    grid = box_grid(0, 0, 100, 100, 10)
    bars = frame([shapely.Point(5, 5)], crs="EPSG:3067")
    results = compute_all({}, grid, params={"custom:bars": {"source": bars},
                                            "lighting": {"dark_lux": 3}},
                          factors=["lighting"])
    assert list(results) == ["lighting", "bars"]
    assert results["bars"].values["bars_dist_m"][9, 0] == 0.0
    with pytest.raises(InputError, match="unknown factor"):
        compute_all({}, grid, params={"lightning": {}})
    with pytest.raises(InputError, match="already used"):
        compute_all({}, grid, params={"custom:access": {"source": bars}})


def test_compute_all_helsinki(hel):
    layers, grid = hel
    streets = layers["streets"]
    times = pd.to_datetime(["2023-01-15 20:00"] * 50, utc=True)
    incidents = frame(streets.geometry.iloc[:50].centroid, crs=grid.crs, datetime=times)
    results = compute_all(layers, grid, incidents)
    keys = {k for res in results.values() for k in res.values}
    assert keys == {"lamp_lux", "dark_share", "timed_incidents", "sightline_m", "vacant_dist_m",
                    "youth_walk_m"}
    for res in results.values():
        for values in res.values.values():
            assert values.shape == grid.shape
        for layer in (res.layer, res.features):
            assert layer is None or layer.crs == grid.crs
    assert np.nanmax(results["darkness"].values["dark_share"]) == 1.0
