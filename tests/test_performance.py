"""The done-ledger, `hotspot-env done`/`evaluate`, the public performance report (simulated)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hotspot_env.cli import app
from hotspot_env.errors import InputError
from hotspot_env.evaluation.ledger import (
    LEDGER_CSV,
    LEDGER_GPKG,
    build_ledger,
    done_from_folder,
    read_ledger,
    read_orders,
)
from hotspot_env.evaluation.performance import published_table
from hotspot_env.inputs.synth_treatment import simulate_treated_city, simulated_orders

runner = CliRunner()


@pytest.fixture(scope="module")
def treated_folder(tmp_path_factory):
    """A simulated treated city written as `synth --treated` writes it."""
    out = tmp_path_factory.mktemp("treated")
    result = runner.invoke(app, ["synth", "--seed", "5", "--out", str(out), "--treated"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def evaluated(treated_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    result = runner.invoke(app, ["evaluate", "--ledger", str(treated_folder / LEDGER_GPKG),
                                 "--incidents", str(treated_folder / "incidents.csv"),
                                 "--out", str(out), "--update-evidence"])
    assert result.exit_code == 0, result.output
    return out, result.output


# ===================================================================== ledger
def _orders(tmp_path, text):
    path = tmp_path / "orders.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_orders_without_date_are_not_done(tmp_path):
    path = _orders(tmp_path, "intervention_id,done_date,capital_cost\na,2024-03-01,900\nb,,\n"
                             "a,2024-03-02,\n")
    orders = read_orders(path)
    assert orders["intervention_id"].tolist() == ["a"]  # b not done; a's correction wins
    assert orders["done_date"].tolist() == ["2024-03-02"]


@pytest.mark.parametrize("text, words", [
    ("id,done_date\na,2024-01-01\n", "no intervention_id column"),
    ("intervention_id,when\na,2024-01-01\n", "no done_date column"),
    ("intervention_id,done_date\na,2024-01-01\nb,31/12/2024\n", "line 3"),
    ("intervention_id,done_date\na,\n", "marks no work order as done"),
])
def test_bad_orders_name_the_fix(tmp_path, text, words):
    with pytest.raises(InputError, match=words):
        read_orders(_orders(tmp_path, text))


def test_ledger_joins_the_pool_and_records_actual_costs(tmp_path):
    sim = simulate_treated_city(0)
    pool = sim.pool
    first = pool.iloc[0]
    orders = pd.DataFrame({"intervention_id": [first["intervention_id"]],
                           "done_date": ["2024-02-01"],
                           "capital_cost": [first["capital_cost"] * 2]})
    ledger = build_ledger(orders, pool)
    assert ledger["type"].iloc[0] == first["type"]
    assert ledger["capital_cost"].iloc[0] == pytest.approx(2 * first["capital_cost"])
    assert ledger["cost"].iloc[0] == pytest.approx(2 * first["cost"])
    assert ledger.geometry.iloc[0].equals(first.geometry)
    with pytest.raises(InputError, match="not in this analysis"):
        build_ledger(pd.DataFrame({"intervention_id": ["nope"], "done_date": ["2024-01-01"]}),
                     pool)


def test_done_writes_a_versioned_ledger_in_batches(treated_folder, tmp_path):
    pool = gpd.read_file(treated_folder / "interventions.gpkg")
    first = simulated_orders(pool, n=4, done_date="2024-01-10")
    path = tmp_path / "batch1.csv"
    first.to_csv(path, index=False)
    out = tmp_path / "ledger"
    result = runner.invoke(app, ["done", "--analysis", str(treated_folder), "--orders", str(path),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ledger"]["version"] == 1 and manifest["ledger"]["n_done"] == 4
    # a second batch: one new order and a corrected date for an old one
    second = pd.DataFrame({"intervention_id": [first["intervention_id"].iloc[0],
                                               pool["intervention_id"].iloc[-1]],
                           "done_date": ["2024-01-20", "2024-03-01"]})
    second.to_csv(path, index=False)
    ledger, _ = done_from_folder(treated_folder, path, out)
    assert len(ledger) == 5
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ledger"]["version"] == 2
    redone = ledger.set_index("intervention_id").loc[first["intervention_id"].iloc[0]]
    assert redone["done_date"] == "2024-01-20"
    # the CSV and the GeoPackage hold the same ledger
    csv = read_ledger(out / LEDGER_CSV).set_index("intervention_id").sort_index()
    gpkg = read_ledger(out / LEDGER_GPKG).set_index("intervention_id").sort_index()
    assert csv.index.tolist() == gpkg.index.tolist()
    assert (csv["done_date"] == gpkg["done_date"]).all()
    assert np.allclose(csv.to_crs(gpkg.crs).geometry.centroid.x, gpkg.geometry.centroid.x,
                       atol=0.05)  # metres: WKT at 1e-7 deg


def test_done_refuses_a_folder_without_an_analysis(tmp_path):
    path = _orders(tmp_path, "intervention_id,done_date\na,2024-01-01\n")
    result = runner.invoke(app, ["done", "--analysis", str(tmp_path), "--orders", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("error:") == 1 and "interventions.gpkg" in result.stderr


# ================================================================== evaluate
def test_evaluate_writes_the_report_and_flags_recording(evaluated):
    out, output = evaluated
    names = {p.name for p in out.iterdir()}
    assert {"evaluation.csv", "evaluation.json", "performance.html", "manifest.json",
            "evidence_updated.csv"} <= names
    assert "CHANGED" in output and "prior_update_weight" in output
    table = pd.read_csv(out / "evaluation.csv")
    assert set(table["type"]) == {"new_streetlight", "vacant_lot_greening", "all"}
    assert table["recording_flag"].astype(str).str.lower().eq("true").all()
    doc = json.loads((out / "evaluation.json").read_text())
    assert doc["simulated"] and doc["privacy"] == "public"
    assert {c["name"] for c in doc["choices"]} >= {"match_controls", "outcome_source",
                                                   "evaluation_period", "ring_width_m"}
    page = (out / "performance.html").read_text()
    for heading in ("What was done", "Did it work?", "What did not work",
                    "Did incidents move next door?", "Did recording change rather than harm?",
                    "Caveats in plain words", "Simulated data"):
        assert heading in page
    manifest = json.loads((out / "manifest.json").read_text())
    assert {o["path"] for o in manifest["outputs"]} >= {"performance.html", "evaluation.csv"}
    assert manifest["inputs"]["ledger"]["sha256"]


def test_updated_evidence_is_a_valid_library(evaluated, tmp_path):
    from hotspot_env import settings
    from hotspot_env.interventions.evidence import load_evidence

    out, _ = evaluated
    updated = load_evidence(out / "evidence_updated.csv")
    original = load_evidence(settings.data_folder / "evidence.csv")
    assert len(updated) == len(original)
    changed = updated.set_index(["intervention_type", "outcome"])["rate_ratio"] != \
        original.set_index(["intervention_type", "outcome"])["rate_ratio"]
    types = {t for t, _ in changed[changed].index}
    assert types == {"new_streetlight", "vacant_lot_greening"}


def test_no_incident_coordinate_leaves_the_tool(evaluated, treated_folder):
    out, _ = evaluated
    incidents = pd.read_csv(treated_folder / "incidents.csv")
    coords = set(incidents["lon"].map("{:.7f}".format)) | set(
        incidents["lat"].map("{:.7f}".format))
    coords |= {c[:-1] for c in coords}  # also at 6 decimals
    for name in ("evaluation.csv", "evaluation.json", "performance.html", "manifest.json"):
        text = (out / name).read_text()
        assert not any(c in text for c in list(coords)[:5000]), name


def test_public_mode_hides_small_counts_and_what_rests_on_them():
    table = pd.DataFrame({
        "type": ["a", "b"], "treated_before": [40, 3], "treated_after": [30, 12],
        "control_before": [50, 50], "control_after": [45, 45], "ring_before": [9, 9],
        "ring_after": [2, 8], "rate_ratio": [0.8, 0.5], "rr_lo": [0.6, 0.2], "rr_hi": [1.0, 1.1],
        "ring_rr": [0.3, 0.9], "wdq": [0.1, 0.2], "recording_flag": [False, False],
        "officer_treated_before": [1, 6], "officer_treated_after": [6, 6],
        "records_treated_before": [50, 50], "records_treated_after": [50, 50],
        "officer_share_treated_before": [0.02, 0.12], "officer_share_treated_after": [0.12, 0.12],
        "recording_ratio": [6.0, 1.0]})
    public = published_table(table, "public", k=5)
    assert public["treated_before"].tolist() == ["40", "<5"]
    assert public["ring_after"].tolist() == ["<5", "8"]
    assert np.isfinite(public.loc[0, "rate_ratio"]) and np.isnan(public.loc[1, "rate_ratio"])
    assert np.isnan(public.loc[0, "ring_rr"]) and np.isfinite(public.loc[1, "ring_rr"])
    assert np.isnan(public.loc[0, "officer_share_treated_before"])
    assert public.loc[1, "officer_share_treated_before"] == 0.12
    internal = published_table(table, "internal")
    assert internal["treated_before"].tolist() == [40, 3]


@pytest.mark.parametrize("edit, words", [
    (lambda f: (f / LEDGER_GPKG).unlink(), "does not exist"),
    (lambda f: (f / "interventions.gpkg").rename(f / "moved.gpkg"), "interventions.gpkg"),
])
def test_evaluate_bad_input_is_one_line(edit, words, treated_folder, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(treated_folder, folder)
    edit(folder)
    out = tmp_path / "eval"
    result = runner.invoke(app, ["evaluate", "--ledger", str(folder / LEDGER_GPKG),
                                 "--incidents", str(folder / "incidents.csv"),
                                 "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr.count("error:") == 1 and words in result.stderr
    assert not out.exists()


def test_evaluate_needs_months_after_the_work(treated_folder, tmp_path):
    incidents = pd.read_csv(treated_folder / "incidents.csv")
    early = tmp_path / "early.csv"
    incidents[incidents["datetime"] < "2023-12-01"].to_csv(early, index=False)
    out = tmp_path / "eval"
    result = runner.invoke(app, ["evaluate", "--ledger", str(treated_folder / LEDGER_GPKG),
                                 "--incidents", str(early), "--out", str(out)])
    assert result.exit_code == 2 and "months after" in result.stderr
    assert not out.exists()


# ====================================================================== demo
def test_demo_with_a_simulated_ledger_gives_a_full_report(tmp_path):
    """Done-when: on the demo, a simulated ledger yields a full performance report."""
    from hotspot_env.evaluation.performance import run_evaluation
    from hotspot_env.inputs.demo import demo_incidents_path, run_demo

    run_demo(out=tmp_path / "demo")
    pool = gpd.read_file(tmp_path / "demo" / "interventions.gpkg")
    orders = tmp_path / "orders.csv"
    simulated_orders(pool, n=20).to_csv(orders, index=False)
    ledger, _ = done_from_folder(tmp_path / "demo", orders)
    result, written = run_evaluation(tmp_path / "demo" / LEDGER_CSV, demo_incidents_path(),
                                     tmp_path / "eval", timezone="Europe/Helsinki")
    page = written["performance.html"].read_text()
    assert "Simulated data" in page and "Every completed work order" in page
    assert all(str(i) in page for i in ledger["intervention_id"])
    measured = result.table[result.table["type"] != "all"]
    assert measured["rate_ratio"].notna().any()
    assert f"{float(ledger['capital_cost'].sum()):,.0f} USD" in page
