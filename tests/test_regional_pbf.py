"""A regional ``.pbf`` is read only inside the study area's bounding box."""

from __future__ import annotations

import geopandas as gpd
import shapely

from hotspot_env import settings
from hotspot_env.core.analysis import analyze
from hotspot_env.inputs.osm import read_osm


def _box(streets: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """The south-west quarter of the extract's streets."""
    w, s, e, n = streets.total_bounds
    return (w, s, (w + e) / 2, (s + n) / 2)


def test_bbox_read_keeps_only_streets_touching_the_box(sao_paulo, tmp_path):
    full = read_osm(sao_paulo["osm"], cache_folder=tmp_path)
    box = _box(full["streets"])
    part = read_osm(sao_paulo["osm"], cache_folder=tmp_path, bbox=box)
    got = set(part["streets"]["osm_id"])
    assert 0 < len(got) < len(set(full["streets"]["osm_id"]))
    assert got <= set(full["streets"]["osm_id"])
    # every street read touches the box, and every street whose middle lies well inside it
    # is read (degrees: a plain planar midpoint is enough to be "well inside")
    assert part["streets"].intersects(shapely.box(*box).buffer(1e-6)).all()
    core = shapely.box(*box).buffer(-0.002)
    middle = shapely.line_interpolate_point(full["streets"].geometry.values, 0.5, normalized=True)
    assert set(full["streets"].loc[shapely.within(middle, core), "osm_id"]) <= got
    # a separate cache entry per box: the full read is unchanged afterwards
    again = read_osm(sao_paulo["osm"], cache_folder=tmp_path)
    assert len(again["streets"]) == len(full["streets"])


def test_large_pbf_is_cut_to_the_bbox_and_announced(sao_paulo, monkeypatch):
    monkeypatch.setattr(settings, "regional_pbf_mb", 0.0)  # the test file counts as regional
    full = read_osm(sao_paulo["osm"])
    box = _box(full["streets"])
    analysis = analyze(sao_paulo["incidents"], osm=sao_paulo["osm"],
                       bbox=",".join(map(str, box)), cell_size=200.0)
    choice = next(c for c in analysis.choices if c.name == "osm_read_box")
    assert choice.value == [round(v, 4) for v in box]
    streets = analysis.map_layers["streets"].to_crs(4326)
    assert streets.intersects(shapely.box(*box).buffer(1e-6)).all()
    assert len(streets) < len(full["streets"])


def test_small_pbf_is_read_whole(sao_paulo):
    analysis = analyze(sao_paulo["incidents"], osm=sao_paulo["osm"], cell_size=200.0)
    assert not any(c.name == "osm_read_box" for c in analysis.choices)
