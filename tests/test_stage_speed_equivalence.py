"""The faster paths of the factors and the output gate give what the plain paths gave.

Each fast path is checked against the straightforward computation it
replaced, written out here: the published text against the documented rule
(bidirectional controls removed, NFC, an apostrophe before a formula), the
lit-tag raster against rasterio reading shapely's own geometries, the cached
cell centres against the grid's centres, and a plain bool ``working`` column
against the per-lamp reading of the flag.
"""

from __future__ import annotations

import math
import unicodedata

import numpy as np
import pandas as pd
import pytest
import shapely
from _factor_data import box_grid, frame
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rasterio.enums import MergeAlg
from rasterio.features import rasterize

from hotspot_env.factors import lighting
from hotspot_env.factors.base import _inside_centres, distance_to_features
from hotspot_env.outputs.safe_text import neutralise_column, neutralise_text

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def reference_text(value):
    """The rule of :mod:`hotspot_env.outputs.safe_text`, written out plainly."""
    if not isinstance(value, str):
        return value
    value = unicodedata.normalize("NFC", "".join(c for c in value if c not in BIDI))
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r", "\n") else value


TEXT = st.text(alphabet=st.sampled_from(list("ab =+-@\t\r\n'\u00e9e\u0301\u00c5A\u030a")
                                        + list(BIDI)), max_size=8)


@hsettings(max_examples=300, deadline=None)
@given(TEXT)
def test_each_text_is_neutralised_as_the_rule_says(value):
    assert neutralise_text(value) == reference_text(value)


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(TEXT, st.none(), st.just(float("nan")), st.integers(-3, 3)),
                min_size=1, max_size=30))
def test_a_column_is_neutralised_cell_by_cell(values):
    column = pd.Series(values * 3, dtype=object)  # repeated texts: the memo is used
    expected = column.map(reference_text)  # the plain path: every cell, one by one
    pd.testing.assert_series_equal(neutralise_column(column), expected)


def test_text_columns_of_every_dtype_keep_their_dtype():
    for dtype in (object, "string"):
        column = pd.Series(["=a", "b", "=a", None, "c\u202e"] * 2, dtype=dtype)
        got = neutralise_column(column)
        assert got.dtype == column.map(neutralise_text).dtype
        assert got.tolist() == column.map(reference_text).tolist()


def _streets(rng, n):
    start = rng.uniform(0, 900, (n, 2))
    end = start + rng.uniform(-150, 150, (n, 2))
    mid = (start + end) / 2 + rng.uniform(-20, 20, (n, 2))
    return np.array([shapely.LineString([a, m, b]) for a, m, b in zip(start, mid, end,
                                                                       strict=True)])


def test_lit_tag_raster_equals_rasterio_on_shapely_geometries():
    rng = np.random.default_rng(5)
    grid = box_grid(0, 0, 1000, 1000, 25)
    lines = _streets(rng, 300)
    lit = np.array(["yes", "no", None])[rng.integers(0, 3, lines.size)]
    streets = frame(lines, lit=lit)
    got = lighting._lit_tag_cells(streets, grid, 7.5)
    shapes = [(g, 0.0) for g in lines[lit == "no"]] + [(g, 7.5) for g in lines[lit == "yes"]]
    expected = rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=np.nan,
                         all_touched=True, dtype="float64", merge_alg=MergeAlg.replace)
    assert got.tobytes() == expected.tobytes()
    assert np.isfinite(got).any() and np.isnan(got).any()


def test_only_plain_2d_lines_become_mappings():
    line = shapely.LineString([(0, 0), (3, 4), (6, 0)])
    assert lighting._as_geojson(np.array([line])) == [line.__geo_interface__ | {
        "coordinates": [list(c) for c in line.coords]}]
    for other in (shapely.MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 1)]]),
                  shapely.LineString([(0, 0, 1), (1, 1, 2)]), shapely.LineString()):
        both = np.array([line, other])
        assert list(lighting._as_geojson(both)) == list(both)  # handed over as they are
    assert lighting._as_geojson(np.array([], dtype=object)) == []


def test_cached_centres_follow_the_mask():
    grid = box_grid(0, 0, 500, 300, 50)
    cx, cy = grid.centres()
    x, y, points = _inside_centres(grid)
    assert np.array_equal(x, cx[grid.mask]) and np.array_equal(y, cy[grid.mask])
    assert np.array_equal(shapely.get_coordinates(points), np.column_stack([x, y]))
    assert _inside_centres(grid)[2] is points  # made once
    grid.mask[0, :] = False  # changed in place: measured anew
    x2, _, points2 = _inside_centres(grid)
    assert x2.size == grid.mask.sum() < x.size and points2.size == x2.size
    feature = np.array([shapely.Point(260.0, 140.0)])
    dist = distance_to_features(grid, feature)
    expected = np.hypot(cx - 260.0, cy - 140.0)
    assert np.isnan(dist[0]).all()
    assert np.allclose(dist[grid.mask], expected[grid.mask], rtol=0, atol=1e-9)


@pytest.mark.parametrize("flags", [np.array([True, False, True]),
                                   pd.array([True, False, True], dtype=object)])
def test_a_bool_working_column_reads_as_the_flags(flags):
    lamps = frame([shapely.Point(10, 10), shapely.Point(500, 500), shapely.Point(900, 900)],
                  lumens=[2 * math.pi * 1000] * 3)
    lamps["working"] = flags
    table, choices = lighting._lamp_table(lamps, 1000.0, 8.0)
    assert [p.x for p in table.geometry] == [10.0, 900.0]
    assert [c.value for c in choices if c.name == "lamps_not_working"] == [1]
