"""The app-facing package modules, without a browser: places, mapview, session, redress,
scenarios and the model card."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from hotspot_env.app import layer_data, mapview, places, redress, scenarios, session
from hotspot_env.errors import HotspotEnvError, InputError
from hotspot_env.outputs import modelcard

XSS = "<img src=x onerror=window.__xss=1>"


@pytest.fixture(scope="module")
def demo():
    """The demo in internal mode through every stage (about 5-10 s)."""
    from hotspot_env.inputs.demo import run_demo

    return run_demo()


# --------------------------------------------------------------------------- places


def test_cell_at_round_trips_cell_centres(demo):
    grid = demo.grid
    rows, cols = np.nonzero(grid.mask)
    for r, c in zip(rows[::97], cols[::97], strict=True):
        lon, lat = places.cell_centre_lonlat(grid, r, c)
        assert places.cell_at(grid, lat, lon) == (r, c)
    assert places.cell_at(grid, 0.0, 0.0) is None
    assert places.cell_at(grid, float("nan"), 24.9) is None
    assert places.cell_at(grid, "x", None) is None
    assert places.cell_from_id(grid, -1) is None
    assert places.cell_from_id(grid, "12a") is None


def test_describe_cell_suppresses_small_counts_in_public_mode(demo):
    counts = demo.arrays["incidents"]
    row, col = np.argwhere(demo.grid.mask & (counts >= 1) & (counts <= 4))[0]
    public = places.describe_cell(demo, row, col, privacy="public")
    internal = places.describe_cell(demo, row, col, privacy="internal")
    assert public.incidents == "<5"
    assert internal.incidents == str(int(counts[row, col]))
    dark = {v["key"]: v["value"] for v in public.values}.get("dark_share")
    if dark is not None:
        assert dark.startswith("suppressed")
    assert public.cell_id == row * demo.grid.n_cols + col


def test_top_places_public_counts(demo):
    table = places.top_places(demo, 15, privacy="public")
    assert len(table) == 15
    assert not table["incidents"].isin(["1", "2", "3", "4"]).any()


def test_model_card_compares_the_forecast_with_every_baseline(demo):
    from hotspot_env.models.validation import BASELINES, LABELS

    v = modelcard.validation(demo)
    assert {"pei", "pai", "verdict", "calibration"} <= set(v)
    assert {LABELS[b] for b in BASELINES} | {LABELS["forecast"]} <= set(v["pei"]["method"])
    row = v["verdict"].iloc[0]
    assert row["verdict"] == demo.parameters["validation"]["verdict"]
    assert row["default"] == modelcard.default_ranking(demo)
    assert row["default"].startswith("The default ranking on the maps and shortlists")


# --------------------------------------------------------------------------- mapview


def test_explore_opens_on_the_validated_forecast_with_classic_kde_available(demo):
    specs = {spec.key: spec for spec in mapview.available_layers(demo)}
    assert mapview.shown_by_default(specs["forecast"], demo)
    assert not mapview.shown_by_default(specs["density"], demo)
    assert specs["density"].title == "Classic KDE (rule of thumb)"
    undated = dataclasses.replace(demo, arrays={k: v for k, v in demo.arrays.items()
                                                if k != "forecast"})
    assert mapview.shown_by_default(specs["density"], undated)
    page = mapview.explore_map(demo, ["forecast"], privacy="public").get_root().render()
    assert "Validated forecast" in page


def test_every_available_layer_draws_without_external_assets(demo):
    keys = [spec.key for spec in mapview.available_layers(demo)]
    assert {"density", "hotspots"} <= set(keys)
    m = mapview.explore_map(demo, keys, privacy="public")
    page = m.get_root().render()
    assert m.external_links() == []
    assert "data:image/png;base64," in page
    assert len(page.encode()) < 2_000_000
    hot = mapview.explore_map(demo, ["hotspots"], privacy="public").get_root().render()
    assert not any(f'"t1": "{n}"' in hot for n in range(1, 5))  # Gi* tooltip counts
    assert r'"t1": "\u0026lt;5"' in hot  # "<5", HTML- then JSON-escaped


def _gi_group(m):
    return next(c for c in m._children.values()
                if c._name == "FeatureGroup" and "Gi*" in c.layer_name)


def test_public_hot_spot_areas_merge_only_published_classes(demo, monkeypatch):
    real = layer_data.publish

    def gate(a, frame, kinds=None, privacy=None):  # pretend only 99 % hot spots are published
        out = real(a, frame, kinds, privacy=privacy)
        if "gi_bin" in out.columns:
            out["gi_bin"] = np.where(out["gi_bin"] == 3, 3, 0)
        return out

    monkeypatch.setattr(layer_data, "publish", gate)
    m = mapview.explore_map(demo, ["hotspots"], privacy="public")
    layers = [c for c in _gi_group(m)._children.values() if hasattr(c, "data")]
    areas = min(layers, key=lambda layer: len(layer.data["features"]))
    assert {f["properties"]["_class"] for f in areas.data["features"]} == {
        "Hot spot, 99 % confidence"}
    published = layer_data.hotspot_cells(demo, "public").to_crs(4326)
    assert set(published["gi_bin"]) == {3}
    want = shapely.union_all(published.geometry.values)
    got = shapely.union_all([shapely.geometry.shape(f["geometry"])
                             for f in areas.data["features"]])
    # coordinates rounded to ~0.1 m: 0.1 % here; one 20 m cell of 126 would be 0.8 %
    assert got.symmetric_difference(want).area < 4e-3 * want.area
    assert sum(int(f["properties"]["_cells"]) for f in areas.data["features"]) == len(published)


def test_public_map_never_draws_one_periods_classes(demo):
    from hotspot_env.temporal import timeslice

    month = timeslice.period_labels(demo, "month")[0]
    period = timeslice.period_layer(demo, month, "month")
    internal = mapview.explore_map(demo, ["hotspots"], privacy="internal", period=period)
    assert _gi_group(internal).layer_name == f"Gi* hot and cold spots, {month}"
    public = mapview.explore_map(demo, ["hotspots"], privacy="public", period=period)
    assert _gi_group(public).layer_name == "Gi* hot and cold spots"  # the published layer


def test_first_view_fits_the_hot_spots_within_the_study_area(demo):
    area = layer_data.bounds_wgs84(demo)
    view = mapview.view_bounds(demo, "internal")
    hot = layer_data.hotspot_cells(demo, "internal").to_crs(4326).total_bounds
    assert area[0] <= view[0] < hot[0] and area[1] <= view[1] < hot[1]
    assert hot[2] < view[2] <= area[2] and hot[3] < view[3] <= area[3]

    def fitted(m):
        fit = next(c for c in m._children.values() if c._name == "FitBounds")
        (south, west), (north, east) = fit.bounds
        return west, south, east, north

    assert fitted(mapview.explore_map(demo, ["hotspots"])) == pytest.approx(view)
    assert fitted(mapview.explore_map(demo, ["density"])) == pytest.approx(area)


def test_first_rrv_is_explained_in_plain_words(demo):
    text = "vacant lot 45 m away (RRV 3.5), sightline obstacles within 34 m (RRV 1.8)"
    assert places.plain_why(text) == ("vacant lot 45 m away (3.5 times as many incidents as "
                                      "elsewhere, RRV), sightline obstacles within 34 m (RRV 1.8)")
    rows, cols = np.nonzero(np.char.find(demo.arrays["why"].astype(str), "(RRV ") >= 0)
    report = places.describe_cell(demo, int(rows[0]), int(cols[0]))
    assert report.why.index("times as many incidents as elsewhere") < report.why.find("(RRV ") \
        or "(RRV " not in report.why
    table = places.top_places(demo, 10)
    assert all("(RRV " not in why.split("times as many")[0] for why in table["why"])


def test_youth_spaces_read_as_gathering_or_protective_never_as_a_plain_risk():
    from hotspot_env.models.rtm import DISPLAY_NAMES

    why = places.plain_why(f"{DISPLAY_NAMES['access']} within 17 m (RRV 1.4)")
    assert why == ("people gathering at youth and community spaces within 17 m "
                   "(1.4 times as many incidents as elsewhere, RRV)")
    assert places.factor_reading("access", 1.4).startswith("Where people gather")
    assert "Not a reason against youth spaces" in places.factor_reading("youth", 2.0)
    assert places.factor_reading("access", 0.5) == (
        "Protective: 2.0 times fewer incidents nearby than elsewhere")
    assert places.factor_reading("lighting", 0.8).startswith("Protective")
    assert places.factor_reading("lighting", 2.4) == (
        "Risk factor: 2.4 times as many incidents nearby as elsewhere")


def test_sites_map_escapes_proposal_notes(demo):
    props = [scenarios.make_proposal([], type="streetlight_upgrade", note=XSS,
                                     lat=60.1685, lon=24.941)]
    m = mapview.sites_map(demo, None, proposals=scenarios.proposals_frame(props))
    page = m.get_root().render()
    assert XSS not in page
    assert r"\u0026lt;img src=x onerror=window.__xss=1\u0026gt;" in page


# --------------------------------------------------------------------------- session


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd.csv", "passwd.csv"),
    (f"{XSS}.csv", "img_src_x_onerror_window.__xss_1.csv"),
    ("C:\\Users\\me\\crimes 2024.CSV", "crimes_2024.csv"),
    (".hidden.geojson", "hidden.geojson"),
    ("città.osm.pbf", "citta.osm.pbf"),
])
def test_safe_filename(name, expected):
    kind = "osm" if name.endswith(".pbf") else "incidents"
    assert session.safe_filename(name, kind) == expected


def test_safe_filename_refuses_unknown_suffix():
    with pytest.raises(InputError, match="must end in"):
        session.safe_filename("notes.exe", "incidents")


def test_session_folder_limits_and_cleanup(tmp_path):
    limits = session.UploadLimits(max_bytes={"incidents": 100, "layers": 100, "osm": 100},
                                  max_features=3, max_vertices=10)
    folder = session.SessionFolder(root=tmp_path, limits=limits)
    saved = folder.save("incidents", "../x.csv", b"lon,lat\n1,2\n")
    assert saved.path.parent.parent == folder.path and saved.name == "x.csv"
    with pytest.raises(InputError, match="more than"):
        folder.save("incidents", "big.csv", b"x" * 101)
    with pytest.raises(InputError, match="empty"):
        folder.save("incidents", "e.csv", b"")
    pts = gpd.GeoDataFrame(geometry=shapely.points(np.arange(4), np.arange(4)), crs=4326)
    with pytest.raises(InputError, match="features"):
        session.check_features([pts], "incidents", limits)
    line = gpd.GeoDataFrame(geometry=[shapely.LineString([(i, i) for i in range(20)])], crs=4326)
    with pytest.raises(InputError, match="vertices"):
        session.check_features([line], "layers", limits)
    path = folder.path
    folder.cleanup()
    assert not path.exists() and not folder.alive


def test_upload_key_depends_on_bytes_not_names(tmp_path):
    a = session.SessionFolder(root=tmp_path).save("incidents", "a.csv", b"1")
    b = session.SessionFolder(root=tmp_path).save("incidents", "b.csv", b"1")
    c = session.SessionFolder(root=tmp_path).save("incidents", "a.csv", b"2")
    assert session.upload_key([a], {}) == session.upload_key([b], {})
    assert session.upload_key([a], {}) != session.upload_key([c], {})
    assert session.upload_key([a], {"cell_size": 10}) != session.upload_key([a], {})


# --------------------------------------------------------------------------- redress


def test_flags_csv_is_spreadsheet_safe_and_keeps_text():
    flags: list[redress.Flag] = []
    flags.append(redress.make_flag(flags, kind=redress.FLAG_KINDS[0], reason=XSS, place="x"))
    flags.append(redress.make_flag(flags, kind=redress.FLAG_KINDS[1],
                                   reason='=HYPERLINK("http://evil")', cell_id=12,
                                   centre=(60.1, 24.9)))
    rows = list(csv.DictReader(io.StringIO(redress.flags_csv(flags).decode())))
    assert rows[0]["reason"] == XSS
    assert rows[1]["reason"].startswith("'=")
    assert rows[1]["cell_id"] == "12"
    with pytest.raises(InputError):
        redress.make_flag(flags, kind="made up", reason="abc", place="x")
    with pytest.raises(InputError, match="which place"):
        redress.make_flag(flags, kind=redress.FLAG_KINDS[0], reason="abc")


# --------------------------------------------------------------------------- scenarios


def test_proposals_exports():
    props: list[scenarios.Proposal] = []
    props.append(scenarios.make_proposal(props, type="youth_space", note=f"  {XSS}\n ",
                                         lat=60.1, lon=24.9, cell_id=3))
    props.append(scenarios.make_proposal(props, type="youth_space", note="-1+1", lat=60.2,
                                         lon=24.8))
    assert [p.proposal_id for p in props] == ["P001", "P002"]
    rows = list(csv.DictReader(io.StringIO(scenarios.proposals_csv(props).decode())))
    assert rows[0]["note"] == XSS and rows[1]["note"] == "'-1+1"
    geo = json.loads(scenarios.proposals_geojson(props))
    assert geo["features"][0]["geometry"]["coordinates"] == [24.9, 60.1]
    with pytest.raises(InputError):
        scenarios.make_proposal(props, type="cctv", note="", lat=1, lon=1,
                                allowed_types=["youth_space"])
    with pytest.raises(InputError):
        scenarios.make_proposal(props, type="youth_space", note="", lat=None, lon=1)


def test_expand_weights():
    out = scenarios.expand_weights({"violence": 2, "property": 0.5, "youth": 3},
                                   ["violence", "gun_violence", "robbery", "burglary", "theft",
                                    "vandalism"])
    assert out == {"violence": 2.0, "gun_violence": 2.0, "robbery": 2.0, "burglary": 0.5,
                   "theft": 0.5, "vandalism": 0.5}


def test_normalise_generic_table_and_compare():
    table = pd.DataFrame({"intervention_type": ["a", "b", "a"], "cost": [10.0, 20.0, 30.0],
                          "prevented_mean": [1.0, 1.0, 3.0], "prevented_lo": [0.5, 0.5, 1],
                          "prevented_hi": [2.0, 2.0, 4.0]})
    p = scenarios.normalise(table, budget=30)
    assert list(p.table["selected"]) == [True, True, False]
    assert p.total_cost == 30 and p.total("prevented") == 2.0
    q = scenarios.normalise(table, budget=60)
    summary, money = scenarios.compare({"A": p, "B": q})
    assert list(summary["sites"]) == [2, 3]
    assert set(money["scenario"]) == {"A", "B"}
    assert b"scenario" in scenarios.scenario_csv({"A": p})


def test_engine_view_reranks_fast_and_matches_engine(demo):
    view = scenarios.EngineView.of(demo)
    assert view is not None, "the demo must produce an interventions result"
    engine = view.engine
    ranking = engine.rerank(view.default_budget() / 3, {"violence": 2})
    table = scenarios.ranked_table(engine, ranking)
    assert table["rank"].is_monotonic_increasing
    assert int(table["selected"].sum()) == int(ranking.selected.sum())
    a = view.rank(view.default_budget(), {"violence": 1, "property": 1, "youth": 1})
    b = view.rank(view.default_budget() / 4, {"violence": 1, "property": 1, "youth": 1})
    assert len(b.chosen) < len(a.chosen) and b.total_cost <= view.default_budget() / 4
    props = [scenarios.make_proposal([], type=view.types()[0], note=XSS, lat=60.1685,
                                     lon=24.941)]
    c = view.rank(view.default_budget(), {}, props)
    assert (c.table["source"] == "proposal").sum() == 1
    files = scenarios.export_files(a)
    rows = list(csv.DictReader(io.StringIO(files["csv"].decode())))
    assert len(rows) == len(a.table)
    assert files["gpkg"][:16] == b"SQLite format 3\x00"
    with pytest.raises(HotspotEnvError):
        view.rank(-5, {})


def test_work_order_sheet_escapes():
    table = pd.DataFrame({"type": [XSS], "cost": [5.0], "prevented_mean": [1.0],
                          "location": ["<script>x</script>"], "note": [XSS]})
    html = scenarios.work_order_sheet(scenarios.normalise(table, budget=10), simulated=True)
    assert "<script>x" not in html and "<img" not in html
    assert "simulated incidents" in html


# --------------------------------------------------------------------------- model card


def test_model_card_sections(demo):
    card = modelcard.model_card(demo)
    assert card["simulated"] is True
    assert {"source", "what", "dates"} <= set(card["data_sources"].columns)
    assert "simulated incidents" in " ".join(card["data_sources"]["what"])
    assert set(card["choices"]["parameter"]) >= {"crs", "cell_size_m", "bandwidth_m"}
    assert any("feedback" in w.lower() for w in card["warnings"])
    assert card["privacy"]["incident_points_in_outputs"] == "never"


# --------------------------------------------------------------------------- districts
def test_one_district_scheme_for_cells_candidates_and_equity(demo):
    """A candidate's district is the district of the cell holding it (was 5 of 485 on the demo)."""
    import shapely

    cands = demo.interventions.candidates
    assert len(cands) > 50
    rep = shapely.point_on_surface(cands.geometry.to_numpy())
    row, col = demo.grid.cell_index(shapely.get_x(rep), shapely.get_y(rep))
    inside = row >= 0
    assert inside.mean() > 0.95
    cell_district = demo.arrays["district"][row[inside], col[inside]]
    assert (cands["district"].to_numpy()[inside] == cell_district).all()
    assert demo.interventions.zones.names == demo.trends["districts"].ids
