"""The risk terrain model from per-tile sums equals the one-matrix model (issue 20, item 2a).

Each tile keeps its cells' rows of the design (hotspot_env.scale.tile_rtm); the
client adds up the tiles' frequency tables, density moments and candidate
digests (hotspot_env.scale.tiled_design). Here the tile tasks run in process
through a minimal stand-in for a dask client (map, gather, scatter), so the
same client code is tested without a cluster; tests/test_scale_engine.py runs
it on a TCP LocalCluster.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from hotspot_env.core.grid import Grid
from hotspot_env.models import rtm
from hotspot_env.models.rtm import glm
from hotspot_env.models.rtm.selection import local_design
from hotspot_env.scale import tile_rtm
from hotspot_env.scale.tiled_design import TiledDesignBuilder
from hotspot_env.scale.tiles import make_tiles
from tests.inprocess_client import InProcessClient

CRS_M = CRS.from_epsg(32633)
BLOCK_M = 100.0


def frame(geoms) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(geoms), crs=CRS_M)


@pytest.fixture(scope="module")
def city():
    """A round study area, points, lines and (concave) polygons, overdispersed counts."""
    rng = np.random.default_rng(20)
    x0, y0, side = 500_000.0, 6_000_000.0, 3_000.0
    area = shapely.Point(x0 + side / 2, y0 + side / 2).buffer(side / 2)
    grid = Grid.from_area(area, CRS_M, 50.0)

    def points(n):
        return frame(shapely.points(rng.uniform(x0, x0 + side, n), rng.uniform(y0, y0 + side, n)))

    starts = rng.uniform(0, side, (40, 2))
    lines = frame(shapely.linestrings(np.stack([
        np.column_stack([x0 + starts[:, 0], y0 + starts[:, 1]]),
        np.column_stack([x0 + starts[:, 0] + rng.uniform(-400, 400, 40),
                         y0 + starts[:, 1] + rng.uniform(-400, 400, 40)])], axis=1)))
    c = rng.uniform(200, side - 200, (25, 2))
    polys = [shapely.box(x0 + a - 60, y0 + b - 40, x0 + a + 60, y0 + b + 40) for a, b in c]
    # a C shape whose centroid lies outside it
    polys.append(shapely.box(x0 + 1000, y0 + 1000, x0 + 1600, y0 + 1600).difference(
        shapely.box(x0 + 1100, y0 + 1100, x0 + 1700, y0 + 1500)))
    layers = {"bars": points(50), "dark": lines, "vacant": frame(polys),
              "bars_again": None, "decoy": points(120)}
    layers["bars_again"] = layers["bars"].copy()
    near = rtm.proximity_indicators(grid, layers["bars"], [BLOCK_M])[BLOCK_M]
    dark = rtm.proximity_indicators(grid, layers["dark"], [BLOCK_M])[BLOCK_M]
    mu = np.exp(math.log(0.4) + math.log(2.2) * near + math.log(1.6) * dark)
    counts = rng.poisson(mu * rng.gamma(2.0, 0.5, mu.shape)) * grid.mask
    return grid, counts, layers


@pytest.fixture(scope="module")
def designs(city):
    grid, counts, layers = city
    tiles = make_tiles(grid, 0.6, 50.0)  # 12 x 12 cells: 25 tiles over the circle
    ops, mult = rtm.OPERATIONS, rtm.BLOCK_MULTIPLES
    one = local_design(grid, counts, layers, BLOCK_M, mult, ops)
    many = TiledDesignBuilder(InProcessClient(), lambda: tiles)(grid, counts, layers, BLOCK_M,
                                                                 mult, ops)
    return one, many, tiles


def test_the_tiles_test_the_same_candidates(designs, city):
    one, many, tiles = designs
    grid = city[0]
    assert len(tiles) >= 9
    labels = [c.label for c in one.candidates]
    assert [c.label for c in many.candidates] == labels
    assert not any(c.factor == "bars_again" for c in many.candidates)  # a duplicate is dropped
    assert {c.operation for c in many.candidates} == {"proximity", "density"}
    assert (many.n_rows, many.y_total) == (one.n_rows, one.y_total) == (grid.n_cells,
                                                                        int(city[1].sum()))
    for j in range(len(labels)):
        assert many.cells(j) == one.cells(j)
        assert np.array_equal(many.indicator(j), one.indicator(j)), labels[j]


@pytest.mark.parametrize("columns", [[0], [3, 7], [0, 1, 5, 9, 12]])
def test_summed_frequency_tables_are_the_one_matrix_table(designs, columns):
    one, many, _ = designs
    for a, b in zip(many.grouped(columns), one.grouped(columns), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_per_tile_irls_statistics_add_up_to_the_one_matrix_statistics(designs, alpha):
    """X'WX, X'Wz and the log-likelihood at any coefficients, summed over tiles (to 1e-9)."""
    one, many, tiles = designs
    columns = [0, 2, 6]
    raw = [many.columns[j] for j in columns]
    rng = np.random.default_rng(4)
    # the cell-level statistics: every study-area cell a row, no grouping
    X = np.column_stack([np.ones(one.n_rows), one.X[:, columns].astype(float)])
    y, w = one.y.astype(float), np.ones(one.n_rows)
    rows = many._map(lambda r: r)  # each tile's TileRows (in process here)
    for _ in range(3):
        beta = rng.normal(0, 0.5, X.shape[1])
        xtwx, xtwz = glm.irls_step(y, X, w, beta, alpha)
        sx, sz, sll = np.zeros_like(xtwx), np.zeros_like(xtwz), 0.0
        for r in rows:
            yu, Xu, wu = glm.ungroup(*tile_rtm.tile_group_keys(r, raw, many.ymax), len(raw),
                                     many.ymax)
            a, b = glm.irls_step(yu, Xu, wu, beta, alpha)
            sx, sz = sx + a, sz + b
            sll += glm.nb_loglik(yu, np.exp(Xu @ beta), alpha, wu)
        np.testing.assert_allclose(sx, xtwx, rtol=1e-9, atol=0)
        np.testing.assert_allclose(sz, xtwz, rtol=1e-9, atol=1e-9)
        assert sll == pytest.approx(glm.nb_loglik(y, np.exp(X @ beta), alpha, w), rel=1e-9)
    assert len(rows) == len(tiles)


def test_density_thresholds_from_tile_sums_are_numpys(city):
    """mean + 2 SD over the study area from the tiles' (n, sum) then squared deviations."""
    grid, counts, layers = city
    tiles = make_tiles(grid, 0.6, 50.0)
    distances = [m * BLOCK_M for m in rtm.BLOCK_MULTIPLES]
    surfaces = rtm.density.density_surfaces(grid, rtm._geometry.single_parts(layers["decoy"]),
                                            distances, BLOCK_M)
    builder = TiledDesignBuilder(InProcessClient(), lambda: tiles)
    design = builder(grid, counts, {"decoy": layers["decoy"]}, BLOCK_M, rtm.BLOCK_MULTIPLES,
                     ("density",))
    for j, c in enumerate(design.candidates):
        values = surfaces[c.distance_m][grid.mask]
        expected = (surfaces[c.distance_m] > (values.mean() + 2 * values.std()) * (1 + 1e-9))
        assert np.array_equal(design.indicator(j), expected & grid.mask)


def test_the_tiled_fit_is_the_one_machine_fit(city):
    grid, counts, layers = city
    tiles = make_tiles(grid, 0.6, 50.0)
    one = rtm.fit(grid, counts, layers, block_length_m=BLOCK_M)
    builder = TiledDesignBuilder(InProcessClient(), lambda: tiles)
    many = rtm.fit(grid, counts, layers, block_length_m=BLOCK_M, design=builder)
    assert one.family == "negative binomial" and len(one.table) >= 2
    assert list(many.table["factor"]) == list(one.table["factor"])
    np.testing.assert_allclose(many.table["rrv"], one.table["rrv"], rtol=1e-6, atol=0)
    pd.testing.assert_frame_equal(many.candidates, one.candidates)
    assert many.alpha == one.alpha
    assert np.array_equal(many.score, one.score, equal_nan=True)
    assert set(many.indicators) == set(one.indicators)
    for name, ind in one.indicators.items():
        assert np.array_equal(many.indicators[name], ind), name
    # singles and stepwise moves are fetched together: far fewer round trips than fits
    assert builder.stats["tiles"] == len(tiles)
    assert 0 < builder.stats["round_trips"] < len(one.candidates) // 2


def test_features_clipped_too_close_to_a_tile_would_be_caught(city, monkeypatch):
    """Control: a reach shorter than the largest distance changes the tiles' indicators."""
    grid, counts, layers = city
    tiles = make_tiles(grid, 0.6, 50.0)
    one = local_design(grid, counts, layers, BLOCK_M, rtm.BLOCK_MULTIPLES, rtm.OPERATIONS)
    monkeypatch.setattr("hotspot_env.scale.tiled_design.layer_reach", lambda s, d: 0.0)
    many = TiledDesignBuilder(InProcessClient(), lambda: tiles)(
        grid, counts, layers, BLOCK_M, rtm.BLOCK_MULTIPLES, rtm.OPERATIONS)
    labels = [c.label for c in many.candidates]
    same = [c.label in labels and np.array_equal(many.indicator(labels.index(c.label)),
                                                 one.indicator(j))
            for j, c in enumerate(one.candidates)]
    assert not all(same)


def test_no_layer_or_no_incident_is_not_fitted_on_tiles_either(city):
    grid, counts, layers = city
    tiles = make_tiles(grid, 0.6, 50.0)
    for c, lay in ((counts, {}), (np.zeros_like(counts), layers)):
        one = rtm.fit(grid, c, lay, block_length_m=BLOCK_M)
        many = rtm.fit(grid, c, lay, block_length_m=BLOCK_M,
                       design=TiledDesignBuilder(InProcessClient(), lambda: tiles))
        assert one.table.empty and many.table.empty
        assert many.n_tested == one.n_tested and many.intercept == one.intercept
        assert [ch.rule for ch in many.choices] == [ch.rule for ch in one.choices]
