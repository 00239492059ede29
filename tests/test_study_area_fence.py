"""A stray incident (police.uk snaps some 70 km away) never stretches the study area."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from scipy import stats

from hotspot_env.core.analysis import analyze
from hotspot_env.core.area import far_out_fence


def test_fence_matches_tukey_with_scipy_iqr():
    rng = np.random.default_rng(8)
    values = np.concatenate([rng.normal(0, 1, 2000), [25.0, -30.0]])
    q1, q3 = np.percentile(values, [25, 75])
    iqr = stats.iqr(values)
    expected = (values >= q1 - 3 * iqr) & (values <= q3 + 3 * iqr)
    assert (far_out_fence(values) == expected).all()
    assert not far_out_fence(values)[-2:].any()
    assert far_out_fence(rng.uniform(0, 1, 5000)).all()  # a uniform sample loses nothing


def test_stray_incident_is_outside_the_area_and_counted():
    rng = np.random.default_rng(9)
    pts = np.vstack([rng.uniform(0, 3000, (300, 2)), [[70000.0, 1500.0]]])
    pts += np.array([330000.0, 7390000.0])
    frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs=31983)
    analysis = analyze(frame, cell_size=100.0)
    assert analysis.counts["incidents_outside_area"] == 1
    minx, _, maxx, _ = gpd.GeoSeries([analysis.area], crs=analysis.grid.crs).to_crs(
        31983).total_bounds
    assert maxx - minx < 3200
    choice = next(c for c in analysis.choices if c.name == "study_area")
    assert "1 stray incident" in choice.rule
