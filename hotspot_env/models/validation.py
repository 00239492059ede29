"""Out-of-sample validation: fit on an earlier period, predict the next, score the maps.

:func:`validate` splits the dated incidents at ``split_date`` (default: the
start of the last full period of :func:`hotspot_env.models.forecast.choose_period`,
the last year for multi-year records). Every method sees only incidents before
the split and predicts a value per cell; the incidents of the test window
(``split_date`` up to the midnight after the last record) score them.

Methods
-------
``forecast``
    The default ranking (:func:`hotspot_env.models.forecast.fit_forecast`), chosen
    by rolling-origin cross-validation on the training periods only.
``last_period_counts``
    Naive baseline: incidents per cell in the last recorded training period
    (of the forecast's period scheme; without one, the window of the test's
    length just before the split).
``long_run_counts``
    Naive baseline: incidents per cell over every training period, unsmoothed.
``classic_kde``
    Quartic KDE of every training incident at the rule-of-thumb radius
    (:func:`hotspot_env.core.density.choose_bandwidth` on the training points).
``rtm``
    The risk terrain score (:func:`hotspot_env.models.rtm.fit` on training counts).
    Place features do not change with the split, so no test information leaks.
``rtm_x_kde``
    Risk terrain score x KDE: risky places weighted by where incidents have
    concentrated (a common RTM + hot spot combination, Caplan & Kennedy 2016).

The three naive methods are the *baselines* (:data:`BASELINES`): the
forecast is compared with the best of them by PEI at the treatable share,
with a paired bootstrap interval over cells (:func:`compare`).

Metrics (one tidy table: ``method, metric, area_pct, decile, value``)
---------------------------------------------------------------------
``hit_rate`` at 1, 5 and 10 % of the cells
    Share of test incidents in the ``ceil(a x n)`` cells ranked highest.
    Cells tied at the cut-off are counted pro rata (the expected hit rate
    under random tie-breaking), so a flat map scores exactly its area share.
``pai``
    Predictive accuracy index (Chainey, Tompson & Uhlig 2008):
    hit rate / area share. 1 = no better than chance.
``pei``
    Predictive efficiency index (Hunt 2016): incidents in the flagged cells
    over the most that many cells held. 1 = the best possible ranking.
``poisson_deviance``, ``mse``
    Over all cells, with each method scaled to its expected test total
    (training rate x test length for the long-run counts, KDE and RTM
    methods; last period's counts and the forecast keep their own totals)
    and 1 % of a uniform rate mixed in for the deviance (every method
    alike), so zero forecasts stay scoreable.
``calibration_predicted``, ``calibration_observed``
    Sums per decile of cells ranked by prediction (decile 10 = highest;
    ties broken by cell order).

References
----------
Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping
for predicting spatial patterns of crime. Security Journal 21(1-2), 4-28.
Hunt, J. M. (2016). Do crime hot spots move? Exploring the effects of the
modifiable areal unit problem and modifiable temporal unit problem on crime
hot spot stability. American University (PhD thesis).
Efron, B. & Tibshirani, R. (1993). An Introduction to the Bootstrap. Chapman & Hall.
Hanley, J. A. & MacGibbon, B. (2006). Creating non-parametric bootstrap samples
using Poisson frequencies. Computer Methods and Programs in Biomedicine 83, 57-62.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.stages import declares
from hotspot_env.errors import InputError
from hotspot_env.models.forecast import TREATABLE_SHARE
from hotspot_env.models.scores import hit_rate, pai, pei, treatable_cells
from hotspot_env.outputs.privacy import Kind, declare, public_tally

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Shares of the area (percent) at which hit rate and PAI are reported.
AREA_PCTS: tuple[float, ...] = (1.0, 5.0, 10.0)

#: Methods compared, in report order.
METHODS: tuple[str, ...] = ("forecast", "last_period_counts", "long_run_counts", "classic_kde",
                            "rtm", "rtm_x_kde")

#: The naive baselines the forecast must beat.
BASELINES: tuple[str, ...] = ("last_period_counts", "long_run_counts", "classic_kde")

#: Methods scored by the analysis itself (the risk terrain ones only by ``validate``).
STAGE_METHODS: tuple[str, ...] = ("forecast", *BASELINES)

#: Plain names shown in the CLI, the report and the app.
LABELS: dict[str, str] = {
    "forecast": "validated forecast", "last_period_counts": "last period's counts",
    "long_run_counts": "long-run counts (all past periods)",
    "classic_kde": "classic KDE (rule of thumb)", "rtm": "risk terrain score",
    "rtm_x_kde": "risk terrain x KDE"}

#: Resamples of the paired bootstrap over cells.
BOOTSTRAP_RESAMPLES: int = 499

#: Columns of the tidy validation table.
COLUMNS: tuple[str, ...] = ("method", "metric", "area_pct", "decile", "value")


def calibration(pred: np.ndarray, obs: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Predicted and observed totals per decile of cells ranked by prediction.

    Returns a DataFrame ``decile`` (1 = lowest), ``cells``, ``predicted``, ``observed``.
    """
    pred = np.asarray(pred, float)
    obs = np.asarray(obs, float)
    order = np.argsort(pred, kind="stable")
    group = np.empty(pred.size, dtype=np.int64)
    group[order] = np.arange(pred.size) * bins // max(pred.size, 1)
    return pd.DataFrame({
        "decile": np.arange(1, bins + 1),
        "cells": np.bincount(group, minlength=bins),
        "predicted": np.bincount(group, weights=pred, minlength=bins),
        "observed": np.bincount(group, weights=obs, minlength=bins)})


def score_methods(predictions: dict[str, np.ndarray], obs: np.ndarray,
                  area_pcts: tuple[float, ...] = AREA_PCTS) -> pd.DataFrame:
    """The tidy metric table for per-cell predictions (expected counts) against ``obs``."""
    from hotspot_env.models.forecast import poisson_deviance, with_floor

    obs = np.asarray(obs, float)
    rows: list[dict[str, Any]] = []
    nan = float("nan")
    for method, pred in predictions.items():
        pred = np.asarray(pred, float)
        for a in area_pcts:
            rows.append({"method": method, "metric": "hit_rate", "area_pct": a, "decile": nan,
                         "value": hit_rate(pred, obs, a)})
            rows.append({"method": method, "metric": "pai", "area_pct": a, "decile": nan,
                         "value": pai(pred, obs, a)})
            rows.append({"method": method, "metric": "pei", "area_pct": a, "decile": nan,
                         "value": pei(pred, obs, a)})
        bg = pred.sum() / max(pred.size, 1)
        rows.append({"method": method, "metric": "poisson_deviance", "area_pct": nan,
                     "decile": nan, "value": float(poisson_deviance(obs, with_floor(pred, bg)))})
        rows.append({"method": method, "metric": "mse", "area_pct": nan, "decile": nan,
                     "value": float(np.mean((obs - pred) ** 2))})
        cal = calibration(pred, obs)
        for r in cal.itertuples():
            rows.append({"method": method, "metric": "calibration_predicted", "area_pct": nan,
                         "decile": float(r.decile), "value": float(r.predicted)})
            rows.append({"method": method, "metric": "calibration_observed", "area_pct": nan,
                         "decile": float(r.decile), "value": float(r.observed)})
    return pd.DataFrame(rows, columns=list(COLUMNS))


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
    from hotspot_env.core.density import choose_bandwidth, count_incidents, kde
    from hotspot_env.models import forecast as fc

    treatable_share = fc.check_share(treatable_share)
    methods = tuple(dict.fromkeys(("forecast", *BASELINES, *methods)))
    share_pct = round(100 * treatable_share, 6)
    area_pcts = tuple(sorted(set(area_pcts) | {share_pct}))
    grid = analysis.grid
    mask = grid.mask
    pts = analysis.points
    t = fc._naive_utc(pts["datetime"])
    dated = ~np.isnat(t)
    if not dated.any():
        raise InputError("validation needs incident dates: the incidents have none")
    x = pts.geometry.x.to_numpy()
    y = pts.geometry.y.to_numpy()
    end = t[dated].max().astype("datetime64[D]").astype("datetime64[ns]") + np.timedelta64(1, "D")
    first = t[dated].min().astype("datetime64[D]").astype("datetime64[ns]")
    choices: list[Choice] = []
    if split_date is None:
        with _silenced():
            periods, _ = fc.choose_period(t[dated], end=end)
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
    test_len = end - split
    test_days = test_len / np.timedelta64(1, "D")
    train = dated & (t < split)
    test = dated & (t >= split) & (t < end)
    if not train.any() or not test.any():
        raise InputError("the split leaves no training or no test incidents: choose another "
                         "--split-date")
    obs = count_incidents(grid, x[test], y[test]).astype(float)[mask]
    train_days = (split - first) / np.timedelta64(1, "D")
    expected = train.sum() / max(train_days, 1.0) * test_days

    # ---- last period's counts: the last *recorded* training period (a gap is no period)
    with _silenced():  # the held-out fits' choices go to the meta, not the user's log
        train_periods, _ = fc.choose_period(t[train], end=split)
    if train_periods is not None:
        idx = np.full(t.shape, -1)
        idx[train] = train_periods.index(t[train])
        k = int(idx.max())
        last = idx == k
        last_window = (f"the last recorded training {train_periods.name} "
                       f"(from {str(train_periods.start(k).astype('datetime64[D]'))})")
    else:
        last = dated & (t >= split - test_len) & (t < split)
        last_window = "the window of the test's length just before the split"

    # ---- methods
    predictions: dict[str, np.ndarray] = {}
    bw, _ = choose_bandwidth(x[train], y[train], grid.cell_size)
    with _silenced():
        fr = fc.fit_forecast(grid, x[train], y[train], t[train], fallback_bandwidth=bw,
                             periods=train_periods, treatable_share=treatable_share,
                             min_radius_m=min_radius_m)
    predictions["forecast"] = fr.forecast[mask] * (test_days / 365.25)
    predictions["last_period_counts"] = count_incidents(grid, x[last], y[last]).astype(float)[mask]
    predictions["long_run_counts"] = _scaled(
        count_incidents(grid, x[train], y[train]).astype(float)[mask], expected)
    dens = kde(grid, x[train], y[train], bw)[mask]
    predictions["classic_kde"] = _scaled(dens, expected)
    model = None
    if "rtm" in methods or "rtm_x_kde" in methods:
        from hotspot_env.models import rtm

        train_counts = count_incidents(grid, x[train], y[train])
        block = analysis.rtm.block_length_m if analysis.rtm is not None else None
        candidates = rtm.collect_layers(factor_results(analysis), analysis.map_layers)
        with _silenced():
            model = rtm.fit(grid, train_counts, candidates,
                            streets=rtm.street_layer(analysis), block_length_m=block)
        score = model.score[mask]
        predictions["rtm"] = _scaled(score, expected)
        predictions["rtm_x_kde"] = _scaled(score * dens, expected)
    predictions = {m: predictions[m] for m in METHODS if m in predictions and m in methods}

    table = score_methods(predictions, obs, area_pcts)
    comparison = compare(predictions, obs, treatable_share, n_resamples=n_resamples, seed=seed)
    meta = {
        "split_date": str(split.astype("datetime64[D]")),
        "test_end": str(end.astype("datetime64[D]")),
        "test_days": float(test_days),
        "n_train": int(train.sum()), "n_test": int(test.sum()),
        "n_last_period": int(last.sum()), "last_period": last_window,
        "n_undated": int((~dated).sum()),
        "n_cells": int(grid.n_cells), "cell_size_m": float(grid.cell_size),
        "kde_bandwidth_m": float(bw), "treatable_share": treatable_share,
        "comparison": comparison,
        "forecast": fr.to_dict(),
        "methods": {m: LABELS[m] for m in predictions},
        "choices": [c.to_dict() for c in choices + (model.choices if model else []) + fr.choices],
        "simulated": bool(analysis.parameters.get("simulated", False)),
    }
    if model is not None:
        meta["rtm"] = {"family": model.family, "block_length_m": model.block_length_m,
                       "factors": model.table.to_dict(orient="records"),
                       "headline": model.headline}
    table.attrs["meta"] = meta
    if out is not None:
        write_validation(table, out)
    return table


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


def _prefix_groups(score: np.ndarray, k: int, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells in descending ``score`` order up to the end of the tie group holding position
    ``k + margin``, and the start of each tie group among them."""
    order = np.argsort(-score, kind="stable")
    s = score[order]
    stop = min(score.size, k + margin)
    # extend to the end of the tie group holding the last position kept
    stop = int(np.searchsorted(-s, -s[stop - 1], side="right"))
    order = order[:stop]
    starts = np.flatnonzero(np.r_[True, s[1:stop] != s[:stop - 1]])
    return order, starts


def _weighted_hits(w: np.ndarray, obs: np.ndarray, starts: np.ndarray, k: int) -> np.ndarray:
    """Observed total in the first ``k`` units of weight, tie groups pro rata, per row of ``w``."""
    wg = np.add.reduceat(w, starts, axis=1)
    hg = np.add.reduceat(w * obs, starts, axis=1)
    cw, ch = np.cumsum(wg, axis=1), np.cumsum(hg, axis=1)
    j = np.minimum(np.argmax(cw >= k, axis=1), wg.shape[1] - 1)
    j = np.where(cw[:, -1] >= k, j, wg.shape[1] - 1)  # a row short of k takes everything
    r = np.arange(w.shape[0])
    above_w, above_h = cw[r, j] - wg[r, j], ch[r, j] - hg[r, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        part = np.where(wg[r, j] > 0, np.minimum(k - above_w, wg[r, j]) / wg[r, j], 0.0)
    return above_h + part * hg[r, j]


def pei_difference_bootstrap(first: np.ndarray, second: np.ndarray, obs: np.ndarray,
                             share: float = TREATABLE_SHARE, *,
                             n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                             batch: int = 100) -> np.ndarray:
    """Paired Poisson bootstrap over cells of ``PEI(first) - PEI(second)`` at ``share``.

    Each resample weights every cell by an independent Poisson(1) count (the
    Poisson bootstrap, Hanley & MacGibbon 2006: the large-``n`` limit of
    resampling cells with replacement), the same weights for both rankings
    and for the best possible ranking, so their shared luck cancels. The
    flagged area stays ``k`` cells' worth of weight, ties at the cut-off pro
    rata as in :func:`hotspot_env.models.forecast.pei`. Only the cells that can reach
    the top ``k`` are weighted (the top ``k`` plus a margin of 8 standard
    deviations of the weight, to the end of the tie group), so the cost
    grows with ``k``, not the area: scipy.stats.bootstrap re-sorts every cell
    per resample, minutes at city scale. A test checks it against scipy.

    Returns
    -------
    ndarray
        ``n_resamples`` differences (NaN where a resample holds no incident).
    """
    obs = np.asarray(obs, float)
    k = treatable_cells(obs.size, share)
    margin = int(8 * math.sqrt(k)) + 20
    groups = [_prefix_groups(np.asarray(v, float), k, margin) for v in (first, second, obs)]
    cells = np.unique(np.concatenate([g[0] for g in groups]))
    where = [np.searchsorted(cells, g[0]) for g in groups]
    rng = np.random.default_rng(seed)
    out = []
    for b0 in range(0, n_resamples, batch):
        w = rng.poisson(1.0, (min(batch, n_resamples - b0), cells.size)).astype(float)
        hits = [_weighted_hits(w[:, pos], obs[g[0]][None, :], g[1], k)
                for pos, g in zip(where, groups, strict=True)]
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((hits[0] - hits[1]) / np.where(hits[2] > 0, hits[2], np.nan))
    return np.concatenate(out) if out else np.empty(0)


def compare(predictions: dict[str, np.ndarray], obs: np.ndarray,
            treatable_share: float = TREATABLE_SHARE, *, n_resamples: int = BOOTSTRAP_RESAMPLES,
            seed: int = 0) -> dict[str, Any]:
    """The forecast against the best naive baseline by PEI at the treatable share.

    The difference "forecast minus best baseline" gets a 95 % percentile
    interval from a paired bootstrap over cells (:func:`pei_difference_bootstrap`:
    the same resampled cells score both rankings, so their shared luck cancels).
    The best baseline is chosen by :func:`hotspot_env.models.forecast.best_finite`, so a
    NaN score never wins.

    Returns
    -------
    dict
        ``treatable_share``, ``pei`` per method, ``best_baseline``,
        ``difference``, ``ci_low``, ``ci_high``, ``n_resamples``, ``winner``
        and ``verdict`` (one plain sentence).
    """
    from hotspot_env.models.forecast import best_finite

    obs = np.asarray(obs, float)
    scores = {m: pei(p, obs, 100.0 * treatable_share) for m, p in predictions.items()}
    base = pd.Series({m: scores[m] for m in BASELINES if m in scores})
    best = best_finite(base)
    out: dict[str, Any] = {"treatable_share": treatable_share, "pei": scores,
                           "best_baseline": best, "difference": float("nan"),
                           "ci_low": float("nan"), "ci_high": float("nan"),
                           "n_resamples": int(n_resamples)}
    if best is None or not np.isfinite(scores.get("forecast", np.nan)):
        out["winner"] = None
        out["verdict"] = "no incidents in the test period: the rankings could not be compared"
        return out
    out["difference"] = float(scores["forecast"] - scores[best])
    if n_resamples > 0 and obs.size > 1:
        diffs = pei_difference_bootstrap(predictions["forecast"], predictions[best], obs,
                                         treatable_share, n_resamples=n_resamples, seed=seed)
        diffs = diffs[np.isfinite(diffs)]
        if diffs.size:
            out["ci_low"], out["ci_high"] = (float(v) for v in np.percentile(diffs, [2.5, 97.5]))
    share = f"{100 * treatable_share:g} %"
    name = LABELS[best]
    d = out["difference"]
    interval = (f" (95 % interval {out['ci_low']:+.3f} to {out['ci_high']:+.3f})"
                if np.isfinite(out["ci_low"]) else "")
    if d > 0:
        out["winner"] = "forecast"
        out["verdict"] = (f"The validated forecast ranked the held-out period better than the "
                          f"best naive baseline, {name}: PEI at {share} of the area "
                          f"{scores['forecast']:.3f} against {scores[best]:.3f}, a difference "
                          f"of {d:+.3f}{interval}.")
    elif d == 0:
        out["winner"] = "tie"
        out["verdict"] = (f"The validated forecast ranked the held-out period exactly as well as "
                          f"{name} (PEI at {share} of the area {scores[best]:.3f}).")
    else:
        out["winner"] = best
        out["verdict"] = (f"A naive baseline, {name}, ranked the held-out period better than the "
                          f"validated forecast: PEI at {share} of the area {scores[best]:.3f} "
                          f"against {scores['forecast']:.3f}, a difference of {d:+.3f}"
                          f"{interval}.")
    return out


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Wide view: one row per method, hit rate, PAI and PEI per area share, deviance, MSE."""
    area = table[table["metric"].isin(["hit_rate", "pai", "pei"])]
    wide = area.pivot_table(index="method", columns=["metric", "area_pct"], values="value",
                            sort=False)
    wide.columns = [f"{m}_{a:g}pct" for m, a in wide.columns]
    other = table[table["metric"].isin(["poisson_deviance", "mse"])].pivot_table(
        index="method", columns="metric", values="value", sort=False)
    out = wide.join(other)
    order = [m for m in METHODS if m in out.index] + [m for m in out.index if m not in METHODS]
    return out.loc[order]


def verdict(table: pd.DataFrame) -> str:
    """The comparison in one plain sentence (from ``attrs["meta"]``), "" when absent."""
    return str(table.attrs.get("meta", {}).get("comparison", {}).get("verdict", ""))


def chart_frame(table: pd.DataFrame, metric: str = "pei") -> pd.DataFrame:
    """Rows for a bar chart: ``method`` (plain name), ``area_pct``, ``value``, ``baseline``."""
    sub = table[table["metric"] == metric][["method", "area_pct", "value"]].copy()
    sub["baseline"] = sub["method"].isin(BASELINES)
    sub["method"] = sub["method"].map(lambda m: LABELS.get(m, m))
    return sub.reset_index(drop=True)


@declares(reads=("forecast",), adds=("validation", "forecast", "arrays.forecast"))
def stage(analysis: Analysis, **options: Any) -> None:
    """Pipeline stage: score the forecast against the naive baselines on the last period.

    Runs :func:`validate` with :data:`STAGE_METHODS` (the risk terrain methods
    only in ``hotspot-env validate``) and stores the tidy table in
    ``analysis.validation`` and its comparison in ``parameters["validation"]``.
    When a count baseline beat the forecast on the held-out period and the
    whole bootstrap interval lies below zero, the default ranking
    (``arrays["forecast"]``) becomes that baseline, announced. Undated
    incidents, or a record too short to split, give a notice only.
    """
    from hotspot_env.errors import HotspotEnvError

    if not analysis.has_dates:
        analysis.choices.append(announce(Choice(
            "validation", "not made", "the incidents have no dates: nothing to hold out")))
        return
    options.setdefault("methods", STAGE_METHODS)
    public = analysis.parameters.get("privacy") == "public"
    if public:  # the held-out forecast is chosen as the published one is
        from hotspot_env import settings

        options.setdefault("min_radius_m", max(settings.public_min_bandwidth_m,
                                               2 * analysis.grid.cell_size))
    try:
        table = validate(analysis, **options)
    except HotspotEnvError as exc:
        analysis.choices.append(announce(Choice("validation", "not made", str(exc))))
        return
    meta = table.attrs["meta"]
    comp = meta["comparison"]
    if public:  # scored on the true held-out incidents: coarsened (exact rates give the tallies)
        table = table.copy()
        table["value"] = _two_significant(table["value"].to_numpy(dtype=float))
        table.attrs["meta"] = meta
    analysis.validation = table
    analysis.parameters["validation"] = _clean({
        "split_date": meta["split_date"], "test_end": meta["test_end"],
        # public mode: tallies rounded (with the other counts they would give the exact total)
        "n_train": public_tally(analysis, meta["n_train"]),
        "n_test": public_tally(analysis, meta["n_test"]), **comp})
    analysis.choices.append(announce(Choice(
        "validation", comp.get("winner") or "none",
        f"held out {meta['split_date']} to {meta['test_end']} ({meta['n_test']:,} incidents): "
        + comp["verdict"])))
    if not public:  # a count baseline would publish the counts
        _fall_back_if_beaten(analysis, comp, options.get("treatable_share", TREATABLE_SHARE))


def _two_significant(values: np.ndarray) -> np.ndarray:
    """Values rounded to two significant digits (NaN and 0 kept)."""
    out = values.copy()
    ok = np.isfinite(values) & (values != 0)
    digits = 1 - np.floor(np.log10(np.abs(values[ok]))).astype(int)
    out[ok] = [round(float(v), int(d)) for v, d in zip(values[ok], digits, strict=True)]
    return out


def _fall_back_if_beaten(analysis: Analysis, comp: dict[str, Any], share: float) -> None:
    """Make a count baseline the default ranking when it clearly beat the forecast."""
    from hotspot_env.models import forecast as fc

    best = comp.get("best_baseline")
    beaten = (comp.get("winner") == best and np.isfinite(comp.get("ci_high", np.nan))
              and comp["ci_high"] < 0)
    pick = {"long_run_counts": fc.Candidate("all"),
            "last_period_counts": fc.Candidate("last", 1)}.get(best)
    if not beaten or pick is None or analysis.forecast is None:
        return
    pts = analysis.points
    geoms = pts.geometry.values
    import shapely

    result = fc.fit_forecast(analysis.grid, shapely.get_x(geoms), shapely.get_y(geoms),
                             pts["datetime"], treatable_share=share, pool=[pick])
    declare(analysis, "forecast", result.forecast, Kind.COUNT_DERIVED)  # internal runs only
    analysis.forecast = result
    analysis.parameters["forecast"] = result.to_dict()
    analysis.choices.append(announce(Choice(
        "forecast", pick.name,
        f"{LABELS[best]} beat the validated forecast on the held-out period (the whole 95 % "
        "bootstrap interval below zero): the default ranking IS that naive baseline")))


def report_section(analysis: Analysis) -> tuple[str, str] | None:
    """Report section: the comparison sentence and PAI/PEI per method at each area share."""
    import html

    table = analysis.validation
    if not isinstance(table, pd.DataFrame) or table.empty:
        return None
    wide = summary(table)
    cols = [c for c in wide.columns if c.startswith(("pai_", "pei_"))] + ["poisson_deviance"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["method", *cols])
    body = "".join(
        "<tr><td>" + html.escape(LABELS.get(m, m)) + "</td>"
        + "".join(f"<td>{row[c]:.3f}</td>" if c != "poisson_deviance" else f"<td>{row[c]:,.1f}</td>"
                  for c in cols) + "</tr>" for m, row in wide.iterrows())
    meta = table.attrs.get("meta", {})
    intro = (f"<p>Fitted on {meta.get('n_train', 0):,} incidents before {meta.get('split_date')}, "
             f"scored on the {meta.get('n_test', 0):,} after it. "
             f"{html.escape(verdict(table))}</p>")
    return "Validation: does the ranking beat counting?", (
        intro + f"<table><tr>{head}</tr>{body}</table>")


def write_validation(table: pd.DataFrame, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``validation.csv`` (the tidy table) and ``validation.json`` (meta + table)."""
    from hotspot_env._atomic import prepare_folder, write_text

    folder = prepare_folder(folder)
    csv = write_text(folder / "validation.csv", table.to_csv(index=False, lineterminator="\n"))
    doc = _clean({"meta": table.attrs.get("meta", {}),
                  "results": table.to_dict(orient="records")})
    js = write_text(folder / "validation.json", json.dumps(doc, indent=2) + "\n")
    return {"validation.csv": csv, "validation.json": js}


def write_stage_validation(analysis: Analysis, folder: Path) -> dict[str, Path]:
    """Export writer: ``validation.csv`` when the validation stage ran (else nothing)."""
    from hotspot_env._atomic import write_text

    table = analysis.validation
    if not isinstance(table, pd.DataFrame) or table.empty:
        return {}
    path = write_text(Path(folder) / "validation.csv",
                      table.to_csv(index=False, lineterminator="\n"))
    return {"validation.csv": path}


def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, unknown objects to str."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
