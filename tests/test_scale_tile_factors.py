"""Risk factors per tile: the tiled sightlines against the single-machine factor.

The reference is :func:`hotspot_env.factors.sightlines.compute` on the whole grid.
A grid covering only part of the layers (streets beyond it, blocks without a
tile) checks that every observer has one owner; an obstacle box cut too small
shows that the comparison can fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from hotspot_env.bench import TINY_SCALE
from hotspot_env.core import pipeline
from hotspot_env.core.grid import Grid
from hotspot_env.factors import lighting, sightlines, vacancy
from hotspot_env.inputs.synth import simulate_city
from hotspot_env.scale import tile_factors
from hotspot_env.scale.tile_factors import (
    TiledDistance,
    TiledLighting,
    TiledSightlines,
    TiledVacancy,
    block_owners,
)
from hotspot_env.scale.tiles import make_tiles
from tests.inprocess_client import InProcessClient


class Engine:
    def __init__(self, tiles, halo_m=100.0):
        self.tiles = tiles
        self.halo_m = halo_m


@pytest.fixture(scope="module")
def city_layers(tmp_path_factory):
    city = simulate_city(7, scale="quick", **TINY_SCALE).write(tmp_path_factory.mktemp("c"))
    analysis = pipeline.run(city["incidents"], layers=city["layers"], cell_size=50,
                            simulated=True, stages=[])
    layers = {n: analysis.layer(n) for n in ("streets", "buildings", "walls", "vegetation",
                                             "lamps", "vacant")
              if analysis.layer(n) is not None}
    return analysis.grid, layers


def _holed_subgrid(grid: Grid) -> Grid:
    """The middle of the city with a hole: streets beyond it, blocks without a tile."""
    x0, y0, x1, y1 = grid.bounds
    w, h = x1 - x0, y1 - y0
    area = shapely.box(x0 + 0.2 * w, y0 + 0.2 * h, x1 - 0.2 * w, y1 - 0.2 * h).difference(
        shapely.box(x0 + 0.4 * w, y0 + 0.4 * h, x0 + 0.6 * w, y0 + 0.6 * h))
    return Grid.from_area(area, grid.crs, grid.cell_size)


def _same(one, many):
    assert np.array_equal(many.values["sightline_m"], one.values["sightline_m"], equal_nan=True)
    assert many.layer.drop(columns="geometry").equals(one.layer.drop(columns="geometry"))
    assert np.array_equal(shapely.get_coordinates(many.layer.geometry),
                          shapely.get_coordinates(one.layer.geometry))
    assert [c.message() for c in many.choices] == [c.message() for c in one.choices]


@pytest.mark.parametrize("tile_km", [0.1, 0.2])
def test_tiled_sightlines_are_the_single_machines_bit_for_bit(city_layers, tile_km):
    grid, layers = city_layers
    sub = _holed_subgrid(grid)
    tiles = make_tiles(sub, tile_km, 100.0)
    owners = block_owners(tiles)
    assert owners.size > len(tiles)  # some blocks have no tile: their observers go elsewhere
    one = sightlines.compute(layers, sub, n_rays=12, max_m=80.0)
    factor = TiledSightlines(InProcessClient(), Engine(tiles))
    many = factor(layers, sub, n_rays=12, max_m=80.0)
    _same(one, many)
    # observers beyond the sub-grid were owned by edge tiles, and counted once
    xy = shapely.get_coordinates(one.layer.geometry)
    x0, y0, x1, y1 = sub.bounds
    beyond = (xy[:, 0] < x0) | (xy[:, 0] > x1) | (xy[:, 1] < y0) | (xy[:, 1] > y1)
    assert beyond.any()
    assert sum(r["observers"] for r in factor.reports) == len(one.layer)
    assert min(r["rows_read"] for r in factor.reports) < factor.reports[0]["rows_total"]


def test_a_box_without_the_halo_breaks_the_equality(city_layers, monkeypatch):
    grid, layers = city_layers
    tiles = make_tiles(grid, 0.3, 100.0)
    one = sightlines.compute(layers, grid)
    real = tile_factors.tile_bbox

    def no_halo(tile, owners, x0, top, cell, halo_m, bounds):
        return real(tile, owners, x0, top, cell, 0.0, bounds)

    monkeypatch.setattr(tile_factors, "tile_bbox", no_halo)
    many = TiledSightlines(InProcessClient(), Engine(tiles))(layers, grid)
    assert not np.array_equal(many.values["sightline_m"], one.values["sightline_m"],
                              equal_nan=True)


def test_nothing_to_measure_falls_back_to_the_factor_itself(city_layers):
    grid, layers = city_layers
    no_buildings = {k: v for k, v in layers.items() if k != "buildings"}
    tiles = make_tiles(grid, 0.5, 100.0)
    many = TiledSightlines(InProcessClient(), Engine(tiles))(no_buildings, grid)
    assert np.isnan(many.values["sightline_m"]).all()
    assert many.choices[0].value == "not measured"


@pytest.mark.parametrize("lit_tag", ["fallback", "fill"])
def test_tiled_lighting_equals_the_single_machines(city_layers, lit_tag):
    grid, layers = city_layers
    sub = _holed_subgrid(grid)  # street points beyond the grid: owned by edge tiles
    tiles = make_tiles(sub, 0.1, 100.0)
    one = lighting.compute(layers, sub, lit_tag=lit_tag)
    factor = TiledLighting(InProcessClient(), Engine(tiles))
    many = factor(layers, sub, lit_tag=lit_tag)
    lux_1, lux_d = one.values["lamp_lux"], many.values["lamp_lux"]
    assert np.array_equal(np.isnan(lux_d), np.isnan(lux_1)) and np.nanmax(lux_1) > 0
    np.testing.assert_allclose(lux_d, lux_1, rtol=1e-12, atol=0)
    for col in ("segment_id", "source", "lit"):
        assert list(many.layer[col]) == list(one.layer[col])
    for col in ("lux_mean", "lux_min"):
        np.testing.assert_allclose(many.layer[col].to_numpy(float),
                                   one.layer[col].to_numpy(float), rtol=1e-12, atol=0)
    assert [c.message() for c in many.choices] == [c.message() for c in one.choices]
    cells, points = factor.reports
    assert cells["points"] == sub.n_rows * sub.n_cols and points["points"] > cells["points"]
    assert sum(points["rows_read"]) < len(tiles) * points["rows_total"]


def test_tiled_lighting_without_its_reach_is_wrong(city_layers, monkeypatch):
    grid, layers = city_layers
    tiles = make_tiles(grid, 0.3, 100.0)
    one = lighting.compute(layers, grid)
    real = tile_factors.tile_bbox
    monkeypatch.setattr(tile_factors, "tile_bbox",
                        lambda t, o, x0, top, cell, halo_m, b: real(t, o, x0, top, cell, 0.0, b))
    many = TiledLighting(InProcessClient(), Engine(tiles))(layers, grid)
    assert np.nanmax(np.abs(many.values["lamp_lux"] - one.values["lamp_lux"])) > 0.01


@pytest.mark.parametrize("reach_m", [60.0, 400.0])
def test_tiled_vacancy_is_the_single_machines_bit_for_bit(city_layers, reach_m):
    grid, layers = city_layers
    sub = _holed_subgrid(grid)
    tiles = make_tiles(sub, 0.1, reach_m)
    one = vacancy.compute(layers, sub)
    factor = TiledVacancy(InProcessClient(), Engine(tiles, reach_m))
    many = factor(layers, sub)
    assert np.array_equal(many.values["vacant_dist_m"], one.values["vacant_dist_m"],
                          equal_nan=True)
    assert np.nanmax(one.values["vacant_dist_m"]) > 60.0  # some cells beyond the short reach
    assert [c.message() for c in many.choices] == [c.message() for c in one.choices]
    (report,) = factor.reports
    # with the short reach some cells are measured again in the client, never all of them
    assert 0 <= report["in_client"] < report["cells"]
    assert (report["in_client"] > 0) == (reach_m < np.nanmax(one.values["vacant_dist_m"]))
    assert min(report["rows_read"]) < report["rows_total"] or reach_m > 300


def test_distances_without_the_client_pass_would_be_wrong(city_layers):
    """Cells whose nearest feature is beyond the reach are the client's: the tiles alone are
    wrong there (so the equality above can fail), and the client's pass puts them right."""
    from hotspot_env.factors.base import distance_to_features

    class Capturing(InProcessClient):
        def gather(self, results):
            self.parts = results
            return results

    grid, layers = city_layers
    geoms = layers["vacant"].geometry.to_numpy()
    tiles = make_tiles(grid, 0.1, 30.0)
    client = Capturing()
    measure = TiledDistance(client, tiles, 30.0)
    exact = distance_to_features(grid, geoms)
    got = measure(grid, geoms)
    assert np.array_equal(got, exact, equal_nan=True)
    tiles_only = np.full(grid.shape, np.nan)
    for t, (part, _, _) in zip(tiles, client.parts, strict=True):
        tiles_only[t.row0:t.row1, t.col0:t.col1] = part
    wrong = grid.mask & ~np.isclose(tiles_only, exact, rtol=0, atol=0, equal_nan=False)
    again = grid.mask & ~(tiles_only <= 30.0)  # the cells the client measured again
    assert wrong.any() and not (wrong & ~again).any()  # every wrong cell was re-measured
    assert again.sum() == measure.reports[0]["in_client"]
