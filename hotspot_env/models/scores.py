"""Scores of a per-cell ranking against observed incidents: hit rate, PAI and PEI.

Shared by the forecast's model choice and backtest and by the out-of-sample
validation, which all rank cells by prediction and count the incidents that
fall in the top share of the area. The ``k`` flagged cells are
``ceil(share x n)`` (at least one) of the ``n`` equal cells; cells tied at the
cut-off count pro rata, which is the expected value of random tie-breaking, so
a map with few distinct values is neither flattered nor penalised.

References
----------
Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping
for predicting spatial patterns of crime. Security Journal 21(1-2), 4-28.
Hunt, J. M. (2016). Do crime hot spots move? Exploring the effects of the
modifiable areal unit problem and modifiable temporal unit problem on crime
hot spot stability. American University (PhD thesis).
"""

from __future__ import annotations

import math

import numpy as np


def top_hits(pred: np.ndarray, obs: np.ndarray, k: int) -> float:
    """Expected observed total in the ``k`` highest-predicted cells (ties pro rata)."""
    pred = np.asarray(pred, float)
    obs = np.asarray(obs, float)
    n = pred.size
    k = int(min(max(k, 0), n))
    if k == 0:
        return 0.0
    cut = np.partition(pred, n - k)[n - k]  # k-th largest
    above = pred > cut
    tied = pred == cut
    need = k - int(above.sum())
    return float(obs[above].sum() + need / tied.sum() * obs[tied].sum())


def treatable_cells(n: int, share: float) -> int:
    """Cells flagged at ``share`` (a fraction) of an area of ``n`` equal cells: at least one."""
    return max(1, int(math.ceil(share * n - 1e-9)))


def hit_rate(pred: np.ndarray, obs: np.ndarray, area_pct: float) -> float:
    """Share of observed incidents in the ``area_pct`` % of cells predicted highest.

    Parameters
    ----------
    pred : ndarray
        Prediction per cell (any scale; only the ranking matters).
    obs : ndarray
        Observed incidents per cell.
    area_pct : float
        Percent of the cells flagged (:func:`treatable_cells`).

    Returns
    -------
    float
        Between 0 and 1 (NaN when nothing was observed).
    """
    obs = np.asarray(obs, float)
    total = obs.sum()
    if total <= 0 or obs.size == 0:
        return float("nan")
    return top_hits(pred, obs, treatable_cells(obs.size, area_pct / 100.0)) / total


def pai(pred: np.ndarray, obs: np.ndarray, area_pct: float) -> float:
    """Predictive accuracy index: hit rate / area share (Chainey et al. 2008).

    The area share is that of the ``k`` cells actually flagged (``k / n``), so
    rounding ``k`` does not bias the index. 1 = no better than chance.
    """
    n = np.asarray(obs).size
    if n == 0:
        return float("nan")
    return hit_rate(pred, obs, area_pct) / (treatable_cells(n, area_pct / 100.0) / n)


def pei(pred: np.ndarray, obs: np.ndarray, area_pct: float) -> float:
    """Predictive efficiency index at ``area_pct`` % of the area (Hunt 2016).

    Incidents in the ``k`` cells ranked highest over the most any ``k`` cells
    hold (the observed top ``k``): 1 = the best possible ranking. NaN when
    nothing was observed or a prediction is not finite, so such a score can
    never win a choice.
    """
    obs = np.asarray(obs, float)
    pred = np.asarray(pred, float)
    k = treatable_cells(obs.size, area_pct / 100.0)
    best = top_hits(obs, obs, k)
    if not best > 0 or not np.isfinite(pred).all():
        return float("nan")
    return top_hits(pred, obs, k) / best
