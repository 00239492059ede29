"""Tiles, halos and the global statistics of the dask engine (no cluster needed).

Each tile task is called directly here; tests/test_scale_engine.py runs them on
dask and compares whole runs.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import CRS
from scipy import stats

from hotspot_env.core.grid import Grid
from hotspot_env.core.hotspots import fdr_bins, gi_star
from hotspot_env.core.surfaces import local_surfaces
from hotspot_env.errors import InputError
from hotspot_env.outputs.privacy import Protection
from hotspot_env.scale.global_stats import (
    GiMoments,
    bins_from_cutoffs,
    fdr_cutoffs,
    tile_gi,
)
from hotspot_env.scale.tile_tasks import TilePayload, tile_counts, tile_surfaces
from hotspot_env.scale.tiles import (
    assemble,
    choose_halo,
    halo_distances,
    make_tiles,
    points_in_halos,
)

CRS_M = CRS.from_epsg(32633)


def _grid(n_rows: int = 23, n_cols: int = 31, cell: float = 50.0, hole: bool = True) -> Grid:
    """A grid at a UTM-like origin; ``hole`` cuts a disc out of the study area."""
    x0, y0 = 500_000.0, 4_000_000.0
    area = shapely.box(x0, y0, x0 + n_cols * cell, y0 + n_rows * cell)
    if hole:
        area = area.difference(shapely.Point(x0 + 300, y0 + 900).buffer(260))
    return Grid.from_area(area, CRS_M, cell)


def _points(grid: Grid, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered points inside the grid's study area (some exactly on cell edges)."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = grid.bounds
    centres = rng.uniform([minx, miny], [maxx, maxy], size=(5, 2))
    pts = centres[rng.integers(0, 5, n)] + rng.normal(0, 150, size=(n, 2))
    pts[: n // 10] = np.round(pts[: n // 10] / grid.cell_size) * grid.cell_size  # on edges
    row, _ = grid.cell_index(pts[:, 0], pts[:, 1])
    return pts[row >= 0, 0], pts[row >= 0, 1]


def test_tiles_cover_every_cell_once_and_align_to_cells():
    grid = _grid(hole=False)
    tiles = make_tiles(grid, tile_km=0.4, halo_m=120.0)  # 8 cells a side, halo 3 cells
    cover = np.zeros(grid.shape, dtype=int)
    for t in tiles:
        cover[t.row0:t.row1, t.col0:t.col1] += 1
        assert t.halo == 3 and t.side == 8
        r0, r1, c0, c1 = t.window()
        assert (r0, c0) == (max(0, t.row0 - 3), max(0, t.col0 - 3))
        assert (r1, c1) == (min(grid.n_rows, t.row1 + 3), min(grid.n_cols, t.col1 + 3))
        minx, miny, maxx, maxy = t.bounds(grid)
        assert (maxx - minx, maxy - miny) == (t.shape[1] * 50.0, t.shape[0] * 50.0)
        assert (minx - grid.x0) % 50.0 == 0 and (maxy - grid.bounds[3]) % 50.0 == 0
    assert (cover == 1).all()
    assert len(tiles) == 3 * 4  # ceil(23 / 8) x ceil(31 / 8)


def test_tiles_without_study_area_cells_are_left_out():
    grid = _grid(hole=False)
    mask = grid.mask.copy()
    mask[:8, :8] = False  # the first tile's cells are all outside the area
    grid = Grid(grid.crs, grid.x0, grid.y0, grid.cell_size, grid.n_cols, grid.n_rows, mask)
    tiles = make_tiles(grid, 0.4, 50.0)
    assert len(tiles) == 11 and (tiles[0].row0, tiles[0].col0) == (0, 8)
    assert [t.index for t in tiles] == list(range(11))


@pytest.mark.parametrize("tile_km", [0, -1.0, float("nan"), float("inf")])
def test_tile_size_must_be_positive(tile_km):
    with pytest.raises(InputError, match="--tile-km must be a positive number"):
        make_tiles(_grid(), tile_km, 100.0)


def test_points_in_halos_equals_a_plain_window_filter():
    grid = _grid()
    xs, ys = _points(grid, 4000)
    rows, cols = grid.cell_index(xs, ys)
    for tile_km, halo_m in ((0.4, 120.0), (0.25, 700.0), (0.05, 50.0)):
        tiles = make_tiles(grid, tile_km, halo_m)
        for tile, idx in zip(tiles, points_in_halos(tiles, rows, cols), strict=True):
            r0, r1, c0, c1 = tile.window()
            expected = np.flatnonzero((rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1))
            assert np.array_equal(idx, expected)


def test_halo_is_the_widest_neighbourhood_in_whole_cells():
    grid = _grid()
    distances = halo_distances(grid, 333.0, block_length_m=90.0, walk_m=500.0, reach_m=100.0)
    assert distances["kde_radius"] == 333.0
    assert distances["rtm_spatial_influence"] == 270.0  # 3 blocks
    assert distances["intervention_buffer"] == 200.0  # twice the reach (the ring)
    assert distances["gi_queen_neighbours"] == 50.0
    halo, choice = choose_halo(distances, grid.cell_size)
    widest = max(distances.values())
    assert halo == np.ceil(widest / 50.0) * 50.0 and halo >= widest
    assert choice.name == "tile_halo_m" and choice.value == halo
    assert "widest neighbourhood" in choice.rule


def _reference_bh_bins(z: np.ndarray, p: np.ndarray, levels=(0.01, 0.05, 0.10)) -> np.ndarray:
    """Benjamini-Hochberg step-up by hand: reject the k smallest, k = max{i: p_(i) <= i q / m}."""
    m = p.size
    order = np.sort(p)
    bins = np.zeros(p.size, dtype=np.int8)
    for strength, q in zip((3, 2, 1), levels, strict=True):
        ok = np.flatnonzero(order <= np.arange(1, m + 1) * q / m)
        if ok.size:
            bins[(p <= order[ok.max()]) & (bins == 0)] = strength
    return (np.sign(z) * bins).astype(np.int8)


def test_global_fdr_cutoffs_give_the_whole_grid_bins_tile_by_tile():
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.normal(0, 1, 3000), rng.normal(4, 1, 300), rng.normal(-3.5, 1, 80)])
    z[:50] = z[50]  # ties
    p = 2.0 * stats.norm.sf(np.abs(z))
    expected = fdr_bins(z, p)
    assert np.array_equal(expected, _reference_bh_bins(z, p))
    assert (np.abs(expected) == 3).any() and (expected == 0).any()
    cutoffs = fdr_cutoffs(p)
    pieces = np.array_split(np.arange(z.size), 7)  # any split: the cut-offs are global
    got = np.concatenate([bins_from_cutoffs(z[i], p[i], cutoffs) for i in pieces])
    assert np.array_equal(got, expected)
    assert fdr_cutoffs(np.array([0.5, 0.9])) == [-np.inf] * 3


def test_gi_moments_add_up_to_the_grid_moments():
    grid = _grid()
    values = np.random.default_rng(1).poisson(2.0, grid.shape)
    parts = [GiMoments.of(values[t.row0:t.row1, t.col0:t.col1],
                          grid.mask[t.row0:t.row1, t.col0:t.col1])
             for t in make_tiles(grid, 0.3, 50.0)]
    whole = GiMoments.merge(parts)
    y = values[grid.mask].astype(float)
    assert (whole.n, whole.total, whole.sum_sq) == (y.size, y.sum(), (y**2).sum())


def _payload(grid: Grid, tile, xs, ys, rows, cols, idx, bandwidth, basis=None) -> TilePayload:
    r0, r1, c0, c1 = tile.window()
    return TilePayload(tile, grid.x0, grid.bounds[3], grid.cell_size, grid.crs,
                       grid.mask[r0:r1, c0:c1], bandwidth, rows[idx], cols[idx], xs[idx],
                       ys[idx], None if basis is None else basis[r0:r1, c0:c1])


def _tiled(grid: Grid, xs, ys, bandwidth, tile_km, basis_of=None):
    """The engine's steps without dask: tasks called in turn, then the global pass."""
    tiles = make_tiles(grid, tile_km, bandwidth)
    rows, cols = grid.cell_index(xs, ys)
    members = points_in_halos(tiles, rows, cols)
    payloads = [_payload(grid, t, xs, ys, rows, cols, i, bandwidth)
                for t, i in zip(tiles, members, strict=True)]
    counts = assemble(tiles, [tile_counts(p) for p in payloads], grid.shape, 0, np.int64)
    if basis_of is not None:
        basis = basis_of(counts)
        payloads = [_payload(grid, t, xs, ys, rows, cols, np.zeros(0, int), bandwidth, basis)
                    for t in tiles]
    results = [tile_surfaces(p) for p in payloads]
    moments = GiMoments.merge([r.moments for r in results])
    zp = [tile_gi(r.local_sum, r.cardinality, grid.mask[t.row0:t.row1, t.col0:t.col1], moments)
          for t, r in zip(tiles, results, strict=True)]
    cut = fdr_cutoffs(np.concatenate([pp[~np.isnan(pp)] for _, pp in zp]))
    z = assemble(tiles, [zz for zz, _ in zp], grid.shape, np.nan, float)
    bins = assemble(tiles, [bins_from_cutoffs(zz, pp, cut) for zz, pp in zp], grid.shape, 0,
                    np.int8)
    density = assemble(tiles, [r.density for r in results], grid.shape, 0.0)
    return counts, density, z, bins, len(tiles)


@pytest.mark.parametrize("tile_km", [0.35, 0.5, 0.05])
def test_tasks_put_together_equal_the_whole_grid(tile_km):
    grid = _grid()
    xs, ys = _points(grid, 5000)
    counts, density, gi, _ = local_surfaces(grid, xs, ys, 230.0)
    t_counts, t_density, t_z, t_bins, n_tiles = _tiled(grid, xs, ys, 230.0, tile_km)
    assert n_tiles >= 4
    assert np.array_equal(t_counts, counts)
    # same terms in the same order: bit for bit (cells outside the area are never reported,
    # and tiles with none of the area's cells are not computed)
    assert np.array_equal(t_density[grid.mask], density[grid.mask])
    assert np.array_equal(t_z, gi.z, equal_nan=True)
    assert np.array_equal(t_bins, gi.bin)
    assert (gi.bin == 3).any()
    # and the tiled Gi* is Gi* of the counts (gi_star is checked against esda elsewhere)
    assert np.array_equal(gi_star(grid, t_counts).z, t_z, equal_nan=True)


def test_a_halo_too_narrow_would_be_noticed():
    """The equality above depends on the halo: without it the KDE at tile edges is short."""
    grid = _grid()
    xs, ys = _points(grid, 5000)
    _, density, _, _ = local_surfaces(grid, xs, ys, 230.0)
    tiles = make_tiles(grid, 0.35, 50.0)  # one-cell halo, far below the 230 m radius
    rows, cols = grid.cell_index(xs, ys)
    members = points_in_halos(tiles, rows, cols)
    parts = [tile_surfaces(_payload(grid, t, xs, ys, rows, cols, i, 230.0)).density
             for t, i in zip(tiles, members, strict=True)]
    short = assemble(tiles, parts, grid.shape, 0.0)
    assert (short[grid.mask] < density[grid.mask] - 1e-9).any()


def test_public_mode_tiles_read_the_protected_counts():
    grid = _grid()
    xs, ys = _points(grid, 3000, seed=5)
    protection = Protection(5)
    counts, density, gi, _ = local_surfaces(grid, xs, ys, 200.0, protection)
    basis = np.where(grid.mask, protection.counts("incidents", counts).imputed, 0)
    assert not np.array_equal(basis, counts)  # suppression changed something
    t_counts, t_density, t_z, t_bins, _ = _tiled(grid, xs, ys, 200.0, 0.4,
                                                 basis_of=lambda c: basis)
    assert np.array_equal(t_counts, counts)
    np.testing.assert_allclose(t_density[grid.mask], density[grid.mask], rtol=1e-12, atol=0)
    assert np.array_equal(t_z, gi.z, equal_nan=True) and np.array_equal(t_bins, gi.bin)


def test_without_the_scale_extra_the_engine_names_it(monkeypatch):
    import sys

    from hotspot_env.scale.checks import require_dask

    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails as if missing
    with pytest.raises(InputError, match=r"install the \[scale\] extra"):
        require_dask()


def test_an_awkward_cell_size_keeps_the_kde_within_1e_9():
    """33.3 m cells: tile origins are not exact in binary, so the KDE may move by rounding only."""
    grid = _grid(n_rows=30, n_cols=40, cell=33.3)
    xs, ys = _points(grid, 4000, seed=2)
    counts, density, gi, _ = local_surfaces(grid, xs, ys, 190.0)
    t_counts, t_density, t_z, t_bins, n_tiles = _tiled(grid, xs, ys, 190.0, 0.3)
    assert n_tiles >= 9
    assert np.array_equal(t_counts, counts)
    m = grid.mask & (density > 0)
    assert np.max(np.abs(t_density[m] - density[m]) / density[m]) <= 1e-9
    assert np.array_equal(t_z, gi.z, equal_nan=True) and np.array_equal(t_bins, gi.bin)
