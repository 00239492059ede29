"""Candidate generation: rules, stable ids, locations, proposals."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from test_interventions_fixtures import (
    CRS_UTM,
    X0,
    Y0,
    cell_centre,
    dark_segments,
    make_analysis,
    make_grid,
    make_points,
)

from hotspot_env.errors import InputError
from hotspot_env.factors.base import FactorResult
from hotspot_env.interventions import stage
from hotspot_env.interventions.candidate_table import candidate_id
from hotspot_env.interventions.candidates import (
    LAMP_SPACING_M,
    generate,
    lighting_candidates,
    locate,
    proposal_candidates,
    sightline_candidates,
    vacant_candidates,
)
from hotspot_env.interventions.evidence import load_library
from hotspot_env.interventions.youth_sites import youth_candidates


def test_lighting_quantity_spacing_and_type():
    lines = [shapely.LineString([(X0, Y0), (X0 + 200, Y0)]),
             shapely.LineString([(X0, Y0 + 50), (X0 + 450, Y0 + 50)])]
    cands = lighting_candidates(dark_segments(lines, [1.5, 0.0]).layer, CRS_UTM)
    first = cands[cands["length_m"].round() == 200].iloc[0]
    assert first["type"] == "streetlight_upgrade"  # some light: lamps exist but too dim
    assert first["quantity"] == np.ceil(200 / LAMP_SPACING_M)  # 7 lamps
    pieces = cands[cands["type"] == "new_streetlight"]
    assert len(pieces) == 3  # 450 m cut into 3 x 150 m
    assert pieces["length_m"].to_numpy() == pytest.approx([150.0] * 3)
    assert set(pieces["quantity"]) == {5.0}
    assert "(part 2 of 3)" in " ".join(pieces["location"])


def test_ids_are_stable_across_runs_vertex_and_row_order():
    line = shapely.LineString([(X0, Y0), (X0 + 100, Y0), (X0 + 100, Y0 + 40)])
    assert candidate_id("new_streetlight", line) == candidate_id("new_streetlight", line.reverse())
    jitter = shapely.LineString([(X0 + 0.01, Y0), (X0 + 100, Y0 - 0.02), (X0 + 100, Y0 + 40)])
    assert candidate_id("new_streetlight", line) == candidate_id("new_streetlight", jitter)
    assert candidate_id("new_streetlight", line) != candidate_id("streetlight_upgrade", line)
    mp = shapely.MultiPoint([(X0, Y0), (X0 + 5, Y0)])
    assert candidate_id("sightline_clearing", mp) == candidate_id(
        "sightline_clearing", shapely.MultiPoint([(X0 + 5, Y0), (X0, Y0)]))
    assert len(candidate_id("youth_space", mp)) == 12


def _rich_analysis(order=slice(None)):
    grid = make_grid()
    f = np.full(grid.shape, 0.5)
    f[4:7, 4:7] = 5.0
    cells = [(5, 5)] * 6 + [(4, 4)] * 4
    pts = make_points(grid, cells, ["shooting", "theft", "burglary", "assault", "theft",
                                    "disorder"] + ["robbery"] * 4,
                      ["2021-01-15 00:00"] * 5 + ["2021-06-15 11:00"] * 5)
    x, y = cell_centre(grid, 5, 5)
    lines = [shapely.LineString([(x - 90, y), (x + 90, y)]),
             shapely.LineString([(x, y - 90), (x, y + 90)]),
             shapely.LineString([(x - 90, y + 40), (x + 90, y + 40)])]
    light = dark_segments(lines, [0.0, 1.0, 0.0], ["Main Street", "Cross Road", "Back Lane"])
    light.layer = light.layer.iloc[order].reset_index(drop=True)
    vac = gpd.GeoDataFrame({"kind": ["landuse=brownfield", "building=ruins", "vacant=yes"]},
                           geometry=[shapely.box(x - 30, y - 30, x + 10, y + 10),
                                     shapely.box(x + 20, y + 20, x + 30, y + 30),
                                     shapely.Point(x - 60, y + 60)], crs=CRS_UTM)
    vac = vac.iloc[order].reset_index(drop=True)
    streets = gpd.GeoDataFrame({"name": ["Main Street", "Cross Road"]},
                               geometry=[lines[0], lines[1]], crs=CRS_UTM)
    return make_analysis(f, pts, {"lighting": light,
                                  "vacancy": FactorResult("vacancy", {}, vac)},
                         {"streets": streets})


def test_candidate_table_is_identical_under_row_reordering():
    a, b = _rich_analysis(), _rich_analysis(slice(None, None, -1))
    for an in (a, b):
        stage(an, budget=2000)
    ta = a.interventions.table().drop(columns="geometry")
    tb = b.interventions.table().drop(columns="geometry")
    assert len(ta) >= 5
    assert ta["intervention_id"].is_unique
    assert ta.equals(tb)
    types = set(ta["type"])
    assert {"new_streetlight", "streetlight_upgrade", "vacant_lot_greening",
            "vacant_lot_cleanup", "abandoned_building_remediation"} <= types
    # greening and cleanup of one lot are alternatives: one site, at most one selected
    lots = ta[ta["type"].isin(["vacant_lot_greening", "vacant_lot_cleanup"])]
    res = a.interventions
    cands = res.candidates.set_index("intervention_id")
    for _, group in lots.groupby(cands.loc[lots["intervention_id"], "site"].to_numpy()):
        assert group["selected"].sum() <= 1
    assert (ta["location"] != "").all()


def test_vacant_kinds_split_lots_and_buildings():
    vac = gpd.GeoDataFrame({"kind": ["landuse=brownfield", "building=abandoned", "ruins=*"]},
                           geometry=[shapely.box(X0, Y0, X0 + 40, Y0 + 25),
                                     shapely.box(X0 + 100, Y0, X0 + 110, Y0 + 10),
                                     shapely.Point(X0 + 200, Y0)], crs=CRS_UTM)
    cands = vacant_candidates(vac, CRS_UTM)
    assert sorted(cands["type"]) == ["abandoned_building_remediation",
                                     "abandoned_building_remediation", "vacant_lot_cleanup",
                                     "vacant_lot_greening"]
    lot = cands[cands["type"] == "vacant_lot_greening"].iloc[0]
    assert lot["quantity"] == 7.0  # 1,000 m2 = round(6.67) 150 m2 row-house lot units


def test_sightline_groups_need_clearable_obstacles():
    # 20 observers 15 m apart; short (< min(20th percentile, 40 m)): 10, 12, 11 in a row + 9 alone
    xs = X0 + np.arange(20) * 15.0
    sight = np.full(20, 80.0)
    sight[[2, 3, 4, 8]] = [10, 12, 11, 9]
    observers = gpd.GeoDataFrame({"segment_id": 0, "sightline_m": sight},
                                 geometry=shapely.points(xs, np.full(20, Y0)), crs=CRS_UTM)
    hedge = gpd.GeoDataFrame({"source": ["vegetation", "buildings"]},
                             geometry=[shapely.box(X0 + 30, Y0 + 5, X0 + 60, Y0 + 8),
                                       shapely.box(X0 + 120, Y0 + 5, X0 + 130, Y0 + 8)],
                             crs=CRS_UTM)
    cands, _ = sightline_candidates(observers, hedge, CRS_UTM)
    assert len(cands) == 1  # the lone short observer (x 120) is no group
    assert cands.iloc[0]["n_points"] == 3
    assert cands.iloc[0]["sightline_m"] == pytest.approx(11.0)
    # drawn as the stretch of street from the first to the last short observer, not as points
    stretch = cands.geometry.iloc[0]
    assert stretch.geom_type == "LineString"
    assert shapely.get_coordinates(stretch).tolist() == [[X0 + 30, Y0], [X0 + 45, Y0],
                                                         [X0 + 60, Y0]]
    only_buildings, _ = sightline_candidates(observers, hedge.iloc[[1]], CRS_UTM)
    assert len(only_buildings) == 0


def test_a_sightline_stretch_follows_its_street_not_the_coordinate_order():
    # a U-shaped street: east, north, west; every observer short, no obstacle types known
    xy = np.array([(0, 0), (15, 0), (30, 0), (30, 15), (15, 15), (0, 15)], float)
    sight = np.r_[np.full(6, 5.0), np.full(30, 90.0)]
    far = np.c_[np.arange(30) * 15.0 + 1000.0, np.full(30, 500.0)]
    pts = np.r_[xy, far] + [X0, Y0]
    observers = gpd.GeoDataFrame({"segment_id": np.r_[np.zeros(6), np.ones(30)].astype(int),
                                  "sightline_m": sight},
                                 geometry=shapely.points(pts), crs=CRS_UTM)
    cands, choices = sightline_candidates(observers, None, CRS_UTM)
    assert len(cands) == 1 and [c.name for c in choices] == ["sightline_obstacles"]
    line = cands.geometry.iloc[0]
    assert line.geom_type == "LineString"
    np.testing.assert_array_equal(shapely.get_coordinates(line), xy + [X0, Y0])
    assert line.length == pytest.approx(75.0)


def test_youth_sites_cover_the_most_gap_demand():
    grid = make_grid(20, 100.0)  # 2 km square
    walk = np.full(grid.shape, 2000.0)
    walk[:, :5] = 300.0  # west served
    demand = np.zeros(grid.shape)
    demand[15:18, 15:18] = 1.0  # harm in the south-east gap
    demand[2, 12] = 0.2
    se = cell_centre(grid, 16, 16)
    ne = cell_centre(grid, 2, 12)
    sites = gpd.GeoDataFrame({"kind": ["vacant=yes", "landuse=grass", "vacant=yes"]},
                             geometry=[shapely.Point(*se), shapely.Point(*ne),
                                       shapely.Point(X0 + 50, Y0 + 50)], crs=CRS_UTM)
    cands, choices = youth_candidates(grid, walk, demand, sites, max_sites=1)
    assert len(cands) == 1
    assert cands.geometry.iloc[0].equals(shapely.Point(*se))
    assert cands.iloc[0]["gap_demand"] == pytest.approx(9.0)
    two, _ = youth_candidates(grid, walk, demand, sites, max_sites=3)
    assert len(two) == 2  # the third site covers no gap demand
    none, choices = youth_candidates(grid, None, demand, sites)
    assert len(none) == 0 and "not measured" in choices[0].rule


def test_proposals_are_validated_and_located():
    lib = load_library()
    grid = make_grid()
    streets = gpd.GeoDataFrame({"name": ["Harbour Road"]},
                               geometry=[shapely.LineString([(X0, Y0 + 10), (X0 + 500, Y0 + 10)])],
                               crs=CRS_UTM)
    props = gpd.GeoDataFrame({"type": ["Alley_Gating", "youth_space"],
                              "note": ["<b>gate</b>", None]},
                             geometry=[shapely.Point(X0 + 100, Y0 + 20),
                                       shapely.Point(X0 + 950, Y0 + 950)],
                             crs=CRS_UTM).to_crs(4326)
    cands = proposal_candidates(props, lib, grid.crs)
    assert cands["type"].tolist() == ["alley_gating", "youth_space"]
    assert cands["note"].tolist() == ["<b>gate</b>", ""]
    loc = locate(cands.geometry.to_numpy(), grid, streets)
    assert loc[0] == "Harbour Road"
    assert loc[1].startswith("near cell ")
    bad = props.assign(type=["cctv_camera", "youth_space"])
    with pytest.raises(InputError, match="proposal 1: .*surveillance"):
        proposal_candidates(bad, lib, grid.crs)
    with pytest.raises(InputError, match="unknown type 'skate'"):
        proposal_candidates(props.assign(type=["youth_space", "skate"]), lib, grid.crs)
    with pytest.raises(InputError, match="no CRS"):
        proposal_candidates(props.set_crs(None, allow_override=True), lib, grid.crs)


def test_no_candidates_is_not_an_error():
    analysis = make_analysis(np.ones((10, 10)))
    cands, _ = generate(analysis, load_library(), np.zeros((10, 10)))
    assert len(cands) == 0
    stage(analysis, budget=1000)
    res = analysis.interventions
    assert len(res.table()) == 0
    assert "no candidate interventions" in res.ranking.message


def test_user_streets_and_buildings_name_places_and_draw_the_basemap(tmp_path):
    # A city's own streets/buildings layers (no OSM) must serve work orders
    # and maps exactly as OSM's would: street names as locations, a basemap.
    from hotspot_env.app.places import nearest_street
    from hotspot_env.bench import TINY_SCALE
    from hotspot_env.core import pipeline
    from hotspot_env.inputs.synth import simulate_city

    paths = simulate_city(7, scale="quick", **TINY_SCALE).write(tmp_path)
    analysis = pipeline.run(paths["incidents"], layers=paths["layers"], cell_size=50,
                            simulated=True, stages=["factors", "rtm", "interventions"])
    assert "streets" not in analysis.map_layers and "user:streets" in analysis.map_layers
    result = analysis.interventions
    located = result.candidates["location"].fillna("").astype(str).str.len() > 0
    assert located.mean() > 0.9
    assert result.basemap is not None and set(result.basemap["layer"]) >= {"street", "building"}
    rows, cols = np.nonzero(analysis.grid.mask)
    names = nearest_street(analysis, list(zip(rows[:50], cols[:50], strict=True)))
    assert any(names)
