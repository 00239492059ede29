"""The forecast against the best naive baseline: PEI difference with a paired bootstrap."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from hotspot_env.models.forecast import TREATABLE_SHARE, best_finite
from hotspot_env.models.scores import pei, ranking_tolerance, top_hits, treatable_cells
from hotspot_env.models.validation.constants import BASELINES, BOOTSTRAP_RESAMPLES
from hotspot_env.models.validation.verdict import outcome, verdict_sentence


def _reachable(score: np.ndarray, k: int, margin: int, tol: float) -> np.ndarray:
    """Cells in descending ``score`` order up to position ``k + margin``, and on through every
    cell within ``tol`` of the last one kept, so no tie at a resample's cut-off is cut short."""
    order = np.argsort(-score, kind="stable")
    s = score[order]
    stop = min(score.size, k + margin)
    stop = int(np.searchsorted(-s, -(s[stop - 1] - tol), side="right"))
    return order[:stop]


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
    rata and within :data:`~hotspot_env.models.scores.TIE_RTOL` as in
    :func:`hotspot_env.models.scores.pei` (the one implementation:
    :func:`~hotspot_env.models.scores.top_hits` with resampling weights). Only
    the cells that can reach the top ``k`` are weighted (the top ``k`` plus a margin of 8 standard
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
    rankings = [np.asarray(v, float) for v in (first, second, obs)]
    tols = [ranking_tolerance(rankings[0]), ranking_tolerance(rankings[1]), 0.0]  # as pei
    kept = [_reachable(v, k, margin, tol) for v, tol in zip(rankings, tols, strict=True)]
    cells = np.unique(np.concatenate(kept))
    where = [np.searchsorted(cells, c) for c in kept]
    rng = np.random.default_rng(seed)
    out = []
    for b0 in range(0, n_resamples, batch):
        w = rng.poisson(1.0, (min(batch, n_resamples - b0), cells.size)).astype(float)
        hits = [top_hits(v[c], obs[c], k, tol, w[:, pos])
                for v, c, pos, tol in zip(rankings, kept, where, tols, strict=True)]
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
        ``difference``, ``ci_low``, ``ci_high``, ``n_resamples``, ``winner`` (by the point
        difference), ``outcome`` (by its interval:
        :func:`hotspot_env.models.validation.verdict.outcome`) and ``verdict`` (one plain
        sentence, :func:`hotspot_env.models.validation.verdict.verdict_sentence`).
    """
    obs = np.asarray(obs, float)
    scores = {m: pei(p, obs, 100.0 * treatable_share) for m, p in predictions.items()}
    base = pd.Series({m: scores[m] for m in BASELINES if m in scores})
    best = best_finite(base)
    out: dict[str, Any] = {"treatable_share": treatable_share, "pei": scores,
                           "best_baseline": best, "difference": float("nan"),
                           "ci_low": float("nan"), "ci_high": float("nan"),
                           "n_resamples": int(n_resamples)}
    if best is None or not np.isfinite(scores.get("forecast", np.nan)):
        out["winner"] = out["outcome"] = None
        out["verdict"] = "no incidents in the test period: the rankings could not be compared"
        return out
    out["difference"] = float(scores["forecast"] - scores[best])
    if n_resamples > 0 and obs.size > 1:
        diffs = pei_difference_bootstrap(predictions["forecast"], predictions[best], obs,
                                         treatable_share, n_resamples=n_resamples, seed=seed)
        diffs = diffs[np.isfinite(diffs)]
        if diffs.size:
            out["ci_low"], out["ci_high"] = (float(v) for v in np.percentile(diffs, [2.5, 97.5]))
    d = out["difference"]
    out["winner"] = "forecast" if d > 0 else ("tie" if d == 0 else best)  # the point estimate
    out["outcome"] = outcome(d, out["ci_low"], out["ci_high"])  # judged by the interval
    out["verdict"] = verdict_sentence(out)
    return out
