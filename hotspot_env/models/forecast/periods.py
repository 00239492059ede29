"""Equal periods counted back from the last recorded day, and gaps in recording."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hotspot_env.core.choices import Choice, announce
from hotspot_env.models.forecast.constants import MIN_PERIODS, PERIOD_SLACK, PERIODS


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
        Number of periods (the oldest may be partly covered, see :func:`choose_period`).
    """

    name: str
    days: float
    end: np.datetime64
    n: int

    def index(self, times: np.ndarray) -> np.ndarray:
        """Period of each time, 0 = oldest; -1 before the first period or NaT."""
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


def naive_utc(times: Any) -> np.ndarray:
    """Datetimes as naive UTC ``datetime64[ns]`` (NaT kept)."""
    series = pd.Series(times)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.to_datetime(series).to_numpy(dtype="datetime64[ns]")


def _scheme(t: np.ndarray, name: str, days: float, end: np.datetime64, span_days: float
            ) -> tuple[Periods, np.ndarray, bool]:
    """Periods of length ``days`` back from ``end``, their record counts, and whether a
    partly covered oldest period was kept."""
    n_all = int(math.ceil(span_days / days - 1e-9))
    covered = span_days / days - (n_all - 1)  # share of the oldest period inside the span
    p = Periods(name, days, end, n_all)
    counts = np.bincount(p.index(t)[p.index(t) >= 0], minlength=n_all)
    if n_all > 1 and covered < 1.0 - PERIOD_SLACK:
        rest = counts[1:][counts[1:] > 0]
        typical = float(rest.mean()) if rest.size else 0.0
        # records dated at a coarser resolution (one monthly file a year) pile up at the
        # start of the span: far more than the covered time predicts, so keep the period
        if typical > 0 and counts[0] >= typical * (covered + 1.0) / 2.0:
            return p, counts, True
        p = Periods(name, days, end, n_all - 1)
        return p, counts[1:], False
    return p, counts, False


def choose_period(times: Any, min_periods: int = MIN_PERIODS,
                  end: np.datetime64 | None = None) -> tuple[Periods | None, Choice]:
    """Longest period (year, half-year, quarter, month) giving ``min_periods`` recorded periods.

    A period with no records is a gap (see :func:`recording_gaps`) and does not
    count. The oldest period, when the span covers less than 90 % of it, is
    kept only if it holds at least half-way between what its covered time
    predicts and a full period's records (coarse-dated records such as one
    monthly file per year); otherwise its records are left out.

    Parameters
    ----------
    times : array-like of datetimes
        Incident times (tz-aware or naive UTC); NaT ignored.
    min_periods : int
        Fewest recorded periods needed (default 2: one fold).
    end : numpy.datetime64, optional
        End of the last period (default: midnight after the last record).

    Returns
    -------
    periods : Periods or None
        None when even months give fewer than ``min_periods``.
    choice : Choice
        The announcement.
    """
    t = naive_utc(times)
    t = t[~np.isnat(t)]
    if t.size == 0:
        return None, announce(Choice("forecast_period", "none", "incidents have no dates"))
    if end is None:
        end = t.max().astype("datetime64[D]") + np.timedelta64(1, "D")
    end = np.datetime64(end, "ns")
    t = t[t < end]
    if t.size == 0:
        return None, announce(Choice("forecast_period", "none", "no incident before the end"))
    span_days = (end - t.min().astype("datetime64[D]").astype("datetime64[ns]")) / np.timedelta64(
        1, "D")
    for name, days in PERIODS:
        p, counts, coarse = _scheme(t, name, days, end, span_days)
        recorded = int((counts > 0).sum())
        if recorded >= min_periods:
            gaps = p.n - recorded
            horizon = ("" if name == "year" else
                       f"; fewer than {min_periods} recorded years, so {name}-ahead folds stand "
                       "in for the year-ahead forecast")
            return p, announce(Choice(
                "forecast_period", name,
                f"the records span {span_days:,.0f} days: {p.n} {name}s ending "
                f"{str(end.astype('datetime64[D]'))}, {recorded} with records"
                + (f" ({gaps} without any: gaps in recording)" if gaps else "")
                + (" (the oldest is kept whole: its records are dated coarser than a day)"
                   if coarse else "") + horizon))
    return None, announce(Choice(
        "forecast_period", "none",
        f"the records span only {span_days:,.0f} days, fewer than {min_periods} recorded months"))


def month_periods(times: Any, min_periods: int = MIN_PERIODS) -> tuple[Periods | None, Choice]:
    """Forecast periods for month-only dates (police.uk): months or years, never days.

    The last period ends at the start of the month after the last month on
    record (not the day after its first day). Consecutive months take the usual
    rule (:func:`choose_period`). Months that are not consecutive (the same
    month of several years) give year-on-year periods, one per calendar year
    spanned, each holding that year's months on record; a forecast then means
    "those months next year" (announced).
    """
    t = naive_utc(times)
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


def recording_gaps(counts_per_period: np.ndarray) -> np.ndarray:
    """Indices of periods with no record anywhere in the area (gaps in recording).

    Parameters
    ----------
    counts_per_period : ndarray, shape (P, ...)
        Incident counts per period (per cell or totals).

    Returns
    -------
    ndarray of int
        The empty periods, oldest first.
    """
    c = np.asarray(counts_per_period, float)
    totals = c.reshape(c.shape[0], -1).sum(axis=1)
    return np.flatnonzero(~(totals > 0))
