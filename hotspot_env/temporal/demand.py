"""Demand forecast per district and week, for planning crews and services.

Model (seasonal profile x recent level, negative-binomial intervals)
    1. Weekly counts per district over the complete weeks (Monday-Sunday) of
       the recording period.
    2. A seasonal index per calendar month, pooled over all districts
       (district series are too sparse for their own):
       the ratio of incidents in month ``m`` to the number expected there
       without seasonality, shrunk towards 1 by empirical Bayes (James-Stein:
       how far depends on how much the months differ beyond Poisson noise,
       see :func:`seasonal_profile`) and rescaled to average 1 over the
       observed days. With less than a year of weeks, no seasonal index is
       used (s = 1). A week's factor is the mean of its 7 days' monthly
       indices.
    3. The recent level of each district: its incidents in the last
       :data:`LEVEL_WEEKS` weeks divided by the sum of those weeks' seasonal
       factors (plus a Jeffreys half-incident, so a quiet district is not
       forecast exactly zero).
    4. Expected incidents = level x the future week's seasonal factor.
    5. 80 % intervals from a negative binomial with variance
       ``mu + mu^2 (1/(n_recent + 0.5) + a)``: the first term is Poisson
       noise, the second the uncertainty of the level (a gamma posterior with
       ``n_recent + 0.5`` events) and ``a`` the extra-Poisson dispersion of
       weekly counts, estimated by moments from the recent weeks.

This is not :mod:`hotspot_env.models.forecast`: that model says *where* (a risk
surface per grid cell, its bandwidth chosen by cross-validation), this one
says *how many* per district and week, for staffing; hence their own fit
(:func:`fit_weekly`) and back-test (:func:`backtest_weekly`).

statsmodels' exponential smoothing was tried and not used: district-week
counts are mostly 0s and 1s, where ETS's Gaussian errors give negative
bounds and its level chases single incidents.

Back-test
    Rolling origins: the last :data:`BACKTEST_ORIGINS` blocks of ``horizon``
    weeks are forecast from the data before each block (with at least a year
    of training) and compared with what happened, against two naive
    forecasts: the same weeks one year earlier ("last year's same-season
    counts") and the mean of the 8 weeks before the origin. Reported: mean
    absolute error and root mean squared error per district-week and for
    the all-district weekly total, and the share of district-weeks inside
    the 80 % interval. RMSE is the fair score for a mean forecast; with
    sparse counts MAE favours forecasting 0.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# scipy.stats is imported where it is used: the app's first page imports this package
# without running it (tests/test_lazy_imports.py).
from hotspot_env.temporal.timesteps import step_ordinal, step_start

#: Weeks whose counts set a district's recent level.
LEVEL_WEEKS = 52

#: Default forecast horizon (weeks).
HORIZON_WEEKS = 8

#: Rolling back-test origins.
BACKTEST_ORIGINS = 4

#: Fewest complete weeks needed for a forecast.
MIN_WEEKS = 8


@dataclass
class WeeklyForecast:
    """Expected incidents per district (rows) and future week (columns)."""

    week_starts: np.ndarray
    expected: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    dispersion: float
    seasonal: np.ndarray


@dataclass
class DemandResult:
    """The forecast table, its back-test and a message when it could not be made."""

    table: pd.DataFrame | None
    backtest: dict[str, Any] | None
    forecast: WeeklyForecast | None
    message: str | None = None


def weekly_counts(
    dates: np.ndarray, district: np.ndarray, n_districts: int,
    period: tuple[np.datetime64, np.datetime64],
) -> tuple[np.ndarray, np.ndarray]:
    """Counts per district and complete Monday-Sunday week of the period.

    Returns
    -------
    starts : ndarray of datetime64[D], shape (n_weeks,)
    counts : ndarray of int64, shape (n_districts, n_weeks)
    """
    first, last = (np.datetime64(p, "D") for p in period)
    lo = int(step_ordinal(first + 6, "week"))  # the first Monday on or after `first`
    hi = int(step_ordinal(last, "week"))
    if step_start(hi, "week") + 6 > last:
        hi -= 1
    n_weeks = max(hi - lo + 1, 0)
    dates = np.asarray(dates, dtype="datetime64[D]")
    ok = (np.asarray(district) >= 0) & ~np.isnat(dates)
    t = np.full(dates.shape, -1, dtype=np.int64)
    t[ok] = step_ordinal(dates[ok], "week") - lo
    ok &= (t >= 0) & (t < n_weeks)
    counts = np.bincount(np.asarray(district)[ok] * n_weeks + t[ok],
                         minlength=n_districts * n_weeks).reshape(n_districts, n_weeks)
    return step_start(np.arange(lo, lo + n_weeks), "week"), counts.astype(np.int64)


def month_fractions(starts: np.ndarray) -> np.ndarray:
    """Share of each week's 7 days falling in each calendar month, shape (n_weeks, 12)."""
    days = np.asarray(starts, dtype="datetime64[D]")[:, None] + np.arange(7)
    month = days.astype("datetime64[M]").astype(np.int64) % 12
    out = np.zeros((days.shape[0], 12))
    np.add.at(out, (np.repeat(np.arange(days.shape[0]), 7), month.ravel()), 1.0 / 7.0)
    return out


def seasonal_profile(starts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Monthly seasonal indices (length 12, mean 1 over the observed days).

    Empirical-Bayes shrinkage: the raw index ``r_m = N_m / E_m`` has sampling
    variance about ``1 / E_m`` (Poisson); the spread of the true indices is
    ``tau^2 = max(0, mean (r_m - 1)^2 - mean 1 / E_m)``, and each index is
    pulled towards 1 by ``tau^2 / (tau^2 + 1 / E_m)``. Without real
    seasonality (``tau^2 = 0``) every index is 1; with strong, well-counted
    seasonality the raw indices stand.
    """
    if len(starts) < 52 or totals.sum() <= 0:
        return np.ones(12)
    frac = month_fractions(starts)
    incidents = totals @ frac
    days = frac.sum(axis=0)
    expected = totals.sum() / days.sum() * days
    seen = expected > 0
    raw = np.where(seen, incidents / np.where(seen, expected, 1.0), 1.0)
    noise = np.where(seen, 1.0 / np.where(seen, expected, 1.0), np.inf)
    tau2 = max(float(((raw[seen] - 1) ** 2).mean() - noise[seen].mean()), 0.0)
    index = 1.0 + np.where(seen, tau2 / (tau2 + noise), 0.0) * (raw - 1.0)
    return index / ((days * index).sum() / days.sum())


def _nb_interval(mu: np.ndarray, size: np.ndarray, level: float = 0.8):
    """Central ``level`` interval of a negative binomial with mean ``mu`` and size ``size``."""
    from scipy import stats

    mu = np.asarray(mu, dtype=float)
    size = np.broadcast_to(size, mu.shape)
    prob = size / (size + np.maximum(mu, 1e-12))
    tail = (1 - level) / 2
    lo = np.where(mu > 0, stats.nbinom.ppf(tail, size, prob), 0)
    hi = np.where(mu > 0, stats.nbinom.ppf(1 - tail, size, prob), 0)
    return lo.astype(np.int64), hi.astype(np.int64)


def fit_weekly(
    starts: np.ndarray, counts: np.ndarray, future_starts: np.ndarray,
    level_weeks: int = LEVEL_WEEKS,
) -> WeeklyForecast:
    """Forecast the weeks ``future_starts`` from weekly ``counts`` (districts x weeks).

    Parameters
    ----------
    starts : ndarray of datetime64[D]
        Monday of each observed week.
    counts : ndarray, shape (n_districts, n_weeks)
        Observed weekly counts.
    future_starts : ndarray of datetime64[D]
        Mondays of the weeks to forecast.
    level_weeks : int
        Recent weeks that set each district's level.

    Returns
    -------
    WeeklyForecast
    """
    counts = np.asarray(counts, dtype=np.float64)
    seasonal = seasonal_profile(starts, counts.sum(axis=0))
    factor = month_fractions(starts) @ seasonal
    n_recent = min(level_weeks, counts.shape[1])
    recent = counts[:, -n_recent:]
    events = recent.sum(axis=1)
    level = (events + 0.5) / factor[-n_recent:].sum()
    fitted = level[:, None] * factor[-n_recent:]
    denominator = (fitted**2).sum()
    dispersion = (max(float((((recent - fitted) ** 2) - recent).sum() / denominator), 0.0)
                  if denominator > 0 else 0.0)
    future_factor = month_fractions(future_starts) @ seasonal
    expected = level[:, None] * future_factor
    size = 1.0 / (1.0 / (events + 0.5) + dispersion)
    lo, hi = _nb_interval(expected, size[:, None])
    return WeeklyForecast(np.asarray(future_starts, dtype="datetime64[D]"), expected, lo, hi,
                          dispersion, seasonal)


def backtest_weekly(
    starts: np.ndarray, counts: np.ndarray, horizon: int = HORIZON_WEEKS,
    n_origins: int = BACKTEST_ORIGINS, **fit_options: Any,
) -> dict[str, Any] | None:
    """Rolling-origin back-test of :func:`fit_weekly` against naive forecasts.

    Returns
    -------
    dict or None
        ``mae``/``rmse`` of ``model``, ``seasonal_naive`` (same week a year
        earlier) and ``recent_mean`` (mean of the 8 weeks before the origin),
        per district-week and for the weekly total (``total_*``),
        ``coverage80`` (share of district-weeks inside the 80 % interval),
        ``origins`` and ``n_district_weeks``. None if no origin has a year of
        training data before it.
    """
    counts = np.asarray(counts)
    n_weeks = counts.shape[1]
    origins = [n_weeks - horizon * j for j in range(1, n_origins + 1)]
    origins = sorted(o for o in origins if o >= 52)
    if not origins:
        return None
    actual, model, seasonal, recent, lo, hi = [], [], [], [], [], []
    for o in origins:
        fc = fit_weekly(starts[:o], counts[:, :o], starts[o:o + horizon], **fit_options)
        actual.append(counts[:, o:o + horizon])
        model.append(fc.expected)
        lo.append(fc.lo80)
        hi.append(fc.hi80)
        seasonal.append(counts[:, o - 52:o - 52 + horizon])
        recent.append(np.repeat(counts[:, o - 8:o].mean(axis=1, keepdims=True), horizon, 1))
    y = np.concatenate(actual, axis=1).astype(float)
    forecasts = {"model": np.concatenate(model, axis=1),
                 "seasonal_naive": np.concatenate(seasonal, axis=1).astype(float),
                 "recent_mean": np.concatenate(recent, axis=1)}
    out: dict[str, Any] = {"origins": [str(starts[o]) for o in origins], "horizon": horizon,
                           "n_district_weeks": int(y.size)}
    for name, f in forecasts.items():
        out[f"mae_{name}"] = float(np.abs(y - f).mean())
        out[f"rmse_{name}"] = float(np.sqrt(((y - f) ** 2).mean()))
        out[f"total_mae_{name}"] = float(np.abs(y.sum(0) - f.sum(0)).mean())
        out[f"total_rmse_{name}"] = float(np.sqrt(((y.sum(0) - f.sum(0)) ** 2).mean()))
    inside = (y >= np.concatenate(lo, axis=1)) & (y <= np.concatenate(hi, axis=1))
    out["coverage80"] = float(inside.mean())
    return out


def top_categories(
    categories: np.ndarray, district: np.ndarray, n_districts: int, keep: np.ndarray,
    k: int | None = None, top: int = 3,
) -> list[str]:
    """The ``top`` categories of each district with their shares (e.g. ``"assault 45 %"``).

    ``keep`` selects the incidents counted (e.g. the last year). With ``k``
    (public mode), categories with fewer than ``k`` incidents are not named.
    Missing categories count as "unknown" (in the shares, never named).
    """
    district = np.asarray(district)
    chosen = np.asarray(keep) & (district >= 0)
    out = ["not recorded"] * n_districts
    if not chosen.any():
        return out
    # category codes by hashing (no per-row strings): missing -> "unknown"; values
    # whose text is the same (e.g. 1 and "1") are merged as str() would merge them
    codes, uniques = pd.factorize(np.asarray(categories, dtype=object)[chosen])
    texts = np.asarray([*(str(u) for u in uniques), "unknown"], dtype=object)
    merged, names = pd.factorize(texts)
    codes = merged[np.where(codes < 0, texts.size - 1, codes)]
    n_names = names.size
    table = np.bincount(district[chosen] * n_names + codes,
                        minlength=n_districts * n_names).reshape(n_districts, n_names)
    totals = table.sum(axis=1)
    for d in np.flatnonzero(totals):
        # most incidents first, then by name; shares of all the district's incidents
        ranked = sorted((-int(n), str(name)) for name, n in zip(names, table[d], strict=True)
                        if n > 0 and name != "unknown" and (k is None or n >= k))
        parts = [f"{name} {round(100 * (-minus_n / totals[d]))} %"
                 for minus_n, name in ranked[:top]]
        out[int(d)] = ", ".join(parts) if parts else "not recorded"
    return out


def check_horizon(horizon: object) -> int:
    """The forecast horizon in weeks, refused unless a whole number in 1..ceiling.

    The ceiling is :data:`settings.max_horizon_weeks`; the CLI calls this
    before reading any file.

    Raises
    ------
    InputError
        Naming ``--horizon-weeks``.
    """
    from hotspot_env import settings
    from hotspot_env.errors import InputError

    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral) or horizon < 1:
        raise InputError(f"--horizon-weeks must be a whole number of weeks >= 1, got {horizon!r}")
    if horizon > settings.max_horizon_weeks:
        raise InputError(f"--horizon-weeks {horizon:,} is above the limit of "
                         f"{settings.max_horizon_weeks} weeks: use a shorter horizon (a demand "
                         "forecast is only informative a few months ahead)")
    return int(horizon)


def demand_forecast(
    cal: Any, district: np.ndarray, ids: list[str], categories: Any,
    horizon: int = HORIZON_WEEKS, privacy: str = "internal", k: int | None = None,
) -> DemandResult:
    """Forecast table for the next ``horizon`` weeks per district, with its back-test.

    Parameters
    ----------
    cal : LocalCalendar
        Local calendar of the incidents (:func:`hotspot_env.temporal.profiles.local_calendar`).
    district : ndarray of int
        District index per incident (-1 = none).
    ids : list of str
        District IDs.
    categories : array-like of str
        Category per incident.
    horizon : int
        Weeks to forecast (the first is the week after the recording period).
    privacy : {"internal", "public"}
        Public mode names only categories with at least ``k`` incidents.
    k : int, optional
        Threshold for public mode.

    Returns
    -------
    DemandResult
        ``table`` columns: ``district, week_start, expected_incidents, lo80,
        hi80, top_categories``.
    """
    from hotspot_env import settings

    check_horizon(horizon)
    if np.isnat(cal.period[0]):
        return DemandResult(None, None, None, "no dated incidents: no demand forecast")
    starts, counts = weekly_counts(cal.date, district, len(ids), cal.period)
    if starts.size < MIN_WEEKS:
        return DemandResult(None, None, None, f"only {starts.size} complete weeks of data: a "
                            f"weekly demand forecast needs at least {MIN_WEEKS}")
    first_future = step_start(step_ordinal(cal.period[1], "week") + 1, "week")
    future = first_future + 7 * np.arange(horizon)
    fc = fit_weekly(starts, counts, future)
    last_year = cal.date >= cal.period[1] - np.timedelta64(364, "D")
    k_public = (settings.k_threshold if k is None else k) if privacy == "public" else None
    tops = top_categories(np.asarray(categories, dtype=object), district, len(ids),
                          last_year & ~np.isnat(cal.date), k_public)
    n_d = len(ids)
    table = pd.DataFrame({
        "district": np.repeat(np.asarray(ids, dtype=object), horizon),
        "week_start": np.tile(future.astype(str), n_d),
        "expected_incidents": np.round(fc.expected.ravel(), 2),
        "lo80": fc.lo80.ravel(), "hi80": fc.hi80.ravel(),
        "top_categories": np.repeat(np.asarray(tops, dtype=object), horizon),
    })
    message = None
    if starts.size < 52:
        message = (f"only {starts.size} complete weeks: the demand forecast has no seasonal "
                   "profile (needs a year)")
    return DemandResult(table, backtest_weekly(starts, counts, min(horizon, 13)), fc, message)
