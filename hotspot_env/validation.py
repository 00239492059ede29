"""Out-of-sample validation: fit on an earlier period, predict the next, score the maps.

:func:`validate` splits the dated incidents at ``split_date`` (default: the
start of the last full period of :func:`hotspot_env.forecast.choose_period`,
the last year for multi-year records). Every method sees only incidents before
the split and predicts a value per cell; the incidents of the test window
(``split_date`` up to the midnight after the last record) score them.

Methods
-------
``naive``
    Last period's counts: incidents per cell in the window of the same length
    just before the split.
``kde``
    Quartic KDE of every training incident at the rule-of-thumb radius
    (:func:`hotspot_env.density.choose_bandwidth` on the training points).
``rtm``
    The risk terrain score (:func:`hotspot_env.rtm.fit` on training counts).
    Place features do not change with the split, so no test information leaks.
``rtm_x_kde``
    Risk terrain score x KDE: risky places weighted by where incidents have
    concentrated (a common RTM + hot spot combination, Caplan & Kennedy 2016).
``forecast``
    The default forecast (:func:`hotspot_env.forecast.fit_forecast`), tuned
    by cross-validation on the training periods only.

Metrics (one tidy table: ``method, metric, area_pct, decile, value``)
---------------------------------------------------------------------
``hit_rate`` at 1, 5 and 10 % of the cells
    Share of test incidents in the ``round(a x n)`` cells ranked highest.
    Cells tied at the cut-off are counted pro rata (the expected hit rate
    under random tie-breaking), so a flat map scores exactly its area share.
``pai``
    Predictive accuracy index (Chainey, Tompson & Uhlig 2008):
    hit rate / area share. 1 = no better than chance.
``poisson_deviance``, ``mse``
    Over all cells, with each method scaled to its expected test total
    (training rate x test length for kde/rtm/rtm_x_kde; naive and forecast
    keep their own totals) and 1 % of a uniform rate mixed in for the
    deviance (every method alike), so zero forecasts stay scoreable.
``calibration_predicted``, ``calibration_observed``
    Sums per decile of cells ranked by prediction (decile 10 = highest;
    ties broken by cell order).

References
----------
Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping
for predicting spatial patterns of crime. Security Journal 21(1-2), 4-28.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hotspot_env.choices import Choice, announce
from hotspot_env.errors import InputError
from hotspot_env.scores import hit_rate, pai

if TYPE_CHECKING:
    from hotspot_env.analysis import Analysis

#: Shares of the area (percent) at which hit rate and PAI are reported.
AREA_PCTS: tuple[float, ...] = (1.0, 5.0, 10.0)

#: Methods compared, in report order.
METHODS: tuple[str, ...] = ("naive", "kde", "rtm", "rtm_x_kde", "forecast")

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
    from hotspot_env.forecast import poisson_deviance, with_floor

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
) -> pd.DataFrame:
    """Fit every method on incidents before ``split_date`` and score it on the next period.

    Parameters
    ----------
    analysis : Analysis
        A finished run (:func:`hotspot_env.pipeline.run`); validation scores
        models and never runs the pipeline itself.
    split_date : str, optional
        First day of the test window (``YYYY-MM-DD``, UTC). Default: the start
        of the last full period (the last year for records of four years or
        more). The test window runs to the midnight after the last record;
        the naive method uses the window of equal length before it.
    out : path, optional
        Folder for ``validation.csv`` and ``validation.json`` (atomic writes).
    area_pcts : tuple of float
        Area shares (percent) for hit rate and PAI (default 1, 5, 10).

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS`; ``attrs["meta"]`` holds the split, counts and
        the parameters of every method (also in ``validation.json``).

    Raises
    ------
    InputError
        Without dates, or when the split leaves no training or test incidents.
    """
    from hotspot_env import rtm
    from hotspot_env.density import choose_bandwidth, count_incidents, kde
    from hotspot_env.forecast import _naive_utc, choose_period, fit_forecast

    grid = analysis.grid
    mask = grid.mask
    pts = analysis.points
    t = _naive_utc(pts["datetime"])
    dated = ~np.isnat(t)
    if not dated.any():
        raise InputError("validation needs incident dates: the incidents have none")
    x = pts.geometry.x.to_numpy()
    y = pts.geometry.y.to_numpy()
    end = t[dated].max().astype("datetime64[D]").astype("datetime64[ns]") + np.timedelta64(1, "D")
    first = t[dated].min().astype("datetime64[D]").astype("datetime64[ns]")
    choices: list[Choice] = []
    if split_date is None:
        periods, _ = choose_period(t[dated], end=end)
        if periods is not None:
            split = periods.start(periods.n - 1)
            rule = f"start of the last full {periods.name} of the records"
        else:
            split = end - (end - first) // 3
            rule = "the last third of a record too short for full periods"
        # to the nearest midnight, so date-only records fall on one side only
        split = (split + np.timedelta64(12, "h")).astype("datetime64[D]").astype("datetime64[ns]")
        choices.append(announce(Choice(
            "split_date", str(split.astype("datetime64[D]")), rule)))
    else:
        try:
            split = np.datetime64(pd.Timestamp(split_date).tz_localize(None)
                                  if pd.Timestamp(split_date).tzinfo is None else
                                  pd.Timestamp(split_date).tz_convert("UTC").tz_localize(None),
                                  "ns")
        except (ValueError, TypeError) as exc:
            raise InputError(f"--split-date {split_date!r} is not a date: use YYYY-MM-DD") from exc
    if not (first < split < end):
        raise InputError(
            f"--split-date {str(split.astype('datetime64[D]'))} must fall inside the records "
            f"({str(first.astype('datetime64[D]'))} to "
            f"{str((end - np.timedelta64(1, 'D')).astype('datetime64[D]'))})")
    test_len = end - split
    test_days = test_len / np.timedelta64(1, "D")
    train = dated & (t < split)
    test = dated & (t >= split) & (t < end)
    last = dated & (t >= split - test_len) & (t < split)
    if not train.any() or not test.any():
        raise InputError("the split leaves no training or no test incidents: choose another "
                         "--split-date")
    obs = count_incidents(grid, x[test], y[test]).astype(float)[mask]
    train_days = (split - first) / np.timedelta64(1, "D")
    expected = train.sum() / max(train_days, 1.0) * test_days

    # ---- methods
    predictions: dict[str, np.ndarray] = {}
    predictions["naive"] = count_incidents(grid, x[last], y[last]).astype(float)[mask]
    bw, _ = choose_bandwidth(x[train], y[train], grid.cell_size)
    dens = kde(grid, x[train], y[train], bw)[mask]
    predictions["kde"] = _scaled(dens, expected)
    train_counts = count_incidents(grid, x[train], y[train])
    block = analysis.rtm.block_length_m if analysis.rtm is not None else None
    candidates = rtm.collect_layers(factor_results(analysis), analysis.map_layers)
    model = rtm.fit(grid, train_counts, candidates,
                    streets=rtm.street_layer(analysis), block_length_m=block)
    score = model.score[mask]
    predictions["rtm"] = _scaled(score, expected)
    predictions["rtm_x_kde"] = _scaled(score * dens, expected)
    fr = fit_forecast(grid, x[train], y[train], t[train], fallback_bandwidth=bw,
                      periods=choose_period(t[train], end=split)[0])
    predictions["forecast"] = fr.forecast[mask] * (test_days / 365.25)

    table = score_methods(predictions, obs, area_pcts)
    meta = {
        "split_date": str(split.astype("datetime64[D]")),
        "test_end": str(end.astype("datetime64[D]")),
        "test_days": float(test_days),
        "n_train": int(train.sum()), "n_test": int(test.sum()),
        "n_naive_window": int(last.sum()), "n_undated": int((~dated).sum()),
        "n_cells": int(grid.n_cells), "cell_size_m": float(grid.cell_size),
        "kde_bandwidth_m": float(bw),
        "rtm": {"family": model.family, "block_length_m": model.block_length_m,
                "factors": model.table.to_dict(orient="records"), "headline": model.headline},
        "forecast": fr.to_dict(),
        "methods": {
            "naive": "incidents per cell in the window of equal length before the split",
            "kde": "quartic KDE of all training incidents, rule-of-thumb radius",
            "rtm": "risk terrain score fitted on training counts",
            "rtm_x_kde": "risk terrain score x KDE",
            "forecast": "blend of last period's counts and KDE tuned by temporal "
                        "cross-validation on the training periods"},
        "choices": [c.to_dict() for c in choices + model.choices + fr.choices],
        "simulated": bool(analysis.parameters.get("simulated", False)),
    }
    table.attrs["meta"] = meta
    if out is not None:
        write_validation(table, out)
    return table


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Wide view: one row per method, hit rate and PAI per area share, deviance, MSE."""
    area = table[table["metric"].isin(["hit_rate", "pai"])]
    wide = area.pivot_table(index="method", columns=["metric", "area_pct"], values="value",
                            sort=False)
    wide.columns = [f"{m}_{a:g}pct" for m, a in wide.columns]
    other = table[table["metric"].isin(["poisson_deviance", "mse"])].pivot_table(
        index="method", columns="metric", values="value", sort=False)
    out = wide.join(other)
    order = [m for m in METHODS if m in out.index] + [m for m in out.index if m not in METHODS]
    return out.loc[order]


def write_validation(table: pd.DataFrame, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``validation.csv`` (the tidy table) and ``validation.json`` (meta + table)."""
    from hotspot_env.atomic import prepare_folder, write_text

    folder = prepare_folder(folder)
    csv = write_text(folder / "validation.csv", table.to_csv(index=False, lineterminator="\n"))
    doc = _clean({"meta": table.attrs.get("meta", {}),
                  "results": table.to_dict(orient="records")})
    js = write_text(folder / "validation.json", json.dumps(doc, indent=2) + "\n")
    return {"validation.csv": csv, "validation.json": js}


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
