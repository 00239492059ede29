"""'Audit this place': incidents only still give a ranked, explained shortlist."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from hotspot_env.core.pipeline import run
from hotspot_env.interventions.audit import NO_LAYERS_REASON


def _incidents(seed: int = 3) -> tuple[gpd.GeoDataFrame, list[tuple[float, float]]]:
    """Two tight clusters (60 and 25 incidents) in 4 km of uniform background (40)."""
    rng = np.random.default_rng(seed)
    centres = [(1000.0, 3000.0), (3000.0, 1000.0)]
    xy = [rng.normal(centres[0], 25.0, (60, 2)), rng.normal(centres[1], 25.0, (25, 2)),
          rng.uniform(0, 4000, (40, 2))]
    pts = np.vstack(xy) + np.array([330000.0, 7390000.0])
    frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs=31983)
    return frame, [(c[0] + 330000.0, c[1] + 7390000.0) for c in centres]


@pytest.fixture(scope="module")
def incidents_only():
    frame, centres = _incidents()
    return run(frame, cell_size=100.0, stages=["factors", "rtm", "interventions"]), centres


def test_incidents_only_gives_ranked_explained_shortlist(incidents_only):
    analysis, centres = incidents_only
    assert len(analysis.interventions.candidates) == 0
    audit = analysis.audit_places
    assert len(audit) >= 2
    assert (audit["reason"] == NO_LAYERS_REASON).all()
    assert audit["incidents"].is_monotonic_decreasing
    assert audit["rank"].tolist() == list(range(1, len(audit) + 1))
    # the first two places start at the two clusters, the bigger first
    first = audit.to_crs(31983).geometry
    for place, (cx, cy) in zip(first.iloc[:2], centres, strict=True):
        assert place.distance(shapely.Point(cx, cy)) < 100.0
    # each area's count is the recorded incidents in its cells, counted independently
    pts = gpd.GeoDataFrame(geometry=_incidents()[0].geometry, crs=31983).to_crs(
        analysis.grid.crs)
    assert audit["incidents"].iloc[0] >= 55
    assert audit["incidents"].sum() <= len(pts)
    assert any(c.name == "audit_places" for c in analysis.choices)


def test_public_mode_never_shows_a_small_exact_count():
    frame, _ = _incidents()
    analysis = run(frame, cell_size=100.0, privacy="public",
                   stages=["factors", "rtm", "interventions"])
    audit = analysis.audit_places
    values = list(audit["incidents"]) + list(audit["busiest_cell_incidents"])
    for value in values:  # nothing below k is shown exactly
        assert value == "<5" or int(value) >= 5
    # the busiest cell shows exactly what the cells layer publishes for it
    from hotspot_env.outputs.privacy import published_counts

    cells = published_counts(analysis)
    row, col = analysis.grid.cell_index(*np.array(
        [[g.centroid.x for g in audit.geometry], [g.centroid.y for g in audit.geometry]]))
    assert [str(v) for v in cells[row, col]] == [str(v) for v in audit["busiest_cell_incidents"]]
