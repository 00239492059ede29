"""Exact randomisation p-values of Gi* and their FDR, for a whole space-time cube.

The normal approximation of Gi* calls one incident among thousands of empty
cells a hot spot, so by default the p-values are the *exact* randomisation
p-values of the neighbourhood sum (:func:`randomisation_pvalues`). They
depend only on a bin's neighbourhood size and sum, so each slice gets one
small table of them (:func:`_sum_pvalues`), and the Benjamini-Hochberg step
counts bins per table entry instead of sorting every bin's p-value
(:func:`_bh_cut`).

Why a second Benjamini-Hochberg beside
:func:`hotspot_env.core.hotspots.benjamini_hochberg` (scipy's
``false_discovery_control``): a metro cube holds millions of bins but each
slice only a few hundred distinct p-values; BH on (distinct value, count)
pairs needs no sort of the bins, and scipy takes no counts. It is kept here,
in one place, and tested equal to the scipy version.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from hotspot_env.errors import InputError


def randomisation_pvalues(
    values: np.ndarray, local_sum: np.ndarray, cardinality: np.ndarray
) -> np.ndarray:
    """Exact two-sided randomisation p-values of neighbourhood sums.

    Under total randomisation (the null hypothesis of Gi*'s moments: the
    observed values are shuffled at random over the ``n`` locations) a
    neighbourhood of ``w`` locations holds a random ``w``-subset of the
    values, so its sum ``L`` has an exact distribution, computed here by
    dynamic programming over the distinct values (their multiplicities enter
    through binomial coefficients). For a given ``w``, Gi* z is an increasing
    function of ``L``, so this is the exact p-value of Gi* - what infinitely
    many permutations would give. p = min(1, 2 min(P(L >= l), P(L <= l))).

    Parameters
    ----------
    values : ndarray of int
        All ``n`` observed values (non-negative integers, e.g. counts).
    local_sum : ndarray of int
        Observed neighbourhood sums.
    cardinality : ndarray of int
        Neighbourhood sizes (same shape as ``local_sum``).

    Returns
    -------
    ndarray of float
        p-values (NaN where not finite, e.g. on overflow).
    """
    local_sum = np.asarray(local_sum, dtype=np.int64)
    table, key = exact_p_table(values, local_sum, cardinality)
    if table is None:
        return np.full(local_sum.shape, np.nan)
    return table[key]


def exact_p_table(
    values: np.ndarray, local_sum: np.ndarray, cardinality: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """p-value of every possible (size, sum) and the index of each observed one in it.

    The p-values of :func:`randomisation_pvalues` depend only on the
    neighbourhood size ``w`` and the (clipped) sum, so they are computed once
    per pair (:func:`_sum_pvalues`): ``table`` is flat, ``key = w * (s_max +
    2) + s`` with ``s = s_max + 1`` for sums above the largest possible
    ``s_max`` (upper tail 0). Cells sharing a key share their p-value
    exactly, which :func:`_bh_cut` uses to skip sorting.

    Returns
    -------
    table : ndarray or None
        p-values (NaN where not finite); None without values or sums.
    key : ndarray of int64
        Shape of ``local_sum``.
    """
    values = np.asarray(values, dtype=np.int64).ravel()
    local_sum = np.asarray(local_sum, dtype=np.int64)
    cardinality = np.asarray(cardinality, dtype=np.int64)
    if values.size == 0 or local_sum.size == 0:
        return None, np.zeros(local_sum.shape, dtype=np.int64)
    w_max = int(cardinality.max())
    if values.min() >= 0:  # a histogram instead of sorting the values
        histogram = np.bincount(values)
        uniq = np.flatnonzero(histogram)
        mult = histogram[uniq]
    else:
        uniq, mult = np.unique(values, return_counts=True)
    table, s_max = _sum_pvalues(uniq, mult, w_max)
    w = np.clip(cardinality, 0, w_max)
    # clipping to s_max + 1 sends every sum above s_max to the last column
    return table, w * (s_max + 2) + np.clip(local_sum, 0, s_max + 1)


def _sum_pvalues(uniq: np.ndarray, mult: np.ndarray, w_max: int) -> tuple[np.ndarray, int]:
    """Exact two-sided p-values of the sum of a random ``w``-subset, every ``w`` and sum.

    Parameters
    ----------
    uniq : ndarray of int
        The distinct values, ascending.
    mult : ndarray of int
        How many locations hold each.
    w_max : int
        Largest subset size.

    Returns
    -------
    table : ndarray
        Flat ``(w_max + 1, s_max + 2)`` p-values by size and sum; the last
        column is for sums above ``s_max`` (NaN where not finite).
    s_max : int
        Sum of the ``w_max`` largest values.
    """
    n = int(mult.sum())
    # sum of the w_max largest values, from the top of the histogram
    above = np.cumsum(mult[::-1]) - mult[::-1]
    taken = np.clip(w_max - above, 0, mult[::-1])
    s_max = int((taken * uniq[::-1]).sum())
    ways = np.zeros((w_max + 1, s_max + 1))
    ways[0, 0] = 1.0
    for v, m in zip(uniq.tolist(), mult.tolist(), strict=True):
        new = np.zeros_like(ways)
        for j in range(min(m, w_max) + 1):
            shift = j * v
            if shift > s_max:
                break
            new[j:, shift:] += special.comb(m, j) * ways[: w_max + 1 - j, : s_max + 1 - shift]
        ways = new
    norm = special.comb(n, np.arange(w_max + 1))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        dist = ways / norm[:, None]
    upper = np.cumsum(dist[:, ::-1], axis=1)[:, ::-1]
    lower = np.cumsum(dist, axis=1)
    # last column: sums no subset can reach (upper tail 0, lower tail that of s_max)
    upper = np.concatenate([upper, np.zeros((w_max + 1, 1))], axis=1)
    lower = np.concatenate([lower, lower[:, -1:]], axis=1)
    table = np.minimum(1.0, 2.0 * np.minimum(upper, lower))
    return np.where(np.isfinite(table), table, np.nan).ravel(), s_max


def _bh_cut(table: np.ndarray, counts: np.ndarray, q: float) -> float | None:
    """Benjamini-Hochberg for p-values given as distinct values and their counts.

    BH's step-up finds the largest ``k`` with ``p_(k) <= q k / m``. When the
    ``m`` p-values take few distinct values, ``k`` is always the last
    position of a run of equal values, so it is enough to test each value
    ``v`` at ``k = #{p <= v}`` (a cumulative count, no sort of the ``m``
    p-values): the significant tests are those with ``p <= v`` at the
    largest passing ``v`` - the same as
    :func:`hotspot_env.core.hotspots.benjamini_hochberg` (checked in the tests).

    Parameters
    ----------
    table : ndarray of float
        Distinct (or repeated) p-values.
    counts : ndarray of int
        How many tests have each.
    q : float
        False discovery rate.

    Returns
    -------
    float or None
        The cut ``v`` (significant: ``p <= v``), None when nothing is.
    """
    used = np.flatnonzero(counts)
    if used.size == 0:
        return None
    order = used[np.argsort(table[used], kind="stable")]
    cum = np.cumsum(counts[order])
    passed = table[order] <= q * cum / cum[-1]  # the thresholds q * k / m of the sort
    if not passed.any():
        return None
    return float(table[order[np.flatnonzero(passed)[-1]]])


def bh_by_key(table: np.ndarray, key: np.ndarray, q: float) -> np.ndarray:
    """FDR (Benjamini-Hochberg) of ``table[key]``, one cut per key (see :func:`_bh_cut`)."""
    cut = _bh_cut(table, np.bincount(np.ravel(key), minlength=table.size), q)
    return np.zeros(np.shape(key), dtype=bool) if cut is None else table[key] <= cut


def exact_significance_per_slice(
    counts: np.ndarray, local: np.ndarray, card: np.ndarray, q: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact p-values and BH significance within each slice, for all slices at once.

    Every slice's p-value table (:func:`_sum_pvalues`, from the slice's
    histogram) goes into one concatenated table; each bin's key points into
    its slice's part, so the p-values are one gather and the per-slice BH one
    ``bincount`` (:func:`_bh_cut`) - the same numbers as
    :func:`randomisation_pvalues` and ``benjamini_hochberg`` slice by slice.
    A slice without incidents has p = 1 everywhere.

    Returns
    -------
    p, significant : ndarray, shape (n_cells, n_steps)
    """
    n_cells, n_steps = counts.shape
    if counts.size == 0:
        return np.ones(counts.shape), np.zeros(counts.shape, dtype=bool)
    if counts.min() < 0:
        raise InputError("cube counts must be non-negative")
    steps = np.arange(n_steps)
    histograms = np.bincount((counts * n_steps + steps).ravel(),
                             minlength=(int(counts.max(initial=0)) + 1) * n_steps)
    histograms = histograms.reshape(-1, n_steps)
    w_max = int(card.max(initial=0))
    tables, stride, cap = [], np.zeros(n_steps, np.int64), np.zeros(n_steps, np.int64)
    for t in range(n_steps):
        uniq = np.flatnonzero(histograms[:, t])
        if uniq.size == 0 or uniq[-1] == 0:  # no incident in the slice: z 0, p 1
            tables.append(np.ones(1))
            continue
        table, s_max = _sum_pvalues(uniq, histograms[uniq, t], w_max)
        tables.append(np.nan_to_num(table, nan=1.0))
        stride[t], cap[t] = s_max + 2, s_max + 1
    offset = np.cumsum([0] + [table.size for table in tables])
    key = np.minimum(local, cap)  # sums above s_max: the last column
    key += card[:, None] * stride
    key += offset[:-1]
    table = np.concatenate(tables)
    per_key = np.bincount(key.ravel(), minlength=table.size)
    passes = np.zeros(table.size, dtype=bool)
    for t in range(n_steps):
        part = slice(offset[t], offset[t + 1])
        cut = _bh_cut(table[part], per_key[part], q)
        if cut is not None:
            passes[part] = table[part] <= cut
    return table[key], passes[key]
