"""The forecast's cross-validation from per-tile parts equals the one-array score (issue 20).

Each tile keeps its window of the count cube and scores every candidate on it
(hotspot_env.scale.tile_forecast); the client picks the candidate from the
tiles' sums, maxima and an exact distributed selection of each fold's top share
(hotspot_env.models.topk, hotspot_env.scale.tiled_forecast). The tile tasks run
here in process through a minimal stand-in for a dask client; the TCP
LocalCluster run is in tests/test_scale_engine.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import CRS

from hotspot_env.core.grid import Grid
from hotspot_env.models import forecast, scores, topk
from hotspot_env.scale.tiled_forecast import TiledCubeBuilder
from hotspot_env.scale.tiles import make_tiles
from tests.inprocess_client import InProcessClient
from tests.test_forecast import stable_city

CRS_M = CRS.from_epsg(32633)


def parts_hits(pred, obs, k, tol, cuts, m=8):
    """top_hits through the distributed protocol, the area cut into parts at ``cuts``."""
    parts = np.split(np.arange(pred.size), cuts)
    lo, hi = topk.bracket([topk.sketch(pred[p], m) for p in parts], k)
    return topk.part_hits([topk.bracket_table(pred[p], obs[p], lo, hi, tol) for p in parts],
                          k, tol)


def test_a_tie_at_the_cut_off_split_over_parts_is_counted_pro_rata_by_hand():
    # 2 cells above (obs 3 + 1), 5 cells tied at 4.0 (obs 2, 0, 1, 0, 2) across three parts
    pred = np.array([9.0, 4.0, 1.0, 4.0, 7.0, 4.0, 0.0, 4.0, 4.0, 2.0])
    obs = np.array([3.0, 2.0, 5.0, 0.0, 1.0, 1.0, 6.0, 0.0, 2.0, 4.0])
    k = 4  # two of the five tied cells are flagged
    hand = 3.0 + 1.0 + 2 / 5 * (2 + 0 + 1 + 0 + 2)
    assert scores.top_hits(pred, obs, k) == pytest.approx(hand, abs=1e-15)
    for cuts in ([], [3], [2, 6], [1, 4, 5, 8]):
        for m in (1, 2, 64):
            assert parts_hits(pred, obs, k, 0.0, cuts, m) == scores.top_hits(pred, obs, k)
    # a control that can fail: each part's own top share is not the area's top share
    per_part = sum(scores.top_hits(pred[p], obs[p], 2) for p in np.split(np.arange(10), [2]))
    assert per_part == pytest.approx(5.0 + 1.0 + 1 / 4 * 3.0) != hand


@pytest.mark.parametrize("seed", range(40))
def test_parts_reproduce_the_one_array_top_hits_exactly(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 4000))
    pred = rng.integers(0, int(rng.integers(2, 40)), n).astype(float)  # many ties
    if seed % 2:
        pred = pred / 3.0 + rng.normal(0, 1e-15, n) * (seed % 4 == 1)  # ulp-level noise
    obs = rng.poisson(1.0, n).astype(float)
    k = scores.treatable_cells(n, 0.05)
    tol = scores.tie_tolerance(scores.pred_max(pred), 1e-12) if seed % 3 else 0.0
    cuts = np.sort(rng.choice(np.arange(1, n), int(rng.integers(0, 9)), replace=False))
    assert parts_hits(pred, obs, k, tol, cuts, int(rng.integers(1, 40))) == \
        scores.top_hits(pred, obs, k, tol)


def test_values_a_few_ulps_apart_tie_within_the_tolerance():
    # three cells equal in exact arithmetic, apart by round-off: pro rata, as exact ties
    pred = np.array([2.0, 1.0 + 2e-16, 1.0, 1.0 - 1e-16, 0.5, 0.0])
    obs = np.array([1.0, 3.0, 0.0, 0.0, 1.0, 0.0])
    tol = scores.tie_tolerance(scores.pred_max(pred), scores.TIE_RTOL)
    assert scores.top_hits(pred, obs, 2, tol) == pytest.approx(1.0 + 1 / 3 * 3.0, abs=1e-15)
    assert scores.top_hits(pred, obs, 2) == 4.0  # exact equality: round-off picks a cell
    # distinct values stay distinct
    assert scores.top_hits(np.array([2.0, 1.0, 0.999]), np.array([0.0, 1.0, 5.0]), 2, tol) == 1.0


@pytest.fixture(scope="module")
def city():
    grid, x, y, t = stable_city(5, years=5, per_year=700)
    keep = np.asarray(t.year != 2020)  # a recording gap: left out on the tiles too
    return grid, x[keep], y[keep], t[keep]


def test_the_tiled_cube_gives_the_one_machine_forecast(city):
    grid, x, y, t = city
    one = forecast.fit_forecast(grid, x, y, t)
    tiles = make_tiles(grid, 0.6, 700.0)  # 12 x 12 cells: 25 tiles
    builder = TiledCubeBuilder(InProcessClient(), lambda: tiles)
    many = forecast.fit_forecast(grid, x, y, t, cube=builder)
    assert builder.stats == {"tiles": 25, "round_trips": builder.stats["round_trips"]}
    assert len(one.gaps) == 1 and many.gaps == one.gaps
    assert list(many.cv["candidate"]) == list(one.cv["candidate"])
    assert set(one.cv["blend"]) >= {"none", "tiebreak", "0.1", "smooth"}
    cols = [c for c in one.cv.columns if c.startswith("pei")]
    np.testing.assert_allclose(many.cv[cols].to_numpy(), one.cv[cols].to_numpy(),
                               rtol=0, atol=1e-9)
    assert many.model == one.model and many.description == one.description
    for key in ("a", "b", "deviance"):
        assert many.calibration[key] == pytest.approx(one.calibration[key], rel=1e-9)
    np.testing.assert_allclose(many.forecast, one.forecast, rtol=1e-9, equal_nan=True)


def test_tile_smooths_differ_from_the_whole_grid_only_by_round_off(city):
    """What the tie tolerance absorbs: the tiles' FFT smooths are not bit-identical."""
    from hotspot_env.core.density import binned_kde, binned_kde_raw

    grid, x, y, t = city
    periods, _ = forecast.choose_period(t)
    stack = forecast.count_stack(grid, x, y, periods.index(t), periods.n, 600.0)
    whole = binned_kde(grid, stack.padded, 150.0, stack.pad)
    worst = 0.0
    for tile in make_tiles(grid, 0.6, 600.0):
        sl = (slice(tile.row0, tile.row1), slice(tile.col0, tile.col1))
        window = stack.padded[:, tile.row0:tile.row1 + 2 * stack.pad,
                              tile.col0:tile.col1 + 2 * stack.pad]
        sub = Grid(CRS_M, grid.x0 + tile.col0 * 50.0, grid.bounds[3] - tile.row1 * 50.0, 50.0,
                   tile.col1 - tile.col0, tile.row1 - tile.row0, grid.mask[sl])
        part = binned_kde_raw(sub, window, 150.0, stack.pad)
        worst = max(worst, float(np.abs(part - whole[(slice(None), *sl)]).max()))
    assert 0 < worst / whole.max() < scores.TIE_RTOL / 10


def test_an_isolated_incident_gives_ties_that_only_the_tolerance_sees():
    """Symmetric cells around one incident are equal in exact arithmetic, not after the FFT."""
    grid = Grid.from_area(shapely.box(0, 0, 2000, 2000), CRS_M, 50.0)
    xs, ys = np.array([1012.0, 337.0, 1630.0]), np.array([988.0, 1480.0, 410.0])
    stack = forecast.count_stack(grid, xs, ys, np.zeros(3, np.int64), 1, 300.0)
    smooth = stack.kde(250.0)[0]
    top = np.sort(smooth)[::-1]
    near = np.abs(top[:, None] - top[None, :]) <= 1e-12 * top[0]
    assert (near & (top[:, None] != top[None, :])).any()  # equal but for round-off


def test_public_mode_smooths_only_are_chosen_the_same_on_tiles():
    grid, x, y, t = stable_city(9, years=4, per_year=300)
    one = forecast.fit_forecast(grid, x, y, t, min_radius_m=300.0)
    tiles = make_tiles(grid, 0.5, 700.0)
    many = forecast.fit_forecast(grid, x, y, t, min_radius_m=300.0,
                                 cube=TiledCubeBuilder(InProcessClient(), lambda: tiles))
    assert set(one.cv["blend"]) == {"smooth"} and many.model == one.model
    cols = [c for c in one.cv.columns if c.startswith("pei")]
    np.testing.assert_allclose(many.cv[cols].to_numpy(), one.cv[cols].to_numpy(), rtol=0,
                               atol=1e-9)
