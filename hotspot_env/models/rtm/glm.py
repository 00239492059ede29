"""The count regression of the risk terrain model: Poisson and negative binomial (NB2) GLMs.

Both are log-link GLMs fitted by iteratively reweighted least squares
(:func:`irls`), the NB2 one at a fixed dispersion ``alpha`` (variance
``mu + alpha mu^2``); ``alpha`` itself is found by maximising the profile
likelihood (:func:`profile_alpha`). Cells with the same indicator pattern and
count are grouped and weighted by their number (:func:`grouped`): the
likelihood is exactly the cell-level one, at a fraction of the cost. Tested
against statsmodels' ``NegativeBinomial`` (NB2) in ``tests/test_rtm_glm.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# scipy.stats and scipy.optimize are imported in the functions that use them: unpickling a
# kept analysis imports this package, and the app's first page does not fit models
# (tests/test_lazy_imports.py).
from hotspot_env.models.rtm.candidates import Candidate


@dataclass
class Fit:
    """A fitted GLM: coefficients (intercept first), standard errors, log-likelihood.

    ``converged`` is False when IRLS did not settle or a coefficient ran off
    (no incident where an indicator is on), so the fit must not be selected.
    """

    params: np.ndarray
    bse: np.ndarray
    llf: float
    converged: bool


def grouped(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (indicator pattern, count) rows and their frequencies.

    Returns ``y_u``, ``X_u`` (with a leading column of ones) and ``freq``.
    """
    k = X.shape[1]
    if k > 60:  # pragma: no cover - far more factors than RTM ever fits at once
        raise ValueError("too many indicators to group")
    code = np.zeros(y.size, np.int64)
    for j in range(k):  # column by column: no (n, k) int64 temporary
        code += X[:, j] * np.int64(1 << j)
    ymax = int(y.max()) + 1 if y.size else 1
    key = code * ymax + y.astype(np.int64, copy=False)
    if (1 << k) * ymax <= max(4 * key.size, 1 << 16):  # a counting pass beats sorting
        freq = np.bincount(key, minlength=(1 << k) * ymax)
        uniq = np.flatnonzero(freq)
        freq = freq[uniq]
    else:
        uniq, freq = np.unique(key, return_counts=True)
    yu = (uniq % ymax).astype(float)
    pattern = uniq // ymax
    Xu = ((pattern[:, None] >> np.arange(k, dtype=np.int64)) & 1).astype(float)
    return yu, np.column_stack([np.ones(uniq.size), Xu]), freq.astype(float)


def nb_loglik(y: np.ndarray, mu: np.ndarray, alpha: float, w: np.ndarray) -> float:
    from scipy import stats

    if alpha <= 0:
        return float(np.sum(w * stats.poisson.logpmf(y, mu)))
    r = 1.0 / alpha
    return float(np.sum(w * stats.nbinom.logpmf(y, r, r / (r + mu))))


def irls(y: np.ndarray, X: np.ndarray, w: np.ndarray, alpha: float,
          start: np.ndarray | None = None, maxiter: int = 100) -> Fit:
    """Weighted IRLS for a log-link Poisson (``alpha = 0``) or NB2 (fixed ``alpha``) GLM."""
    p = X.shape[1]
    beta = np.zeros(p) if start is None else start.astype(float).copy()
    if start is None:
        beta[0] = math.log(max(np.sum(w * y) / np.sum(w), 1e-10))
    converged = False
    for _ in range(maxiter):
        eta = np.clip(X @ beta, -50, 50)
        mu = np.exp(eta)
        var_w = mu / (1.0 + alpha * mu)  # IRLS weight for log link
        z = eta + (y - mu) / mu
        ww = w * var_w
        xtwx = X.T @ (X * ww[:, None])
        xtwz = X.T @ (ww * z)
        try:
            new = np.linalg.solve(xtwx + 1e-12 * np.eye(p), xtwz)
        except np.linalg.LinAlgError:
            new = np.linalg.lstsq(xtwx, xtwz, rcond=None)[0]
        if np.max(np.abs(new - beta)) < 1e-9:
            beta = new
            converged = True
            break
        beta = new
    eta = np.clip(X @ beta, -50, 50)
    mu = np.exp(eta)
    ww = w * mu / (1.0 + alpha * mu)
    xtwx = X.T @ (X * ww[:, None])
    try:
        cov = np.linalg.inv(xtwx)
        bse = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        bse = np.full(p, np.inf)
    # a coefficient running off to -inf (no incidents where the indicator is 1)
    converged &= bool(np.all(np.abs(beta[1:]) < 20)) and bool(np.all(np.isfinite(bse)))
    return Fit(beta, bse, nb_loglik(y, mu, alpha, w), converged)


def profile_alpha(y: np.ndarray, X: np.ndarray, w: np.ndarray) -> tuple[float, Fit]:
    """NB2 dispersion by maximum profile likelihood (0 = Poisson)."""
    from scipy import optimize

    cache: dict[float, Fit] = {}

    def negll(log_a: float) -> float:
        a = math.exp(log_a)
        fit = irls(y, X, w, a)
        cache[a] = fit
        return -fit.llf

    res = optimize.minimize_scalar(negll, bounds=(math.log(1e-6), math.log(100.0)),
                                   method="bounded", options={"xatol": 1e-4})
    alpha = math.exp(res.x)
    fit = cache.get(alpha) or irls(y, X, w, alpha)
    return alpha, fit


@dataclass
class Design:
    """Cell counts and candidate indicators inside the study area."""

    y: np.ndarray
    X: np.ndarray
    candidates: list[Candidate]

    def fit(self, columns: list[int], alpha: float) -> Fit:
        """Poisson (``alpha = 0``) or NB2 fit on the candidates ``columns`` at ``alpha``."""
        yu, Xu, w = grouped(self.y, self.X[:, columns])
        return irls(yu, Xu, w, alpha)

    def profile(self, columns: list[int]) -> tuple[float, Fit]:
        """NB2 fit on ``columns`` with the dispersion estimated by maximum likelihood."""
        yu, Xu, w = grouped(self.y, self.X[:, columns])
        return profile_alpha(yu, Xu, w)

