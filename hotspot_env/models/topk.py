"""The top ``k`` cells of an area held in parts: an exact distributed selection.

:func:`hotspot_env.models.scores.top_hits` needs the ``k``-th largest
prediction of the whole area, an order statistic, which is not a sum over the
parts. Each part (a tile) answers two small questions, and the client puts the
answers together into the same cut-off and the same :data:`~hotspot_env.models.scores.Tally`
as one array gives:

1. :func:`sketch` — the part's size and its values at evenly spaced ranks
   (descending): bounds on how many of its values reach any threshold;
2. :func:`bracket` (client) — from the sketches, ``lo <= cut < hi`` for the
   global cut-off, without seeing the values;
3. :func:`bracket_table` — the part's distinct values within ``tol`` of the
   bracket, each with its cells and observed total (ties and all), plus the
   tally of its values above it;
4. :func:`part_hits` (client) — the cut-off is the ``k``-th largest of the
   tables' values counted with the cells above; the tally at that cut-off is
   added up from the tables with :func:`hotspot_env.models.scores.tally`, and
   :func:`hotspot_env.models.scores.hits` applies the one pro rata rule.

Every step is exact: the cut-off is the one array's value, and observed counts
are whole numbers, whose sums do not depend on their order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hotspot_env.models.scores import Tally, add_tallies, hits, tally

#: Sample values per part in a :func:`sketch`: the bracket holds about 2/SKETCH of the cells.
SKETCH: int = 256


@dataclass(frozen=True)
class Sketch:
    """A part's size and its values at ranks ``ranks`` of the descending order."""

    n: int
    values: np.ndarray
    ranks: np.ndarray


@dataclass(frozen=True)
class BracketTable:
    """A part's distinct values in a bracket (descending), their cells and observed totals,
    and the tally of the part's values above the bracket."""

    values: np.ndarray
    cells: np.ndarray
    observed: np.ndarray
    above: Tally


def sketch(pred: np.ndarray, m: int = SKETCH) -> Sketch:
    """Every ``n // m``-th value of ``pred`` in descending order (the last one too)."""
    desc = -np.sort(-np.asarray(pred, float))
    n = desc.size
    if n == 0:
        return Sketch(0, desc, np.zeros(0, np.int64))
    ranks = np.unique(np.append(np.arange(0, n, max(1, n // m)), n - 1))
    return Sketch(n, desc[ranks], ranks)


def _reach_bounds(s: Sketch, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least and most values of the part that are ``>= v`` (per threshold in ``v``)."""
    if s.n == 0:
        zero = np.zeros(v.size, np.int64)
        return zero, zero
    # samples >= v are the first `j` samples (descending): at least ranks[j-1] + 1 values
    j = np.searchsorted(-s.values, -v, side="right")
    least = np.where(j > 0, s.ranks[np.maximum(j - 1, 0)] + 1, 0)
    most = np.where(j < s.ranks.size, s.ranks[np.minimum(j, s.ranks.size - 1)], s.n)
    return least, most


def bracket(sketches: list[Sketch], k: int) -> tuple[float, float]:
    """``(lo, hi)`` with ``lo <= cut < hi`` for the ``k``-th largest value of all parts.

    ``lo`` is the largest sampled value that at least ``k`` values surely reach
    (-inf if none), ``hi`` the smallest that fewer than ``k`` surely reach
    (+inf if none).
    """
    v = np.unique(np.concatenate([s.values for s in sketches]))
    least = np.zeros(v.size, np.int64)
    most = np.zeros(v.size, np.int64)
    for s in sketches:
        a, b = _reach_bounds(s, v)
        least += a
        most += b
    lo_ok = np.flatnonzero(least >= k)
    hi_ok = np.flatnonzero(most <= k - 1)
    lo = float(v[lo_ok[-1]]) if lo_ok.size else -np.inf
    hi = float(v[hi_ok[0]]) if hi_ok.size else np.inf
    return lo, hi


def bracket_table(pred: np.ndarray, obs: np.ndarray, lo: float, hi: float, tol: float
                  ) -> BracketTable:
    """The part's distinct values in ``[lo - tol, hi + tol]`` and its tally above ``hi + tol``."""
    pred = np.asarray(pred, float)
    obs = np.asarray(obs, float)
    inside = (pred >= lo - tol) & (pred <= hi + tol)
    values, inverse = np.unique(pred[inside], return_inverse=True)
    cells = np.bincount(inverse, minlength=values.size).astype(np.int64)
    observed = np.bincount(inverse, weights=obs[inside], minlength=values.size)
    above = pred > hi + tol
    return BracketTable(values[::-1], cells[::-1], observed[::-1],
                        (int(above.sum()), float(obs[above].sum()), 0, 0.0))


def part_hits(tables: list[BracketTable], k: int, tol: float) -> float:
    """:func:`hotspot_env.models.scores.top_hits` of the whole area from its parts' tables."""
    if k <= 0:
        return 0.0
    above = add_tallies([t.above for t in tables])
    values = np.concatenate([t.values for t in tables])
    uniq, inverse = np.unique(values, return_inverse=True)
    cells = np.bincount(inverse, weights=np.concatenate([t.cells for t in tables]),
                        minlength=uniq.size).astype(np.int64)[::-1]
    observed = np.bincount(inverse, weights=np.concatenate([t.observed for t in tables]),
                           minlength=uniq.size)[::-1]
    uniq = uniq[::-1]
    reach = np.cumsum(cells)  # cells reaching each value, inside the bracket
    cut = float(uniq[int(np.searchsorted(reach, k - above[0]))])
    inner = tally(uniq, observed, cut, tol, weight=cells)
    return hits(add_tallies([above, inner]), k)
