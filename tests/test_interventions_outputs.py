"""Outputs: equity flags, work orders, deterministic files, and ``hotspot-env rank``."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from test_interventions_candidates import _rich_analysis
from test_interventions_fixtures import CRS_UTM, cell_centre, make_grid
from typer.testing import CliRunner

from hotspot_env.cli import app
from hotspot_env.interventions import stage, write_interventions
from hotspot_env.interventions.equity import Zones, equity_table, grid_districts
from hotspot_env.interventions.result import InterventionsResult

runner = CliRunner()


def test_equity_flags_on_a_hand_built_example():
    # 4 zones of one row each; harm 50 / 30 / 16 / 4 % ; investment all in zone B and D
    index = np.repeat(np.arange(4, dtype=np.int32)[:, None], 4, axis=1)
    zones = Zones(index, ["A", "B", "C", "D"], "test")
    harm = np.repeat(np.array([50.0, 30.0, 16.0, 4.0])[:, None] / 4, 4, axis=1)
    table = equity_table(zones, harm, np.array(["B", "D", "A"]), np.array([600.0, 400.0, 50.0]),
                         np.array([True, True, False]))
    t = table.set_index("district")
    assert t["harm_share"].to_numpy() == pytest.approx([0.5, 0.3, 0.16, 0.04])
    assert t["investment_share"].to_numpy() == pytest.approx([0.0, 0.6, 0.0, 0.4])
    # A: 50 % harm, no money -> flagged; C: 16 % harm, no money -> flagged;
    # B: 60 % >= half of 30 % -> not; D: harm 4 % < 5 % -> never flagged
    assert t["flagged"].tolist() == [True, False, True, False]
    assert t["n_selected"].tolist() == [0, 1, 0, 1]


def test_grid_districts_are_stable_blocks():
    grid = make_grid(25, 20.0)
    zones = grid_districts(grid, 10)
    assert zones.names == [f"D{i:02d}" for i in range(1, 10)]
    assert zones.index[0, 0] == 0 and zones.index[0, 24] == 2 and zones.index[24, 24] == 8
    x, y = cell_centre(grid, 12, 3)
    assert zones.of_points(grid, np.array([x]), np.array([y]))[0] == "D04"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Two identical runs with a <script> proposal, written to two folders."""
    outs = []
    for run in range(2):
        analysis = _rich_analysis()
        x, y = cell_centre(analysis.grid, 5, 5)
        props = gpd.GeoDataFrame({"type": ["vacant_lot_cleanup"],
                                  "note": ["<script>alert('x')</script> hedge"]},
                                 geometry=[shapely.Point(x + 5, y - 5)], crs=CRS_UTM)
        stage(analysis, budget=3000, weights="violence=2", proposals=props, seed=11)
        out = tmp_path_factory.mktemp(f"run{run}")
        files = write_interventions(analysis, out)
        outs.append((analysis, out, files))
    return outs


def test_csv_and_geojson_are_byte_identical_across_runs(written):
    (_, a, fa), (_, b, fb) = written
    for name in ("interventions.csv", "interventions.geojson", "equity.csv"):
        assert fa[name].read_bytes() == fb[name].read_bytes(), name
    csv = pd.read_csv(a / "interventions.csv")
    for col in ("intervention_id", "type", "location", "quantity", "unit", "cost",
                "prevented_mean", "prevented_lo", "prevented_hi", "prevented_per_cost",
                "selected", "rank", "district", "evidence", "reason"):
        assert col in csv.columns
    assert csv["rank"].tolist() == sorted(csv["rank"])
    gpkg = gpd.read_file(a / "interventions.gpkg")
    assert gpkg["intervention_id"].tolist() == csv["intervention_id"].tolist()
    gj = json.loads((a / "interventions.geojson").read_text(encoding="utf-8"))
    assert len(gj["features"]) == len(csv)
    lon, lat = shapely.get_coordinates(shapely.from_geojson(
        json.dumps(gj["features"][0]["geometry"])))[0]
    assert 14 < lon < 16 and 59 < lat < 61  # EPSG:4326


def test_workorders_list_every_selected_id_and_escape_notes(written):
    analysis, out, files = written[0]
    page = files["workorders.html"].read_text(encoding="utf-8")
    table = analysis.interventions.table()
    chosen = table[table["selected"]]
    assert len(chosen) >= 2
    for iid in chosen["intervention_id"]:
        assert iid in page
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "@media print" in page and "break-before:page" in page
    assert page.count("data:image/png;base64,") == chosen["district"].nunique()
    # one box to tick per work order (the issue: two boxes per row, one a form field)
    assert "type='checkbox'" not in page
    assert page.count("&#9744;") == len(chosen)
    # people read labels: no snake_case type, no "1 interventions"
    from hotspot_env.outputs.labels import type_label

    for kind in chosen["type"].unique():
        assert f"<td>{type_label(kind)}</td>" in page
        if "_" in kind:
            assert f"<td>{kind}</td>" not in page and f"<td>{kind.replace('_', ' ')}</td>" \
                not in page
    assert " 1 interventions" not in page


def test_state_files_hold_no_incident_coordinates(written):
    analysis, out, _ = written[0]
    with np.load(out / "interventions_state.npz", allow_pickle=False) as data:
        names = set(data.files)
    assert not {"x", "y", "points", "datetime", "lon", "lat"} & names
    cands = gpd.read_parquet(out / "interventions_candidates.parquet")
    pts = analysis.points.geometry
    assert not cands.geometry.apply(lambda g: pts.geom_equals(g).any()).any()


def test_state_round_trip_is_exact(written):
    # integers are stored narrow and deflated: loading must give back the same model
    analysis, out, _ = written[0]
    result = analysis.interventions
    again = InterventionsResult.load(out)
    for name in ("ids", "effect_draws", "group_base", "group_cat", "group_cell", "group_key",
                 "entry_cand", "entry_group", "entry_row", "entry_scale", "baseline_reach",
                 "baseline_covered", "dark_share", "main_cell"):
        a, b = getattr(result.model, name), getattr(again.model, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    sa, sb = result.baseline.shares, again.baseline.shares
    assert sa.indices.dtype == sb.indices.dtype and (sa != sb).nnz == 0
    assert np.array_equal(result.baseline.cells, again.baseline.cells)
    assert np.array_equal(result.zones.index, again.zones.index)
    ranked, reloaded = result.rerank(1500.0), again.rerank(1500.0)
    assert np.array_equal(ranked.greedy, reloaded.greedy)
    assert ranked.greedy_value == reloaded.greedy_value


def test_rank_cli_reranks_without_the_analysis(written, tmp_path):
    _, out, _ = written[0]
    res = runner.invoke(app, ["rank", "--analysis", str(out), "--budget", "1500",
                              "--weights", "theft=3", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "selected" in res.output and "optimiser" in res.output
    ranked = pd.read_csv(tmp_path / "r" / "interventions.csv")
    assert ranked.loc[ranked["selected"], "cost"].sum() <= 1500
    again = InterventionsResult.load(tmp_path / "r")
    assert len(again.model.ids) == len(ranked)


def test_rank_cli_budget_zero_and_negative(written, tmp_path):
    _, out, _ = written[0]
    zero = runner.invoke(app, ["rank", "--analysis", str(out), "--budget", "0",
                               "--out", str(tmp_path / "z")])
    assert zero.exit_code == 0, zero.output
    assert "budget is 0" in zero.output
    assert not pd.read_csv(tmp_path / "z" / "interventions.csv")["selected"].any()
    neg = runner.invoke(app, ["rank", "--analysis", str(out), "--budget", "-10",
                              "--out", str(tmp_path / "n")])
    assert neg.exit_code == 2
    assert ">= 0" in neg.output
    missing = runner.invoke(app, ["rank", "--analysis", str(tmp_path), "--budget", "10",
                                  "--out", str(tmp_path / "m")])
    assert missing.exit_code == 2
    assert "interventions_state.npz" in missing.output


def test_rank_cli_scores_proposals_like_the_stage(written, tmp_path):
    analysis, out, _ = written[0]
    x, y = cell_centre(analysis.grid, 4, 4)
    lon, lat = gpd.GeoSeries([shapely.Point(x, y)], crs=CRS_UTM).to_crs(4326).iloc[0].coords[0]
    path = tmp_path / "props.csv"
    path.write_text(f"type,note,lon,lat\nalley_gating,near the school,{lon},{lat}\n",
                    encoding="utf-8")
    res = runner.invoke(app, ["rank", "--analysis", str(out), "--budget", "200000",
                              "--proposals", str(path), "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    ranked = pd.read_csv(tmp_path / "p" / "interventions.csv", keep_default_na=False)
    new = ranked[ranked["note"] == "near the school"]
    assert len(new) == 1 and new.iloc[0]["type"] == "alley_gating"
    # the same proposal through the stage gives the same numbers
    direct = _rich_analysis()
    stage(direct, budget=200000, seed=11, proposals=gpd.GeoDataFrame(
        {"type": ["alley_gating"], "note": ["near the school"]},
        geometry=[shapely.Point(lon, lat)], crs=4326))
    table = direct.interventions.table()
    row = table[table["note"] == "near the school"].iloc[0]
    assert row["intervention_id"] == new.iloc[0]["intervention_id"]
    assert new.iloc[0]["prevented_mean"] == pytest.approx(row["prevented_mean"], abs=1e-4)
    bad = tmp_path / "bad.csv"
    bad.write_text("type,note,lon,lat\ncctv,watch,15,60\n", encoding="utf-8")
    res = runner.invoke(app, ["rank", "--analysis", str(out), "--budget", "100",
                              "--proposals", str(bad), "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "out of scope" in res.output


def test_report_section(written):
    from hotspot_env.interventions import report_section

    analysis, _, _ = written[0]
    title, body = report_section(analysis)
    assert title == "Environmental interventions"
    assert "overlaps combined" in body and "<script>" not in body
