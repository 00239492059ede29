"""Tests for hotspot_env.forecast: periods, deviance, tuned blend vs the naive forecast."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from hotspot_env import forecast
from hotspot_env.grid import Grid

CRS_M = CRS.from_epsg(32633)


def stable_city(seed: int, years: int = 5, per_year: int = 1500):
    """Incidents from a fixed intensity (three hot spots + background), redrawn every year."""
    rng = np.random.default_rng(seed)
    cell = 50.0
    grid = Grid.from_area(shapely.box(0, 0, 2500, 2500), CRS_M, cell)
    centres = np.array([[600, 700], [1800, 1500], [1200, 2100]])
    xs, ys, ts = [], [], []
    for year in range(years):
        n = rng.poisson(per_year)
        which = rng.choice(4, n, p=[0.3, 0.25, 0.15, 0.3])
        hot = which < 3
        x = np.where(hot, centres[np.minimum(which, 2), 0] + rng.normal(0, 150, n),
                     rng.uniform(0, 2500, n))
        y = np.where(hot, centres[np.minimum(which, 2), 1] + rng.normal(0, 150, n),
                     rng.uniform(0, 2500, n))
        inside = (x >= 0) & (x < 2500) & (y >= 0) & (y < 2500)
        start = np.datetime64(f"{2018 + year}-01-01T00:00:00", "s")
        t = start + rng.integers(0, 365 * 86400, inside.sum()).astype("timedelta64[s]")
        xs.append(x[inside])
        ys.append(y[inside])
        ts.append(t)
    t = pd.DatetimeIndex(np.concatenate(ts)).tz_localize("UTC")
    return grid, np.concatenate(xs), np.concatenate(ys), t


def test_poisson_deviance_by_hand():
    y = np.array([0.0, 2.0, 1.0])
    mu = np.array([0.5, 1.0, 1.0])
    want = 2 * ((0 - (0 - 0.5)) + (2 * np.log(2) - 1) + 0)
    assert forecast.poisson_deviance(y, mu) == pytest.approx(want)
    assert forecast.poisson_deviance(y, y + 0.0) == pytest.approx(0.0)


def test_choose_period():
    six_years = pd.date_range("2017-01-01", "2022-12-31", freq="7D", tz="UTC")
    p, choice = forecast.choose_period(six_years)
    assert (p.name, p.n) == ("year", 6)
    assert "year" in choice.rule
    # every date falls in a period, the last one holds 2022
    idx = p.index(six_years)
    assert (idx >= 0).all() and idx[-1] == 5 and idx[0] == 0
    assert (idx[six_years.year == 2022] == 5).all()
    two_years = pd.date_range("2023-01-01", "2024-12-31", freq="D", tz="UTC")
    p, _ = forecast.choose_period(two_years)
    assert (p.name, p.n) == ("half-year", 4)
    p, choice = forecast.choose_period(pd.date_range("2024-01-01", "2024-02-20", tz="UTC"))
    assert p is None and "months" in choice.rule
    p, _ = forecast.choose_period(pd.Series([pd.NaT, pd.NaT]))
    assert p is None


def test_forecast_beats_last_period_on_held_out_years():
    grid, x, y, t = stable_city(4)
    table = forecast.backtest(grid, x, y, t, n_tests=3)
    assert len(table) == 3
    assert (table["deviance_forecast"] < table["deviance_naive"]).all()
    assert (table["mse_forecast"] < table["mse_naive"]).all()
    assert (table["hit5_forecast"] >= table["hit5_naive"]).all()
    # a stable pattern is best forecast mostly from the smoothed long run
    assert (table["weight"] <= 0.3).all()


def test_fit_forecast_outputs_expected_incidents_per_year():
    grid, x, y, t = stable_city(8)
    result = forecast.fit_forecast(grid, x, y, t)
    assert result.tuned and result.period == "year" and result.n_periods == 5
    fc = result.forecast
    assert fc.shape == grid.shape and np.all(fc[grid.mask] > 0)
    # total ~ one year of incidents (the blend keeps totals)
    per_year = len(x) / 5
    assert fc[grid.mask].sum() == pytest.approx(per_year, rel=0.1)
    assert result.best_cv_deviance() < result.naive_cv_deviance()
    assert {"bandwidth_m", "weight", "lookback", "deviance"} <= set(result.cv.columns)
    assert any(c.name == "forecast" for c in result.choices)


def test_fallback_without_enough_periods():
    grid, x, y, t = stable_city(2, years=1, per_year=300)
    short = t[t < pd.Timestamp("2018-03-01", tz="UTC")]
    keep = np.asarray(t < pd.Timestamp("2018-03-01", tz="UTC"))
    result = forecast.fit_forecast(grid, x[keep], y[keep], short, fallback_bandwidth=300.0)
    assert not result.tuned and result.bandwidth_m == 300.0 and result.weight == 0.0
    assert np.all(result.forecast[grid.mask] > 0)


def test_stage_adds_forecast_only_with_dates():
    from hotspot_env.analysis import Analysis

    grid, x, y, t = stable_city(3, years=4, per_year=400)
    points = gpd.GeoDataFrame({"datetime": t}, geometry=shapely.points(x, y), crs=CRS_M)
    analysis = Analysis(grid, shapely.box(*grid.bounds), {}, {}, {"bandwidth_m": 200.0}, [],
                        [], {}, points)
    forecast.stage(analysis)
    assert analysis.arrays["forecast"].shape == grid.shape
    assert analysis.parameters["forecast"]["units"] == "incidents per year"
    undated = points.assign(datetime=pd.NaT)
    analysis = Analysis(grid, shapely.box(*grid.bounds), {}, {}, {}, [], [], {}, undated)
    forecast.stage(analysis)
    assert "forecast" not in analysis.arrays
    assert analysis.choices[-1].value == "not made"


def test_cross_validation_equals_direct_deviances():
    grid, x, y, t = stable_city(4, years=5, per_year=1500)
    periods, _ = forecast.choose_period(t)
    hs = forecast.bandwidth_grid(grid)
    stack = forecast._stack(grid, x, y, periods.index(t), periods.n, max(hs))
    cv = forecast.cross_validate(stack, hs)
    # reference: every candidate's blend scored directly over all cells
    w = np.asarray(forecast.WEIGHTS)
    tests = range(max(1, periods.n - forecast.MAX_FOLDS), periods.n)
    rows = []
    for h in hs:
        for lb in (1, 3, None):
            total = np.zeros(w.size)
            for test in tests:
                mu, bg = forecast._blend(stack, test, h, lb, w)
                total += forecast.poisson_deviance(stack.counts[test][None, :],
                                                   forecast.with_floor(mu, bg))
            look = "all" if lb is None else lb
            rows += [(h, wi, look, d) for wi, d in zip(w, total, strict=True)]
    ref = pd.DataFrame(rows, columns=["bandwidth_m", "weight", "lookback", "deviance"])
    ref = ref.sort_values(["deviance", "weight", "bandwidth_m"], kind="stable")
    pd.testing.assert_frame_equal(
        cv[["bandwidth_m", "weight", "lookback"]].reset_index(drop=True),
        ref[["bandwidth_m", "weight", "lookback"]].reset_index(drop=True), check_dtype=False)
    np.testing.assert_allclose(cv["deviance"], ref["deviance"], rtol=1e-13, atol=0)
    # the naive forecast (weight 1) scores exactly the same whatever the bandwidth
    assert cv.loc[cv["weight"] == 1.0, "deviance"].nunique() == 1


def test_poisson_deviance_broadcasts_counts_over_forecasts():
    rng = np.random.default_rng(2)
    y = rng.poisson(0.5, 400).astype(float)
    mu = rng.uniform(0.01, 2.0, (3, 400))
    got = forecast.poisson_deviance(y[None, :], mu)
    for i in range(3):
        term = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu[i]), 0.0)
        assert got[i] == pytest.approx(2 * np.sum(term - (y - mu[i])), rel=1e-12)
