"""Tests for hotspot_env.rtm: block length, operationalisations, model recovery, headline, texts."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from hotspot_env import rtm
from hotspot_env.density import kde
from hotspot_env.grid import Grid

CRS_M = CRS.from_epsg(32633)


def make_grid(n_cols: int, n_rows: int, cell: float = 50.0, x0: float = 500_000.0,
              y0: float = 6_000_000.0) -> Grid:
    area = shapely.box(x0, y0, x0 + n_cols * cell, y0 + n_rows * cell)
    return Grid.from_area(area, CRS_M, cell)


def frame(geoms) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(geoms), crs=CRS_M)


def brute_distance(grid: Grid, geoms) -> np.ndarray:
    cx, cy = grid.centres()
    pts = shapely.points(cx.ravel(), cy.ravel())
    d = np.min(shapely.distance(pts[:, None], np.asarray(geoms, dtype=object)[None, :]), axis=1)
    return d.reshape(grid.shape)


# ------------------------------------------------------------------ block length
def test_block_length_is_median_segment_length():
    streets = frame([shapely.LineString([(0, 0), (80, 0)]),
                     shapely.LineString([(80, 0), (80, 120)]),
                     shapely.LineString([(0, 0), (0, 100)]),
                     shapely.MultiLineString([[(0, 100), (90, 100)], [(90, 100), (90, 300)]]),
                     shapely.LineString()])
    # segments: 80, 120, 100, 90, 200 -> median 100
    value, choice = rtm.block_length(streets)
    assert value == 100.0
    assert choice.name == "block_length_m" and "median" in choice.rule


def test_block_length_fallback_without_streets():
    for streets in (None, frame([])):
        value, choice = rtm.block_length(streets)
        assert value == rtm.DEFAULT_BLOCK_LENGTH_M == 100.0
        assert "default" in choice.rule


# ------------------------------------------------------------------ proximity
@pytest.mark.parametrize("kind", ["points", "lines", "polygons", "mixed"])
def test_proximity_matches_brute_force(kind):
    rng = np.random.default_rng(3)
    grid = make_grid(40, 30, cell=25.0)
    minx, miny, maxx, maxy = grid.bounds
    n = 25
    # features extend beyond the grid so edge cells see outside features too
    x = rng.uniform(minx - 150, maxx + 150, n)
    y = rng.uniform(miny - 150, maxy + 150, n)
    points = list(shapely.points(x, y))
    lines = [shapely.LineString([(a, b), (a + rng.uniform(-90, 90), b + rng.uniform(-90, 90)),
                                 (a + rng.uniform(-90, 90), b + rng.uniform(-90, 90))])
             for a, b in zip(x, y, strict=True)]
    polys = [shapely.box(a, b, a + rng.uniform(5, 60), b + rng.uniform(5, 60))
             for a, b in zip(x, y, strict=True)]
    polys.append(shapely.box(minx + 200, miny + 200, minx + 500, miny + 400))  # holds centres
    geoms = {"points": points, "lines": lines, "polygons": polys,
             "mixed": points[:8] + lines[8:16] + polys[16:]}[kind]
    distances = [37.0, 75.0, 112.5, 150.0]
    got = rtm.proximity_indicators(grid, frame(geoms), distances)
    truth = brute_distance(grid, geoms)
    for d in distances:
        np.testing.assert_array_equal(got[d], (truth <= d) & grid.mask, err_msg=f"d={d}")


def test_proximity_respects_mask_and_empty_input():
    grid = Grid.from_area(shapely.Polygon([(0, 0), (1000, 0), (0, 1000)]), CRS_M, 50.0)
    got = rtm.proximity_indicators(grid, frame([shapely.Point(500, 400)]), [300.0])
    assert not got[300.0][~grid.mask].any()
    assert got[300.0].any()
    empty = rtm.proximity_indicators(grid, frame([]), [100.0])
    assert not empty[100.0].any()


# ------------------------------------------------------------------ density
def test_density_is_quartic_kde_above_mean_plus_two_sd():
    grid = make_grid(30, 30, cell=20.0)
    cx, cy = grid.centres()
    rng = np.random.default_rng(1)
    # points on cell centres: binning is then exact, so this is the exact KDE
    pick = rng.choice(cx.size, 40, replace=False)
    px, py = cx.ravel()[pick], cy.ravel()[pick]
    ind, surf = rtm.density_indicators(grid, frame(shapely.points(px, py)), [60.0], 100.0)
    exact = kde(grid, px, py, 60.0) * 1e6
    np.testing.assert_allclose(surf[60.0], exact, rtol=1e-9, atol=1e-9)
    values = exact[grid.mask]
    np.testing.assert_array_equal(ind[60.0], exact > values.mean() + 2 * values.std())


def test_density_weights_lines_by_length():
    grid = make_grid(20, 20, cell=20.0)
    x0, y0 = grid.x0, grid.y0
    line = shapely.LineString([(x0 + 100, y0 + 200), (x0 + 300, y0 + 200)])  # 200 m
    _, surf = rtm.density_indicators(grid, frame([line]), [100.0], 100.0)
    # total mass = 2 block lengths of line (per km^2 x cell area in km^2)
    # (the kernel sampled at cell centres sums to 1 within 0.2 %)
    assert surf[100.0].sum() * grid.cell_area_km2 == pytest.approx(2.0, rel=5e-3)


# ------------------------------------------------------------------ model recovery
def planted(seed: int, rrv: float = 2.0, overdispersion: float = 0.0):
    """A grid where counts follow exp(b0 + log(rrv) * near_real); decoys have no effect."""
    rng = np.random.default_rng(seed)
    grid = make_grid(100, 100, cell=50.0)
    minx, miny, maxx, maxy = grid.bounds

    def scatter(n):
        return frame(shapely.points(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)))

    layers = {"real": scatter(60), "decoy_a": scatter(60), "decoy_b": scatter(150)}
    near = rtm.proximity_indicators(grid, layers["real"], [100.0])[100.0]
    mu = np.exp(math.log(0.6) + math.log(rrv) * near)
    if overdispersion:
        mu = mu * rng.gamma(1 / overdispersion, overdispersion, mu.shape)
    counts = rng.poisson(mu) * grid.mask
    return grid, counts, layers


@pytest.mark.parametrize("seed", [11, 12])
def test_rtm_recovers_planted_factor_and_rejects_decoys(seed):
    grid, counts, layers = planted(seed)
    result = rtm.fit(grid, counts, layers, block_length_m=100.0)
    table = result.table
    assert list(table.columns) == list(rtm.TABLE_COLUMNS)
    assert list(table["factor"]) == ["real"]
    row = table.iloc[0]
    assert row["operation"] == "proximity" and row["distance_m"] == 100.0
    assert 0.8 * 2.0 <= row["rrv"] <= 1.2 * 2.0
    assert row["ci_low"] < row["rrv"] < row["ci_high"]
    assert row["rrv"] == pytest.approx(math.exp(row["coefficient"]))
    assert row["p_value"] < 1e-6
    # decoys were tested but not selected
    cands = result.candidates
    assert {"decoy_a", "decoy_b"} <= set(cands["factor"])
    assert not cands.loc[cands["factor"].str.startswith("decoy"), "selected"].any()
    # score = exp(coef * indicator): RRV where near, 1 elsewhere, NaN outside
    near = result.indicators["real"]
    np.testing.assert_allclose(result.score[near], row["rrv"])
    np.testing.assert_allclose(result.score[grid.mask & ~near], 1.0)


def test_rtm_overdispersed_counts_use_negative_binomial():
    grid, counts, layers = planted(5, rrv=2.0, overdispersion=0.5)
    result = rtm.fit(grid, counts, layers, block_length_m=100.0)
    assert result.family == "negative binomial"
    assert 0.3 < result.alpha < 0.8
    assert list(result.table["factor"]) == ["real"]
    assert 0.8 * 2.0 <= result.table["rrv"].iloc[0] <= 1.2 * 2.0
    assert any(c.name == "rtm_family" for c in result.choices)


def test_rtm_without_layers_or_incidents_is_flat():
    grid, counts, layers = planted(1)
    result = rtm.fit(grid, counts, {}, block_length_m=100.0)
    assert result.table.empty and list(result.table.columns) == list(rtm.TABLE_COLUMNS)
    np.testing.assert_array_equal(result.score[grid.mask], 1.0)
    result = rtm.fit(grid, np.zeros(grid.shape, int), layers, block_length_m=100.0)
    assert result.table.empty


def test_holm_uses_all_tested_candidates():
    p = np.array([0.001, 0.004, 0.03])
    # m = 10: thresholds 0.005, 0.0056, 0.00625 -> the first two pass, the third fails
    np.testing.assert_array_equal(rtm._holm(p, 0.05, 10), [True, True, False])
    np.testing.assert_array_equal(rtm._holm(p, 0.05, 3), [True, True, True])


# ------------------------------------------------------------------ headline
def test_headline_matches_hand_computation():
    grid = make_grid(5, 2)
    score = np.array([[3.0, 2.0, 2.0, 1.0, 1.0],
                      [1.0, 1.0, 1.0, 1.0, 1.0]])
    counts = np.array([[4, 1, 1, 2, 0],
                       [0, 1, 0, 1, 0]])
    # top 10 % of 10 cells = 1 cell (score 3): 10 % of area, 4 of 10 incidents
    text, nums = rtm.headline(score, counts, grid.mask, 10)
    assert nums["area_pct"] == pytest.approx(10.0) and nums["incident_pct"] == pytest.approx(40.0)
    assert text == ("the top 10 % highest-risk cells cover 10.0 % of the area and held 40.0 % "
                    "of incidents")
    # top 20 % = 2 cells, but the 2nd is tied with the 3rd: all 3 count (30 %, 6 of 10)
    _, nums = rtm.headline(score, counts, grid.mask, 20)
    assert nums["area_pct"] == pytest.approx(30.0) and nums["incident_pct"] == pytest.approx(60.0)
    # top 50 % reaches the baseline score 1: only the 3 cells above 1 count
    _, nums = rtm.headline(score, counts, grid.mask, 50)
    assert nums["n_cells"] == 3


# ------------------------------------------------------------------ explanations
class _Factor:
    def __init__(self, values, layer=None):
        self.values = values
        self.layer = layer
        self.features = layer


def test_explain_mentions_only_what_applies():
    grid = make_grid(4, 1, cell=100.0)
    nan = np.nan
    x0, y0 = grid.x0, grid.y0
    dark = frame([shapely.LineString([(x0 + 10, y0 + 20), (x0 + 90, y0 + 20)]),
                  shapely.LineString([(x0 + 10, y0 + 60), (x0 + 90, y0 + 60)]),
                  shapely.LineString([(x0 + 20, y0 + 5), (x0 + 20, y0 + 95)])])
    factors = {
        "lighting": _Factor({"lamp_lux": np.array([[0.5, 10, 10, 10]])}, dark),
        "vacancy": _Factor({"vacant_dist_m": np.array([[500, 60, 0, 900.0]])}),
        "darkness": _Factor({"dark_share": np.array([[0.71, 0.9, 0.2, nan]])}),
        "access": _Factor({"youth_walk_m": np.array([[300, 300, 300, 1400.0]])}),
    }
    counts = np.array([[7, 2, 9, 0]])
    table = pd.DataFrame([{"factor": "vacancy", "operation": "proximity", "distance_m": 100.0,
                           "coefficient": math.log(2.1), "rrv": 2.1, "ci_low": 1.5,
                           "ci_high": 3.0, "p_value": 1e-9}])
    result = rtm.RTMResult(table, pd.DataFrame(), np.ones(grid.shape), "", [],
                           {"vacancy": np.array([[False, True, True, False]])},
                           block_length_m=100.0)
    why = rtm.explain(grid, result, factors, counts)
    assert why.dtype == object and why.shape == grid.shape
    assert why[0, 0] == "3 dark street segments (below 2 lux), 71 % of incidents after dark"
    # 90 % after dark but only 2 incidents: not shown (privacy minimum)
    assert why[0, 1] == "vacant lot 60 m away (RRV 2.1)"
    assert why[0, 2] == "vacant land in this cell (RRV 2.1)"
    assert why[0, 3] == "nearest youth space 1.4 km walk"
    for text in why.ravel():
        assert "person" not in text and "people" not in text


def test_explain_generic_factor_and_nothing_notable():
    grid = make_grid(3, 1, cell=100.0)
    table = pd.DataFrame([{"factor": "bars", "operation": "proximity", "distance_m": 200.0,
                           "coefficient": 0.9, "rrv": math.exp(0.9), "ci_low": 2.0,
                           "ci_high": 3.0, "p_value": 1e-9},
                          {"factor": "kiosks", "operation": "density", "distance_m": 100.0,
                           "coefficient": 0.4, "rrv": math.exp(0.4), "ci_low": 1.2,
                           "ci_high": 1.8, "p_value": 1e-5}])
    result = rtm.RTMResult(table, pd.DataFrame(), np.ones(grid.shape), "", [],
                           {"bars": np.array([[True, False, True]]),
                            "kiosks": np.array([[False, False, True]])})
    why = rtm.explain(grid, result)
    assert why[0, 0] == "bars within 200 m (RRV 2.5)"
    assert why[0, 1] == "no measured risk factor stands out here"
    assert why[0, 2] == "bars within 200 m (RRV 2.5), dense cluster of kiosks (RRV 1.5)"


def test_segments_per_cell_counts_distinct_lines():
    grid = make_grid(2, 1, cell=100.0)
    x0, y0 = grid.x0, grid.y0
    lines = frame([shapely.LineString([(x0 + 10, y0 + 50), (x0 + 190, y0 + 50)]),
                   shapely.LineString([(x0 + 20, y0 + 10), (x0 + 20, y0 + 90)])])
    np.testing.assert_array_equal(rtm.segments_per_cell(grid, lines), [[2, 1]])


# ------------------------------------------------------------------ stage + writer
def test_stage_and_writer(tmp_path):
    from hotspot_env.analysis import Analysis

    grid, counts, layers = planted(21)
    analysis = Analysis(grid, shapely.box(*grid.bounds),
                        {"incidents": counts}, {f"user:{k}": v for k, v in layers.items()},
                        {"k_threshold": 5}, [], [], {}, gpd.GeoDataFrame(geometry=[], crs=CRS_M))
    rtm.stage(analysis, block_length_m=100.0)
    assert analysis.arrays["rtm_score"].shape == grid.shape
    assert analysis.arrays["why"].dtype == object
    assert analysis.extras["rtm"].table["factor"].tolist() == ["real"]
    assert analysis.parameters["rtm"]["block_length_m"] == 100.0
    written = rtm.write_rtm(analysis, tmp_path)
    table = pd.read_csv(written["rtm.csv"])
    assert list(table.columns) == list(rtm.TABLE_COLUMNS)
    assert (tmp_path / "rtm_candidates.csv").is_file()
    assert not list(tmp_path.glob(".*"))  # no temporary files left
