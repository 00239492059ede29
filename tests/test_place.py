"""``--place`` offline: osmnx's geocoder and Overpass answers replaced by recorded frames.

The frames mimic what osmnx 2.x returns (``geocode_to_gdf``: one row with the
boundary polygon and ``display_name``; ``features_from_polygon``: an
``(element, id)`` index with tag columns), so the code path from a place
name to the study area and the layers runs without a network.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from hotspot_env import settings
from hotspot_env.core.analysis import analyze
from hotspot_env.errors import InputError

# a concave (L-shaped) boundary in Helsinki: its convex hull would add the empty corner
BOUNDARY = shapely.Polygon([(24.930, 60.160), (24.960, 60.160), (24.960, 60.170),
                            (24.945, 60.170), (24.945, 60.180), (24.930, 60.180)])


def _recorded_features() -> gpd.GeoDataFrame:
    rows = [
        ("way", 1, shapely.LineString([(24.932, 60.162), (24.958, 60.162)]),
         {"highway": "residential", "name": "Alakatu", "lit": "no"}),
        ("way", 2, shapely.LineString([(24.935, 60.161), (24.935, 60.178)]),
         {"highway": "footway", "name": "Polku", "lit": "yes"}),
        ("node", 3, shapely.Point(24.935, 60.170), {"highway": "street_lamp"}),
        ("node", 4, shapely.Point(24.936, 60.175), {"highway": "street_lamp"}),
        ("way", 5, shapely.box(24.940, 60.163, 24.942, 60.165), {"building": "yes"}),
        ("way", 6, shapely.box(24.950, 60.164, 24.953, 60.166), {"landuse": "brownfield"}),
        ("node", 7, shapely.Point(24.938, 60.172), {"leisure": "playground"}),
    ]
    index = pd.MultiIndex.from_tuples([(e, i) for e, i, _, _ in rows], names=["element", "id"])
    tags = pd.DataFrame([t for *_, t in rows], index=index)
    return gpd.GeoDataFrame(tags, geometry=[g for _, _, g, _ in rows], crs=4326)


@pytest.fixture
def recorded_osmnx(monkeypatch):
    import osmnx as ox

    calls = {"geocode": [], "features": []}

    def geocode_to_gdf(query, *args, **kwargs):
        calls["geocode"].append(query)
        return gpd.GeoDataFrame({"display_name": ["Testplace, Helsinki, Finland"]},
                                geometry=[BOUNDARY], crs=4326)

    def features_from_polygon(polygon, tags):
        calls["features"].append((polygon, tags))
        return _recorded_features()

    monkeypatch.setattr(ox, "geocode_to_gdf", geocode_to_gdf)
    monkeypatch.setattr(ox, "features_from_polygon", features_from_polygon)
    return calls


def _incidents() -> tuple[gpd.GeoDataFrame, int]:
    rng = np.random.default_rng(5)
    inside = np.column_stack([rng.uniform(24.933, 24.942, 40), rng.uniform(60.163, 60.177, 40)])
    # in the L's empty corner (inside the hull, outside the boundary) and far away
    outside = np.array([[24.955, 60.177], [24.957, 60.176], [24.99, 60.2]])
    pts = np.vstack([inside, outside])
    frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs=4326)
    return frame, len(outside)


def test_place_boundary_is_the_study_area(recorded_osmnx):
    frame, n_outside = _incidents()
    analysis = analyze(frame, place="Testplace", cell_size=50.0)
    boundary = gpd.GeoSeries([BOUNDARY], crs=4326).to_crs(analysis.grid.crs).iloc[0]
    assert analysis.area.symmetric_difference(boundary).area < 1e-6 * boundary.area
    assert analysis.counts["incidents_outside_area"] == n_outside
    area_choice = next(c for c in analysis.choices if c.name == "study_area")
    assert area_choice.value == "place" and "geocoded" in area_choice.rule
    place_choice = next(c for c in analysis.choices if c.name == "place")
    assert place_choice.value == "Testplace, Helsinki, Finland"
    # one Overpass query inside the geocoded boundary, every highway asked for
    (polygon, tags), = recorded_osmnx["features"]
    assert polygon.equals(BOUNDARY) and tags["highway"] is True


def test_place_layers_keep_lit_and_the_osmnx_cache_is_ours(recorded_osmnx):
    import osmnx as ox

    frame, _ = _incidents()
    analysis = analyze(frame, place="Testplace", cell_size=50.0)
    streets = analysis.map_layers["streets"]
    assert sorted(streets["lit"]) == ["no", "yes"]
    assert sorted(streets["name"]) == ["Alakatu", "Polku"]
    assert len(analysis.map_layers["lamps"]) == 2
    assert len(analysis.map_layers["buildings"]) == 1
    assert list(analysis.map_layers["vacant"]["kind"]) == ["landuse=brownfield"]
    assert list(analysis.map_layers["youth"]["kind"]) == ["leisure=playground"]
    assert ox.settings.use_cache
    assert str(settings.cache_folder) in str(ox.settings.cache_folder)


def test_place_that_cannot_be_geocoded_says_so(monkeypatch):
    import osmnx as ox

    def offline(query, *args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(ox, "geocode_to_gdf", offline)
    frame, _ = _incidents()
    with pytest.raises(InputError, match="could not geocode 'Nowhere'.*--osm"):
        analyze(frame, place="Nowhere")


def test_place_point_result_is_refused(monkeypatch):
    import osmnx as ox

    monkeypatch.setattr(ox, "geocode_to_gdf", lambda q, *a, **k: gpd.GeoDataFrame(
        {"display_name": ["a pub"]}, geometry=[shapely.Point(24.9, 60.1)], crs=4326))
    frame, _ = _incidents()
    with pytest.raises(InputError, match="not an area"):
        analyze(frame, place="The Pub")


def test_cli_place_runs_offline_on_recorded_answers(recorded_osmnx, tmp_path):
    from hotspot_env.cli import app

    frame, _ = _incidents()
    csv = tmp_path / "incidents.csv"
    pd.DataFrame({"lon": frame.geometry.x, "lat": frame.geometry.y}).to_csv(csv, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["analyze", "--incidents", str(csv), "--place",
                                      "Testplace", "--out", str(out), "--cell-size", "50"])
    assert result.exit_code == 0, result.output
    assert "study_area set to place" in result.output
    assert (out / "manifest.json").is_file()
