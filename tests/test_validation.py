"""Tests for hotspot_env.models.validation: hit rate and PAI by hand, calibration, validate()."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from hotspot_env.core import pipeline
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.models import scores, validation

CRS_M = CRS.from_epsg(32633)


# ------------------------------------------------------------------ metrics by hand
def test_hit_rate_and_pai_by_hand():
    pred = np.array([5, 4, 3, 2, 1, 0, 0, 0, 0, 0], float)
    obs = np.array([1, 0, 2, 0, 0, 0, 0, 1, 0, 0], float)
    # 10 % of 10 cells = the top cell: 1 of 4 incidents
    assert scores.hit_rate(pred, obs, 10) == pytest.approx(0.25)
    assert scores.pai(pred, obs, 10) == pytest.approx(2.5)
    # 30 % = top 3 cells: 3 of 4 incidents, PAI 0.75 / 0.3
    assert scores.hit_rate(pred, obs, 30) == pytest.approx(0.75)
    assert scores.pai(pred, obs, 30) == pytest.approx(2.5)
    # 70 % = top 5 + 2 of the 5 tied zero cells (1 incident among them): 3 + 2/5
    assert scores.hit_rate(pred, obs, 70) == pytest.approx((3 + 0.4) / 4)
    # k rounds: 1 % of 10 cells is still one cell
    assert scores.pai(pred, obs, 1) == pytest.approx(2.5)


def test_flat_prediction_scores_its_area_share():
    rng = np.random.default_rng(0)
    obs = rng.poisson(1.0, 1000).astype(float)
    for a in validation.AREA_PCTS:
        assert scores.hit_rate(np.ones(1000), obs, a) == pytest.approx(a / 100)
        assert scores.pai(np.ones(1000), obs, a) == pytest.approx(1.0)
    assert math.isnan(scores.hit_rate(np.ones(5), np.zeros(5), 10))


def test_calibration_deciles():
    pred = np.arange(20, dtype=float)
    obs = np.arange(20, dtype=float)[::-1]
    cal = validation.calibration(pred, obs)
    assert list(cal["decile"]) == list(range(1, 11))
    assert (cal["cells"] == 2).all()
    assert cal["predicted"].tolist() == [1, 5, 9, 13, 17, 21, 25, 29, 33, 37]
    assert cal["observed"].sum() == obs.sum()


def test_score_methods_is_tidy():
    obs = np.array([0, 1, 0, 3.0])
    table = validation.score_methods({"a": np.array([0, 1, 0, 2.0]), "b": np.ones(4)}, obs)
    assert list(table.columns) == list(validation.COLUMNS)
    assert set(table["metric"]) == {"hit_rate", "pai", "pei", "poisson_deviance", "mse",
                                    "calibration_predicted", "calibration_observed"}
    # PEI at 25 % (one cell): "a" flags the cell with 3, the most one cell holds
    row = table[(table.method == "a") & (table.metric == "pei") & (table.area_pct == 1.0)]
    assert row["value"].item() == 1.0
    row = table[(table.method == "a") & (table.metric == "mse")]
    assert row["value"].item() == pytest.approx(0.25)


# ------------------------------------------------------------------ validate()
def small_analysis(seed: int = 0):
    """Three years of incidents drawn near 'bars' (RRV 3) on a 2 km square; a decoy layer."""
    from hotspot_env.core.analysis import Analysis
    from hotspot_env.core.density import count_incidents

    rng = np.random.default_rng(seed)
    grid = Grid.from_area(shapely.box(0, 0, 2000, 2000), CRS_M, 50.0)
    bars = shapely.points(rng.uniform(0, 2000, 30), rng.uniform(0, 2000, 30))
    decoy = shapely.points(rng.uniform(0, 2000, 30), rng.uniform(0, 2000, 30))
    # candidate places on a 10 m lattice, 3x as likely within 100 m of a bar
    gx, gy = np.meshgrid(np.arange(5, 2000, 10.0), np.arange(5, 2000, 10.0))
    places = shapely.points(gx.ravel(), gy.ravel())
    near = shapely.STRtree(bars).query(places, predicate="dwithin", distance=100.0)[0]
    w = np.ones(places.size)
    w[np.unique(near)] = 3.0
    n = 3000
    pick = rng.choice(places.size, n, p=w / w.sum())
    x = gx.ravel()[pick] + rng.uniform(-5, 5, n)
    y = gy.ravel()[pick] + rng.uniform(-5, 5, n)
    t = (np.datetime64("2021-01-01T00:00:00", "s")
         + rng.integers(0, 3 * 365 * 86400, n).astype("timedelta64[s]"))
    points = gpd.GeoDataFrame({"datetime": pd.DatetimeIndex(t).tz_localize("UTC")},
                              geometry=shapely.points(x, y), crs=CRS_M)
    layers = {"user:bars": gpd.GeoDataFrame(geometry=bars, crs=CRS_M),
              "user:decoy": gpd.GeoDataFrame(geometry=decoy, crs=CRS_M)}
    arrays = {"incidents": count_incidents(grid, x, y)}
    return Analysis(grid, shapely.box(0, 0, 2000, 2000), arrays, layers,
                    {"bandwidth_m": 200.0}, [], [], {}, points, factors={})


def test_validate_small_city(tmp_path):
    analysis = small_analysis()
    table = validation.validate(analysis, out=tmp_path)
    meta = table.attrs["meta"]
    assert set(table["method"]) == set(validation.METHODS)
    assert meta["n_train"] + meta["n_test"] == 3000
    assert meta["test_days"] == pytest.approx(365.25, abs=1.5)  # two recorded years: a year
    assert [f["factor"] for f in meta["rtm"]["factors"]] == ["bars"]
    wide = validation.summary(table)
    assert list(wide.index) == list(validation.METHODS)
    # the planted factor predicts the next period: RTM flags better than chance
    assert wide.loc["rtm", "pai_10pct"] > 1.5
    assert (wide.loc["forecast", "poisson_deviance"]
            < wide.loc["last_period_counts", "poisson_deviance"])
    comp = meta["comparison"]
    assert comp["best_baseline"] in validation.BASELINES
    assert comp["ci_low"] <= comp["difference"] <= comp["ci_high"]
    assert comp["verdict"] == validation.verdict(table)
    csv = pd.read_csv(tmp_path / "validation.csv")
    assert list(csv.columns) == list(validation.COLUMNS) and len(csv) == len(table)
    doc = json.loads((tmp_path / "validation.json").read_text())
    assert doc["meta"]["split_date"] == meta["split_date"]
    assert len(doc["results"]) == len(table)


def test_validate_rejects_bad_split_and_undated():
    analysis = small_analysis()
    with pytest.raises(InputError, match="must fall inside"):
        validation.validate(analysis, split_date="2030-01-01")
    with pytest.raises(InputError, match="not a date"):
        validation.validate(analysis, split_date="soon")
    analysis.points["datetime"] = pd.NaT
    with pytest.raises(InputError, match="dates"):
        validation.validate(analysis)


def test_validate_sao_paulo(sao_paulo, tmp_path):
    """The real pair: train on 2017-2021, test on the last year (read in place)."""
    analysis = pipeline.run(sao_paulo["incidents"], osm=sao_paulo["osm"])
    table = validation.validate(analysis, out=tmp_path)
    meta = table.attrs["meta"]
    wide = validation.summary(table)
    print("\nSão Paulo validation (split", meta["split_date"], "n_test", meta["n_test"], ")")
    print(wide.round(3).to_string())
    assert meta["n_train"] > 250 and meta["n_test"] > 40
    assert meta["split_date"].startswith("2021-12")
    for method in validation.METHODS:
        for a in validation.AREA_PCTS:
            assert 0 <= wide.loc[method, f"pai_{a:g}pct"] <= 100 / a
    # density-based maps find next year's homicides better than chance and than last year's
    # counts; the forecast beats last year's counts in deviance
    assert wide.loc["classic_kde", "pai_5pct"] > 2.0
    assert wide.loc["classic_kde", "pai_10pct"] > wide.loc["last_period_counts", "pai_10pct"]
    assert (wide.loc["forecast", "poisson_deviance"]
            < wide.loc["last_period_counts", "poisson_deviance"])
    # the default ranking is at least as good as the best naive baseline at 5 % of the area
    comp = meta["comparison"]
    assert comp["difference"] >= 0 and comp["ci_low"] < comp["difference"] < comp["ci_high"]
    assert (tmp_path / "validation.csv").is_file() and (tmp_path / "validation.json").is_file()


def test_cli_validate_and_synth_errors_are_one_line(tmp_path):
    from typer.testing import CliRunner

    from hotspot_env.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["validate", "--incidents", str(tmp_path / "missing.csv"),
                              "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error:") and len(res.output.strip().splitlines()) == 1
    res = runner.invoke(app, ["synth", "--seed", "1", "--out", str(tmp_path / "s"),
                              "--scale", "galactic"])
    assert res.exit_code == 2 and "--scale" in res.output


# ------------------------------------------------------------------ forecast vs baselines
def test_poisson_bootstrap_agrees_with_scipy_bootstrap():
    """The paired Poisson bootstrap of the PEI difference against scipy.stats.bootstrap
    (resampling cells with replacement) on the same data."""
    from scipy.stats import bootstrap

    from hotspot_env.models.scores import pei

    rng = np.random.default_rng(1)
    lam = rng.gamma(0.5, 2.0, 3000)
    obs = rng.poisson(lam).astype(float)
    good, rough = lam + rng.normal(0, 0.5, lam.size), rng.poisson(lam).astype(float)
    diffs = validation.pei_difference_bootstrap(good, rough, obs, 0.05, n_resamples=1500)

    def stat(f, b, o, axis=-1):
        return np.array([pei(f[i], o[i], 5.0) - pei(b[i], o[i], 5.0) for i in range(f.shape[0])])

    ref = bootstrap((good, rough, obs), stat, paired=True, vectorized=True, n_resamples=1500,
                    method="percentile", rng=np.random.default_rng(0))
    low, high = np.percentile(diffs, [2.5, 97.5])
    assert low == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert high == pytest.approx(ref.confidence_interval.high, abs=0.01)
    assert diffs.std() == pytest.approx(ref.standard_error, rel=0.15)


def test_compare_never_picks_a_nan_baseline_and_says_who_won():
    obs = np.array([5.0, 0, 0, 0, 1, 0, 0, 0, 0, 0] * 10)
    perfect, flat = obs + 0.0, np.ones(obs.size)
    comp = validation.compare({"forecast": flat, "last_period_counts": perfect,
                               "long_run_counts": np.full(obs.size, np.nan),
                               "classic_kde": flat}, obs, 0.1, n_resamples=200)
    assert comp["best_baseline"] == "last_period_counts"
    assert comp["winner"] == "last_period_counts" and comp["difference"] < 0
    assert comp["ci_high"] < 0 and comp["outcome"] == "worse"
    assert "worse than last period's counts" in comp["verdict"]
    comp = validation.compare({"forecast": perfect, "last_period_counts": flat,
                               "long_run_counts": flat, "classic_kde": flat}, obs, 0.1,
                              n_resamples=0)
    assert comp["winner"] == "forecast" and math.isnan(comp["ci_low"])
    # no interval, no claim: a point difference alone is not "better"
    assert comp["outcome"] == "no clear difference" and "better" not in comp["verdict"]


def test_analyze_validates_and_writes_validation_csv_manifest_and_report(tmp_path):
    from hotspot_env.core.pipeline import run
    from tests.test_forecast import stable_city

    grid, x, y, t = stable_city(11, years=3, per_year=700)
    lonlat = gpd.GeoSeries(shapely.points(x, y), crs=CRS_M).to_crs(4326)
    csv = tmp_path / "incidents.csv"
    pd.DataFrame({"lon": lonlat.x, "lat": lonlat.y, "datetime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "category": "burglary"}).to_csv(csv, index=False)
    analysis = run(csv, out=tmp_path / "out", cell_size=50.0,
                   stages=["forecast", "validation"])
    table = analysis.validation
    assert set(table["method"]) == set(validation.STAGE_METHODS)
    written = pd.read_csv(tmp_path / "out" / "validation.csv")
    assert len(written) == len(table) and set(written["metric"]) >= {"pai", "pei"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    comp = manifest["parameters"]["validation"]
    assert comp["best_baseline"] in validation.BASELINES and comp["verdict"]
    assert any(o["path"] == "validation.csv" for o in manifest["outputs"])
    report = (tmp_path / "out" / "report.html").read_text()
    assert "does the ranking beat counting" in report and "long-run counts" in report
    assert any(c.name == "validation" for c in analysis.choices)


def test_validity_comparison_on_a_west_yorkshire_slice(tmp_path):
    """The outside check as a test: police.uk July 2016+2017 (Leeds centre slice) -> July 2018.
    The default ``forecast`` column of cells.gpkg must rank July 2018 strictly better, by PEI at
    5 % of the area with random tie-breaking (its mean over draws), than all past counts and
    than last year's."""
    from hotspot_env.core.pipeline import run

    src = Path(__file__).parent / "data" / "west_yorkshire"

    def rows(year):
        d = pd.read_csv(src / f"{year}-07-west-yorkshire-street-leeds-centre.csv").dropna(
            subset=["Longitude", "Latitude"])
        return pd.DataFrame({"lon": d.Longitude, "lat": d.Latitude,
                             "datetime": d.Month + "-15", "category": d["Crime type"]})

    train, test = pd.concat([rows(2016), rows(2017)]), rows(2018)
    train.to_csv(tmp_path / "train.csv", index=False)
    run(tmp_path / "train.csv", out=tmp_path / "o", bbox="-1.555,53.793,-1.535,53.803",
        cell_size=50.0, stages=["forecast", "validation"])
    cells = gpd.read_file(tmp_path / "o" / "cells.gpkg", layer="cells")

    def counts(d):
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(d.lon, d.lat), crs=4326).to_crs(
            cells.crs)
        j = gpd.sjoin(pts, cells[["geometry"]], predicate="within")
        return np.bincount(cells.index.get_indexer(j.index_right), minlength=len(cells)
                           ).astype(float)

    nxt, area = counts(test), cells.area.to_numpy()
    rng = np.random.default_rng(0)

    def pei(s, tie):
        def top(v):
            o = np.lexsort((tie, -v))
            return o[: np.searchsorted(np.cumsum(area[o]), 0.05 * area.sum()) + 1]
        return nxt[top(s)].sum() / nxt[top(nxt)].sum()

    # the check's random tie-breaking, averaged over draws: on 32 flagged cells a single
    # draw of the ties among equal counts moves a baseline's PEI by about 0.01
    draws = [rng.random(len(cells)) for _ in range(200)]

    def mean_pei(s):
        return float(np.mean([pei(s, tie) for tie in draws]))

    forecast = mean_pei(cells["forecast"].to_numpy(float))
    assert forecast > mean_pei(counts(train))
    assert forecast > mean_pei(counts(train[train.datetime.str[:4] == "2017"]))
