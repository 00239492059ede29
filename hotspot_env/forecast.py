"""The default forecast: expected incidents per cell next year, tuned on the user's own data.

Model
-----
Time is cut into equal periods ending at the last recorded day (a year when
the records span at least four years, else half-years, quarters or months,
whichever first gives four or more full periods; :func:`choose_period`). With
``C_t`` the incident counts per cell in period ``t`` and ``K_h`` a quartic
kernel smoother of radius ``h`` that keeps the total inside the study area,
the forecast for period ``t + 1`` is the blend::

    mu_{t+1} = w * C_t + (1 - w) * mean_{l < L} K_h(C_{t-l})
    forecast = (1 - eps) * mu_{t+1} + eps * b

of *last period's counts* (weight ``w``) and a *kernel density* of the last
``L`` periods (1, 3 or all), plus a small uniform share ``eps`` = 1 % of the
mean rate per cell ``b`` over all past periods, so no cell is ever forecast
exactly zero. ``w = 1`` is the naive "same as last period" forecast (Mohler
et al. 2011 and Johnson et al. 2009 use it, and long-run densities, as the
baselines a forecast must beat); ``w = 0`` is a pure KDE.

Tuning
------
``h``, ``w`` and ``L`` are chosen by rolling-origin temporal cross-validation
(Hyndman & Athanasopoulos 2021, sec. 5.10): for each of the last (up to six)
periods ``t + 1`` with at least one period before it, the blend is built from
periods ``<= t`` only and scored on period ``t + 1`` by the Poisson deviance
``2 sum_s [y_s log(y_s / mu_s) - (y_s - mu_s)]`` (Gneiting 2011: a proper
scoring rule for counts). The combination with the smallest total deviance is
kept and announced. Because ``w = 1`` is among the candidates, the naive
forecast is chosen whenever it scores best. Without dates, or with fewer than
four periods, the analysis' rule-of-thumb bandwidth is used with ``w = 0``
(announced).

The KDE here bins incidents to cell centres and convolves with the kernel by
FFT (:func:`hotspot_env.rtm.binned_kde`), which makes the cross-validation cheap;
moving points by at most half a cell diagonal is negligible at the radii tried
(two cells and more).

References
----------
Mohler, G. O. et al. (2011). Self-exciting point process modeling of crime.
JASA 106(493), 100-108.
Johnson, S. D. et al. (2009). Prospective crime mapping in operational
context. Home Office Online Report 19/07.
Gneiting, T. (2011). Making and evaluating point forecasts. JASA 106(494), 746-762.
Hyndman, R. J. & Athanasopoulos, G. (2021). Forecasting: principles and
practice, 3rd ed. OTexts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from hotspot_env.choices import Choice, announce
from hotspot_env.grid import Grid
from hotspot_env.rtm import binned_kde
from hotspot_env.stages import declares

if TYPE_CHECKING:
    from hotspot_env.analysis import Analysis

#: Candidate period lengths, longest first: name and length in days.
PERIODS: tuple[tuple[str, float], ...] = (
    ("year", 365.25), ("half-year", 365.25 / 2), ("quarter", 365.25 / 4), ("month", 365.25 / 12))

#: Fewest full periods needed to cross-validate (three train/test splits).
MIN_PERIODS: int = 4

#: Candidate kernel radii, in cells.
BANDWIDTH_CELLS: tuple[float, ...] = (2, 3, 4, 6, 8, 12, 16, 24)

#: Candidate weights of last period's counts.
WEIGHTS: tuple[float, ...] = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))

#: Candidate KDE memories in periods (None = every past period).
LOOKBACKS: tuple[int | None, ...] = (1, 3, None)

#: Uniform share mixed into every forecast (and every baseline scored with it).
UNIFORM_SHARE: float = 0.01

#: Most recent test periods used by the cross-validation.
MAX_FOLDS: int = 6

#: A period counts as full when the records cover at least 90 % of it: the
#: first and last incidents of a sparse record fall days inside the true
#: collection window (2,169 days of homicides are six years, not five).
PERIOD_SLACK: float = 0.1


def poisson_deviance(y: np.ndarray, mu: np.ndarray, axis: int = -1) -> np.ndarray:
    """Poisson deviance ``2 sum [y log(y/mu) - (y - mu)]`` along ``axis`` (0 log 0 = 0)."""
    y, mu = np.broadcast_arrays(np.asarray(y, float), np.asarray(mu, float))
    # the log only where y > 0: counts are mostly zeros, and 0 log 0 = 0 needs no log
    term = np.zeros(y.shape)
    pos = y > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        term[pos] = y[pos] * np.log(y[pos] / mu[pos])
    return 2.0 * np.sum(term - (y - mu), axis=axis)


def with_floor(mu: np.ndarray, background: float, share: float = UNIFORM_SHARE) -> np.ndarray:
    """``(1 - share) * mu + share * background``: never exactly zero where background > 0."""
    return (1.0 - share) * np.asarray(mu, float) + share * background


# ====================================================================== periods
@dataclass(frozen=True)
class Periods:
    """Equal periods ending at the last recorded day.

    Attributes
    ----------
    name : str
        "year", "half-year", "quarter" or "month".
    days : float
        Period length in days.
    end : numpy.datetime64
        End of the last period (exclusive): midnight UTC after the last record.
    n : int
        Number of full periods.
    """

    name: str
    days: float
    end: np.datetime64
    n: int

    def index(self, times: np.ndarray) -> np.ndarray:
        """Period of each time, 0 = oldest; -1 before the first full period or NaT."""
        t = np.asarray(times, dtype="datetime64[ns]")
        ok = ~np.isnat(t)
        back = np.full(t.shape, np.inf)
        back[ok] = (self.end - t[ok]) / np.timedelta64(1, "D") / self.days
        k = np.floor(back)  # 0 = last period
        idx = np.where(ok & (k >= 0) & (k < self.n), self.n - 1 - k, -1)
        return idx.astype(np.int64)

    def start(self, k: int) -> np.datetime64:
        """Start of period ``k`` (inclusive)."""
        return self.end - np.timedelta64(int(round((self.n - k) * self.days * 86400)), "s")


def _naive_utc(times: Any) -> np.ndarray:
    """Datetimes as naive UTC ``datetime64[ns]`` (NaT kept)."""
    series = pd.Series(times)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.to_datetime(series).to_numpy(dtype="datetime64[ns]")


def choose_period(times: Any, min_periods: int = MIN_PERIODS,
                  end: np.datetime64 | None = None) -> tuple[Periods | None, Choice]:
    """Longest period (year, half-year, quarter, month) giving ``min_periods`` full periods.

    Parameters
    ----------
    times : array-like of datetimes
        Incident times (tz-aware or naive UTC); NaT ignored.
    min_periods : int
        Fewest full periods needed (default 4).
    end : numpy.datetime64, optional
        End of the last period (default: midnight after the last record).

    Returns
    -------
    periods : Periods or None
        None when even months give fewer than ``min_periods``.
    choice : Choice
        The announcement.
    """
    t = _naive_utc(times)
    t = t[~np.isnat(t)]
    if t.size == 0:
        return None, announce(Choice("forecast_period", "none", "incidents have no dates"))
    if end is None:
        end = t.max().astype("datetime64[D]") + np.timedelta64(1, "D")
    end = np.datetime64(end, "ns")
    span_days = (end - t.min().astype("datetime64[D]").astype("datetime64[ns]")) / np.timedelta64(
        1, "D")
    for name, days in PERIODS:
        n = int(math.floor(span_days / days + PERIOD_SLACK))
        if n >= min_periods:
            p = Periods(name, days, end, n)
            return p, announce(Choice(
                "forecast_period", name,
                f"the records span {span_days:,.0f} days: {n} full {name}s ending "
                f"{str(end.astype('datetime64[D]'))} (the longest period giving at least "
                f"{min_periods})"))
    return None, announce(Choice(
        "forecast_period", "none",
        f"the records span only {span_days:,.0f} days, fewer than {min_periods} months"))


def month_periods(times: Any, min_periods: int = MIN_PERIODS) -> tuple[Periods | None, Choice]:
    """Forecast periods for month-only dates (police.uk): months or years, never days.

    The last period ends at the start of the month after the last month on
    record (not the day after its first day). Consecutive months take the usual
    rule (:func:`choose_period`). Months that are not consecutive (the same
    month of several years) give year-on-year periods, one per calendar year
    spanned, each holding that year's months on record; a forecast then means
    "those months next year" (announced).
    """
    t = _naive_utc(times)
    t = t[~np.isnat(t)]
    if t.size == 0:
        return None, announce(Choice("forecast_period", "none", "incidents have no dates"))
    months = np.unique(t.astype("datetime64[M]"))
    end = np.datetime64((months[-1] + 1).astype("datetime64[D]"), "ns")
    if int((months[-1] - months[0]).astype(int)) + 1 == months.size:
        return choose_period(t, min_periods, end=end)
    years = int((months[-1].astype("datetime64[Y]") - months[0].astype("datetime64[Y]"))
                .astype(int)) + 1
    if years < 2:
        return None, announce(Choice(
            "forecast_period", "none", "the months on record are not consecutive and fall in "
            "one year: no period to learn from"))
    return Periods("year", 365.25, end, years), announce(Choice(
        "forecast_period", "year",
        f"dates are months only and the months on record are not consecutive: {years} "
        "year-on-year periods, each holding its year's months on record; the forecast is for "
        "those months next year, not a whole year"))


# ====================================================================== blend pieces
@dataclass
class _Stack:
    """Per-period counts on the grid: padded for smoothing and flat inside the mask."""

    grid: Grid
    padded: np.ndarray  # (P, rows + 2 pad, cols + 2 pad)
    counts: np.ndarray  # (P, n_mask)
    pad: int
    cache: dict[float, np.ndarray] = field(default_factory=dict)

    def kde(self, h: float) -> np.ndarray:
        """(P, n_mask) smoothed counts per period, each keeping its in-mask total."""
        if h not in self.cache:
            dens = binned_kde(self.grid, self.padded, h, self.pad) * self.grid.cell_size**2
            flat = dens[:, self.grid.mask]
            total = flat.sum(axis=1, keepdims=True)
            want = self.counts.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.where(total > 0, want / total, 0.0)
            self.cache[h] = flat * scale
        return self.cache[h]


def _stack(grid: Grid, x: np.ndarray, y: np.ndarray, period: np.ndarray, n: int,
           max_bandwidth: float) -> _Stack:
    pad = int(math.ceil(max_bandwidth / grid.cell_size)) + 1
    rows, cols = grid.n_rows + 2 * pad, grid.n_cols + 2 * pad
    padded = np.zeros((n, rows, cols))
    keep = period >= 0
    if keep.any():
        row, col = grid.padded_cell_index(x[keep], y[keep], pad)
        ok = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
        key = (period[keep][ok] * rows + row[ok]) * cols + col[ok]
        padded = np.bincount(key, minlength=n * rows * cols).reshape(n, rows, cols).astype(float)
    inner = padded[:, pad:pad + grid.n_rows, pad:pad + grid.n_cols]
    counts = inner[:, grid.mask]
    return _Stack(grid, padded, counts, pad)


def _blend(stack: _Stack, t: int, h: float, lookback: int | None,
           weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Forecasts for period ``t`` from periods ``< t``: (len(weights), n_mask) and background."""
    recent = stack.counts[t - 1]
    lo = 0 if lookback is None else max(0, t - lookback)
    base = stack.kde(h)[lo:t].mean(axis=0)
    background = float(stack.counts[:t].sum()) / (t * stack.counts.shape[1])
    w = np.asarray(weights, float)[:, None]
    return w * recent[None, :] + (1.0 - w) * base[None, :], background


def bandwidth_grid(grid: Grid, extra: float | None = None) -> list[float]:
    """Candidate radii: :data:`BANDWIDTH_CELLS` x cell size, up to half the grid's longer side.

    ``extra`` (e.g. the rule-of-thumb radius) is added when given.
    """
    s = grid.cell_size
    limit = max(grid.n_rows, grid.n_cols) * s / 2.0
    hs = [c * s for c in BANDWIDTH_CELLS if c * s <= limit] or [2 * s]
    if extra is not None and math.isfinite(extra) and 2 * s <= extra <= limit:
        hs.append(float(round(extra)))
    return sorted(set(hs))


def cross_validate(
    stack: _Stack,
    bandwidths: list[float],
    weights: tuple[float, ...] = WEIGHTS,
    lookbacks: tuple[int | None, ...] = LOOKBACKS,
    max_folds: int = MAX_FOLDS,
) -> pd.DataFrame:
    """Rolling-origin cross-validation of every (bandwidth, weight, lookback).

    Each candidate is scored by :func:`poisson_deviance` of the floored blend
    (:func:`_blend`, :func:`with_floor`) on the test period, split by cell:
    where the test count ``y > 0`` the per-cell terms ``y log(y/mu) - (y -
    mu)`` are the same numbers; where ``y = 0`` the term is ``mu``, whose sum
    is linear in the weight and comes from the sums of last period's counts
    and of the KDE over those cells. The costly log thus runs only on the
    cells with incidents (about half at metro scale), for all weights at
    once. Only the order of the summation differs from the per-cell sum
    (rounding noise, about 1e-16 relative, checked in the tests), and the
    naive forecast (``w = 1``) still scores exactly the same for every
    bandwidth. A (bandwidth, first KDE period, test period) reached by two
    lookbacks is scored once.

    Returns
    -------
    DataFrame
        ``bandwidth_m, weight, lookback, deviance, folds`` (deviance summed
        over the test periods), sorted best first.
    """
    n = stack.counts.shape[0]
    tests = list(range(max(1, n - max_folds), n))
    w = np.asarray(weights, float)
    keep = 1.0 - UNIFORM_SHARE
    folds = {t: _Fold(stack, t) for t in tests}
    scored: dict[tuple[float, int, int], np.ndarray] = {}
    rows = []
    looks = [lb for lb in lookbacks if lb is None or lb < n - 1] or [None]
    for h in bandwidths:
        kde = stack.kde(h)
        for lb in looks:
            total = np.zeros(w.size)
            for t in tests:
                lo = 0 if lb is None else max(0, t - lb)
                if (h, lo, t) not in scored:
                    f = folds[t]
                    base = kde[lo:t].mean(axis=0)  # as in _blend
                    # y > 0: mu as with_floor(_blend(...)) builds it, in place
                    mu = np.multiply.outer(w, f.recent)
                    mu += np.multiply.outer(1.0 - w, base[f.pos])
                    mu *= keep
                    mu += UNIFORM_SHARE * f.background
                    term = np.divide(f.y, mu)
                    np.log(term, out=term)
                    term *= f.y
                    term -= f.y - mu
                    # y = 0: the term is mu; (1 - w) * B is exactly 0 at w = 1
                    zero = (keep * (w * f.recent_zero + (1.0 - w) * float(base[f.zero].sum()))
                            + UNIFORM_SHARE * f.background * f.zero.size)
                    scored[h, lo, t] = 2.0 * (term.sum(axis=1) + zero)
                total += scored[h, lo, t]
            for wi, dev in zip(w, total, strict=True):
                rows.append({"bandwidth_m": float(h), "weight": float(wi),
                             "lookback": "all" if lb is None else int(lb),
                             "deviance": float(dev), "folds": len(tests)})
    table = pd.DataFrame(rows)
    return table.sort_values(["deviance", "weight", "bandwidth_m"], kind="stable").reset_index(
        drop=True)


class _Fold:
    """What a test period contributes whatever the candidate: its cells with and
    without incidents, last period's counts there and the uniform background."""

    def __init__(self, stack: _Stack, t: int) -> None:
        y = stack.counts[t]
        self.pos = np.flatnonzero(y > 0)
        self.zero = np.flatnonzero(y <= 0)
        self.y = y[self.pos]
        recent = stack.counts[t - 1]
        self.recent = recent[self.pos]
        self.recent_zero = float(recent[self.zero].sum())
        self.background = float(stack.counts[:t].sum()) / (t * y.size)


# ====================================================================== result
@dataclass
class ForecastResult:
    """The default forecast.

    Attributes
    ----------
    forecast : ndarray
        Expected incidents per cell over the next year (``grid.shape``, NaN
        outside the study area).
    next_period : ndarray
        Expected incidents per cell over the next period.
    bandwidth_m : float
        Kernel radius (m).
    weight : float
        Weight of last period's counts (0-1).
    lookback : int or str
        Periods in the KDE ("all" for every period).
    period : str
        Period name ("year"...), or "none" without cross-validation.
    period_days : float
        Period length (days).
    n_periods : int
        Full periods used.
    cv : DataFrame
        Cross-validation table (empty without it).
    choices : list of Choice
        Announcements.
    tuned : bool
        True when the parameters came from cross-validation.
    """

    forecast: np.ndarray
    next_period: np.ndarray
    bandwidth_m: float
    weight: float
    lookback: int | str
    period: str
    period_days: float
    n_periods: int
    cv: pd.DataFrame
    choices: list[Choice]
    tuned: bool

    def naive_cv_deviance(self) -> float:
        """Best cross-validated deviance of the naive forecast (weight 1), NaN without CV."""
        if self.cv.empty:
            return float("nan")
        return float(self.cv.loc[self.cv["weight"] == 1.0, "deviance"].min())

    def best_cv_deviance(self) -> float:
        """Cross-validated deviance of the chosen forecast, NaN without CV."""
        return float(self.cv["deviance"].iloc[0]) if not self.cv.empty else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (NaN deviances, without cross-validation, become None)."""
        def finite(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {"bandwidth_m": self.bandwidth_m, "weight_recent_counts": self.weight,
                "kde_lookback_periods": self.lookback, "period": self.period,
                "period_days": self.period_days, "n_periods": self.n_periods,
                "tuned_by_cross_validation": self.tuned, "uniform_share": UNIFORM_SHARE,
                "cv_deviance": finite(self.best_cv_deviance()),
                "cv_deviance_naive": finite(self.naive_cv_deviance()),
                "units": "incidents per year"}


def fit_forecast(
    grid: Grid,
    x: np.ndarray,
    y: np.ndarray,
    times: Any,
    *,
    fallback_bandwidth: float | None = None,
    periods: Periods | None = None,
    bandwidths: list[float] | None = None,
    weights: tuple[float, ...] = WEIGHTS,
    lookbacks: tuple[int | None, ...] = LOOKBACKS,
    max_folds: int = MAX_FOLDS,
) -> ForecastResult:
    """Tune the blend by temporal cross-validation and forecast the next year.

    Parameters
    ----------
    grid : Grid
        The study grid.
    x, y : ndarray
        Incident coordinates in ``grid.crs`` (m).
    times : array-like of datetimes
        Incident times (tz-aware or naive UTC; NaT allowed).
    fallback_bandwidth : float, optional
        Radius (m) used without enough periods (default:
        :func:`hotspot_env.density.choose_bandwidth` on the points); also tried
        in the cross-validation.
    periods : Periods, optional
        Period scheme (default :func:`choose_period`).
    bandwidths : list of float, optional
        Candidate radii (default :func:`bandwidth_grid`).
    weights, lookbacks : tuple
        Candidate weights of last period's counts and KDE memories.
    max_folds : int
        Most recent test periods scored (default 6).

    Returns
    -------
    ForecastResult
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    t = _naive_utc(times)
    choices: list[Choice] = []
    if fallback_bandwidth is None:
        from hotspot_env.density import choose_bandwidth

        fallback_bandwidth, bw_choice = choose_bandwidth(x, y, grid.cell_size)
        choices.append(bw_choice)
    if periods is None:
        periods, p_choice = choose_period(t)
        choices.append(p_choice)
    if periods is None or periods.n < 2:
        return _fallback(grid, x, y, t, float(fallback_bandwidth), choices)
    idx = periods.index(t)
    n_before = int(((idx < 0) & ~np.isnat(t)).sum())
    if n_before:
        choices.append(announce(Choice(
            "forecast_incidents_before_first_period", n_before,
            f"incidents before the first full {periods.name} are not used by the forecast")))
    hs = bandwidths or bandwidth_grid(grid, fallback_bandwidth)
    stack = _stack(grid, x, y, idx, periods.n, max(hs))
    cv = cross_validate(stack, hs, weights, lookbacks, max_folds)
    best = cv.iloc[0]
    h, w = float(best["bandwidth_m"]), float(best["weight"])
    lb = None if best["lookback"] == "all" else int(best["lookback"])
    naive = float(cv.loc[cv["weight"] == 1.0, "deviance"].min())
    choices.append(announce(Choice(
        "forecast", {"bandwidth_m": h, "weight_recent_counts": w,
                     "kde_lookback": best["lookback"]},
        f"rolling-origin cross-validation over the last {int(best['folds'])} {periods.name}s "
        f"(Poisson deviance {best['deviance']:,.1f} against {naive:,.1f} for last "
        f"{periods.name}'s counts alone)")))
    mu, bg = _blend(stack, periods.n, h, lb, np.array([w]))
    per_period = with_floor(mu[0], bg)
    return _result(grid, per_period, periods, h, w, best["lookback"], cv, choices, True)


def _result(grid: Grid, per_period: np.ndarray, periods: Periods | None, h: float, w: float,
            lookback: Any, cv: pd.DataFrame, choices: list[Choice], tuned: bool
            ) -> ForecastResult:
    days = periods.days if periods is not None else 365.25
    nxt = np.full(grid.shape, np.nan)
    nxt[grid.mask] = per_period
    year = nxt * (365.25 / days)
    return ForecastResult(year, nxt, h, w, lookback, periods.name if periods else "none", days,
                          periods.n if periods else 0, cv, choices, tuned)


def _fallback(grid: Grid, x: np.ndarray, y: np.ndarray, t: np.ndarray, h: float,
              choices: list[Choice]) -> ForecastResult:
    """KDE of every incident at the rule-of-thumb radius, as a rate per year when dated."""
    dated = t[~np.isnat(t)]
    years = None
    if dated.size:
        days = (dated.max() - dated.min()) / np.timedelta64(1, "D") + 1.0
        years = max(days, 1.0) / 365.25
    stack = _stack(grid, x, y, np.zeros(x.size, np.int64), 1, h)
    rate = stack.kde(h)[0] / (years or 1.0)
    bg = float(stack.counts.sum()) / max(stack.counts.shape[1], 1) / (years or 1.0)
    per_year = with_floor(rate, bg)
    choices.append(announce(Choice(
        "forecast", {"bandwidth_m": h, "weight_recent_counts": 0.0, "kde_lookback": "all"},
        "too few dated periods to cross-validate, so the rule-of-thumb KDE of every incident "
        + ("per year of record" if years else "over the whole record (no dates: not per year)"))))
    result = _result(grid, per_year, None, h, 0.0, "all", pd.DataFrame(), choices, False)
    return result


# ====================================================================== backtest
def backtest(
    grid: Grid,
    x: np.ndarray,
    y: np.ndarray,
    times: Any,
    *,
    n_tests: int = 3,
    fallback_bandwidth: float | None = None,
    periods: Periods | None = None,
) -> pd.DataFrame:
    """Held-out comparison of the tuned forecast with last period's counts.

    For each of the last ``n_tests`` periods that have at least two periods
    before them, the forecast is tuned by cross-validation on the earlier
    periods only (nested: the test period is never seen) and compared with
    the naive forecast (last period's counts, with the same 1 % uniform share).

    Returns
    -------
    DataFrame
        One row per test period: ``test_start``, ``incidents``,
        ``deviance_forecast``, ``deviance_naive``, ``mse_forecast``,
        ``mse_naive``, ``hit5_forecast``, ``hit5_naive`` (share of the test
        period's incidents in the 5 % of cells forecast highest),
        ``bandwidth_m``, ``weight``, ``lookback``.
    """
    from hotspot_env.density import count_incidents
    from hotspot_env.scores import hit_rate

    t = _naive_utc(times)
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if periods is None:
        periods, _ = choose_period(t)
    if periods is None:
        return pd.DataFrame()
    idx = periods.index(t)
    rows = []
    for test in range(max(2, periods.n - n_tests), periods.n):
        sub = Periods(periods.name, periods.days, periods.start(test), test)
        train = (idx >= 0) & (idx < test)
        fr = fit_forecast(grid, x[train], y[train], t[train], periods=sub,
                          fallback_bandwidth=fallback_bandwidth)
        hit = idx == test
        obs = count_incidents(grid, x[hit], y[hit]).astype(float)[grid.mask]
        last = (idx == test - 1)
        naive = count_incidents(grid, x[last], y[last]).astype(float)[grid.mask]
        past = train.sum() / (test * grid.n_cells)
        pred = fr.next_period[grid.mask]
        rows.append({
            "test_start": str(periods.start(test).astype("datetime64[D]")),
            "incidents": int(obs.sum()),
            "deviance_forecast": float(poisson_deviance(obs, pred)),
            "deviance_naive": float(poisson_deviance(obs, with_floor(naive, past))),
            "mse_forecast": float(np.mean((obs - pred) ** 2)),
            "mse_naive": float(np.mean((obs - naive) ** 2)),
            "hit5_forecast": hit_rate(pred, obs, 5.0),
            "hit5_naive": hit_rate(naive, obs, 5.0),
            "bandwidth_m": fr.bandwidth_m, "weight": fr.weight, "lookback": fr.lookback})
    return pd.DataFrame(rows)


# ====================================================================== pipeline stage
@declares(adds=("forecast", "arrays.forecast"))
def stage(analysis: Analysis, **options: Any) -> None:
    """Pipeline stage: per-cell ``forecast`` (expected incidents next year) when dates exist.

    Adds ``arrays["forecast"]``, ``analysis.forecast`` (:class:`ForecastResult`),
    ``parameters["forecast"]`` and the choices. Without dates nothing is added
    except a notice. Options are passed to :func:`fit_forecast`.
    """
    if not analysis.has_dates:
        analysis.choices.append(announce(Choice(
            "forecast", "not made", "the incidents have no dates, so no per-year forecast")))
        return
    from hotspot_env.privacy import Kind, declare, protected_points, protection_for

    pts = analysis.points
    geoms = pts.geometry.values  # points: shapely reads x and y without GeoSeries' type checks
    x, y, times = shapely.get_x(geoms), shapely.get_y(geoms), pts["datetime"]
    if analysis.parameters.get("date_precision") == "month" and "periods" not in options:
        periods, choice = month_periods(pts["datetime"])
        analysis.choices.append(choice)
        if periods is None:
            analysis.choices.append(announce(Choice(
                "forecast", "not made", "month-only dates without enough periods to learn from "
                "(see forecast_period)")))
            return
        options["periods"] = periods
    kind = Kind.COUNT_DERIVED
    if protection_for(analysis) is not None:  # public: fit on the protected counts only
        periods = options.get("periods")
        if periods is None:
            periods, period_choice = choose_period(times)
            analysis.choices.append(period_choice)
        x, y, times = protected_points(analysis, x, y, _naive_utc(times), periods)
        options["periods"] = periods
        kind = Kind.PROTECTED_DERIVED
    result = fit_forecast(analysis.grid, x, y, times, fallback_bandwidth=options.pop(
                              "fallback_bandwidth", analysis.parameters.get("bandwidth_m")),
                          **options)
    declare(analysis, "forecast", result.forecast, kind)
    analysis.forecast = result
    analysis.parameters["forecast"] = result.to_dict()
    analysis.choices.extend(result.choices)


__all__ = ["ForecastResult", "Periods", "backtest", "choose_period", "cross_validate",
           "fit_forecast", "poisson_deviance", "stage", "with_floor"]
