"""Mann-Kendall trend test of many series at once.

Over all cells at once: ``S`` from the pairwise signs and the tie counts in
one compiled pass per cell (numba), variance with the tie correction, z with
the continuity correction, as in ``pymannkendall.original_test`` (checked in
the tests). The trends stage tests each cell's Gi* z series (``trend_z`` /
``trend_p``, what the emerging hot spot classes use) and its counts
(``count_trend_z`` / ``count_trend_p``).

References
----------
Mann, H. B. (1945). Nonparametric tests against trend. Econometrica 13, 245-259.
Kendall, M. G. (1975). Rank Correlation Methods, 4th ed. Griffin, London.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# scipy.stats is imported where it is used: the app's first page imports this package
# without running it (tests/test_lazy_imports.py).
from hotspot_env._jit import njit


@dataclass(frozen=True)
class MannKendall:
    """Mann-Kendall test results per series (arrays of length n_series)."""

    s: np.ndarray
    var_s: np.ndarray
    z: np.ndarray
    p: np.ndarray
    tau: np.ndarray


def mann_kendall(x: np.ndarray) -> MannKendall:
    """Mann-Kendall trend test of every row of ``x``, vectorised.

    ``S = sum_{i<j} sign(x_j - x_i)``; ``Var(S) = [n(n-1)(2n+5) - sum_g
    t_g(t_g-1)(2t_g+5)] / 18`` over groups ``g`` of ``t_g`` tied values
    (Kendall 1975), computed from how many values equal each value; ``z = (S
    - sign(S)) / sqrt(Var S)``; two-sided normal p; Kendall's tau-a ``S /
    (n(n-1)/2)``. Matches ``pymannkendall.original_test``. ``S`` and the tie
    term are integer counts over the pairs of each row (compiled loop, see
    :func:`_mk_pairs`), so they are exact.

    Parameters
    ----------
    x : ndarray, shape (n_series, n) or (n,)
        Series in time order (a NaN makes that row's S NaN).

    Returns
    -------
    MannKendall
    """
    from scipy import stats

    x = np.ascontiguousarray(np.atleast_2d(np.asarray(x, dtype=np.float64)))
    m, n = x.shape
    s, ties = _mk_pairs(x)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_s > 0, (s - np.sign(s)) / np.sqrt(var_s), 0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    tau = s / (0.5 * n * (n - 1)) if n > 1 else np.zeros(m)
    return MannKendall(s, var_s, z, p, tau)


@njit()
def _mk_pairs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per row: ``S = sum_{i<j} sign(x_j - x_i)`` and ``sum_v (e_v - 1)(2 e_v + 5)``
    over the values, ``e_v`` counting the values equal to ``x_v`` (itself
    included), i.e. each tie group's ``t(t-1)(2t+5)`` counted ``t`` times.

    One branch-free pass over the pairs of each row, where NumPy needs
    temporary arrays per lag (the cube has ~240k rows of ~24 steps).
    """
    m, n = x.shape
    s = np.zeros(m)
    ties = np.zeros(m)
    equal = np.empty(n, dtype=np.int64)
    for r in range(m):
        row = x[r]
        equal[:] = 1
        total = 0
        bad = False
        for i in range(n - 1):
            xi = row[i]
            tied = 0
            for j in range(i + 1, n):
                d = row[j] - xi
                total += np.int64(d > 0) - np.int64(d < 0)
                tie = np.int64(d == 0)
                tied += tie
                equal[j] += tie
                bad |= d != d  # NaN: np.sign(d) would make S NaN
            equal[i] += tied
        s[r] = np.nan if bad else total
        acc = 0
        for i in range(n):
            acc += (equal[i] - 1) * (2 * equal[i] + 5)
        ties[r] = acc
    return s, ties
