"""Every view that can be empty says why and the step that fills it; coverage gaps are shown."""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest

from hotspot_env.app import emptiness, places
from hotspot_env.core.pipeline import run


def _frame(seed: int = 11) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    pts = np.vstack([rng.normal((1000.0, 1000.0), 30.0, (50, 2)),
                     rng.uniform(0, 3000, (50, 2))]) + np.array([330000.0, 7390000.0])
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs=31983)


@pytest.fixture(scope="module")
def incidents_only():
    return run(_frame(), cell_size=100.0, stages=["factors", "rtm", "trends", "interventions"])


def test_empty_interventions_say_why_and_how_to_fill(incidents_only):
    reason = emptiness.interventions_empty_reason(incidents_only)
    assert "no layers were given" in reason
    for step in ("--osm", "--place", "--layers", "--walk-audit"):
        assert step in reason
    table = emptiness.audit_table(incidents_only)
    assert len(table) > 0 and "geometry" not in table.columns
    busy = SimpleNamespace(interventions=SimpleNamespace(candidates=[1, 2]))
    assert emptiness.interventions_empty_reason(busy) is None


def test_rtm_and_trends_say_why(incidents_only):
    assert "--place" in emptiness.rtm_empty_reason(incidents_only)
    assert "date column" in emptiness.trends_empty_reason(incidents_only)


def test_audit_table_published_for_residents(incidents_only):
    table = emptiness.audit_table(incidents_only, privacy="public")
    exact = emptiness.audit_table(incidents_only)
    assert all(isinstance(v, (int, np.integer)) for v in exact["incidents"])
    for shown, true in zip(table["busiest_cell_incidents"], exact["busiest_cell_incidents"],
                           strict=True):
        assert shown == ("<5" if true < 5 else str(true))


def test_coverage_notice_counts_incidents_outside_and_suggests_a_fix():
    rng = np.random.default_rng(4)
    west = rng.uniform((0, 0), (1000, 3000), (70, 2))
    east = rng.uniform((2500, 0), (3000, 3000), (30, 2))  # 1.5 km gap: no edge cases
    pts = np.vstack([west, east]) + np.array([330000.0, 7390000.0])
    frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs=31983)
    corners = gpd.GeoSeries(gpd.points_from_xy([330000.0, 331750.0], [7389900.0, 7393100.0]),
                            crs=31983).to_crs(4326)
    box = (corners.x.min(), corners.y.min(), corners.x.max(), corners.y.max())
    analysis = run(frame, bbox=",".join(map(str, box)), cell_size=100.0, stages=[])
    notice = emptiness.coverage_notice(analysis)
    assert notice.startswith("30 of 100 incidents (30%) fall outside the study area")
    assert "covers all the incidents" in notice
    assert emptiness.coverage_notice(run(frame, cell_size=100.0, stages=[])) is None


def test_top_places_ignore_a_flat_risk_score(incidents_only):
    analysis = incidents_only
    score = analysis.arrays.get("rtm_score")
    if score is not None:  # the model was not fitted: a constant score
        assert np.nanstd(score[analysis.grid.mask]) == 0
    table = places.top_places(analysis, 5, privacy="internal")
    kde = np.where(analysis.grid.mask, analysis.arrays["kde"], -np.inf)
    assert table["cell_id"].iloc[0] == int(np.argmax(kde))
    assert "density" in table.columns


def test_audit_caption_names_the_first_place(incidents_only):
    table = emptiness.audit_table(incidents_only)
    caption = emptiness.audit_caption(table)
    first = table.iloc[0]
    assert caption.startswith(f"{len(table)} places ranked by recorded incidents; start with A01")
    assert f"{first['incidents']} incidents" in caption
