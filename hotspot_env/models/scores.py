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

#: A count of cells and their observed total: (cells above, observed above, cells tied,
#: observed tied) at a cut-off (:func:`tally`), added up over the parts of an area.
Tally = tuple[int, float, int, float]


def cut_off(pred: np.ndarray, k: int) -> float:
    """The ``k``-th largest prediction (``1 <= k <= pred.size``): the cut-off of the top ``k``."""
    pred = np.asarray(pred, float)
    return float(np.partition(pred, pred.size - k)[pred.size - k])


def tally(pred: np.ndarray, obs: np.ndarray, cut: float, tol: float = 0.0,
          weight: np.ndarray | None = None) -> Tally:
    """Cells above ``cut + tol`` and tied within ``tol`` of ``cut``, with their observed totals.

    ``weight`` counts each value as that many cells (a part's table of
    distinct values, :mod:`hotspot_env.models.topk`); ``obs`` is then the
    observed total of each value's cells. Observed counts are whole numbers, so
    their sums are exact in any order: parts added up give the one-array tally.
    """
    pred = np.asarray(pred, float)
    obs = np.asarray(obs, float)
    above = pred > cut + tol
    tied = (pred >= cut - tol) & ~above if tol > 0 else pred == cut
    if weight is None:
        return int(above.sum()), float(obs[above].sum()), int(tied.sum()), float(obs[tied].sum())
    w = np.asarray(weight, np.int64)
    return int(w[above].sum()), float(obs[above].sum()), int(w[tied].sum()), float(obs[tied].sum())


def add_tallies(parts: list[Tally]) -> Tally:
    """The tally of an area from its parts' tallies."""
    n_above, obs_above, n_tied, obs_tied = 0, 0.0, 0, 0.0
    for a, oa, t, ot in parts:
        n_above, obs_above, n_tied, obs_tied = n_above + a, obs_above + oa, n_tied + t, \
            obs_tied + ot
    return n_above, obs_above, n_tied, obs_tied


def hits(counts: Tally, k: int) -> float:
    """Expected observed total in the top ``k`` cells from a tally at the ``k``-th value.

    Cells tied at the cut-off count pro rata: the expected value of random
    tie-breaking. The one rule of :func:`top_hits`, whether the tally comes
    from one array or is added up over tiles.
    """
    n_above, obs_above, n_tied, obs_tied = counts
    need = k - n_above
    return float(obs_above + need / n_tied * obs_tied)


def top_hits(pred: np.ndarray, obs: np.ndarray, k: int, tol: float = 0.0) -> float:
    """Expected observed total in the ``k`` highest-predicted cells (ties pro rata).

    Values within ``tol`` of the cut-off are tied with it (default: only equal values).
    """
    pred = np.asarray(pred, float)
    obs = np.asarray(obs, float)
    n = pred.size
    k = int(min(max(k, 0), n))
    if k == 0:
        return 0.0
    return hits(tally(pred, obs, cut_off(pred, k), tol), k)


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


def pei(pred: np.ndarray, obs: np.ndarray, area_pct: float, tie_rtol: float = 0.0) -> float:
    """Predictive efficiency index at ``area_pct`` % of the area (Hunt 2016).

    Incidents in the ``k`` cells ranked highest over the most any ``k`` cells
    hold (the observed top ``k``): 1 = the best possible ranking. NaN when
    nothing was observed or a prediction is not finite, so such a score can
    never win a choice. Predictions within ``tie_rtol`` x their largest
    magnitude of the cut-off are tied with it (:func:`tie_tolerance`).
    """
    obs = np.asarray(obs, float)
    pred = np.asarray(pred, float)
    k = treatable_cells(obs.size, area_pct / 100.0)
    best = top_hits(obs, obs, k)
    if not best > 0 or not np.isfinite(pred).all():
        return float("nan")
    return top_hits(pred, obs, k, tie_tolerance(pred_max(pred), tie_rtol)) / best


def pred_max(pred: np.ndarray) -> float:
    """Largest magnitude of the predictions (0 for none): what :func:`tie_tolerance` scales."""
    return float(np.abs(np.asarray(pred, float)).max(initial=0.0))


def tie_tolerance(largest: float, tie_rtol: float) -> float:
    """Distance from the cut-off within which predictions tie: ``tie_rtol`` x the largest."""
    return float(tie_rtol * largest) if tie_rtol > 0 else 0.0
