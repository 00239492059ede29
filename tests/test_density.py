import numpy as np
import pytest
import shapely
from pyproj import CRS
from sklearn.neighbors import KernelDensity

from hotspot_env.core.density import binned_kde, choose_bandwidth, count_incidents, kde
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError

UTM = CRS("EPSG:32635")


@pytest.fixture()
def grid():
    return Grid.from_area(shapely.box(0, 0, 2000, 1500), UTM, 50)


def test_counts_match_brute_force(grid):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-100, 2100, 5000), rng.uniform(-100, 1600, 5000)
    counts = count_incidents(grid, x, y)
    expected = np.zeros(grid.shape, int)
    for xi, yi in zip(x, y, strict=True):
        if 0 <= xi < 2000 and 0 <= yi < 1500:
            expected[int((1500 - yi) // 50), int(xi // 50)] += 1
    np.testing.assert_array_equal(counts, expected)


@pytest.mark.parametrize("n", [1, 40, 3000])
def test_epanechnikov_matches_sklearn(grid, n):
    rng = np.random.default_rng(n)
    pts = np.c_[rng.normal(1000, 300, n), rng.normal(700, 200, n)]
    ours = kde(grid, pts[:, 0], pts[:, 1], 230.0, kernel="epanechnikov")
    cx, cy = grid.centres()
    ref = KernelDensity(kernel="epanechnikov", bandwidth=230.0).fit(pts)
    theirs = np.exp(ref.score_samples(np.c_[cx.ravel(), cy.ravel()])).reshape(grid.shape) * n
    big = theirs > 0.01 * theirs.max()
    np.testing.assert_allclose(ours[big], theirs[big], rtol=1e-9)
    assert np.all(ours[theirs == 0] == 0)


def test_quartic_matches_hand_formula_and_integrates_to_one(grid):
    # one point in a cell centre: value at distance d is 3/(pi h^2) (1 - d^2/h^2)^2
    h = 300.0
    out = kde(grid, np.array([1025.0]), np.array([725.0]), h)
    row, col = grid.cell_index(np.array([1025.0]), np.array([725.0]))
    assert out[row[0], col[0]] == pytest.approx(3 / (np.pi * h**2))
    assert out[row[0], col[0] + 2] == pytest.approx(3 / (np.pi * h**2) * (1 - 100**2 / h**2) ** 2)
    assert out.sum() * 50 * 50 == pytest.approx(1.0, rel=2e-3)


def test_weights_scale_linearly(grid):
    x, y = np.array([500.0, 900.0]), np.array([500.0, 800.0])
    a = kde(grid, x, y, 200, weights=np.array([2.0, 2.0]))
    np.testing.assert_allclose(a, 2 * kde(grid, x, y, 200))


def test_bad_kernel_and_bandwidth(grid):
    with pytest.raises(InputError, match="kernel"):
        kde(grid, np.zeros(1), np.zeros(1), 100, kernel="gaussian-ish")
    with pytest.raises(InputError, match="bandwidth"):
        kde(grid, np.zeros(1), np.zeros(1), -1)


def test_bandwidth_rule_hand_calculation():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 400, 500), rng.normal(0, 200, 500)
    value, choice = choose_bandwidth(x, y, 10)
    hs = []
    for v in (x, y):
        iqr = np.subtract(*np.percentile(v, [75, 25]))
        hs.append(1.06 * min(v.std(ddof=1), iqr / 1.34) * 500 ** -0.2)
    assert value == round(2 * np.sqrt(2) * np.mean(hs))
    assert "Silverman" in choice.rule
    small, choice = choose_bandwidth(np.array([1.0]), np.array([1.0]), 50)
    assert small == 100 and "minimum" in choice.rule


@pytest.mark.parametrize(("x0", "cell", "bandwidth"), [(0.0, 50.0, 100.0), (0.0, 50.0, 137.0),
                                                       (330_000.0, 37.0, 300.0),
                                                       (330_000.0, 100.0, 60.0)])
def test_binned_kde_is_the_kde_of_points_at_cell_centres(x0, cell, bandwidth):
    """The FFT route (count cubes) and the exact kernel sum agree to round-off, padding included.

    A count layer binned on a grid padded by ``pad`` cells is the set of points at those cells'
    centres weighted by their counts; both must give the same density at the grid's centres.
    """
    grid = Grid.from_area(shapely.box(x0, 7_390_000, x0 + 40 * cell, 7_390_000 + 30 * cell),
                          UTM, cell)
    pad = int(np.ceil(bandwidth / cell)) + 1
    rng = np.random.default_rng(int(bandwidth))
    binned = rng.poisson(0.3, (3, grid.n_rows + 2 * pad, grid.n_cols + 2 * pad)).astype(float)
    fft = binned_kde(grid, binned, bandwidth, pad)
    assert fft.shape == (3, *grid.shape)
    for layer in range(3):
        row, col = np.nonzero(binned[layer])
        x = grid.x0 + (col - pad + 0.5) * cell
        y = grid.bounds[3] - (row - pad + 0.5) * cell
        exact = kde(grid, x, y, bandwidth, weights=binned[layer][row, col])
        scale = exact.max()
        np.testing.assert_allclose(fft[layer], exact, rtol=0, atol=1e-13 * scale)
    # a 2-D layer gives the first layer of the cube
    np.testing.assert_array_equal(binned_kde(grid, binned[0], bandwidth, pad), fft[0])
