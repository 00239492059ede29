"""Scores of a per-cell prediction against observed incidents: hit rate and PAI.

Shared by the forecast's backtest and the out-of-sample validation, which both
rank cells by prediction and count the incidents that fall in the top share.
"""

from __future__ import annotations

import numpy as np


def _top_hits(pred: np.ndarray, obs: np.ndarray, k: int) -> float:
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


def hit_rate(pred: np.ndarray, obs: np.ndarray, area_pct: float) -> float:
    """Share of observed incidents in the ``area_pct`` % of cells predicted highest.

    Parameters
    ----------
    pred : ndarray
        Prediction per cell (any scale; only the ranking matters).
    obs : ndarray
        Observed incidents per cell.
    area_pct : float
        Percent of the cells flagged; ``k = max(1, round(area_pct / 100 * n))``.

    Returns
    -------
    float
        Between 0 and 1 (NaN when nothing was observed). Cells tied at the
        cut-off count pro rata (expected value under random tie-breaking).
    """
    obs = np.asarray(obs, float)
    total = obs.sum()
    if total <= 0 or obs.size == 0:
        return float("nan")
    k = max(1, int(round(area_pct / 100.0 * obs.size)))
    return _top_hits(pred, obs, k) / total


def pai(pred: np.ndarray, obs: np.ndarray, area_pct: float) -> float:
    """Predictive accuracy index: hit rate / area share (Chainey et al. 2008).

    The area share is that of the ``k`` cells actually flagged (``k / n``, see
    :func:`hit_rate`), so rounding ``k`` does not bias the index.
    """
    n = np.asarray(obs).size
    if n == 0:
        return float("nan")
    k = max(1, int(round(area_pct / 100.0 * n)))
    return hit_rate(pred, obs, area_pct) / (k / n)
