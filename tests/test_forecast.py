"""Tests for hotspot_env.models.forecast: periods, gaps, PEI, candidates, choice, calibration."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from hotspot_env.core.grid import Grid
from hotspot_env.models import forecast, scores
from hotspot_env.models.forecast import scoring as forecast_scoring

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
    # two years give year-ahead folds (one fold), matching the year-ahead forecast
    two_years = pd.date_range("2023-01-01", "2024-12-31", freq="D", tz="UTC")
    p, _ = forecast.choose_period(two_years)
    assert (p.name, p.n) == ("year", 2)
    p, choice = forecast.choose_period(pd.date_range("2024-01-01", "2024-02-20", tz="UTC"))
    assert p is None and "months" in choice.rule
    p, _ = forecast.choose_period(pd.Series([pd.NaT, pd.NaT]))
    assert p is None


def test_choose_period_keeps_coarse_dated_oldest_period_and_drops_a_thin_one():
    # one monthly file a year, every record dated the 15th: 366 days span two records
    coarse = pd.DatetimeIndex(["2016-07-15"] * 100 + ["2017-07-15"] * 110, tz="UTC")
    p, choice = forecast.choose_period(coarse)
    assert (p.name, p.n) == ("year", 2)
    idx = p.index(coarse)
    assert (idx[:100] == 0).all() and (idx[100:] == 1).all()
    assert "coarser than a day" in choice.rule
    # 1.2 years of daily records: the thin oldest year (0.2 covered) is not a year's worth
    daily = pd.date_range("2023-01-01", periods=438, freq="D", tz="UTC")
    p, choice = forecast.choose_period(daily)
    assert (p.name, p.n) == ("half-year", 2)
    assert "half-year-ahead folds stand in" in choice.rule
    idx = p.index(daily)
    assert (idx[:60] == -1).all() and (idx[-1] == 1)


def test_pei_by_hand():
    score = np.array([3.0, 2.0, 1.0, 0.0])
    obs = np.array([0.0, 5.0, 1.0, 2.0])
    assert scores.pei(score, obs, 25.0) == 0.0  # top cell holds nothing, the best holds 5
    assert scores.pei(score, obs, 50.0) == pytest.approx(5 / 7)
    assert scores.pei(obs, obs, 50.0) == 1.0
    # ties at the cut-off count pro rata (the mean of random tie-breaking)
    assert scores.pei(np.array([1.0, 1.0, 0.0, 0.0]), np.array([4.0, 0, 0, 0]), 25.0) == 0.5
    rng = np.random.default_rng(0)
    s = rng.integers(0, 3, 200).astype(float)
    o = rng.poisson(1.0, 200).astype(float)
    k = scores.treatable_cells(200, 0.05)
    draws = [o[np.lexsort((rng.random(200), -s))[:k]].sum() for _ in range(4000)]
    best = np.sort(o)[::-1][:k].sum()
    assert scores.pei(s, o, 5.0) == pytest.approx(np.mean(draws) / best, rel=0.02)
    assert np.isnan(scores.pei(s, np.zeros(200), 5.0))


def test_recording_gaps_are_detected_left_out_and_announced():
    assert list(forecast.recording_gaps(np.array([[1, 0], [0, 0], [0, 2]]))) == [1]
    grid, x, y, t = stable_city(5, years=4, per_year=800)
    keep = np.asarray(t.year != 2019)  # a year with no record anywhere: a recording gap
    result = forecast.fit_forecast(grid, x[keep], y[keep], t[keep])
    assert result.period == "year" and result.n_periods == 4
    assert len(result.gaps) == 1 and result.gaps[0].startswith("2019-01")
    gap = [c for c in result.choices if c.name == "recording_gaps"]
    assert gap and gap[0].value == result.gaps and "not zero incidents" in gap[0].rule
    # three recorded years: two folds, every score finite
    assert (result.cv["folds"] == 2).all() and np.isfinite(result.cv["pei"]).all()


def test_an_infinite_or_nan_score_never_wins():
    s = pd.Series([0.2, np.inf, np.nan, 0.3], index=list("abcd"))
    assert forecast.best_finite(s) == "d"
    dev = pd.Series([np.inf, 5.0, -np.inf, 7.0], index=list("abcd"))
    assert forecast.best_finite(dev, higher_is_better=False) == "b"
    assert forecast.best_finite(pd.Series([np.inf, np.nan])) is None
    # ties go to the first (simplest) label
    assert forecast.best_finite(pd.Series([0.5, 0.5], index=["plain", "fancy"])) == "plain"
    # a fold with no incidents scores NaN for every candidate and is left out of the mean
    grid, x, y, t = stable_city(6, years=3, per_year=600)
    cube = np.stack([np.histogram2d(
        grid.bounds[3] - y[t.year == yr], x[t.year == yr] - grid.x0,
        bins=grid.shape, range=[[0, grid.n_rows * grid.cell_size],
                                [0, grid.n_cols * grid.cell_size]])[0] for yr in (2018, 2019)])
    cube = np.concatenate([cube, np.zeros((1, *grid.shape)), cube[:1]])
    stack = forecast.cube_stack(grid, cube, max(forecast.radii(grid)))
    cv = forecast.cross_validate(stack, forecast.candidates(4, forecast.radii(grid)))
    assert cv["pei_2"].isna().all() and cv["pei_1"].notna().all()
    assert (cv["folds"] == 2).all() and np.isfinite(cv["pei"]).all()


def test_tiebreak_never_reorders_distinct_counts():
    grid, x, y, t = stable_city(7, years=3, per_year=300)
    periods, _ = forecast.choose_period(t)
    stack = forecast.count_stack(grid, x, y, periods.index(t), periods.n, 300.0)
    for base in (forecast.Candidate("all"), forecast.Candidate("recent")):
        tie = forecast.Candidate(base.base, None, 150.0, "tiebreak")
        counts, score = base.score(stack, 3), tie.score(stack, 3)
        order = np.argsort(score, kind="stable")
        assert np.all(np.diff(counts[order]) >= -1e-12)  # counts sorted by the tie-broken score
        assert np.unique(score).size > np.unique(counts).size  # and ties were broken


def test_synthetic_city_chosen_model_beats_last_period_counts():
    """Planted stable risk at places (simulate_city) + Poisson noise: the model chosen on
    three years ranks the held-out fourth year better than last year's counts."""
    from hotspot_env.core.density import count_incidents
    from hotspot_env.inputs.synth import simulate_city

    city = simulate_city(3, n_incidents=4000, years=4)
    grid = Grid.from_area(city.boundary, city.crs, 50.0)
    pts = city.incidents
    x, y = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
    year = pts["datetime"].dt.year.to_numpy()
    last = year.max()
    train = year < last
    result = forecast.fit_forecast(grid, x[train], y[train], pts["datetime"][train])
    obs = count_incidents(grid, x[~train], y[~train])[grid.mask].astype(float)
    naive = count_incidents(grid, x[year == last - 1], y[year == last - 1])[grid.mask]
    chosen = scores.pei(result.forecast[grid.mask], obs, 5.0)
    assert result.model.name != "last1"
    assert chosen > scores.pei(naive.astype(float), obs, 5.0) + 0.05
    assert result.cv_pei() > result.cv_pei("last1")


def test_fit_forecast_outputs_calibrated_expected_incidents_per_year():
    from scipy.stats import spearmanr

    grid, x, y, t = stable_city(8)
    result = forecast.fit_forecast(grid, x, y, t)
    assert result.tuned and result.period == "year" and result.n_periods == 5
    fc = result.forecast
    assert fc.shape == grid.shape and np.all(fc[grid.mask] > 0)
    # about a year of incidents (the calibration is fitted to the folds' totals)
    assert fc[grid.mask].sum() == pytest.approx(len(x) / 5, rel=0.2)
    # calibration is strictly increasing in the chosen score: the ranking is the model's
    periods, _ = forecast.choose_period(t)
    stack = forecast.count_stack(grid, x, y, periods.index(t), periods.n, max(forecast.radii(grid)))
    score = result.model.score(stack, periods.n)
    assert spearmanr(score, fc[grid.mask]).statistic == pytest.approx(1.0)
    cal = result.calibration
    assert cal["b"] > 0 and cal["deviance"] <= cal["deviance_rescaled"] + 1e-9
    # an independent fit of the same Poisson regression (scikit-learn) on the folds
    from sklearn.linear_model import PoissonRegressor

    tests = range(1, periods.n)
    s = np.concatenate([forecast_scoring.floored(result.model.score(stack, k)) for k in tests])
    obs = np.concatenate([stack.counts[k] for k in tests])
    ref = PoissonRegressor(alpha=0.0, max_iter=1000, tol=1e-10).fit(np.log(s)[:, None], obs)
    assert ref.coef_[0] == pytest.approx(cal["b"], rel=1e-3)
    assert {"candidate", "pei", "folds"} <= set(result.cv.columns)
    assert [c.name for c in result.choices][-2:] == ["forecast", "forecast_calibration"]


def test_count_cube_gives_the_same_forecast_as_points():
    from hotspot_env.core.density import count_incidents

    grid, x, y, t = stable_city(9, years=3, per_year=500)
    periods, _ = forecast.choose_period(t)
    idx = periods.index(t)
    direct = forecast.fit_forecast(grid, x, y, t, periods=periods)
    cube = np.stack([count_incidents(grid, x[idx == k], y[idx == k]) for k in range(periods.n)])
    stack = forecast.cube_stack(grid, cube, max(forecast.radii(grid)))
    via_cube = forecast.fit_stack(stack, periods)
    assert via_cube.model == direct.model
    np.testing.assert_allclose(via_cube.forecast[grid.mask], direct.forecast[grid.mask],
                               rtol=1e-9)


def test_backtest_chosen_forecast_against_baselines():
    grid, x, y, t = stable_city(4)
    table = forecast.backtest(grid, x, y, t, n_tests=3)
    assert len(table) == 3
    assert (table["pei_forecast"] > table["pei_last_period"]).all()
    assert (table["deviance_forecast"] < table["deviance_last_period"]).all()


def test_fallback_without_enough_periods():
    grid, x, y, t = stable_city(2, years=1, per_year=300)
    short = t[t < pd.Timestamp("2018-01-26", tz="UTC")]
    keep = np.asarray(t < pd.Timestamp("2018-01-26", tz="UTC"))
    result = forecast.fit_forecast(grid, x[keep], y[keep], short, fallback_bandwidth=300.0)
    # no fold to validate on: the long-run counts baseline, ties broken by the 300 m KDE
    assert not result.tuned and result.bandwidth_m == 300.0
    assert result.model.name == "all+tieK300" and result.baseline.startswith("long-run")
    assert np.all(result.forecast[grid.mask] > 0)
    counts = np.histogram2d(grid.bounds[3] - y[keep], x[keep] - grid.x0, bins=grid.shape,
                            range=[[0, grid.n_rows * grid.cell_size],
                                   [0, grid.n_cols * grid.cell_size]])[0][grid.mask]
    order = np.argsort(result.forecast[grid.mask], kind="stable")
    assert np.all(np.diff(counts[order]) >= 0)  # ranked as the counts, ties aside
    # a year's worth: the 25 days' incidents scaled to a rate per year
    days = (short.max() - short.min()).total_seconds() / 86400 + 1
    assert result.forecast[grid.mask].sum() == pytest.approx(keep.sum() * 365.25 / days,
                                                             rel=1e-4)

def test_stage_adds_forecast_only_with_dates():
    from hotspot_env.core.analysis import Analysis

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


def test_poisson_deviance_broadcasts_counts_over_forecasts():
    rng = np.random.default_rng(2)
    y = rng.poisson(0.5, 400).astype(float)
    mu = rng.uniform(0.01, 2.0, (3, 400))
    got = forecast.poisson_deviance(y[None, :], mu)
    for i in range(3):
        term = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu[i]), 0.0)
        assert got[i] == pytest.approx(2 * np.sum(term - (y - mu[i])), rel=1e-12)


def test_public_mode_forecast_is_a_kernel_smooth_that_publishes_no_count():
    from hotspot_env.core.analysis import Analysis

    grid, x, y, t = stable_city(12, years=3, per_year=500)
    points = gpd.GeoDataFrame({"datetime": t}, geometry=shapely.points(x, y), crs=CRS_M)
    analysis = Analysis(grid, shapely.box(*grid.bounds), {}, {},
                        {"bandwidth_m": 200.0, "privacy": "public"}, [], [], {}, points)
    forecast.stage(analysis)
    result = analysis.forecast
    assert result.model.blend == "smooth" and result.model.radius_m >= 150.0
    assert set(result.cv["blend"]) == {"smooth"} and (result.cv["radius_m"] >= 150.0).all()
    assert any(c.name == "forecast_candidates" for c in analysis.choices)
