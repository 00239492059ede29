"""The estimates of an evaluation: a fixed-effects Poisson DiD, the weighted displacement
quotient and a conservative update of an evidence prior.

:func:`did_poisson` fits place-by-month counts with a fixed effect per place and per month
and cluster-robust intervals (:func:`fe_poisson`, checked against statsmodels in the tests);
:func:`wdq` is Bowers & Johnson's (2003) weighted displacement quotient; :func:`update_prior`
moves a prior rate ratio part of the way towards a local estimate (a power prior).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: Level of the reported intervals of measured effects.
LEVEL: float = 0.90
#: Weight of the local likelihood in the conservative prior update (a power prior).
PRIOR_UPDATE_WEIGHT: float = 0.25


@dataclass(frozen=True)
class Estimate:
    """A rate ratio with its interval (``NaN`` when it cannot be estimated)."""

    rr: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    p: float = math.nan
    note: str = ""

    @property
    def ok(self) -> bool:
        """True when the estimate exists."""
        return bool(np.isfinite(self.rr))


def fe_poisson(y: np.ndarray, x: np.ndarray, unit: np.ndarray, period: np.ndarray,
               offset: np.ndarray | None = None, max_iter: int = 100,
               base_periods: tuple[int, ...] = (0,)) -> tuple[np.ndarray, np.ndarray, int]:
    """Poisson regression with a fixed effect per unit and per period, clustered by unit.

    The unit effects are profiled out exactly (for Poisson, given the other
    coefficients ``b``, ``alpha_i = log(sum_t y_it) - log(sum_t exp(z_it b))``),
    so Newton's method runs on the few columns ``z = [x, period dummies]``
    instead of one dummy per place. The estimates and the cluster-robust
    covariance are those of statsmodels' ``GLM(Poisson)`` with a dummy per unit
    and period and ``cov_type="cluster"`` (with its small-sample correction
    ``G/(G-1) (N-1)/(N-K)``), which the tests check, at a fraction of the
    cost: the full dummy design is dense.

    Parameters
    ----------
    y : ndarray of float, shape (n,)
        Counts.
    x : ndarray, shape (n, p)
        Regressors of interest.
    unit, period : ndarray of int, shape (n,)
        Codes ``0..G-1`` and ``0..T-1``; every unit must have a positive total.
    offset : ndarray, optional
        Log exposure per row.
    max_iter : int
        Newton steps at most.
    base_periods : tuple of int
        Periods without a dummy: one per group of units that shares period
        effects (the first period; one per type when types are pooled).

    Returns
    -------
    params : ndarray, shape (p,)
    cov : ndarray, shape (p, p)
        Cluster-robust covariance of ``params``.
    groups : int
        Number of clusters (units).
    """
    from threadpoolctl import threadpool_limits

    # products of a few thousand rows by ~50 columns: BLAS threads only contend (10x slower
    # on a busy 2-core machine)
    with threadpool_limits(1):
        return _fe_poisson(y, x, unit, period, offset, max_iter, base_periods)


def _fe_poisson(y: np.ndarray, x: np.ndarray, unit: np.ndarray, period: np.ndarray,
                offset: np.ndarray | None, max_iter: int, base_periods: tuple[int, ...]
                ) -> tuple[np.ndarray, np.ndarray, int]:
    y = np.asarray(y, dtype=float)
    off = np.zeros(len(y)) if offset is None else np.asarray(offset, dtype=float)
    n_t = int(period.max()) + 1
    keep = np.setdiff1d(np.arange(n_t), base_periods)
    z = np.column_stack([np.asarray(x, dtype=float), np.eye(n_t)[period][:, keep]])
    n_g = int(unit.max()) + 1
    sum_y = np.bincount(unit, weights=y, minlength=n_g)
    b = np.zeros(z.shape[1])
    for _ in range(max_iter):
        mu = _profiled_mean(z @ b + off, unit, sum_y, n_g)
        grad = z.T @ (y - mu)
        zt = _within(z, mu, unit, n_g)
        hess = zt.T @ (zt * mu[:, None])
        step = np.linalg.solve(hess, grad)
        b += step
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = _profiled_mean(z @ b + off, unit, sum_y, n_g)
    zt = _within(z, mu, unit, n_g)
    bread = np.linalg.inv(zt.T @ (zt * mu[:, None]))
    scores = _unit_sums(z * (y - mu)[:, None], unit, n_g)
    n, k = len(y), z.shape[1] + n_g
    correction = n_g / (n_g - 1) * (n - 1) / (n - k)
    cov = correction * bread @ (scores.T @ scores) @ bread
    p = np.asarray(x).shape[1]
    return b[:p], cov[:p, :p], n_g


def _profiled_mean(eta: np.ndarray, unit: np.ndarray, sum_y: np.ndarray, n_g: int) -> np.ndarray:
    """Poisson means with each unit's effect at its maximum given ``eta``."""
    shift = np.full(n_g, -np.inf)
    np.maximum.at(shift, unit, eta)  # for numerical safety before exp
    e = np.exp(eta - shift[unit])
    return e * (sum_y / np.bincount(unit, weights=e, minlength=n_g))[unit]


def _within(z: np.ndarray, w: np.ndarray, unit: np.ndarray, n_g: int) -> np.ndarray:
    """``z`` minus its ``w``-weighted mean within each unit."""
    tot = np.bincount(unit, weights=w, minlength=n_g)
    return z - (_unit_sums(z * w[:, None], unit, n_g) / tot[:, None])[unit]


def _unit_sums(values: np.ndarray, unit: np.ndarray, n_g: int) -> np.ndarray:
    """Column sums of ``values`` per unit, shape ``(n_g, k)``."""
    return np.column_stack([np.bincount(unit, weights=values[:, j], minlength=n_g)
                            for j in range(values.shape[1])])


def did_poisson(panel: pd.DataFrame, y: str, terms: tuple[str, ...],
                level: float = LEVEL, exposure: str | None = None) -> dict[str, Estimate]:
    """Two-way fixed-effects Poisson DiD: ``y ~ terms + place + period``; ratios per term.

    Parameters
    ----------
    panel : DataFrame
        One row per place and period: ``unit``, ``period`` and the columns
        named by ``y``, ``terms`` (0/1 indicators) and ``exposure``.
    y : str
        Count column.
    terms : tuple of str
        Indicator columns whose exponentiated coefficients are returned.
    level : float
        Interval level (default 90 %).
    exposure : str, optional
        Column whose log is an offset (e.g. all records, to model a share).

    Returns
    -------
    dict of str to Estimate
        Rate ratios with cluster-robust (by place) intervals on a t reference
        with ``G - 1`` degrees of freedom (:func:`fe_poisson`).
    """
    data = panel
    if exposure is not None:
        data = data[data[exposure] > 0]
    # places and periods without any count carry no information under fixed effects
    data = data[data.groupby("unit")[y].transform("sum") > 0]
    data = data[data.groupby("period")[y].transform("sum") > 0]
    out: dict[str, Estimate] = {}
    usable = [t for t in terms if t in data and data[t].nunique() > 1
              and data.loc[data[t] == 1, y].sum() > 0]
    for t in terms:
        if t not in usable:
            out[t] = Estimate(note="too few records to estimate")
    units = pd.factorize(data["unit"])[0]
    periods = pd.factorize(data["period"], sort=True)[0]
    # one period without a dummy per group of units sharing period effects (pooled types)
    group = data["type"].to_numpy() if "type" in data else np.zeros(len(data))
    base = tuple(int(periods[np.flatnonzero(group == g)].min()) for g in pd.unique(group))
    if not usable or (len(units) and units.max() < 2):
        return {t: out.get(t, Estimate(note="too few places to estimate")) for t in terms}
    offset = np.log(data[exposure].to_numpy(dtype=float)) if exposure else None
    try:
        params, cov, groups = fe_poisson(data[y].to_numpy(dtype=float),
                                         data[usable].to_numpy(dtype=float), units,
                                         periods, offset, base_periods=base)
    except np.linalg.LinAlgError:
        return {t: Estimate(note="the model could not be estimated") for t in terms}
    crit = stats.t.ppf(0.5 + level / 2, df=groups - 1)
    for i, t in enumerate(usable):
        b, se = float(params[i]), float(math.sqrt(max(cov[i, i], 0.0)))
        if not (np.isfinite(b) and np.isfinite(se)) or se <= 0 or abs(b) > 20:
            out[t] = Estimate(note="the model did not converge")
            continue
        p = float(2 * stats.t.sf(abs(b / se), df=groups - 1))
        out[t] = Estimate(math.exp(b), math.exp(b - crit * se), math.exp(b + crit * se), p)
    return out


def wdq(treated: tuple[float, float], ring: tuple[float, float],
        control: tuple[float, float]) -> float:
    """Weighted displacement quotient (Bowers & Johnson 2003).

    ``WDQ = (Ra/Ca - Rb/Cb) / (Ta/Ca - Tb/Cb)`` with ``b`` before and ``a``
    after, for the treated area ``T``, the ring ``R`` and the control ``C``.
    Defined only when the treated area improved relative to the control
    (denominator < 0); then WDQ > 0 means a diffusion of benefits into the
    ring, WDQ < 0 displacement, and WDQ < -1 more displaced than prevented.

    Parameters
    ----------
    treated, ring, control : tuple of float
        ``(before, after)`` counts (or rates over equal windows).

    Returns
    -------
    float
        NaN when undefined.
    """
    (tb, ta), (rb, ra), (cb, ca) = treated, ring, control
    if min(cb, ca) <= 0:
        return math.nan
    success = ta / ca - tb / cb
    if not success < 0:
        return math.nan
    return (ra / ca - rb / cb) / success


def update_prior(prior: tuple[float, float, float], measured: Estimate,
                 weight: float = PRIOR_UPDATE_WEIGHT, level: float = LEVEL
                 ) -> tuple[float, float, float]:
    """Conservative normal-normal update of a prior rate ratio by a local estimate.

    On the log scale, the prior is ``N(log rr, sigma^2)`` with ``sigma`` from
    its 95 % interval; the local estimate enters as a power prior (Ibrahim &
    Chen 2000) with weight ``weight`` (its variance divided by ``weight``), so
    one city's result moves the library only part of the way.

    Returns
    -------
    tuple of float
        Posterior rate ratio and 95 % interval.
    """
    rr, lo, hi = prior
    mu0, s0 = math.log(rr), (math.log(hi) - math.log(lo)) / (2 * 1.959964)
    z = stats.norm.ppf(0.5 + level / 2)
    mu1, s1 = math.log(measured.rr), (math.log(measured.hi) - math.log(measured.lo)) / (2 * z)
    p0, p1 = 1 / s0**2, weight / s1**2
    mean, sd = (p0 * mu0 + p1 * mu1) / (p0 + p1), 1 / math.sqrt(p0 + p1)
    return math.exp(mean), math.exp(mean - 1.959964 * sd), math.exp(mean + 1.959964 * sd)
