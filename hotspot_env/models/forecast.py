"""The default forecast: expected incidents per cell next year, chosen by how well it ranks places.

Periods and gaps
----------------
Time is cut into equal periods counted back from the last recorded day: the
longest of year, half-year, quarter and month that gives at least two
*recorded* periods (:func:`choose_period`), so a year-ahead forecast is tuned
on year-ahead folds whenever the record holds two years. A period with no
record anywhere in the area is a gap in recording, not zero incidents: it is
left out and announced. The oldest period may be only partly covered by the
time span; it is kept when it holds nearly a full period's records (records
kept at a coarser resolution than their dates, such as one monthly file per
year) and dropped otherwise.

Candidates
----------
With ``C_1..C_t`` the counts per cell of the recorded periods before the one
forecast, every candidate is a *base* and a *smoother* (:func:`candidates`):

* bases: long-run counts (mean of every past period), counts over the last
  ``L`` periods (``L = 1`` is last period's counts), recency-weighted counts
  (weights halving each period back);
* smoothers: none (the naive baselines themselves), a tie-break by the
  neighbours (``base + eps K_h(base)``, ``eps`` too small to reorder any
  distinct counts), blends ``base + a K_h(base)`` (``a`` = 0.1, 0.5) and the
  pure kernel smooth ``K_h(base)``, with ``K_h`` a quartic kernel of radius
  ``h`` = 1.5 to 24 cells that keeps the total inside the study area.

Choice
------
Candidates are scored on rolling-origin folds (Hyndman & Athanasopoulos 2021,
sec. 5.10; up to the last six recorded periods, each forecast from the
periods before it only) by the decision criterion: the predictive efficiency
index (PEI; Hunt 2016) at the treatable share of the area (default 5 %): the
incidents in the cells a crew could treat, over the most those cells could
hold. The simplest candidate within one standard error of the best mean PEI
wins (:func:`one_se_choice`; bases before tie-breaks, blends and smooths), so
when a naive baseline ranks as well as anything the default **is** that
baseline, announced in plain words. No infinite or NaN score can win
(:func:`best_finite`).

Calibration
-----------
The winner is a ranking. For expected incidents (the intervention baseline) it
is calibrated on the same folds by a Poisson regression ``log mu = a + b log s``
(statsmodels GLM; Gneiting 2011 for the deviance as a proper score), which is
strictly increasing in ``s`` when ``b > 0`` and so keeps the ranking; otherwise
the score is only rescaled to the recent total. One model thus serves both the
map and the count forecast.

References
----------
Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping
for predicting spatial patterns of crime. Security Journal 21(1-2), 4-28.
Hunt, J. M. (2016). Do crime hot spots move? Exploring the effects of the
modifiable areal unit problem and modifiable temporal unit problem on crime
hot spot stability. American University (PhD thesis).
Mohler, G. O. et al. (2011). Self-exciting point process modeling of crime.
JASA 106(493), 100-108.
Gneiting, T. (2011). Making and evaluating point forecasts. JASA 106(494), 746-762.
Hyndman, R. J. & Athanasopoulos, G. (2021). Forecasting: principles and
practice, 3rd ed. OTexts.
Hastie, T., Tibshirani, R. & Friedman, J. (2009). The Elements of Statistical
Learning, 2nd ed. Springer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.density import binned_kde
from hotspot_env.core.grid import Grid
from hotspot_env.core.stages import declares
from hotspot_env.models import scores

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Candidate period lengths, longest first: name and length in days.
PERIODS: tuple[tuple[str, float], ...] = (
    ("year", 365.25), ("half-year", 365.25 / 2), ("quarter", 365.25 / 4), ("month", 365.25 / 12))

#: Fewest recorded periods needed to cross-validate (one train/test fold).
MIN_PERIODS: int = 2

#: Default share of the area a crew can treat: the ranking criterion's cut-off.
TREATABLE_SHARE: float = 0.05

#: Candidate kernel radii, in cells.
RADII_CELLS: tuple[float, ...] = (1.5, 2, 3, 5, 8, 12, 24)

#: Weights of the neighbour-smoothed counts added to the counts ("blend").
BLENDS: tuple[float, ...] = (0.1, 0.5)

#: Longest "last L periods" base tried (the long-run base covers the rest).
MAX_LOOKBACK: int = 6

#: Uniform share mixed into every count forecast, so no cell is forecast exactly zero.
UNIFORM_SHARE: float = 0.01

#: Most recent test periods used by the cross-validation.
MAX_FOLDS: int = 6

#: A period counts as full when the records cover at least 90 % of it: the
#: first and last incidents of a sparse record fall days inside the true
#: collection window (2,169 days of homicides are six years, not five).
PERIOD_SLACK: float = 0.1

#: Relative size of the neighbour tie-break: far below any difference of counts.
TIEBREAK: float = 1e-6


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


def _naive_utc(times: Any) -> np.ndarray:
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
    t = _naive_utc(times)
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


# ====================================================================== count cube
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

    def select(self, periods: np.ndarray) -> _Stack:
        """The same cube restricted to ``periods`` (e.g. without gaps); cache shared per period."""
        sel = np.asarray(periods, dtype=np.int64)
        sub = _Stack(self.grid, self.padded[sel], self.counts[sel], self.pad)
        sub.cache = {h: v[sel] for h, v in self.cache.items()}
        return sub


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


def cube_stack(grid: Grid, cube: np.ndarray, max_bandwidth: float) -> _Stack:
    """A count cube ``(P, n_rows, n_cols)`` (e.g. protected counts) ready for the forecast."""
    cube = np.nan_to_num(np.asarray(cube, float), nan=0.0)
    pad = int(math.ceil(max_bandwidth / grid.cell_size)) + 1
    padded = np.pad(cube * grid.mask, ((0, 0), (pad, pad), (pad, pad)))
    return _Stack(grid, padded, cube[:, grid.mask], pad)


def radii(grid: Grid) -> list[float]:
    """Candidate kernel radii (m): :data:`RADII_CELLS` x cell size, up to half the grid's side."""
    s = grid.cell_size
    limit = max(grid.n_rows, grid.n_cols) * s / 2.0
    return [c * s for c in RADII_CELLS if c * s <= limit] or [RADII_CELLS[0] * s]


# ====================================================================== candidates
@dataclass(frozen=True)
class Candidate:
    """One ranking model: a base of past counts and a smoother.

    Attributes
    ----------
    base : str
        "all" (long-run counts), "last" (last ``lookback`` periods) or "recent"
        (weights halving each period back).
    lookback : int or None
        Periods in the "last" base.
    radius_m : float
        Kernel radius (0 without smoothing).
    blend : float or str
        "none" (counts only), "tiebreak", a weight ``a`` of the smoothed
        counts added to the counts, or "smooth" (the smoothed counts only).
    """

    base: str
    lookback: int | None = None
    radius_m: float = 0.0
    blend: float | str = "none"

    @property
    def name(self) -> str:
        """Short label, e.g. ``all+0.1K450`` or ``last1``."""
        b = {"all": "all", "recent": "recent"}.get(self.base, f"last{self.lookback}")
        if self.blend == "none":
            return b
        if self.blend == "smooth":
            return f"{b}_K{self.radius_m:g}"
        if self.blend == "tiebreak":
            return f"{b}+tieK{self.radius_m:g}"
        return f"{b}+{self.blend:g}K{self.radius_m:g}"

    @property
    def baseline(self) -> str | None:
        """Plain name when this candidate is a naive baseline, else None."""
        if self.blend != "none":
            return None
        if self.base == "all":
            return "long-run counts (every past period, unsmoothed)"
        if self.base == "last" and self.lookback == 1:
            return "last period's counts"
        return None

    def describe(self, period: str = "period") -> str:
        """Plain words, e.g. "counts of every past year plus 0.1 x their 450 m smooth"."""
        base = {"all": f"counts of every past {period}",
                "recent": f"recency-weighted counts (halving each {period} back)"}.get(
            self.base, f"counts of the last {self.lookback} {period}(s)")
        if self.blend == "none":
            return base
        if self.blend == "tiebreak":
            return f"{base}, ties broken by the neighbours within {self.radius_m:,.0f} m"
        if self.blend == "smooth":
            return f"{base}, smoothed over {self.radius_m:,.0f} m"
        return f"{base} plus {self.blend:g} x their {self.radius_m:,.0f} m smooth"

    def weights(self, t: int) -> np.ndarray:
        """Weights of the ``t`` past periods (oldest first), summing to 1."""
        if self.base == "all":
            w = np.ones(t)
        elif self.base == "last":
            w = (np.arange(t) >= t - min(self.lookback or 1, t)).astype(float)
        else:
            w = 0.5 ** np.arange(t - 1, -1, -1, dtype=float)
        return w / w.sum()

    def score(self, stack: _Stack, t: int) -> np.ndarray:
        """Ranking score per cell for recorded period ``t`` from periods ``< t``."""
        w = self.weights(t)
        counts = w @ stack.counts[:t]
        if self.blend == "none":
            return counts
        smooth = w @ stack.kde(self.radius_m)[:t]
        if self.blend == "smooth":
            return smooth
        if self.blend == "tiebreak":
            # below the smallest positive weight: reorders no two distinct counts
            top = float(smooth.max(initial=0.0))
            return counts + (TIEBREAK * float(w[w > 0].min()) / top) * smooth if top > 0 \
                else counts
        return counts + float(self.blend) * smooth


def candidates(n_recorded: int, radii_m: list[float]) -> list[Candidate]:
    """Every candidate for ``n_recorded`` periods, simplest first (ties go to the first).

    The naive baselines come first (long-run counts, then last period's
    counts), then the other bases, then each base with each smoother.
    """
    bases = [Candidate("all")] + [Candidate("last", L) for L in
                                  range(1, min(MAX_LOOKBACK, n_recorded - 1) + 1)]
    if n_recorded >= 2:
        bases.append(Candidate("recent"))
    out = list(bases)
    for blend in ("tiebreak", *BLENDS, "smooth"):
        for b in bases:
            for h in radii_m:
                out.append(Candidate(b.base, b.lookback, float(h), blend))
    return out


# ====================================================================== ranking metric
def check_share(share: Any) -> float:
    """``share`` as a float in (0, 1), else a one-line :class:`~hotspot_env.errors.InputError`."""
    from hotspot_env.errors import InputError

    try:
        value = float(share)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise InputError(f"--treatable-share must be a share of the area between 0 and 1 (e.g. "
                         f"0.05 for 5 %), got {share!r}")
    return value


def pei(score: np.ndarray, obs: np.ndarray, share: float = TREATABLE_SHARE) -> float:
    """Predictive efficiency index at ``share`` (a fraction) of the area (Hunt 2016).

    :func:`hotspot_env.models.scores.pei` with the share as a fraction: 1 = the best
    possible ranking, NaN when nothing was observed or a score is not finite.
    """
    return scores.pei(score, obs, 100.0 * share)


def best_finite(scores: pd.Series, higher_is_better: bool = True) -> Any:
    """Label of the best finite score, the first in order among ties; None if none is finite.

    An infinite or NaN score (a deviance over a recording gap, a PEI with no
    incidents) never wins.
    """
    values = pd.to_numeric(scores, errors="coerce").to_numpy(float)
    finite = np.isfinite(values)
    if not finite.any():
        return None
    v = np.where(finite, values if higher_is_better else -values, -np.inf)
    return scores.index[int(np.argmax(v))]  # argmax returns the first of equal maxima


def one_se_choice(cv: pd.DataFrame) -> int | None:
    """Row of the simplest candidate within one standard error of the best (or None).

    The one-standard-error rule (Hastie, Tibshirani & Friedman 2009, sec.
    7.10): among many candidates scored on few folds the top mean is partly
    luck, so the first candidate in order (simplest first, see
    :func:`candidates`) whose mean fold PEI is within one standard error of
    the best's is kept. The error is that of the per-fold differences to the
    best (paired: the folds' shared difficulty cancels). With a single fold
    there is no error to measure and the best is kept. Only finite scores
    count (:func:`best_finite`).
    """
    scores = pd.Series(cv["pei"].to_numpy(float), index=range(len(cv)))
    best = best_finite(scores)
    if best is None:
        return None
    fold_cols = [c for c in cv.columns if c.startswith("pei_")]
    folds = cv[fold_cols].to_numpy(float)
    diff = folds[best][None, :] - folds  # (candidates, folds)
    ok = np.isfinite(diff).all(axis=0)
    if ok.sum() < 2:
        return int(best)
    d = diff[:, ok]
    se = d.std(axis=1, ddof=1) / math.sqrt(d.shape[1])
    within = np.isfinite(scores.to_numpy()) & (d.mean(axis=1) <= se)
    return int(np.flatnonzero(within)[0])


# ====================================================================== cross-validation
def cross_validate(stack: _Stack, cands: list[Candidate], share: float = TREATABLE_SHARE,
                   max_folds: int = MAX_FOLDS) -> pd.DataFrame:
    """Rolling-origin PEI of every candidate on the recorded periods of ``stack``.

    Returns
    -------
    DataFrame
        One row per candidate, in candidate order: ``candidate, base,
        lookback, radius_m, blend, pei`` (mean over the folds with incidents),
        ``pei_<k>`` per fold (test period index) and ``folds``.
    """
    n = stack.counts.shape[0]
    tests = list(range(max(1, n - max_folds), n))
    rows = []
    for c in cands:
        fold = {f"pei_{t}": pei(c.score(stack, t), stack.counts[t], share) for t in tests}
        vals = np.array(list(fold.values()), float)
        ok = np.isfinite(vals)
        rows.append({"candidate": c.name, "base": c.base, "lookback": c.lookback,
                     "radius_m": c.radius_m, "blend": str(c.blend),
                     "pei": float(vals[ok].mean()) if ok.any() else float("nan"),
                     "folds": int(ok.sum()), **fold})
    return pd.DataFrame(rows)


def calibrate(stack: _Stack, cand: Candidate, max_folds: int = MAX_FOLDS
              ) -> tuple[float, float, float, float, str]:
    """Fit ``log mu = a + b log s`` (Poisson GLM, statsmodels) on the folds.

    ``s`` is the candidate's score with :data:`UNIFORM_SHARE` of its mean mixed
    in. Returns ``(a, b, deviance, deviance_scaled, rule)``: the fitted
    coefficients and the fold deviance of the calibrated forecast and of the
    score only rescaled to the fold totals. When ``b`` is not positive and
    finite the rescaling is used (``b = 1``), so the ranking is always kept.
    """
    import statsmodels.api as sm

    n = stack.counts.shape[0]
    tests = list(range(max(1, n - max_folds), n))
    s = np.concatenate([_floored(cand.score(stack, t)) for t in tests])
    y = np.concatenate([stack.counts[t] for t in tests])
    scale = float(y.sum() / s.sum())
    dev_scaled = float(poisson_deviance(y, s * scale))
    try:
        fit = sm.GLM(y, sm.add_constant(np.log(s)), family=sm.families.Poisson()).fit()
        a, b = (float(v) for v in fit.params)
    except (ValueError, np.linalg.LinAlgError):  # degenerate folds: keep the rescaling
        a, b = float("nan"), float("nan")
    if not (math.isfinite(a) and math.isfinite(b) and b > 0):
        return math.log(scale), 1.0, dev_scaled, dev_scaled, (
            "rescaled to the fold totals (a power calibration would not keep the ranking)")
    dev = float(poisson_deviance(y, np.exp(a) * s**b))
    return a, b, dev, dev_scaled, f"Poisson regression log mu = {a:.3f} + {b:.3f} log score"


def _floored(score: np.ndarray) -> np.ndarray:
    return with_floor(score, float(score.mean()) if score.size else 0.0)


# ====================================================================== result
@dataclass
class ForecastResult:
    """The default forecast.

    Attributes
    ----------
    forecast : ndarray
        Expected incidents per cell over the next year (``grid.shape``, NaN
        outside the study area); ordered as the chosen ranking.
    next_period : ndarray
        Expected incidents per cell over the next period.
    model : Candidate or None
        The chosen ranking model (None for the rule-of-thumb fallback).
    description : str
        The model in plain words.
    bandwidth_m : float
        Kernel radius (m) of the model (0 for unsmoothed counts).
    period : str
        Period name ("year"...), or "none" without cross-validation.
    period_days : float
        Period length (days).
    n_periods : int
        Periods spanned (gaps included).
    gaps : list of str
        Start dates of the periods left out as gaps in recording.
    cv : DataFrame
        Cross-validation table (:func:`cross_validate`; empty without it).
    calibration : dict
        ``a``, ``b``, fold deviances of the calibrated and rescaled forecasts, rule.
    choices : list of Choice
        Announcements.
    tuned : bool
        True when the model came from cross-validation.
    treatable_share : float
        Share of the area at which candidates were ranked.
    baseline : str or None
        Plain name of the naive baseline when one won.
    """

    forecast: np.ndarray
    next_period: np.ndarray
    model: Candidate | None
    description: str
    bandwidth_m: float
    period: str
    period_days: float
    n_periods: int
    gaps: list[str]
    cv: pd.DataFrame
    calibration: dict[str, Any]
    choices: list[Choice]
    tuned: bool
    treatable_share: float = TREATABLE_SHARE
    baseline: str | None = None

    def cv_pei(self, name: str | None = None) -> float:
        """Mean fold PEI of candidate ``name`` (default: the chosen one), NaN without CV."""
        if self.cv.empty:
            return float("nan")
        name = name or (self.model.name if self.model else "")
        row = self.cv.loc[self.cv["candidate"] == name, "pei"]
        return float(row.iloc[0]) if len(row) else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (NaN scores, without cross-validation, become None)."""
        def finite(v: float) -> float | None:
            return v if isinstance(v, float) and math.isfinite(v) else None

        m = self.model
        return {"model": m.name if m else "rule-of-thumb KDE",
                "description": self.description,
                "base": m.base if m else "all", "lookback": m.lookback if m else None,
                "radius_m": self.bandwidth_m, "blend": str(m.blend) if m else "smooth",
                "naive_baseline_won": self.baseline,
                "period": self.period, "period_days": self.period_days,
                "n_periods": self.n_periods, "recording_gaps": list(self.gaps),
                "tuned_by_cross_validation": self.tuned,
                "criterion": f"PEI at {100 * self.treatable_share:g} % of the area",
                "treatable_share": self.treatable_share,
                "cv_folds": int(self.cv["folds"].max()) if not self.cv.empty else 0,
                "cv_pei": finite(self.cv_pei()),
                "cv_pei_long_run_counts": finite(self.cv_pei("all")),
                "cv_pei_last_period_counts": finite(self.cv_pei("last1")),
                "calibration": {k: finite(v) if isinstance(v, float) else v
                                for k, v in self.calibration.items()},
                "uniform_share": UNIFORM_SHARE, "units": "incidents per year"}


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

    Returns
    -------
    ForecastResult
    """
    check_share(treatable_share)
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    t = _naive_utc(times)
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
    stack = _stack(grid, x, y, idx, periods.n, max(hs + [min_radius_m]))
    return fit_stack(stack, periods, treatable_share=treatable_share, max_folds=max_folds,
                     choices=choices, pool=pool)


def fit_stack(stack: _Stack, periods: Periods, *, treatable_share: float = TREATABLE_SHARE,
              max_folds: int = MAX_FOLDS, choices: list[Choice] | None = None,
              pool: list[Candidate] | None = None) -> ForecastResult:
    """:func:`fit_forecast` on a count cube (e.g. protected counts, :func:`cube_stack`).

    Gaps in recording are left out and announced; needs two recorded periods.
    """
    choices = list(choices or [])
    grid = stack.grid
    gaps = recording_gaps(stack.counts)
    gap_dates = [str(periods.start(int(k)).astype("datetime64[D]")) for k in gaps]
    if gaps.size:
        choices.append(announce(Choice(
            "recording_gaps", gap_dates,
            f"{gaps.size} {periods.name}(s) with no record anywhere in the area are gaps in "
            "recording, not zero incidents: left out of the forecast and its cross-validation")))
    recorded = np.flatnonzero(np.isin(np.arange(stack.counts.shape[0]), gaps, invert=True))
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
    s = _floored(model.score(series, recorded.size))
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
    stack = _stack(grid, x, y, np.zeros(x.size, np.int64), 1, h)
    model = Candidate("all", None, float(h), "smooth" if smooth else "tiebreak")
    score = model.score(stack, 1)
    rate = _floored(score) / (years or 1.0)
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
                          treatable_share=treatable_share)

        def counts(sel: np.ndarray) -> np.ndarray:
            return count_incidents(grid, x[sel], y[sel]).astype(float)[grid.mask]

        obs, last, long_run = counts(idx == test), counts(idx == test - 1), counts(train)
        pred = fr.next_period[grid.mask]
        rows.append({
            "test_start": str(periods.start(test).astype("datetime64[D]")),
            "incidents": int(obs.sum()), "model": fr.to_dict()["model"],
            "pei_forecast": pei(pred, obs, treatable_share),
            "pei_last_period": pei(last, obs, treatable_share),
            "pei_long_run": pei(long_run, obs, treatable_share),
            "deviance_forecast": float(poisson_deviance(obs, pred)),
            "deviance_last_period": float(poisson_deviance(
                obs, with_floor(last, train.sum() / (test * grid.n_cells))))})
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
    from hotspot_env.outputs.privacy import Kind, declare, protected_points, protection_for

    if analysis.parameters.get("privacy") == "public":
        from hotspot_env import settings

        options.setdefault("min_radius_m", max(settings.public_min_bandwidth_m,
                                               2 * analysis.grid.cell_size))
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


__all__ = ["Candidate", "ForecastResult", "Periods", "backtest", "best_finite", "calibrate",
           "candidates", "choose_period", "cross_validate", "cube_stack", "fit_forecast",
           "fit_stack", "one_se_choice", "pei", "poisson_deviance", "recording_gaps", "stage",
           "with_floor"]
