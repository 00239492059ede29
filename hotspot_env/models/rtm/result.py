"""The fitted risk terrain model (:class:`RTMResult`) and its headline."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hotspot_env.core.choices import Choice
from hotspot_env.models.rtm.constants import DEFAULT_BLOCK_LENGTH_M, TOP_PERCENT
from hotspot_env.models.scores import cut_off, top_cells, treatable_cells


@dataclass
class RTMResult:
    """A fitted risk terrain model.

    Attributes
    ----------
    table : DataFrame
        One row per selected factor, columns :data:`TABLE_COLUMNS`: ``factor``,
        ``operation`` ("proximity"/"density"), ``distance_m`` (m),
        ``coefficient`` (log relative risk), ``rrv`` = exp(coefficient),
        ``ci_low``/``ci_high`` (95 % CI of the RRV) and ``p_value`` (Wald).
    candidates : DataFrame
        Every operationalisation tested, with its one-factor coefficient,
        RRV, p-value and BIC, and flags ``chosen`` (best for its factor) and
        ``selected`` (in the final model).
    score : ndarray
        Risk terrain score per cell, ``exp(sum_k coef_k * indicator_k)``: the
        relative risk against a cell with no selected factor (1). NaN outside
        the study area.
    headline : str
        "the top N % highest-risk cells cover X % of the area and held Y % of
        incidents".
    choices : list of Choice
        Block length, model family and selection notices.
    indicators : dict of str to ndarray of bool
        The chosen operationalisation of each factor (selected or not), by factor name.
    family : str
        "poisson" or "negative binomial".
    alpha : float
        NB2 dispersion (0 for Poisson).
    intercept : float
        Log expected incidents per cell where no selected factor is present.
    block_length_m : float
        The distance unit (m).
    headline_numbers : dict
        ``top_pct``, ``area_pct``, ``incident_pct``, ``n_cells``, ``threshold_score``.
    n_tested : int
        Number of operationalisations tested (``m`` in the Holm test).
    """

    table: pd.DataFrame
    candidates: pd.DataFrame
    score: np.ndarray
    headline: str
    choices: list[Choice]
    indicators: dict[str, np.ndarray]
    family: str = "poisson"
    alpha: float = 0.0
    intercept: float = float("nan")
    block_length_m: float = DEFAULT_BLOCK_LENGTH_M
    headline_numbers: dict[str, float] = field(default_factory=dict)
    n_tested: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary for the manifest."""
        return {"family": self.family, "alpha": self.alpha,
                "intercept": self.intercept if math.isfinite(self.intercept) else None,
                "block_length_m": self.block_length_m, "n_tested": self.n_tested,
                "headline": self.headline, "headline_numbers": self.headline_numbers,
                "factors": self.table.to_dict(orient="records")}


def headline(score: np.ndarray, counts: np.ndarray, mask: np.ndarray,
             top_pct: float = TOP_PERCENT) -> tuple[str, dict[str, float]]:
    """RTMDx-style summary of how well the highest-risk cells capture incidents.

    The threshold is the score of the ``ceil(top_pct % x n)``-th highest cell;
    every cell scoring at least that much counts as high risk, so tied cells
    are never split (the area share can exceed ``top_pct``). When that
    threshold is the baseline score 1 or less, only cells above 1 count.

    Parameters
    ----------
    score : ndarray
        Risk terrain score per cell.
    counts : ndarray
        Incidents per cell.
    mask : ndarray of bool
        Cells of the study area.
    top_pct : float
        Target share of cells, percent (default 10).

    Returns
    -------
    text : str
        "the top 10 % highest-risk cells cover 10.4 % of the area and held
        31.2 % of incidents".
    numbers : dict
        ``top_pct``, ``area_pct``, ``incident_pct``, ``n_cells``, ``threshold_score``.
    """
    s = np.asarray(score, float)[mask]
    c = np.asarray(counts, float)[mask]
    n = s.size
    if n == 0 or c.sum() <= 0:
        return (f"the top {top_pct:g} % highest-risk cells could not be assessed (no incidents)",
                {"top_pct": top_pct, "area_pct": float("nan"), "incident_pct": float("nan"),
                 "n_cells": 0, "threshold_score": float("nan")})
    k = treatable_cells(n, top_pct / 100.0)
    threshold = float(cut_off(s, k))
    # the top k with the cells tied at the threshold (within TIE_RTOL) kept together; a
    # threshold at the no-factor score 1 would flag cells with no selected factor
    high = s > 1.0 if threshold <= 1.0 else top_cells(s, k)
    area = 100.0 * high.sum() / n
    held = 100.0 * c[high].sum() / c.sum()
    text = (f"the top {top_pct:g} % highest-risk cells cover {area:.1f} % of the area and held "
            f"{held:.1f} % of incidents")
    if not high.any():
        text = (f"no cell has a selected risk factor, so the top {top_pct:g} % highest-risk "
                "cells cannot be told apart")
    return text, {"top_pct": float(top_pct), "area_pct": float(area), "incident_pct": float(held),
                  "n_cells": int(high.sum()), "threshold_score": threshold}

