import warnings

import esda
import libpysal
import numpy as np
import pytest
import shapely
from pyproj import CRS

from hotspot_env.core.grid import Grid
from hotspot_env.core.hotspots import benjamini_hochberg, fdr_bins, gi_star


def _queen_w(grid):
    rows, cols = np.nonzero(grid.mask)
    ids = {(r, c): i for i, (r, c) in enumerate(zip(rows, cols, strict=True))}
    neigh = {
        i: [ids[(r + dr, c + dc)] for dr in (-1, 0, 1) for dc in (-1, 0, 1)
            if (dr or dc) and (r + dr, c + dc) in ids]
        for (r, c), i in ids.items()
    }
    return libpysal.weights.W(neigh, silence_warnings=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gi_star_equals_esda(seed):
    area = shapely.Polygon([(0, 0), (1500, 0), (1500, 900), (500, 1200), (0, 800)])
    grid = Grid.from_area(area, CRS("EPSG:32635"), 50)
    rng = np.random.default_rng(seed)
    y = rng.poisson(1.5, grid.shape)
    y[5:9, 10:14] += rng.poisson(6, (4, 4))
    ours = gi_star(grid, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = esda.G_Local(y[grid.mask].astype(float), _queen_w(grid), star=True,
                           transform="B", permutations=0)
    np.testing.assert_allclose(ours.z[grid.mask], ref.Zs, atol=1e-6)
    np.testing.assert_allclose(ours.p[grid.mask], 2 * ref.p_norm, atol=1e-9)
    assert np.isnan(ours.z[~grid.mask]).all()


def test_bh_matches_hand_example():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    # BH at q=0.05: thresholds 0.005, 0.01, 0.015, ... -> only the first two pass
    assert benjamini_hochberg(p, 0.05).tolist() == [True, True] + [False] * 8
    # q=0.10: thresholds k x 0.01 -> largest k with p_(k) <= k q / m is 6 (0.06 <= 0.06)
    assert benjamini_hochberg(p, 0.10).sum() == 6


@pytest.mark.parametrize("kind", ["continuous", "tied"])
def test_bh_rejects_what_statsmodels_rejects(kind):
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(7)
    for _ in range(200):
        m = int(rng.integers(1, 200))
        p = (rng.uniform(size=m) ** 3 if kind == "continuous"
             else rng.integers(1, 100, size=m) / 100)  # ties and p exactly on a threshold
        for q in (0.1, 0.05, 0.01):
            expected = multipletests(p, alpha=q, method="fdr_bh")[0]
            np.testing.assert_array_equal(benjamini_hochberg(p, q), expected)


def test_bins_signed_by_z():
    z = np.array([5.0, -5.0, 0.1, 2.6])
    p = np.array([1e-7, 1e-7, 0.9, 0.009])
    # 0.009 is rank 3 of 4: above 3 x 0.01 / 4 but below 3 x 0.05 / 4
    assert fdr_bins(z, p).tolist() == [3, -3, 0, 2]


def test_no_incidents_gives_no_hotspots():
    grid = Grid.from_area(shapely.box(0, 0, 500, 500), CRS("EPSG:32635"), 50)
    res = gi_star(grid, np.zeros(grid.shape))
    assert (res.bin == 0).all()
