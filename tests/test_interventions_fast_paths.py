"""The fast paths of the interventions engine against slow, obvious references.

Coverage shares against shapely's exact polygon areas, window sums against a
loop over offsets, the merged covering model against brute force, and the
writers against the pandas/per-record code they replaced.
"""

from __future__ import annotations

import csv
import io
import itertools
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from test_interventions_fixtures import CRS_UTM, X0, Y0, make_grid

from hotspot_env.interventions.baseline import _window_sums
from hotspot_env.interventions.coverage import cover_fractions
from hotspot_env.interventions.state import narrow_ints, state_bytes, text_codes
from hotspot_env.interventions.workorders import (
    OUTPUT_COLUMNS,
    DistrictMaps,
    _json_value,
    csv_text,
    geojson_text,
)
from hotspot_env.interventions.youth_sites import _dominated, _mclp, _merge_demand


def _exact_cover(geoms, radius, grid, keep):
    """Reference: shapely intersection area of every buffer with every kept cell."""
    cs = grid.cell_size
    top = grid.bounds[3]
    out = []
    for i, buffer in enumerate(shapely.buffer(np.asarray(geoms), radius, quad_segs=8)):
        for r, c in zip(*np.nonzero(keep), strict=True):
            box = shapely.box(grid.x0 + c * cs, top - (r + 1) * cs, grid.x0 + (c + 1) * cs,
                              top - r * cs)
            frac = shapely.area(shapely.intersection(buffer, box)) / cs**2
            if frac > 1e-9:
                out.append((i, r * grid.n_cols + c, frac))
    out.sort()
    return (np.array([o[0] for o in out]), np.array([o[1] for o in out]),
            np.array([o[2] for o in out]))


def test_cover_shares_equal_exact_polygon_areas():
    grid = make_grid(10, 100.0)
    keep = np.ones(grid.shape, dtype=bool)
    keep[2, 3] = keep[7, 7] = False  # cells without baseline are skipped
    x, y = X0, Y0
    geoms = [
        shapely.Point(x + 250, y + 250),  # inside, many whole cells
        shapely.Point(x + 30, y + 970),  # corner: buffer leaves the grid (left, top)
        shapely.LineString([(x + 700, y + 30), (x + 990, y + 260)]),  # ... and right, bottom
        shapely.LineString([(x + 120, y + 610), (x + 480, y + 640), (x + 300, y + 820)]),
        shapely.LineString([(x + 600, y + 100), (x + 900, y + 100), (x + 900, y + 400),
                            (x + 600, y + 400), (x + 600, y + 100)]),  # ring: buffer has a hole
        shapely.MultiPoint([(x + 150, y + 150), (x + 850, y + 850)]),  # two separate discs
        shapely.Polygon([(x + 500, y + 500), (x + 700, y + 520), (x + 560, y + 720)]),
        shapely.Point(x + 550, y + 550),  # tiny buffer inside one cell
        shapely.Point(x - 500, y - 500),  # far outside the grid
    ]
    for radius in (5.0, 50.0, 130.0):
        got = cover_fractions(np.array(geoms, dtype=object), radius, grid, keep)
        ref = _exact_cover(geoms, radius, grid, keep)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1]), radius
        np.testing.assert_allclose(got[2], ref[2], rtol=0, atol=1e-9)
        assert got[2].max() <= 1.0
    ring = shapely.buffer(geoms[4], 50.0, quad_segs=8)
    assert shapely.get_num_interior_rings(ring) == 1  # the hole case is really tested
    # a cell wholly inside a buffer is exactly 1, like shapely's "contains"
    cand, flat, frac = cover_fractions(np.array(geoms[:1], dtype=object), 130.0, grid, keep)
    assert frac[flat == 7 * 10 + 2][0] == 1.0


def _window_loop(counts, cells, grid, radius):
    rows, cols = np.divmod(cells, grid.n_cols)
    out = np.zeros((len(cells), counts.shape[1]))
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            r, c = rows + dr, cols + dc
            ok = (r >= 0) & (r < grid.n_rows) & (c >= 0) & (c < grid.n_cols)
            out[ok] += counts[r[ok] * grid.n_cols + c[ok]].toarray()
    return out


@pytest.mark.parametrize("radius", [0, 1, 3, 12])
@pytest.mark.parametrize("max_values", [500, 250_000])
def test_window_sums_equal_a_loop_over_offsets(radius, max_values):
    grid = make_grid(25, 20.0)
    rng = np.random.default_rng(radius)
    size = grid.n_rows * grid.n_cols
    counts = sp.csr_matrix((rng.integers(1, 4, 400).astype(float),
                            (rng.integers(0, size, 400), rng.integers(0, 12, 400) * 2)),
                           shape=(size, 30))  # odd columns stay empty
    cells = np.sort(rng.choice(size, 300, replace=False))
    parts = list(_window_sums(counts, cells, grid, radius, max_values=max_values))
    assert np.array_equal(np.concatenate([p for p, _ in parts]), cells)
    assert np.array_equal(np.vstack([w for _, w in parts]), _window_loop(counts, cells, grid,
                                                                         radius))


def test_reduced_covering_model_keeps_the_optimum():
    rng = np.random.default_rng(5)
    n_sites, n_cells, p = 9, 60, 3
    dense = rng.random((n_sites, n_cells)) < 0.15
    dense[:, 40:] = dense[:, :20]  # repeated cover patterns
    dense[:, 20:25] = False  # cells no site covers
    dense[7] = dense[2]  # the same cells as an earlier site
    dense[8] = dense[3] & (rng.random(n_cells) < 0.5)  # a subset of another site's cells
    cover = sp.csr_matrix(dense.astype(float))
    weight = rng.gamma(1.0, 1.0, n_cells)
    merged, merged_w = _merge_demand(cover, weight)
    assert merged.shape[1] < n_cells
    best = 0.0
    for k in range(1, p + 1):
        for pick in itertools.combinations(range(n_sites), k):
            value = weight[dense[list(pick)].any(axis=0)].sum()
            small = merged_w[merged[list(pick)].toarray().any(axis=0)].sum()
            assert small == pytest.approx(value, rel=1e-12)  # same objective for every choice
            best = max(best, value)
    chosen = _mclp(cover, weight, p)
    assert weight[dense[chosen].any(axis=0)].sum() == pytest.approx(best, rel=1e-9)
    assert not {7, 8} & set(chosen.tolist())  # dominated sites are never needed
    assert _dominated(merged)[[7, 8]].all() and not _dominated(merged)[2]


def test_text_codes_and_narrow_ints_round_trip():
    values = np.array([["b", None, "a"], [np.nan, "b", 3]], dtype=object)
    uniq, codes = text_codes(values)
    flat = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
            for v in values.ravel()]
    ref_uniq, ref_codes = np.unique(np.array(flat, dtype=str), return_inverse=True)
    assert uniq == ref_uniq.tolist()
    assert np.array_equal(codes, ref_codes)
    for arr in (np.array([0, 5, -3], dtype=np.int64), np.array([70_000, 1], dtype=np.int64),
                np.array([2**40], dtype=np.int64), np.zeros(0, dtype=np.int64)):
        small = narrow_ints(arr)
        assert small.dtype.itemsize <= arr.dtype.itemsize
        assert np.array_equal(small.astype(arr.dtype), arr)
    data = state_bytes({"a": np.arange(100_000), "b": np.random.default_rng(0).random(50_000)})
    with np.load(io.BytesIO(data)) as z:
        assert np.array_equal(z["a"], np.arange(100_000))
        assert np.array_equal(z["b"], np.random.default_rng(0).random(50_000))
    assert state_bytes({"a": np.arange(10)}) == state_bytes({"a": np.arange(10)})


def _frame(n: int = 6) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(2)
    data = {c: [f"{c} {i}" for i in range(n)] for c in OUTPUT_COLUMNS}
    data["note"] = ['say "hi", then', "two\nlines", "", "ünïcode ≥ 5 %", "a,b", "x"][:n]
    for c in ("quantity", "cost", "capital_cost", "prevented_mean", "prevented_lo",
              "prevented_hi", "prevented_point", "prevented_per_cost", "score"):
        data[c] = rng.random(n) * 100
    data["score"][1] = np.nan
    data["selected"] = rng.random(n) < 0.5
    data["selected_greedy"] = rng.random(n) < 0.5
    data["rank"] = np.arange(1, n + 1, dtype=np.int64)
    geoms = [shapely.Point(X0 + 10 * i, Y0 + 5 * i) for i in range(n)]
    return gpd.GeoDataFrame(data, geometry=geoms, crs=CRS_UTM)


def test_csv_and_geojson_writers_match_the_reference_code():
    from hotspot_env.interventions.workorders import _fmt_column

    frame = _frame()
    ref_csv = pd.DataFrame({c: _fmt_column(frame[c], c) for c in OUTPUT_COLUMNS}).to_csv(
        index=False, lineterminator="\n")
    assert csv_text(frame) == ref_csv
    assert list(csv.reader(io.StringIO(csv_text(frame))))[2][OUTPUT_COLUMNS.index("note")] == (
        "two\nlines")
    wgs = frame.to_crs(4326)
    geoms = shapely.transform(wgs.geometry.to_numpy(), lambda c: np.round(c, 7))
    features = [{"type": "Feature", "properties": {k: _json_value(v, k) for k, v in rec.items()},
                 "geometry": json.loads(shapely.to_geojson(g))}
                for rec, g in zip(frame[list(OUTPUT_COLUMNS)].to_dict("records"), geoms,
                                  strict=True)]
    ref_json = json.dumps({"type": "FeatureCollection", "name": "interventions",
                           "features": features}, ensure_ascii=False,
                          separators=(",", ":")) + "\n"
    assert geojson_text(frame) == ref_json


def test_district_maps_reuse_one_figure_without_leaking_artists():
    frame = _frame(4)
    frame["type"] = ["new_streetlight", "vacant_lot_greening", "youth_space", "sightline_clearing"]
    frame.loc[1, "geometry"] = shapely.box(X0, Y0, X0 + 40, Y0 + 30)
    frame.loc[3, "geometry"] = shapely.LineString([(X0, Y0 + 60), (X0 + 90, Y0 + 80)])
    streets = gpd.GeoDataFrame({"layer": ["street"], "label": ["Main"], "highway": [""]},
                               geometry=[shapely.LineString([(X0 - 50, Y0), (X0 + 200, Y0)])],
                               crs=CRS_UTM)
    maps = DistrictMaps(streets)
    first = maps.png(frame.iloc[:2], ["1", "2"])
    other = maps.png(frame.iloc[2:], ["1", "2"])
    assert maps.png(frame.iloc[:2], ["1", "2"]) == first  # nothing left from the other map
    assert DistrictMaps(streets).png(frame.iloc[:2], ["1", "2"]) == first
    assert first != other and first[:8] == b"\x89PNG\r\n\x1a\n"
