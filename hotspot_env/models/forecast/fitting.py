"""Fitting the default forecast: choose a ranking on rolling-origin folds, calibrate, forecast.

:func:`backtest` nests the whole choice inside held-out periods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.models import scores
from hotspot_env.models.forecast.constants import (
    MAX_FOLDS,
    MIN_PERIODS,
    TREATABLE_SHARE,
)
from hotspot_env.models.forecast.cube import CountStack, count_stack, radii
from hotspot_env.models.forecast.periods import Periods, choose_period, naive_utc, recording_gaps
from hotspot_env.models.forecast.rankers import Candidate, candidates
from hotspot_env.models.forecast.result import ForecastResult
from hotspot_env.models.forecast.scoring import (
    calibrate,
    check_share,
    cross_validate,
    floored,
    one_se_choice,
    poisson_deviance,
    with_floor,
)


def fit_forecast(
    grid: Grid,
    x: np.ndarray,
    y: np.ndarray,
    times: Any,
    *,
    treatable_share: float = TREATABLE_SHARE,
    fallback_bandwidth: float | None = None,
    periods: Periods | None = None,
    max_folds: int = MAX_FOLDS,
    pool: list[Candidate] | None = None,
    min_radius_m: float = 0.0,
    cube: Callable[..., CountStack] | None = None,
) -> ForecastResult:
    """Choose the ranking by rolling-origin PEI, calibrate it and forecast the next year.

    Parameters
    ----------
    grid : Grid
        The study grid.
    x, y : ndarray
        Incident coordinates in ``grid.crs`` (m).
    times : array-like of datetimes
        Incident times (tz-aware or naive UTC; NaT allowed).
    treatable_share : float
        Share of the area a crew can treat (default 0.05): the cut-off of the
        ranking criterion.
    fallback_bandwidth : float, optional
        Radius (m) of the KDE used without two recorded periods (default:
        :func:`hotspot_env.core.density.choose_bandwidth` on the points).
    periods : Periods, optional
        Period scheme (default :func:`choose_period`).
    max_folds : int
        Most recent test periods scored (default 6).
    pool : list of Candidate, optional
        Candidates to choose from (default :func:`candidates`).
    min_radius_m : float
        When positive (public mode), only kernel smooths of at least this
        radius are candidates: a ranking by raw counts would publish them.
    cube : callable, optional
        Builds the count cube as :func:`count_stack` (default) does; the tiled
        engine's keeps it on the tiles (``scale.tiled_forecast.TiledCubeBuilder``).

    Returns
    -------
    ForecastResult
    """
    check_share(treatable_share)
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    t = naive_utc(times)
    choices: list[Choice] = []
    if periods is None:
        periods, p_choice = choose_period(t)
        choices.append(p_choice)
    idx = periods.index(t) if periods is not None else np.full(t.shape, -1)
    if fallback_bandwidth is None:
        from hotspot_env.core.density import choose_bandwidth

        fallback_bandwidth, bw_choice = choose_bandwidth(x, y, grid.cell_size)
        choices.append(bw_choice)
    if periods is None or np.unique(idx[idx >= 0]).size < MIN_PERIODS:
        return _fallback(grid, x, y, t, max(float(fallback_bandwidth), min_radius_m), choices,
                         smooth=min_radius_m > 0)
    n_before = int(((idx < 0) & ~np.isnat(t)).sum())
    if n_before:
        choices.append(announce(Choice(
            "forecast_incidents_before_first_period", n_before,
            f"incidents before the first {periods.name} are not used by the forecast")))
    hs = radii(grid)
    if min_radius_m > 0:
        n_rec = int(np.unique(idx[idx >= 0]).size)
        pool = [c for c in (pool or candidates(n_rec, hs + [min_radius_m]))
                if c.blend == "smooth" and c.radius_m >= min_radius_m]
        choices.append(announce(Choice(
            "forecast_candidates", f"kernel smooths of {min_radius_m:,.0f} m or more",
            "public mode: a ranking by raw or tie-broken counts would publish the counts")))
    stack = (cube or count_stack)(grid, x, y, idx, periods.n, max(hs + [min_radius_m]))
    return fit_stack(stack, periods, treatable_share=treatable_share, max_folds=max_folds,
                     choices=choices, pool=pool)


def fit_stack(stack: CountStack, periods: Periods, *, treatable_share: float = TREATABLE_SHARE,
              max_folds: int = MAX_FOLDS, choices: list[Choice] | None = None,
              pool: list[Candidate] | None = None) -> ForecastResult:
    """:func:`fit_forecast` on a count cube (e.g. protected counts, :func:`cube_stack`).

    Gaps in recording are left out and announced; needs two recorded periods.
    """
    choices = list(choices or [])
    grid = stack.grid
    gaps = recording_gaps(stack.totals())
    gap_dates = [str(periods.start(int(k)).astype("datetime64[D]")) for k in gaps]
    if gaps.size:
        choices.append(announce(Choice(
            "recording_gaps", gap_dates,
            f"{gaps.size} {periods.name}(s) with no record anywhere in the area are gaps in "
            "recording, not zero incidents: left out of the forecast and its cross-validation")))
    recorded = np.flatnonzero(np.isin(np.arange(stack.n_periods), gaps, invert=True))
    if recorded.size < MIN_PERIODS:
        raise ValueError("fit_stack needs at least two recorded periods")
    series = stack.select(recorded)
    cands = list(pool) if pool else candidates(recorded.size, radii(grid))
    cv = cross_validate(series, cands, treatable_share, max_folds)
    best_i = one_se_choice(cv)
    if best_i is None:  # no fold with incidents: the long-run counts, announced
        best_i = 0
    model = cands[best_i]
    folds = int(cv["folds"].max())
    share_txt = f"{100 * treatable_share:g} %"
    pei_best = float(cv["pei"].iloc[best_i])
    long_run = cv.loc[cv["candidate"] == "all", "pei"]
    last = cv.loc[cv["candidate"] == "last1", "pei"]
    long_txt = f"{float(long_run.iloc[0]):.3f}" if len(long_run) else "n/a"
    last_txt = f"{float(last.iloc[0]):.3f}" if len(last) else "n/a"
    top = float(cv["pei"].max())
    if model.baseline:
        rule = (f"on {folds} rolling-origin {periods.name}-ahead fold(s), no candidate ranked "
                f"the next {periods.name}'s incidents clearly better than the {model.baseline} "
                f"(PEI at {share_txt} of the area {pei_best:.3f}, best {top:.3f}, within one "
                "standard error): the default ranking IS that naive baseline")
    else:
        rule = (f"{model.describe(periods.name)}: best of {len(cands)} candidates on {folds} "
                f"rolling-origin {periods.name}-ahead fold(s) by PEI at {share_txt} of the "
                f"area ({pei_best:.3f}, the simplest within one standard error of the best "
                f"{top:.3f}; {long_txt} for long-run counts and {last_txt} for last "
                f"{periods.name}'s counts)")
    choices.append(announce(Choice("forecast", model.name, rule)))
    a, b, dev, dev_scaled, cal_rule = calibrate(series, model, max_folds)
    choices.append(announce(Choice(
        "forecast_calibration", {"a": round(a, 4), "b": round(b, 4)},
        f"expected incidents from the ranking score: {cal_rule} (fold deviance {dev:,.1f} "
        f"against {dev_scaled:,.1f} rescaled), so the same model serves the map and the count "
        "forecast")))
    s = floored(series.fold_scores(model, [recorded.size])[0])
    per_period = np.exp(a) * s**b
    calibration = {"a": a, "b": b, "deviance": dev, "deviance_rescaled": dev_scaled,
                   "rule": cal_rule}
    return _result(grid, per_period, periods, model, model.describe(periods.name), gap_dates,
                   cv, calibration, choices, True, treatable_share)


def _result(grid: Grid, per_period: np.ndarray, periods: Periods | None,
            model: Candidate | None, description: str, gaps: list[str], cv: pd.DataFrame,
            calibration: dict[str, Any], choices: list[Choice], tuned: bool,
            share: float, radius: float | None = None) -> ForecastResult:
    days = periods.days if periods is not None else 365.25
    nxt = np.full(grid.shape, np.nan)
    nxt[grid.mask] = per_period
    year = nxt * (365.25 / days)
    h = radius if radius is not None else (model.radius_m if model else 0.0)
    return ForecastResult(year, nxt, model, description, float(h),
                          periods.name if periods else "none", days,
                          periods.n if periods else 0, gaps, cv, calibration, choices, tuned,
                          share, model.baseline if model else None)


def _fallback(grid: Grid, x: np.ndarray, y: np.ndarray, t: np.ndarray, h: float,
              choices: list[Choice], smooth: bool = False) -> ForecastResult:
    """Without two recorded periods: long-run counts, ties broken by the rule-of-thumb KDE.

    There is no fold to validate any model on, so the default is the naive
    baseline itself; the tie-break never reorders two distinct counts
    (:data:`TIEBREAK`), it only orders cells a count cannot tell apart. As a
    rate per year of record when dated. With ``smooth`` (public mode) the KDE
    itself, so no count can be read back.
    """
    dated = t[~np.isnat(t)]
    years = None
    if dated.size:
        days = (dated.max() - dated.min()) / np.timedelta64(1, "D") + 1.0
        years = max(days, 1.0) / 365.25
    stack = count_stack(grid, x, y, np.zeros(x.size, np.int64), 1, h)
    model = Candidate("all", None, float(h), "smooth" if smooth else "tiebreak")
    score = model.score(stack, 1)
    rate = floored(score) / (years or 1.0)
    what = (f"the KDE of every incident ({h:,.0f} m; public mode publishes no count)" if smooth
            else f"the long-run counts (the naive baseline) with ties broken by the "
                 f"rule-of-thumb KDE ({h:,.0f} m)")
    text = (f"too few recorded periods to validate a ranking, so {what}, "
            + ("per year of record" if years else "over the whole record (no dates: not per year)"))
    choices.append(announce(Choice("forecast", model.name, text)))
    calibration = {"a": float("nan"), "b": 1.0, "rule": "rescaled to the rate per year of record"}
    result = _result(grid, rate, None, model, text, [], pd.DataFrame(), calibration, choices,
                     False, TREATABLE_SHARE, radius=h)
    result.baseline = None if smooth else "long-run counts (every past period, unsmoothed)"
    return result


# ====================================================================== backtest
def backtest(
    grid: Grid,
    x: np.ndarray,
    y: np.ndarray,
    times: Any,
    *,
    n_tests: int = 3,
    treatable_share: float = TREATABLE_SHARE,
    periods: Periods | None = None,
) -> pd.DataFrame:
    """Nested held-out comparison of the chosen forecast with the naive baselines.

    For each of the last ``n_tests`` periods with at least two periods before
    it, the forecast is chosen on the earlier periods only (the test period is
    never seen) and compared with last period's counts and long-run counts.

    Returns
    -------
    DataFrame
        One row per test period: ``test_start``, ``incidents``, ``model``,
        ``pei_forecast``, ``pei_last_period``, ``pei_long_run`` (at
        ``treatable_share``), ``deviance_forecast`` and ``deviance_last_period``
        (with the 1 % uniform share).
    """
    from hotspot_env.core.density import count_incidents

    t = naive_utc(times)
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if periods is None:
        periods, _ = choose_period(t)
    if periods is None:
        return pd.DataFrame()
    idx = periods.index(t)
    pct = 100.0 * treatable_share
    rows = []
    for test in range(max(2, periods.n - n_tests), periods.n):
        sub = Periods(periods.name, periods.days, periods.start(test), test)
        train = (idx >= 0) & (idx < test)
        fr = fit_forecast(grid, x[train], y[train], t[train], periods=sub,
                          treatable_share=treatable_share)

        def counts(sel: np.ndarray) -> np.ndarray:
            return count_incidents(grid, x[sel], y[sel]).astype(float)[grid.mask]

        obs, last, long_run = counts(idx == test), counts(idx == test - 1), counts(train)
        pred = fr.next_period[grid.mask]
        rows.append({
            "test_start": str(periods.start(test).astype("datetime64[D]")),
            "incidents": int(obs.sum()), "model": fr.to_dict()["model"],
            "pei_forecast": scores.pei(pred, obs, pct),
            "pei_last_period": scores.pei(last, obs, pct),
            "pei_long_run": scores.pei(long_run, obs, pct),
            "deviance_forecast": float(poisson_deviance(obs, pred)),
            "deviance_last_period": float(poisson_deviance(
                obs, with_floor(last, train.sum() / (test * grid.n_cells))))})
    return pd.DataFrame(rows)
