"""Hold out the last period: fit every method before the split, predict the test window."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hotspot_env.core.choices import Choice, announce
from hotspot_env.errors import InputError
from hotspot_env.models.forecast import (
    TREATABLE_SHARE,
    ForecastResult,
    Periods,
    check_share,
    choose_period,
    fit_forecast,
)
from hotspot_env.models.forecast.periods import naive_utc
from hotspot_env.models.validation.comparison import compare
from hotspot_env.models.validation.constants import (
    AREA_PCTS,
    BASELINES,
    BOOTSTRAP_RESAMPLES,
    LABELS,
    METHODS,
)
from hotspot_env.models.validation.metrics import score_methods
from hotspot_env.models.validation.tables import write_validation

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis
    from hotspot_env.models.rtm import RTMResult


def factor_results(analysis: Analysis) -> dict[str, Any]:
    """The analysis' factor results, computed here when no factors stage ran.

    Only the factors whose features the risk terrain model uses are computed
    (every built-in factor but ``darkness``, which describes incident times);
    ``analysis`` is not modified.
    """
    if analysis.factors is not None:
        return analysis.factors
    from hotspot_env.factors import FACTORS, compute_all

    layers = {k: v for k, v in analysis.map_layers.items() if not k.startswith("user:")}
    names = [n for n in FACTORS if n != "darkness"]
    return compute_all(layers, analysis.grid, None, factors=names)


def _scaled(values: np.ndarray, total: float) -> np.ndarray:
    s = float(np.sum(values))
    if s <= 0:
        return np.full(values.shape, total / max(values.size, 1))
    return values * (total / s)



def validate(
    analysis: Analysis,
    split_date: str | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    area_pcts: tuple[float, ...] = AREA_PCTS,
    treatable_share: float = TREATABLE_SHARE,
    methods: tuple[str, ...] = METHODS,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    min_radius_m: float = 0.0,
) -> pd.DataFrame:
    """Fit every method on incidents before ``split_date`` and score it on the next period.

    Parameters
    ----------
    analysis : Analysis
        A finished run (:func:`hotspot_env.core.pipeline.run`, with the area options
        of ``analyze``: ``bbox``, ``place``, ``osm``, ``layers``...); validation
        scores models and never runs the pipeline itself.
    split_date : str, optional
        First day of the test window (``YYYY-MM-DD``, UTC). Default: the start
        of the last period of :func:`hotspot_env.models.forecast.choose_period` (the
        last year when the record holds two recorded years). The test window
        runs to the midnight after the last record.
    out : path, optional
        Folder for ``validation.csv`` and ``validation.json`` (atomic writes).
    area_pcts : tuple of float
        Area shares (percent) for hit rate, PAI and PEI (default 1, 5, 10; the
        treatable share is added when missing).
    treatable_share : float
        Share of the area crews can treat (default 0.05): the forecast's
        criterion and the share of the bootstrap comparison.
    methods : tuple of str
        Methods scored (default :data:`METHODS`; ``forecast`` and the
        baselines are always included).
    n_resamples : int
        Paired bootstrap resamples over cells (default 499; 0 skips the interval).
    seed : int
        Seed of the bootstrap.
    min_radius_m : float
        Passed to :func:`hotspot_env.models.forecast.fit_forecast` (public mode).

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS`; ``attrs["meta"]`` holds the split, counts,
        the parameters of every method and the comparison (:func:`compare`),
        also in ``validation.json``.

    Raises
    ------
    InputError
        Without dates, or when the split leaves no training or test incidents.
    """
    from hotspot_env.core.density import count_incidents

    treatable_share = check_share(treatable_share)
    methods = tuple(dict.fromkeys(("forecast", *BASELINES, *methods)))
    share_pct = round(100 * treatable_share, 6)
    area_pcts = tuple(sorted(set(area_pcts) | {share_pct}))
    hold = HoldOut.build(analysis, split_date)
    grid = analysis.grid
    obs = count_incidents(grid, hold.x[hold.test], hold.y[hold.test]).astype(float)[grid.mask]
    fitted = _predict(analysis, hold, methods, treatable_share, min_radius_m)
    table = score_methods(fitted.predictions, obs, area_pcts)
    comparison = compare(fitted.predictions, obs, treatable_share, n_resamples=n_resamples,
                         seed=seed)
    table.attrs["meta"] = _meta(analysis, hold, fitted, comparison, treatable_share)
    if out is not None:
        write_validation(table, out)
    return table


@dataclass
class HoldOut:
    """The dated incidents split into training and test windows.

    ``t`` are naive UTC times (NaT when undated), ``first`` the first recorded
    day, ``end`` the midnight after the last record; ``train`` and ``test``
    mark the incidents before ``split`` and from it to ``end``, ``last`` those
    of the last training period (``last_window`` says which), and
    ``train_periods`` is the period scheme of the training incidents (None
    when too short for one).
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    dated: np.ndarray
    first: np.datetime64
    end: np.datetime64
    split: np.datetime64
    train: np.ndarray
    test: np.ndarray
    choices: list[Choice] = field(default_factory=list)
    train_periods: Periods | None = None
    last: np.ndarray | None = None
    last_window: str = ""

    @classmethod
    def build(cls, analysis: Analysis, split_date: str | None) -> HoldOut:
        """The split of ``analysis.points`` at ``split_date`` (default: the last period)."""
        pts = analysis.points
        t = naive_utc(pts["datetime"])
        dated = ~np.isnat(t)
        if not dated.any():
            raise InputError("validation needs incident dates: the incidents have none")
        x = pts.geometry.x.to_numpy()
        y = pts.geometry.y.to_numpy()
        end = t[dated].max().astype("datetime64[D]").astype("datetime64[ns]") + np.timedelta64(
            1, "D")
        first = t[dated].min().astype("datetime64[D]").astype("datetime64[ns]")
        choices: list[Choice] = []
        split = _split_at(t[dated], first, end, split_date, choices)
        train = dated & (t < split)
        test = dated & (t >= split) & (t < end)
        if not train.any() or not test.any():
            raise InputError("the split leaves no training or no test incidents: choose another "
                             "--split-date")
        hold = cls(x, y, t, dated, first, end, split, train, test, choices)
        hold.train_periods, hold.last, hold.last_window = _last_period(hold)
        return hold

    @property
    def test_days(self) -> float:
        """Length of the test window (days)."""
        return (self.end - self.split) / np.timedelta64(1, "D")

    @property
    def expected(self) -> float:
        """Test incidents expected at the training rate (per day of training record)."""
        train_days = (self.split - self.first) / np.timedelta64(1, "D")
        return self.train.sum() / max(train_days, 1.0) * self.test_days


def _split_at(t: np.ndarray, first: np.datetime64, end: np.datetime64, split_date: str | None,
              choices: list[Choice]) -> np.datetime64:
    """The first instant of the test window: ``split_date``, else the last period's start."""
    if split_date is None:
        with _silenced():
            periods, _ = choose_period(t, end=end)
        if periods is not None:
            split = periods.start(periods.n - 1)
            rule = f"start of the last {periods.name} of the records"
        else:
            split = end - (end - first) // 3
            rule = "the last third of a record too short for two recorded periods"
        # to the nearest midnight, so date-only records fall on one side only
        split = (split + np.timedelta64(12, "h")).astype("datetime64[D]").astype("datetime64[ns]")
        choices.append(announce(Choice(
            "split_date", str(split.astype("datetime64[D]")), rule)))
    else:
        stamp = _parse_split(split_date)
        # 9999-12-31 does not fit in nanoseconds and would wrap around to 1816
        inside = pd.Timestamp(first) < stamp < pd.Timestamp(end)
        split = np.datetime64(stamp.as_unit("ns")) if inside else first
    if not (first < split < end):
        shown = str(split.astype("datetime64[D]")) if split_date is None else split_date
        raise InputError(
            f"--split-date {shown} must fall inside the records "
            f"({str(first.astype('datetime64[D]'))} to "
            f"{str((end - np.timedelta64(1, 'D')).astype('datetime64[D]'))})")
    return split


def _last_period(hold: HoldOut) -> tuple[Periods | None, np.ndarray, str]:
    """The last *recorded* training period (a gap is no period), and its description."""
    t, train = hold.t, hold.train
    with _silenced():  # the held-out fits' choices go to the meta, not the user's log
        train_periods, _ = choose_period(t[train], end=hold.split)
    if train_periods is not None:
        idx = np.full(t.shape, -1)
        idx[train] = train_periods.index(t[train])
        k = int(idx.max())
        return train_periods, idx == k, (
            f"the last recorded training {train_periods.name} "
            f"(from {str(train_periods.start(k).astype('datetime64[D]'))})")
    test_len = hold.end - hold.split
    last = hold.dated & (t >= hold.split - test_len) & (t < hold.split)
    return None, last, "the window of the test's length just before the split"


@dataclass
class _Fitted:
    """Every method's prediction on the study cells, and the fits behind them."""

    predictions: dict[str, np.ndarray]
    forecast: ForecastResult
    rtm: RTMResult | None
    bandwidth_m: float


def _predict(analysis: Analysis, hold: HoldOut, methods: tuple[str, ...],
             treatable_share: float, min_radius_m: float) -> _Fitted:
    """Fit every method on the training incidents and predict the test window per cell."""
    from hotspot_env.core.density import choose_bandwidth, count_incidents, kde

    grid, mask = analysis.grid, analysis.grid.mask
    x, y, t, train, last = hold.x, hold.y, hold.t, hold.train, hold.last
    expected = hold.expected
    predictions: dict[str, np.ndarray] = {}
    bw, _ = choose_bandwidth(x[train], y[train], grid.cell_size)
    with _silenced():
        fr = fit_forecast(grid, x[train], y[train], t[train], fallback_bandwidth=bw,
                          periods=hold.train_periods, treatable_share=treatable_share,
                          min_radius_m=min_radius_m)
    predictions["forecast"] = fr.forecast[mask] * (hold.test_days / 365.25)
    predictions["last_period_counts"] = count_incidents(grid, x[last], y[last]).astype(float)[mask]
    predictions["long_run_counts"] = _scaled(
        count_incidents(grid, x[train], y[train]).astype(float)[mask], expected)
    dens = kde(grid, x[train], y[train], bw)[mask]
    predictions["classic_kde"] = _scaled(dens, expected)
    model = None
    if "rtm" in methods or "rtm_x_kde" in methods:
        model = _fit_rtm(analysis, count_incidents(grid, x[train], y[train]))
        score = model.score[mask]
        predictions["rtm"] = _scaled(score, expected)
        predictions["rtm_x_kde"] = _scaled(score * dens, expected)
    predictions = {m: predictions[m] for m in METHODS if m in predictions and m in methods}
    return _Fitted(predictions, fr, model, float(bw))


def _fit_rtm(analysis: Analysis, train_counts: np.ndarray) -> RTMResult:
    """The risk terrain model on the training counts (place features do not change)."""
    from hotspot_env.models import rtm

    block = analysis.rtm.block_length_m if analysis.rtm is not None else None
    candidates = rtm.collect_layers(factor_results(analysis), analysis.map_layers)
    with _silenced():
        return rtm.fit(analysis.grid, train_counts, candidates,
                       streets=rtm.street_layer(analysis), block_length_m=block)


def _meta(analysis: Analysis, hold: HoldOut, fitted: _Fitted, comparison: dict[str, Any],
          treatable_share: float) -> dict[str, Any]:
    """What ``validation.json`` says beside the table: the split, the fits, the comparison."""
    grid, model, fr = analysis.grid, fitted.rtm, fitted.forecast
    meta = {
        "split_date": str(hold.split.astype("datetime64[D]")),
        "test_end": str(hold.end.astype("datetime64[D]")),
        "test_days": float(hold.test_days),
        "n_train": int(hold.train.sum()), "n_test": int(hold.test.sum()),
        "n_last_period": int(hold.last.sum()), "last_period": hold.last_window,
        "n_undated": int((~hold.dated).sum()),
        "n_cells": int(grid.n_cells), "cell_size_m": float(grid.cell_size),
        "kde_bandwidth_m": fitted.bandwidth_m, "treatable_share": treatable_share,
        "comparison": comparison,
        "forecast": fr.to_dict(),
        "methods": {m: LABELS[m] for m in fitted.predictions},
        "choices": [c.to_dict() for c in hold.choices + (model.choices if model else [])
                    + fr.choices],
        "simulated": bool(analysis.parameters.get("simulated", False)),
    }
    if model is not None:
        meta["rtm"] = {"family": model.family, "block_length_m": model.block_length_m,
                       "factors": model.table.to_dict(orient="records"),
                       "headline": model.headline}
    return meta


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Hold back announcements of the held-out fits (kept in the meta instead)."""
    from hotspot_env.core.choices import logger

    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _parse_split(split_date: str) -> pd.Timestamp:
    """``--split-date`` as a naive UTC timestamp; a one-line error when not a date."""
    try:
        stamp = pd.Timestamp(split_date)
    except (ValueError, TypeError) as exc:
        raise InputError(f"--split-date {split_date!r} is not a date: use YYYY-MM-DD") from exc
    if stamp is pd.NaT:
        raise InputError(f"--split-date {split_date!r} is not a date: use YYYY-MM-DD")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp
