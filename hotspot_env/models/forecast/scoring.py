"""How rankings are chosen: rolling-origin folds of PEI (:func:`hotspot_env.models.scores.pei`),
the one-SE rule, calibration."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from hotspot_env.models.forecast.constants import (
    MAX_FOLDS,
    TREATABLE_SHARE,
    UNIFORM_SHARE,
)
from hotspot_env.models.forecast.cube import CountStack
from hotspot_env.models.forecast.rankers import Candidate


def poisson_deviance(y: np.ndarray, mu: np.ndarray, axis: int = -1) -> np.ndarray:
    """Poisson deviance ``2 sum [y log(y/mu) - (y - mu)]`` along ``axis`` (0 log 0 = 0)."""
    y, mu = np.broadcast_arrays(np.asarray(y, float), np.asarray(mu, float))
    # the log only where y > 0: counts are mostly zeros, and 0 log 0 = 0 needs no log
    term = np.zeros(y.shape)
    pos = y > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        term[pos] = y[pos] * np.log(y[pos] / mu[pos])
    return 2.0 * np.sum(term - (y - mu), axis=axis)


def with_floor(mu: np.ndarray, background: float, share: float = UNIFORM_SHARE) -> np.ndarray:
    """``(1 - share) * mu + share * background``: never exactly zero where background > 0."""
    return (1.0 - share) * np.asarray(mu, float) + share * background



def check_share(share: Any) -> float:
    """``share`` as a float in (0, 1), else a one-line :class:`~hotspot_env.errors.InputError`."""
    from hotspot_env.errors import InputError

    try:
        value = float(share)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise InputError(f"--treatable-share must be a share of the area between 0 and 1 (e.g. "
                         f"0.05 for 5 %), got {share!r}")
    return value


def best_finite(scores: pd.Series, higher_is_better: bool = True) -> Any:
    """Label of the best finite score, the first in order among ties; None if none is finite.

    An infinite or NaN score (a deviance over a recording gap, a PEI with no
    incidents) never wins.
    """
    values = pd.to_numeric(scores, errors="coerce").to_numpy(float)
    finite = np.isfinite(values)
    if not finite.any():
        return None
    v = np.where(finite, values if higher_is_better else -values, -np.inf)
    return scores.index[int(np.argmax(v))]  # argmax returns the first of equal maxima


def one_se_choice(cv: pd.DataFrame) -> int | None:
    """Row of the simplest candidate within one standard error of the best (or None).

    The one-standard-error rule (Hastie, Tibshirani & Friedman 2009, sec.
    7.10): among many candidates scored on few folds the top mean is partly
    luck, so the first candidate in order (simplest first, see
    :func:`candidates`) whose mean fold PEI is within one standard error of
    the best's is kept. The error is that of the per-fold differences to the
    best (paired: the folds' shared difficulty cancels). With a single fold
    there is no error to measure and the best is kept. Only finite scores
    count (:func:`best_finite`).
    """
    scores = pd.Series(cv["pei"].to_numpy(float), index=range(len(cv)))
    best = best_finite(scores)
    if best is None:
        return None
    fold_cols = [c for c in cv.columns if c.startswith("pei_")]
    folds = cv[fold_cols].to_numpy(float)
    diff = folds[best][None, :] - folds  # (candidates, folds)
    ok = np.isfinite(diff).all(axis=0)
    if ok.sum() < 2:
        return int(best)
    d = diff[:, ok]
    se = d.std(axis=1, ddof=1) / math.sqrt(d.shape[1])
    within = np.isfinite(scores.to_numpy()) & (d.mean(axis=1) <= se)
    return int(np.flatnonzero(within)[0])


# ====================================================================== cross-validation
def cross_validate(stack: CountStack, cands: list[Candidate], share: float = TREATABLE_SHARE,
                   max_folds: int = MAX_FOLDS) -> pd.DataFrame:
    """Rolling-origin PEI of every candidate on the recorded periods of ``stack``.

    Returns
    -------
    DataFrame
        One row per candidate, in candidate order: ``candidate, base,
        lookback, radius_m, blend, pei`` (mean over the folds with incidents),
        ``pei_<k>`` per fold (test period index) and ``folds``.
    """
    tests = fold_tests(stack.n_periods, max_folds)
    peis = stack.fold_pei(cands, tests, share)
    rows = []
    for c, vals in zip(cands, peis, strict=True):
        fold = {f"pei_{t}": float(v) for t, v in zip(tests, vals, strict=True)}
        ok = np.isfinite(vals)
        rows.append({"candidate": c.name, "base": c.base, "lookback": c.lookback,
                     "radius_m": c.radius_m, "blend": str(c.blend),
                     "pei": float(vals[ok].mean()) if ok.any() else float("nan"),
                     "folds": int(ok.sum()), **fold})
    return pd.DataFrame(rows)


def fold_tests(n_periods: int, max_folds: int = MAX_FOLDS) -> list[int]:
    """The rolling-origin test periods: the last ``max_folds`` with a period before them."""
    return list(range(max(1, n_periods - max_folds), n_periods))


def calibrate(stack: CountStack, cand: Candidate, max_folds: int = MAX_FOLDS
              ) -> tuple[float, float, float, float, str]:
    """Fit ``log mu = a + b log s`` (Poisson GLM, statsmodels) on the folds.

    ``s`` is the candidate's score with :data:`UNIFORM_SHARE` of its mean mixed
    in. Returns ``(a, b, deviance, deviance_scaled, rule)``: the fitted
    coefficients and the fold deviance of the calibrated forecast and of the
    score only rescaled to the fold totals. When ``b`` is not positive and
    finite the rescaling is used (``b = 1``), so the ranking is always kept.
    """
    import statsmodels.api as sm

    tests = fold_tests(stack.n_periods, max_folds)
    s = np.concatenate([floored(v) for v in stack.fold_scores(cand, tests)])
    y = np.concatenate(stack.fold_counts(tests))
    scale = float(y.sum() / s.sum())
    dev_scaled = float(poisson_deviance(y, s * scale))
    try:
        fit = sm.GLM(y, sm.add_constant(np.log(s)), family=sm.families.Poisson()).fit()
        a, b = (float(v) for v in fit.params)
    except (ValueError, np.linalg.LinAlgError):  # degenerate folds: keep the rescaling
        a, b = float("nan"), float("nan")
    if not (math.isfinite(a) and math.isfinite(b) and b > 0):
        return math.log(scale), 1.0, dev_scaled, dev_scaled, (
            "rescaled to the fold totals (a power calibration would not keep the ranking)")
    dev = float(poisson_deviance(y, np.exp(a) * s**b))
    return a, b, dev, dev_scaled, f"Poisson regression log mu = {a:.3f} + {b:.3f} log score"


def floored(score: np.ndarray) -> np.ndarray:
    """``score`` with :data:`UNIFORM_SHARE` of its mean mixed in (:func:`with_floor`)."""
    return with_floor(score, float(score.mean()) if score.size else 0.0)
