"""Weekly demand forecast: counts, seasonal profile, intervals and the back-test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hotspot_env.temporal import demand
from hotspot_env.temporal.profiles import LocalCalendar


def _calendar(dates: np.ndarray, period) -> LocalCalendar:
    n = len(dates)
    return LocalCalendar(np.asarray(dates, dtype="datetime64[D]"), np.full(n, -1),
                         np.zeros(n, int), np.zeros(n, int), np.zeros(n, bool), "UTC",
                         tuple(np.datetime64(p, "D") for p in period))


def _seasonal_incidents(seed: int, years: int = 4, rates=(0.3, 0.8, 1.5, 3.0, 0.1)):
    """Daily Poisson incidents per district with a yearly cycle (peak in January)."""
    rng = np.random.default_rng(seed)
    days = np.arange(np.datetime64("2019-01-01"), np.datetime64("2019-01-01") + 365 * years)
    doy = (days - days.astype("datetime64[Y]")).astype(int)
    season = 1 + 0.6 * np.cos(2 * np.pi * doy / 365.25)
    dates, district = [], []
    for d, rate in enumerate(rates):
        k = rng.poisson(rate * season)
        dates.append(np.repeat(days, k))
        district.append(np.full(k.sum(), d))
    return np.concatenate(dates), np.concatenate(district), (days[0], days[-1])


def test_weekly_counts_match_pandas():
    dates, district, period = _seasonal_incidents(0, years=1)
    starts, counts = demand.weekly_counts(dates, district, 5, period)
    assert pd.Timestamp(starts[0]).day_name() == "Monday" and starts[0] >= period[0]
    assert starts[-1] + 6 <= period[1]
    frame = pd.DataFrame({"d": district, "week": pd.to_datetime(dates).to_period("W-SUN")})
    ref = frame.groupby(["d", "week"]).size().unstack(fill_value=0)
    ref = ref.loc[:, [pd.Period(s, "W-SUN") for s in starts]]
    np.testing.assert_array_equal(counts, ref.to_numpy())


def test_month_fractions_sum_to_one():
    starts = np.arange(np.datetime64("2021-12-27"), np.datetime64("2022-03-01"), 7)
    frac = demand.month_fractions(starts)
    np.testing.assert_allclose(frac.sum(axis=1), 1.0)
    assert frac[0, 11] == pytest.approx(5 / 7) and frac[0, 0] == pytest.approx(2 / 7)


def test_seasonal_profile_recovers_the_cycle():
    dates, district, period = _seasonal_incidents(1, years=4, rates=(20.0,))
    starts, counts = demand.weekly_counts(dates, district, 1, period)
    s = demand.seasonal_profile(starts, counts.sum(axis=0))
    doy_mid = np.array([15, 45, 74, 105, 135, 166, 196, 227, 258, 288, 319, 349])
    truth = 1 + 0.6 * np.cos(2 * np.pi * doy_mid / 365.25)
    np.testing.assert_allclose(s, truth / truth.mean(), atol=0.06)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_backtest_beats_naive_forecasts(seed):
    dates, district, period = _seasonal_incidents(seed)
    starts, counts = demand.weekly_counts(dates, district, 5, period)
    result = demand.backtest_weekly(starts, counts, horizon=8, n_origins=6)
    assert result["rmse_model"] < result["rmse_seasonal_naive"]
    assert result["rmse_model"] < result["rmse_recent_mean"]
    assert result["mae_model"] < result["mae_seasonal_naive"]
    assert result["total_rmse_model"] < result["total_rmse_seasonal_naive"]
    assert 0.7 <= result["coverage80"] <= 0.97


def test_demand_forecast_table():
    dates, district, period = _seasonal_incidents(5, years=2)
    cats = np.where(np.arange(dates.size) % 3 == 0, "assault", "theft").astype(object)
    cats[district == 4] = "unknown"
    cal = _calendar(dates, period)
    ids = ["D01", "D02", "D03", "D04", "D05"]
    res = demand.demand_forecast(cal, district, ids, cats, horizon=8)
    table = res.table
    assert list(table.columns) == ["district", "week_start", "expected_incidents", "lo80",
                                   "hi80", "top_categories"]
    assert len(table) == 40
    first = pd.Timestamp(table["week_start"].iloc[0])
    assert first.day_name() == "Monday" and first > pd.Timestamp(period[1])
    assert (table["lo80"] <= table["expected_incidents"]).all()
    assert (table["expected_incidents"] <= table["hi80"]).all()
    assert table.loc[table["district"] == "D02", "top_categories"].iloc[0] == \
        "theft 67 %, assault 33 %"
    assert table.loc[table["district"] == "D05", "top_categories"].iloc[0] == "not recorded"
    # the busiest district is forecast busiest
    means = table.groupby("district")["expected_incidents"].mean()
    assert means.idxmax() == "D04"
    # public mode names only categories with at least k incidents
    public = demand.demand_forecast(cal, district, ids, cats, privacy="public", k=10_000)
    assert set(public.table["top_categories"]) == {"not recorded"}


def test_short_history_gives_a_message():
    dates = np.array(["2022-01-03", "2022-01-20"], dtype="datetime64[D]")
    cal = _calendar(dates, ("2022-01-01", "2022-02-10"))
    res = demand.demand_forecast(cal, np.array([0, 0]), ["D01"], ["x", "y"])
    assert res.table is None and "weeks" in res.message


def test_zero_district_gets_a_nonnegative_forecast():
    starts = np.arange(np.datetime64("2020-01-06"), np.datetime64("2022-01-03"), 7)
    counts = np.zeros((2, starts.size), dtype=int)
    counts[1] = np.random.default_rng(1).poisson(2, starts.size)
    fc = demand.fit_weekly(starts, counts, starts[-1] + 7 * np.arange(1, 5))
    assert (fc.expected[0] >= 0).all() and (fc.expected[0] < 0.05).all()
    assert (fc.lo80[0] == 0).all()
    # no seasonality in the data: the indices shrink to 1, the forecast is the recent level
    np.testing.assert_allclose(fc.seasonal, 1.0)
    assert fc.expected[1].mean() == pytest.approx(counts[1, -52:].mean(), rel=0.02)


def _top_categories_groupby(categories, district, n_districts, keep, k=None, top=3):
    """The pandas group-by version of top_categories (reference)."""
    cats = pd.Series(np.asarray(categories, dtype=object)).fillna("unknown").astype(str)
    frame = pd.DataFrame({"district": np.asarray(district), "category": cats})
    frame = frame[np.asarray(keep) & (frame["district"].to_numpy() >= 0)]
    out = ["not recorded"] * n_districts
    if frame.empty:
        return out
    table = frame.groupby(["district", "category"]).size().rename("n").reset_index()
    table["share"] = table["n"] / table.groupby("district")["n"].transform("sum")
    table = table[table["category"] != "unknown"]
    if k is not None:
        table = table[table["n"] >= k]
    table = table.sort_values(["district", "n", "category"], ascending=[True, False, True])
    for d, group in table.groupby("district"):
        parts = [f"{c} {round(100 * s)} %" for c, s in
                 zip(group["category"].head(top), group["share"].head(top), strict=True)]
        out[int(d)] = ", ".join(parts) if parts else "not recorded"
    return out


@pytest.mark.parametrize("k", [None, 3, 40])
def test_top_categories_equal_groupby(k):
    rng = np.random.default_rng(5)
    n = 3000
    pool = np.array(["theft", "assault", "burglary", "unknown", None, np.nan, "vandalism", 1,
                     "1", "robbery"], dtype=object)
    categories = pool[rng.choice(pool.size, n, p=[.3, .2, .1, .05, .05, .05, .1, .05, .05, .05])]
    district = rng.integers(-1, 7, n)
    district[district == 5] = 4  # district 5 has no incident
    keep = rng.random(n) < 0.8
    for top in (1, 3):
        assert demand.top_categories(categories, district, 7, keep, k, top) == \
            _top_categories_groupby(categories, district, 7, keep, k, top)
    assert demand.top_categories(categories, district, 7, np.zeros(n, bool), k) == \
        ["not recorded"] * 7
