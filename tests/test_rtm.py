"""Tests for hotspot_env.models.rtm: block length, operationalisations, recovery, texts."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from hotspot_env.core.density import kde
from hotspot_env.core.grid import Grid
from hotspot_env.models import rtm
from hotspot_env.models.rtm import _geometry as rtm_geometry
from hotspot_env.models.rtm import density as rtm_density
from hotspot_env.models.rtm import glm as rtm_glm
from hotspot_env.models.rtm import reasons as rtm_reasons

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
def random_features(rng, grid, n=25):
    """Points, 2-piece lines and boxes scattered over and around the grid (+-150 m)."""
    minx, miny, maxx, maxy = grid.bounds
    x = rng.uniform(minx - 150, maxx + 150, n)
    y = rng.uniform(miny - 150, maxy + 150, n)
    points = list(shapely.points(x, y))
    lines = [shapely.LineString([(a, b), (a + rng.uniform(-90, 90), b + rng.uniform(-90, 90)),
                                 (a + rng.uniform(-90, 90), b + rng.uniform(-90, 90))])
             for a, b in zip(x, y, strict=True)]
    polys = [shapely.box(a, b, a + rng.uniform(5, 60), b + rng.uniform(5, 60))
             for a, b in zip(x, y, strict=True)]
    # a large polygon whose inside holds centres far from its outline, with a hole
    # holding more centres (outside the polygon: distance to the hole's ring)
    outer = shapely.box(minx + 200, miny + 200, minx + 700, miny + 600).exterior.coords
    hole = shapely.box(minx + 380, miny + 330, minx + 520, miny + 470).exterior.coords
    polys.append(shapely.Polygon(outer, [hole]))
    return points, lines, polys


@pytest.mark.parametrize("kind", ["points", "lines", "polygons", "mixed"])
def test_proximity_matches_brute_force(kind):
    rng = np.random.default_rng(3)
    grid = make_grid(40, 30, cell=25.0)
    points, lines, polys = random_features(rng, grid)
    geoms = {"points": points, "lines": lines, "polygons": polys,
             "mixed": points[:8] + lines[8:16] + polys[16:]}[kind]
    distances = [37.0, 75.0, 112.5, 150.0]
    got = rtm.proximity_indicators(grid, frame(geoms), distances)
    truth = brute_distance(grid, geoms)
    for d in distances:
        np.testing.assert_array_equal(got[d], (truth <= d) & grid.mask, err_msg=f"d={d}")


@pytest.mark.parametrize("kind", ["points", "lines", "line_ends", "polygons"])
def test_proximity_is_exact_at_the_thresholds(kind):
    """Cell centres exactly at, or a hair either side of, a distance are classified as brute force.

    Each feature sits at ``d + offset`` from one cell centre: offsets of 0 and
    +-1e-7 m fall inside the rounding tolerance, +-0.05 m and +-0.5 m inside
    the band the sample bound leaves to the exact step. ``line_ends`` puts the
    nearest point at the end of a segment pointing at the centre, where the
    nearest sample is furthest from the nearest feature point.
    """
    rng = np.random.default_rng(7)
    grid = make_grid(36, 28, cell=25.0)
    cx, cy = grid.centres()
    distances = [37.0, 75.0, 112.5]
    offsets = [0.0, 1e-7, -1e-7, 0.05, -0.05, 0.5, -0.5]
    geoms = []
    for k, cell in enumerate(rng.choice(cx.size, 60, replace=False)):
        x, y = cx.ravel()[cell], cy.ravel()[cell]
        r = distances[k % 3] + offsets[k % len(offsets)]
        angle = rng.uniform(0, 2 * np.pi) if k % 2 else rng.choice([0, 0.5, 1, 1.5]) * np.pi
        ux, uy = np.cos(angle), np.sin(angle)
        if kind == "points":
            geoms.append(shapely.Point(x + r * ux, y + r * uy))
        elif kind == "lines":  # the perpendicular foot lies inside a long piece
            fx, fy = x + r * ux, y + r * uy
            geoms.append(shapely.LineString([(fx - 70 * uy, fy + 70 * ux),
                                             (fx + 45 * uy, fy - 45 * ux)]))
        elif kind == "line_ends":
            geoms.append(shapely.LineString([(x + r * ux, y + r * uy),
                                             (x + (r + 90) * ux, y + (r + 90) * uy)]))
        else:  # a square with one edge facing the centre at distance r
            fx, fy = x + r * ux, y + r * uy
            geoms.append(shapely.Polygon([
                (fx - 20 * uy, fy + 20 * ux), (fx + 20 * uy, fy - 20 * ux),
                (fx + 20 * uy + 40 * ux, fy - 20 * ux + 40 * uy),
                (fx - 20 * uy + 40 * ux, fy + 20 * ux + 40 * uy)]))
    got = rtm.proximity_indicators(grid, frame(geoms), distances)
    truth = brute_distance(grid, geoms)
    at_threshold = sum(int((np.abs(truth - d) <= 1e-6).sum()) for d in distances)
    assert at_threshold >= 5  # the test really puts centres on the thresholds
    for d in distances:
        np.testing.assert_array_equal(got[d], (truth <= d) & grid.mask, err_msg=f"d={d}")


#: Points at a hair over 37, 75 or 112.5 m from a cell centre of ``make_grid(36, 28, 25.0)``
#: by shapely's distance, but not by ``np.hypot`` (one unit in the last place apart).
ROUNDING_CASES = [(500399.9951524273, 6000163.544356434), (500674.5399307125, 6000497.663853892),
                  (500622.3369985303, 6000438.167228809), (499979.4968043545, 6000220.050170047),
                  (500176.11589865875, 6000603.306073782), (500274.38617032743, 6000224.236050846)]


def test_proximity_survives_rounding_at_the_threshold():
    grid = make_grid(36, 28, cell=25.0)
    distances = [37.0, 75.0, 112.5]
    for x, y in ROUNDING_CASES:
        geoms = [shapely.Point(x, y)]
        truth = brute_distance(grid, geoms)
        got = rtm.proximity_indicators(grid, frame(geoms), distances)
        for d in distances:
            np.testing.assert_array_equal(got[d], (truth <= d) & grid.mask, err_msg=f"d={d}")


@pytest.mark.parametrize("distances", [[37.0, 75.0, 112.5, 150.0], [150.0]])
def test_proximity_dense_layer_matches_brute_force(distances):
    """Many small polygons (like buildings): most cells settle early, few need the k-d tree.

    With one distance, the cells left for the k-d tree are all ~150 m from
    the nearest polygon, so a wrong choice of the samples it holds shows.
    """
    rng = np.random.default_rng(11)
    grid = make_grid(40, 30, cell=25.0)
    x = grid.x0 + rng.uniform(250, 750, 1500)
    y = grid.y0 + rng.uniform(200, 550, 1500)
    geoms = list(shapely.box(x, y, x + rng.uniform(3, 12, x.size), y + rng.uniform(3, 12, x.size)))
    got = rtm.proximity_indicators(grid, frame(geoms), distances)
    truth = brute_distance(grid, geoms)
    for d in distances:
        np.testing.assert_array_equal(got[d], (truth <= d) & grid.mask, err_msg=f"d={d}")


def test_proximity_inside_a_polygon_larger_than_the_grid():
    """Centres inside a polygon whose outline is far beyond every distance are within all."""
    grid = make_grid(20, 20, cell=50.0)
    minx, miny, maxx, maxy = grid.bounds
    big = shapely.box(minx - 5000, miny - 5000, maxx + 5000, maxy + 5000)
    got = rtm.proximity_indicators(grid, frame([big]), [100.0, 200.0])
    assert got[100.0].all() and got[200.0].all()
    ring = frame([big.exterior])  # the outline alone is far from every centre
    assert not rtm.proximity_indicators(grid, ring, [200.0])[200.0].any()


def test_outline_samples_bound_the_distance():
    """Every vertex is a sample, ``D <= e`` and ``e^2 <= D^2 + h^2 / 4`` (the method's bound)."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(5)
    grid = make_grid(30, 30, cell=20.0)
    _, lines, polys = random_features(rng, grid, n=30)
    geoms = np.array(lines + polys, dtype=object)
    x, y, h = rtm_geometry.outline_samples(geoms, 10.0)
    assert 0 < h <= 10.0
    tree = cKDTree(np.column_stack([x, y]))
    vertices = shapely.get_coordinates(geoms)
    assert tree.query(vertices)[0].max() == 0.0
    minx, miny, maxx, maxy = grid.bounds
    probes = shapely.points(rng.uniform(minx, maxx, 2000), rng.uniform(miny, maxy, 2000))
    outline = shapely.union_all([shapely.boundary(g) if g.geom_type == "Polygon" else g
                                 for g in geoms])
    D = shapely.distance(probes, outline)
    e = tree.query(shapely.get_coordinates(probes))[0]
    assert np.all(e >= D - 1e-9)
    assert np.all(e**2 <= D**2 + h**2 / 4 + 1e-6)
    assert np.any(e**2 > D**2 + h**2 / 16)  # the bound is not loose by construction


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


def test_polygon_centroids_fall_in_the_cells_of_geos_centroids():
    """The fast centroids must bin exactly like ``shapely.centroid``, even on cell edges."""
    rng = np.random.default_rng(8)
    grid = make_grid(20, 20, cell=50.0)
    pad = 3
    n = 4000
    # parallelograms centred on cell edges and corners (their centroid is the centre,
    # computed with different rounding), random quadrilaterals, slivers, a degenerate
    # polygon and polygons with holes
    cx = grid.x0 + 50.0 * rng.integers(-3, 24, n) + rng.choice([0.0, 25.0], n)
    cy = grid.y0 + 50.0 * rng.integers(-3, 24, n) + rng.choice([0.0, 25.0], n)
    u, v = rng.uniform(-9, 9, (2, n, 2))
    polys = [shapely.Polygon([c + a, c + b, c - a, c - b])
             for c, a, b in zip(np.column_stack([cx, cy]), u, v, strict=True)]
    corners = rng.uniform(0, 1000, (300, 4, 2)) + [grid.x0, grid.y0]
    polys += [shapely.Polygon(q).convex_hull for q in corners]
    x0, y0 = grid.x0, grid.y0
    polys += [shapely.Polygon([(x0 + 100, y0 + 100), (x0 + 300, y0 + 100 + 1e-7),
                               (x0 + 300, y0 + 100 + 2e-7)]),
              shapely.Polygon([(x0, y0), (x0 + 50, y0), (x0 + 100, y0), (x0, y0)])]
    polys += [shapely.box(x0 + 20, y0 + 20, x0 + 180, y0 + 180).difference(
        shapely.box(x0 + 40, y0 + 40, x0 + 120, y0 + 60))]
    polys = np.array([p for p in polys if p.geom_type == "Polygon"], dtype=object)
    x, y = rtm_density._polygon_centroids(polys, grid, pad)
    ref = shapely.centroid(polys)
    np.testing.assert_array_equal(
        rtm_geometry.bin_index(grid, x, y, pad),
        rtm_geometry.bin_index(grid, shapely.get_x(ref), shapely.get_y(ref), pad))
    assert np.nanmax(np.abs(x - shapely.get_x(ref))) < 1e-6


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


def test_candidate_indicators_reuse_only_identical_layers():
    grid, _, layers = planted(3)
    real = layers["real"]
    moved = frame([shapely.Point(grid.x0 + 20.0, grid.y0 + 20.0), *real.geometry[1:]])
    cands = rtm.candidate_indicators(grid, {"real": real, "again": real.copy(), "moved": moved},
                                     100.0)
    got = {(c.factor, c.operation, c.distance_m): c.indicator for c in cands}
    prox = rtm.proximity_indicators(grid, moved, [100.0, 200.0, 300.0])
    dens, _ = rtm.density_indicators(grid, moved, [100.0, 200.0, 300.0], 100.0)
    for d in (100.0, 200.0, 300.0):
        for op, moved_ind in (("proximity", prox[d]), ("density", dens[d])):
            np.testing.assert_array_equal(got[("again", op, d)], got[("real", op, d)])
            assert got[("again", op, d)] is not got[("real", op, d)]
            np.testing.assert_array_equal(got[("moved", op, d)], moved_ind)
    assert not np.array_equal(got[("moved", "proximity", 100.0)], got[("real", "proximity", 100.0)])


@pytest.mark.parametrize("ymax", [5, 100_000])  # counting pass, and sorting for a huge range
def test_grouped_matches_unique_rows(ymax):
    rng = np.random.default_rng(2)
    X = np.asfortranarray((rng.random((5000, 4)) < 0.3).astype(np.uint8))
    y = rng.integers(0, 6, 5000)
    y[0] = ymax
    yu, Xu, w = rtm_glm.grouped(y, X)
    rows, freq = np.unique(np.column_stack([X, y]), axis=0, return_counts=True)
    got = np.column_stack([Xu[:, 1:], yu])
    order = np.lexsort(got.T[::-1])
    np.testing.assert_array_equal(got[order], rows)
    np.testing.assert_array_equal(w[order], freq)
    np.testing.assert_array_equal(Xu[:, 0], 1.0)
    assert w.sum() == y.size


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
    np.testing.assert_array_equal(rtm.holm(p, 0.05, 10), [True, True, False])
    np.testing.assert_array_equal(rtm.holm(p, 0.05, 3), [True, True, True])


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


def test_explain_formats_every_cell_like_the_distance_formatter():
    """Texts are built once per distinct value; each cell must still read its own distance."""
    rng = np.random.default_rng(4)
    grid = make_grid(60, 50, cell=50.0)
    shape = grid.shape
    # walks and sightlines around every rounding edge: 99.5 m, 995 m, 1 km, 1.05 km ...
    walk = rng.choice([rng.uniform(801, 3000), 994.9, 995.0, 999.99, 1000.0, 1049.99, 1050.0,
                       1250.0, 2349.999], shape)
    walk = np.where(rng.random(shape) < 0.5, rng.uniform(801, 3000, shape), walk)
    walk[0, :5] = np.nan
    sight = rng.uniform(5, 400, shape)
    sight[1, :10] = [99.4, 99.5, 99.6, 104.9, 105.0, 105.1, 0.4, 0.5, 9.5, 10.5]
    vacant = rng.uniform(-5, 300, shape)
    vacant[2, :6] = [0.0, -0.0, 0.3, 0.5, 99.5, 100.0]
    factors = {"access": _Factor({"youth_walk_m": walk}),
               "sightlines": _Factor({"sightline_m": sight}),
               "vacancy": _Factor({"vacant_dist_m": vacant})}
    table = pd.DataFrame([{"factor": "vacancy", "operation": "proximity", "distance_m": 100.0,
                           "coefficient": 0.5, "rrv": math.exp(0.5), "ci_low": 1.2,
                           "ci_high": 2.0, "p_value": 1e-9}])
    near = rng.random(shape) < 0.5
    result = rtm.RTMResult(table, pd.DataFrame(), np.ones(shape), "", [], {"vacancy": near},
                           block_length_m=100.0)
    why = rtm.explain(grid, result, factors, youth_gap_m=800.0)

    fmt = {name: rtm_reasons._fmt_dist(d) for name, d in [("walk", walk), ("sight", sight),
                                                   ("vacant", vacant)]}
    cut = np.quantile(sight, 0.10)
    for (i, j), text in np.ndenumerate(why):
        parts = []
        if vacant[i, j] <= 100:
            parts.append(("vacant land in this cell" if vacant[i, j] <= 0
                          else f"vacant lot {fmt['vacant'][i, j]} away")
                         + (" (RRV 1.6)" if near[i, j] else ""))
        if sight[i, j] <= cut:
            parts.append(f"sightlines only {fmt['sight'][i, j]}")
        if walk[i, j] > 800:
            parts.append(f"nearest youth space {fmt['walk'][i, j]} walk")
        if near[i, j] and vacant[i, j] > 100:
            parts.append("vacant land within 100 m (RRV 1.6)")
        assert text == (", ".join(parts) or "no measured risk factor stands out here"), (i, j)


def test_dist_key_keeps_the_formatted_distance():
    d = np.concatenate([np.arange(0, 1_200, 0.01), np.arange(0, 2_000, 0.5) + 1e-9,
                        np.random.default_rng(0).uniform(0, 1e5, 50_000)])
    key = rtm_reasons._dist_key(d)
    np.testing.assert_array_equal(rtm_reasons._fmt_dist(key), rtm_reasons._fmt_dist(d))
    assert np.unique(key[d < 995]).size <= 190  # whole metres, then tens of metres


def test_segments_per_cell_counts_distinct_lines():
    grid = make_grid(2, 1, cell=100.0)
    x0, y0 = grid.x0, grid.y0
    lines = frame([shapely.LineString([(x0 + 10, y0 + 50), (x0 + 190, y0 + 50)]),
                   shapely.LineString([(x0 + 20, y0 + 10), (x0 + 20, y0 + 90)])])
    np.testing.assert_array_equal(rtm.segments_per_cell(grid, lines), [[2, 1]])


# ------------------------------------------------------------------ stage + writer
def test_stage_and_writer(tmp_path):
    from hotspot_env.core.analysis import Analysis

    grid, counts, layers = planted(21)
    analysis = Analysis(grid, shapely.box(*grid.bounds),
                        {"incidents": counts}, {f"user:{k}": v for k, v in layers.items()},
                        {"k_threshold": 5}, [], [], {}, gpd.GeoDataFrame(geometry=[], crs=CRS_M))
    rtm.stage(analysis, block_length_m=100.0)
    assert analysis.arrays["rtm_score"].shape == grid.shape
    assert analysis.arrays["why"].dtype == object
    assert analysis.rtm.table["factor"].tolist() == ["real"]
    assert analysis.parameters["rtm"]["block_length_m"] == 100.0
    written = rtm.write_rtm(analysis, tmp_path)
    table = pd.read_csv(written["rtm.csv"])
    assert list(table.columns) == list(rtm.TABLE_COLUMNS)
    assert (tmp_path / "rtm_candidates.csv").is_file()
    assert not list(tmp_path.glob(".*"))  # no temporary files left
