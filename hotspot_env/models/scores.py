"""Scores of a per-cell ranking against observed incidents: hit rate, PAI and PEI.

The one implementation of these scores and of their tie rule: the forecast's
model choice (:meth:`hotspot_env.models.forecast.CountStack.fold_pei`, and its
tiled twin :mod:`hotspot_env.models.topk`), its backtest
(:func:`hotspot_env.models.forecast.backtest`) and the out-of-sample validation
(:func:`hotspot_env.models.validation.score_methods`, its paired bootstrap
:func:`hotspot_env.models.validation.pei_difference_bootstrap`) all rank cells
by prediction and count the incidents that fall in the top share of the area.
The ``k`` flagged cells are ``ceil(share x n)`` (at least one) of the ``n``
equal cells. Cells tied at the cut-off count pro rata, which is the expected
value of random tie-breaking, so a map with few distinct values is neither
flattered nor penalised; predictions within :data:`TIE_RTOL` of the largest of
the cut-off tie with it, so values equal in exact arithmetic but a few ulps
apart are not ranked by round-off.

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
#: observed tied) at a cut-off (:func:`tally`), added up over the parts of an area. With
#: rows of weights (a bootstrap's resamples) each entry is an array, one value per row.
Tally = tuple[int, float, int, float]

#: Scores within this share of a candidate's largest score of the cut-off tie with it
#: (pro rata, :func:`top_hits`). Values equal in exact arithmetic
#: come out a few ulps apart depending on where a sum or an FFT meets them (a cell's
#: position in a BLAS block; a tile's FFT against the whole grid's: 5e-16 of the largest,
#: measured). Every candidate's CV score is the same for any value from 1e-15 to 1e-14 on
#: the synthetic city and São Paulo; from 1e-13 on, genuine tie-breaks by the neighbours
#: start to merge.
TIE_RTOL: float = 1e-14


def cut_off(pred: np.ndarray, k: int, weight: np.ndarray | None = None) -> float | np.ndarray:
    """The ``k``-th largest prediction (``1 <= k <= pred.size``): the cut-off of the top ``k``.

    With ``weight`` (rows x cells: each row an area in which cell ``i`` stands
    ``weight[r, i]`` times, a bootstrap resample) one cut-off per row: the value
    at which the row's weight, in descending order of ``pred``, first reaches
    ``k`` (the smallest value when it never does).
    """
    pred = np.asarray(pred, float)
    if weight is None:
        return float(np.partition(pred, pred.size - k)[pred.size - k])
    order = np.argsort(-pred, kind="stable")
    reach = np.cumsum(np.asarray(weight, float)[:, order], axis=1)
    first = np.where(reach[:, -1] >= k, np.argmax(reach >= k, axis=1), pred.size - 1)
    return pred[order][first]


def _split(pred: np.ndarray, cut: float | np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Cells above ``cut + tol`` and cells tied within ``tol`` of ``cut``: the one tie rule."""
    above = pred > cut + tol
    return above, (pred >= cut - tol) & ~above  # with tol = 0: equal to the cut-off


def tally(pred: np.ndarray, obs: np.ndarray, cut: float | np.ndarray, tol: float = 0.0,
          weight: np.ndarray | None = None) -> Tally:
    """Cells above ``cut + tol`` and tied within ``tol`` of ``cut``, with their observed totals.

    ``weight`` counts each value as that many cells (a part's table of
    distinct values, :mod:`hotspot_env.models.topk`); ``obs`` is then the
    observed total of each value's cells. A 2-D ``weight`` (rows x values) with
    one ``cut`` per row and ``obs`` of the same shape tallies every row (a
    bootstrap's resamples). Observed counts are whole numbers, so their sums
    are exact in any order: parts added up give the one-array tally.
    """
    pred = np.asarray(pred, float)
    obs = np.asarray(obs, float)
    if np.ndim(cut):  # one cut-off per row of weight
        cut = np.asarray(cut, float)[:, None]
    above, tied = _split(pred, cut, tol)
    if weight is None:
        return int(above.sum()), float(obs[above].sum()), int(tied.sum()), float(obs[tied].sum())
    if np.ndim(weight) == 2:
        w = np.asarray(weight, float)
        return ((w * above).sum(axis=1), (obs * above).sum(axis=1),  # type: ignore[return-value]
                (w * tied).sum(axis=1), (obs * tied).sum(axis=1))
    w = np.asarray(weight, np.int64)
    return int(w[above].sum()), float(obs[above].sum()), int(w[tied].sum()), float(obs[tied].sum())


def add_tallies(parts: list[Tally]) -> Tally:
    """The tally of an area from its parts' tallies."""
    n_above, obs_above, n_tied, obs_tied = 0, 0.0, 0, 0.0
    for a, oa, t, ot in parts:
        n_above, obs_above, n_tied, obs_tied = n_above + a, obs_above + oa, n_tied + t, \
            obs_tied + ot
    return n_above, obs_above, n_tied, obs_tied


def hits(counts: Tally, k: int) -> float | np.ndarray:
    """Expected observed total in the top ``k`` cells from a tally at the ``k``-th value.

    Cells tied at the cut-off count pro rata: the expected value of random
    tie-breaking. The one rule of :func:`top_hits`, whether the tally comes
    from one array, is added up over tiles or is one per bootstrap resample
    (arrays: one total per row; a row of fewer than ``k`` cells' weight takes
    all of it).
    """
    n_above, obs_above, n_tied, obs_tied = counts
    need = np.minimum(k - n_above, n_tied)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(np.greater(n_tied, 0), need / n_tied, 0.0)
    return obs_above + share * obs_tied


def top_hits(pred: np.ndarray, obs: np.ndarray, k: int, tol: float = 0.0,
             weight: np.ndarray | None = None) -> float | np.ndarray:
    """Expected observed total in the ``k`` highest-predicted cells (ties pro rata).

    Values within ``tol`` of the cut-off are tied with it (``tol = 0``: only
    equal values; the scores below pass :func:`ranking_tolerance`). With ``weight``
    (rows x cells, see :func:`cut_off`) one total per row, each cell's
    observed count counted ``weight`` times.
    """
    pred = np.asarray(pred, float)
    obs = np.asarray(obs, float)
    if weight is not None:
        w = np.asarray(weight, float)
        return hits(tally(pred, w * obs, cut_off(pred, k, w), tol, w), k)
    n = pred.size
    k = int(min(max(k, 0), n))
    if k == 0:
        return 0.0
    return float(hits(tally(pred, obs, cut_off(pred, k), tol), k))


def top_cells(pred: np.ndarray, k: int, tie_rtol: float = TIE_RTOL) -> np.ndarray:
    """Flags of the ``k`` highest-predicted cells, with every cell tied at the cut-off flagged.

    The same cut-off and ties (:data:`TIE_RTOL`) as :func:`top_hits`; where a
    score counts the tied cells pro rata, a map of places flags them all, so
    the flagged share can exceed ``k / n`` (say what was measured).
    """
    pred = np.asarray(pred, float)
    above, tied = _split(pred, cut_off(pred, k), ranking_tolerance(pred, tie_rtol))
    return above | tied


def ranking_tolerance(pred: np.ndarray, tie_rtol: float = TIE_RTOL) -> float:
    """Distance from the cut-off within which ``pred``'s values tie: ``tie_rtol`` x its largest.

    Only finite values scale it: a NaN or infinite prediction must not tie everything.
    """
    pred = np.asarray(pred, float)
    return tie_tolerance(pred_max(pred[np.isfinite(pred)]), tie_rtol)


def treatable_cells(n: int, share: float) -> int:
    """Cells flagged at ``share`` (a fraction) of an area of ``n`` equal cells: at least one."""
    return max(1, int(math.ceil(share * n - 1e-9)))


def hit_rate(pred: np.ndarray, obs: np.ndarray, area_pct: float,
             tie_rtol: float = TIE_RTOL) -> float:
    """Share of observed incidents in the ``area_pct`` % of cells predicted highest.

    Parameters
    ----------
    pred : ndarray
        Prediction per cell (any scale; only the ranking matters).
    obs : ndarray
        Observed incidents per cell.
    area_pct : float
        Percent of the cells flagged (:func:`treatable_cells`).
    tie_rtol : float
        Predictions within ``tie_rtol`` x their largest magnitude of the
        cut-off tie with it (:func:`ranking_tolerance`); 0 = only equal values.

    Returns
    -------
    float
        Between 0 and 1 (NaN when nothing was observed).
    """
    obs = np.asarray(obs, float)
    total = obs.sum()
    if total <= 0 or obs.size == 0:
        return float("nan")
    k = treatable_cells(obs.size, area_pct / 100.0)
    return top_hits(pred, obs, k, ranking_tolerance(pred, tie_rtol)) / total


def pai(pred: np.ndarray, obs: np.ndarray, area_pct: float, tie_rtol: float = TIE_RTOL) -> float:
    """Predictive accuracy index: hit rate / area share (Chainey et al. 2008).

    The area share is that of the ``k`` cells actually flagged (``k / n``), so
    rounding ``k`` does not bias the index. 1 = no better than chance. Ties as in
    :func:`hit_rate`.
    """
    n = np.asarray(obs).size
    if n == 0:
        return float("nan")
    return hit_rate(pred, obs, area_pct, tie_rtol) / (treatable_cells(n, area_pct / 100.0) / n)


def pei(pred: np.ndarray, obs: np.ndarray, area_pct: float, tie_rtol: float = TIE_RTOL) -> float:
    """Predictive efficiency index at ``area_pct`` % of the area (Hunt 2016).

    Incidents in the ``k`` cells ranked highest over the most any ``k`` cells
    hold (the observed top ``k``): 1 = the best possible ranking. NaN when
    nothing was observed or a prediction is not finite, so such a score can
    never win a choice. Ties as in :func:`hit_rate` (the observed top ``k``
    is of whole counts and needs no tolerance).
    """
    obs = np.asarray(obs, float)
    pred = np.asarray(pred, float)
    k = treatable_cells(obs.size, area_pct / 100.0)
    best = top_hits(obs, obs, k)
    if not best > 0 or not np.isfinite(pred).all():
        return float("nan")
    return top_hits(pred, obs, k, ranking_tolerance(pred, tie_rtol)) / best


def pred_max(pred: np.ndarray) -> float:
    """Largest magnitude of the predictions (0 for none): what :func:`tie_tolerance` scales."""
    return float(np.abs(np.asarray(pred, float)).max(initial=0.0))


def tie_tolerance(largest: float, tie_rtol: float) -> float:
    """Distance from the cut-off within which predictions tie: ``tie_rtol`` x the largest."""
    return float(tie_rtol * largest) if tie_rtol > 0 else 0.0
