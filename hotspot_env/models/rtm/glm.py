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
    ymax = int(y.max()) + 1 if y.size else 1
    keys, freq = group_keys(y, X, ymax)
    return ungroup(keys, freq, X.shape[1], ymax)


def group_keys(y: np.ndarray, X: np.ndarray, ymax: int) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct ``pattern * ymax + count`` key (ascending) and how many rows have it.

    The frequency table is a sufficient statistic of every IRLS step and every
    dispersion: ``X'WX``, ``X'Wz`` and the log-likelihood are sums over its
    rows. Tables of disjoint sets of cells add up (:func:`merge_keys`), so
    tiles can each count theirs (``ymax`` must then be the global one).
    """
    k = X.shape[1]
    if k > 60:  # pragma: no cover - far more factors than RTM ever fits at once
        raise ValueError("too many indicators to group")
    code = np.zeros(y.size, np.int64)
    for j in range(k):  # column by column: no (n, k) int64 temporary
        code += X[:, j] * np.int64(1 << j)
    key = code * ymax + y.astype(np.int64, copy=False)
    if (1 << k) * ymax <= max(4 * key.size, 1 << 16):  # a counting pass beats sorting
        freq = np.bincount(key, minlength=(1 << k) * ymax)
        uniq = np.flatnonzero(freq)
        return uniq, freq[uniq]
    return np.unique(key, return_counts=True)


def merge_keys(tables: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The frequency table of the union of disjoint sets of rows: the tables added up."""
    if not tables:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    keys = np.concatenate([k for k, _ in tables])
    freq = np.concatenate([f for _, f in tables])
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inverse, weights=freq, minlength=uniq.size).astype(np.int64)


def ungroup(keys: np.ndarray, freq: np.ndarray, k: int, ymax: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``y_u``, ``X_u`` (with a leading column of ones) and ``freq`` of a frequency table."""
    yu = (keys % ymax).astype(float)
    pattern = keys // ymax
    Xu = ((pattern[:, None] >> np.arange(k, dtype=np.int64)) & 1).astype(float)
    return yu, np.column_stack([np.ones(keys.size), Xu]), np.asarray(freq).astype(float)


def nb_loglik(y: np.ndarray, mu: np.ndarray, alpha: float, w: np.ndarray) -> float:
    from scipy import stats

    if alpha <= 0:
        return float(np.sum(w * stats.poisson.logpmf(y, mu)))
    r = 1.0 / alpha
    return float(np.sum(w * stats.nbinom.logpmf(y, r, r / (r + mu))))


def irls_step(y: np.ndarray, X: np.ndarray, w: np.ndarray, beta: np.ndarray, alpha: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """``X'WX`` and ``X'Wz`` of one IRLS step at ``beta`` (log link, NB2 weights at ``alpha``).

    Sums over the rows, so the statistics of disjoint sets of rows (tiles) add
    up to those of their union (tested in ``tests/test_tile_rtm.py``).
    """
    eta = np.clip(X @ beta, -50, 50)
    mu = np.exp(eta)
    var_w = mu / (1.0 + alpha * mu)  # IRLS weight for log link
    z = eta + (y - mu) / mu
    ww = w * var_w
    return X.T @ (X * ww[:, None]), X.T @ (ww * z)


def irls(y: np.ndarray, X: np.ndarray, w: np.ndarray, alpha: float,
          start: np.ndarray | None = None, maxiter: int = 100) -> Fit:
    """Weighted IRLS for a log-link Poisson (``alpha = 0``) or NB2 (fixed ``alpha``) GLM."""
    p = X.shape[1]
    beta = np.zeros(p) if start is None else start.astype(float).copy()
    if start is None:
        beta[0] = math.log(max(np.sum(w * y) / np.sum(w), 1e-10))
    converged = False
    for _ in range(maxiter):
        xtwx, xtwz = irls_step(y, X, w, beta, alpha)
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


class DesignStats:
    """What the RTM selection reads of its design: grouped counts per set of columns.

    One selection (:func:`hotspot_env.models.rtm.selection.fit`) runs on any
    subclass: :class:`Design` holds the study area's design matrix in one
    process; :class:`hotspot_env.scale.tiled_design.TiledDesign` keeps each
    tile's rows on its worker and adds up the tiles' frequency tables
    (:func:`group_keys`, :func:`merge_keys`), the sufficient statistics of
    every IRLS step. Subclasses give :attr:`candidates`, :attr:`n_rows`,
    :attr:`y_total`, :meth:`grouped`, :meth:`cells`, :meth:`indicator` and
    :meth:`linear_predictor`.
    """

    candidates: list[Candidate]
    n_rows: int
    y_total: int

    def grouped(self, columns: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``y_u``, ``X_u`` and frequencies of the study-area cells on ``columns``."""
        raise NotImplementedError

    def prefetch(self, column_sets: list[list[int]]) -> None:
        """Get ready to fit these column sets (a tiled design asks its tiles at once)."""

    def cells(self, j: int) -> int:
        """Cells where candidate ``j`` is on."""
        raise NotImplementedError

    def indicator(self, j: int) -> np.ndarray:
        """Candidate ``j``'s indicator over the whole grid."""
        raise NotImplementedError

    def indicators(self, columns: list[int]) -> list[np.ndarray]:
        """:meth:`indicator` of several candidates (a tiled design asks its tiles at once)."""
        return [self.indicator(j) for j in columns]

    def linear_predictor(self, columns: list[int], coef: np.ndarray) -> np.ndarray:
        """``sum_i coef_i * indicator_{columns_i}`` over the whole grid."""
        raise NotImplementedError

    def fit(self, columns: list[int], alpha: float) -> Fit:
        """Poisson (``alpha = 0``) or NB2 fit on the candidates ``columns`` at ``alpha``."""
        return irls(*self.grouped(columns), alpha)

    def profile(self, columns: list[int]) -> tuple[float, Fit]:
        """NB2 fit on ``columns`` with the dispersion estimated by maximum likelihood."""
        return profile_alpha(*self.grouped(columns))


@dataclass
class Design(DesignStats):
    """Cell counts and candidate indicators inside the study area, in one process.

    ``y`` are the study-area cells' counts and ``X`` their indicators (one
    column per candidate); each candidate holds its whole-grid indicator.
    """

    y: np.ndarray
    X: np.ndarray
    candidates: list[Candidate]

    @property
    def n_rows(self) -> int:  # type: ignore[override]
        return int(self.y.size)

    @property
    def y_total(self) -> int:  # type: ignore[override]
        return int(self.y.sum())

    def grouped(self, columns: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return grouped(self.y, self.X[:, columns])

    def cells(self, j: int) -> int:
        return int(self.candidates[j].indicator.sum())

    def indicator(self, j: int) -> np.ndarray:
        return self.candidates[j].indicator

    def linear_predictor(self, columns: list[int], coef: np.ndarray) -> np.ndarray:
        lin = np.zeros(self.candidates[0].indicator.shape if self.candidates else (0, 0))
        for i, j in enumerate(columns):
            lin += coef[i] * self.candidates[j].indicator
        return lin
