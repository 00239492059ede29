"""Hot spots one month or quarter at a time (``hotspot_env.temporal.timeslice``).

References: the counts by a pandas group-by of the incidents' own cells and
periods; the classes by :func:`hotspot_env.core.hotspots.gi_star` (itself tested
against esda) on those counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hotspot_env.core.hotspots import gi_star
from hotspot_env.temporal import timeslice


@pytest.fixture(scope="module")
def demo():
    from hotspot_env.core.analysis import analyze
    from hotspot_env.inputs.demo import demo_incidents_path, demo_osm_path

    return analyze(demo_incidents_path(), osm=demo_osm_path())


def _reference(demo, freq: str) -> pd.DataFrame:
    pts = demo.points
    rows, cols = demo.grid.cell_index(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy())
    times = pd.to_datetime(pts["datetime"], utc=True).dt.tz_localize(None)
    frame = pd.DataFrame({"period": times.dt.to_period(freq).astype(str).to_numpy(),
                          "cell": rows * demo.grid.n_cols + cols, "inside": rows >= 0})
    return frame[frame["inside"]].groupby(["period", "cell"]).size()


def test_month_counts_and_classes_match_the_references(demo):
    labels = timeslice.period_labels(demo, "month")
    assert labels == sorted(labels) and len(labels) >= 12
    reference = _reference(demo, "M")
    for label in (labels[0], labels[len(labels) // 2], labels[-1]):
        layer = timeslice.period_layer(demo, label, "month")
        expected = np.zeros(demo.grid.n_rows * demo.grid.n_cols, dtype=np.int64)
        part = reference.loc[label]
        expected[part.index.to_numpy()] = part.to_numpy()
        np.testing.assert_array_equal(layer.counts.ravel(), expected)
        assert layer.incidents == int(part.sum())
        np.testing.assert_array_equal(layer.gi_bin, gi_star(demo.grid, layer.counts).bin)


def test_quarters_add_up_their_months_and_the_whole_period(demo):
    months = timeslice.period_labels(demo, "month")
    quarters = timeslice.period_labels(demo, "quarter")
    q = quarters[1]
    year, n = int(q[:4]), int(q[-1])
    in_q = [m for m in months if int(m[:4]) == year and (int(m[5:]) - 1) // 3 + 1 == n]
    total = sum(timeslice.period_layer(demo, m, "month").counts for m in in_q)
    np.testing.assert_array_equal(timeslice.period_layer(demo, q, "quarter").counts, total)
    every = sum(timeslice.period_layer(demo, m, "month").counts for m in months)
    dated = demo.points["datetime"].notna().to_numpy()
    assert every.sum() <= dated.sum()
    np.testing.assert_array_equal(every[~demo.grid.mask], 0)


def test_bad_step_or_empty_period(demo):
    with pytest.raises(ValueError, match="month, quarter"):
        timeslice.period_labels(demo, "week")
    with pytest.raises(ValueError, match="no dated incident"):
        timeslice.period_layer(demo, "1999-01", "month")
