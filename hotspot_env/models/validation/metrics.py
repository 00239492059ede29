"""The tidy metric table: hit rate, PAI, PEI, deviance, MSE and calibration per method."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hotspot_env.models.forecast import poisson_deviance, with_floor
from hotspot_env.models.scores import hit_rate, pai, pei
from hotspot_env.models.validation.constants import AREA_PCTS, COLUMNS


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
