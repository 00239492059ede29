"""Tests for hotspot_env.validation: hit rate and PAI by hand, calibration, validate()."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from hotspot_env import pipeline, validation
from hotspot_env.errors import InputError
from hotspot_env.grid import Grid

CRS_M = CRS.from_epsg(32633)


# ------------------------------------------------------------------ metrics by hand
def test_hit_rate_and_pai_by_hand():
    pred = np.array([5, 4, 3, 2, 1, 0, 0, 0, 0, 0], float)
    obs = np.array([1, 0, 2, 0, 0, 0, 0, 1, 0, 0], float)
    # 10 % of 10 cells = the top cell: 1 of 4 incidents
    assert validation.hit_rate(pred, obs, 10) == pytest.approx(0.25)
    assert validation.pai(pred, obs, 10) == pytest.approx(2.5)
    # 30 % = top 3 cells: 3 of 4 incidents, PAI 0.75 / 0.3
    assert validation.hit_rate(pred, obs, 30) == pytest.approx(0.75)
    assert validation.pai(pred, obs, 30) == pytest.approx(2.5)
    # 70 % = top 5 + 2 of the 5 tied zero cells (1 incident among them): 3 + 2/5
    assert validation.hit_rate(pred, obs, 70) == pytest.approx((3 + 0.4) / 4)
    # k rounds: 1 % of 10 cells is still one cell
    assert validation.pai(pred, obs, 1) == pytest.approx(2.5)


def test_flat_prediction_scores_its_area_share():
    rng = np.random.default_rng(0)
    obs = rng.poisson(1.0, 1000).astype(float)
    for a in validation.AREA_PCTS:
        assert validation.hit_rate(np.ones(1000), obs, a) == pytest.approx(a / 100)
        assert validation.pai(np.ones(1000), obs, a) == pytest.approx(1.0)
    assert math.isnan(validation.hit_rate(np.ones(5), np.zeros(5), 10))


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
    assert set(table["metric"]) == {"hit_rate", "pai", "poisson_deviance", "mse",
                                    "calibration_predicted", "calibration_observed"}
    row = table[(table.method == "a") & (table.metric == "mse")]
    assert row["value"].item() == pytest.approx(0.25)


# ------------------------------------------------------------------ validate()
def small_analysis(seed: int = 0):
    """Three years of incidents drawn near 'bars' (RRV 3) on a 2 km square; a decoy layer."""
    from hotspot_env.analysis import Analysis
    from hotspot_env.density import count_incidents

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
                    {"bandwidth_m": 200.0}, [], [], {}, points, {"factors": {}})


def test_validate_small_city(tmp_path):
    analysis = small_analysis()
    table = validation.validate(analysis, out=tmp_path)
    meta = table.attrs["meta"]
    assert set(table["method"]) == set(validation.METHODS)
    assert meta["n_train"] + meta["n_test"] == 3000
    assert meta["test_days"] == pytest.approx(365.25 / 2, abs=1.5)  # half-years: 3 years < 4
    assert [f["factor"] for f in meta["rtm"]["factors"]] == ["bars"]
    wide = validation.summary(table)
    assert list(wide.index) == list(validation.METHODS)
    # the planted factor predicts the next period: RTM flags better than chance
    assert wide.loc["rtm", "pai_10pct"] > 1.5
    assert wide.loc["forecast", "poisson_deviance"] < wide.loc["naive", "poisson_deviance"]
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
    assert wide.loc["kde", "pai_5pct"] > 2.0
    assert wide.loc["kde", "pai_10pct"] > wide.loc["naive", "pai_10pct"]
    assert wide.loc["forecast", "poisson_deviance"] < wide.loc["naive", "poisson_deviance"]
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
