"""What one dask task computes for the forecast's cross-validation: one tile's scores.

The count cube of the forecast (incidents per cell and period) is never built
whole: each tile bins its own window of it (its interior plus the smoothing
pad), keeps it on its worker, and answers the client's questions with a few
numbers per candidate (:class:`hotspot_env.scale.tiled_forecast.TiledCube`):

1. :func:`build_tile` — the window's counts per period and, per kernel radius,
   the FFT smooth before its round-off floor; returns each radius's largest
   magnitude (the floor is relative to the whole grid's);
2. :func:`smooth_totals` — the smooths floored against the global maxima and
   their in-area totals per period (the rescaling to each period's total is
   over the whole area);
3. :func:`rescale` — the rescaled smooths kept; the tie-break candidates'
   largest smoothed values per fold returned (the tie-break divides by the
   whole area's largest);
4. :func:`fold_sketches` — per candidate and fold: whether every score is
   finite, the largest magnitude (the tie tolerance) and a sketch of the
   order statistics (:func:`hotspot_env.models.topk.sketch`), and the same for
   the observed counts (the best any ranking could do);
5. :func:`fold_tables` — per candidate and fold, the distinct scores in the
   client's bracket around the global cut-off, with their cells and observed
   totals (:func:`hotspot_env.models.topk.bracket_table`);
6. :func:`tile_scores` — one candidate's per-cell scores of the interior
   (the calibration and the chosen forecast's surface).

The scores are computed by the one-machine code (:meth:`Candidate.score` on a
:class:`~hotspot_env.models.forecast.CountStack` of the tile) with the global
quantities passed in; only the FFT's round-off differs from the whole grid's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hotspot_env.core.density import binned_kde_raw, drop_round_off
from hotspot_env.models import topk
from hotspot_env.models.forecast.cube import CountStack
from hotspot_env.models.forecast.rankers import Candidate
from hotspot_env.scale.tiles import TileGridPayload

#: A fold of a candidate: (candidate position, test period, tie-break's whole-area top or None).
Fold = tuple[int, int, float | None]


@dataclass(frozen=True)
class ForecastTilePayload(TileGridPayload):
    """The inputs of one tile's forecast task: the tile on its grid
    (:class:`~hotspot_env.scale.tiles.TileGridPayload`) and the window's incidents.

    Attributes
    ----------
    pad : int
        The count cube's smoothing pad (cells): the window is the interior
        grown by ``pad`` on every side, in the padded cube's rows and columns.
    n_periods : int
        Periods of the cube.
    period, row, col : ndarray of int
        Each incident of the window: its period and its row and column in the window.
    radii : list of float
        Kernel radii (m) of the candidates.
    """

    pad: int
    n_periods: int
    period: np.ndarray
    row: np.ndarray
    col: np.ndarray
    radii: list[float]


@dataclass
class TileCube:
    """A tile's count cube and smooths (kept on its worker)."""

    stack: CountStack = field(repr=False)
    raw: dict[float, np.ndarray] = field(repr=False)
    floored: dict[float, np.ndarray] = field(default_factory=dict, repr=False)


def build_tile(payload: ForecastTilePayload) -> TileCube:
    """The tile's window of the count cube and its raw smooths, one per radius."""
    grid = payload.grid()
    rows, cols = grid.n_rows + 2 * payload.pad, grid.n_cols + 2 * payload.pad
    key = (payload.period * rows + payload.row) * cols + payload.col
    padded = np.bincount(key, minlength=payload.n_periods * rows * cols).reshape(
        payload.n_periods, rows, cols).astype(float)
    inner = padded[:, payload.pad:payload.pad + grid.n_rows, payload.pad:payload.pad + grid.n_cols]
    stack = CountStack(grid, padded, inner[:, grid.mask], payload.pad)
    return TileCube(stack, {h: binned_kde_raw(grid, padded, h, payload.pad)
                            for h in payload.radii})


def smooth_maxima(cube: TileCube) -> dict[float, float]:
    """Each radius's largest magnitude of the raw smooth over the interior (all periods)."""
    return {h: float(np.max(np.abs(dens), initial=0.0)) for h, dens in cube.raw.items()}


def smooth_totals(cube: TileCube, largest: dict[float, float]) -> dict[float, np.ndarray]:
    """The smooths floored against the whole grid's ``largest``; their in-area totals per period."""
    grid = cube.stack.grid
    out = {}
    for h, dens in cube.raw.items():
        flat = (drop_round_off(dens, largest[h]) * grid.cell_size**2)[:, grid.mask]
        cube.floored[h] = flat
        out[h] = flat.sum(axis=1, keepdims=True)
    return out


def rescale(cube: TileCube, factors: dict[float, np.ndarray], tiebreaks: list[Fold],
            cands: list[Candidate]) -> list[float]:
    """Keep the smooths rescaled by ``factors``; the tie-break folds' largest smoothed values."""
    cube.stack.cache = {h: flat * factors[h] for h, flat in cube.floored.items()}
    cube.floored = {}
    cube.raw = {}
    return [cands[i].smooth_top(cube.stack, t) for i, t, _ in tiebreaks]


def _score(cube: TileCube, cand: Candidate, t: int, top: float | None) -> np.ndarray:
    return cand.score(cube.stack, t, top)


def fold_sketches(cube: TileCube, cands: list[Candidate], folds: list[Fold], tests: list[int]
                  ) -> tuple[list[tuple[bool, float, topk.Sketch]], list[topk.Sketch]]:
    """Per fold: all scores finite, their largest magnitude, their sketch; per test, the
    observed counts' sketch."""
    out = []
    for i, t, top in folds:
        s = _score(cube, cands[i], t, top)
        finite = bool(np.isfinite(s).all())
        out.append((finite, float(np.abs(s).max(initial=0.0)) if finite else np.inf,
                    topk.sketch(s) if finite else topk.sketch(s[:0])))
    return out, [topk.sketch(cube.stack.counts[t]) for t in tests]


def fold_tables(cube: TileCube, cands: list[Candidate], folds: list[Fold],
                brackets: list[tuple[float, float, float]], tests: list[int],
                best: list[tuple[float, float]]
                ) -> tuple[list[topk.BracketTable], list[topk.BracketTable]]:
    """Per fold, the tile's table in the client's bracket ``(lo, hi, tol)``; per test, the
    observed counts' table in ``best``'s bracket (no tolerance: counts are whole)."""
    counts = cube.stack.counts
    tables = [topk.bracket_table(_score(cube, cands[i], t, top), counts[t], lo, hi, tol)
              for (i, t, top), (lo, hi, tol) in zip(folds, brackets, strict=True)]
    observed = [topk.bracket_table(counts[t], counts[t], lo, hi, 0.0)
                for t, (lo, hi) in zip(tests, best, strict=True)]
    return tables, observed


def tile_scores(cube: TileCube, cand: Candidate, tests: list[int], tops: list[float | None]
                ) -> list[np.ndarray]:
    """``cand``'s scores of the interior's in-area cells, per test period."""
    return [_score(cube, cand, t, top) for t, top in zip(tests, tops, strict=True)]


def smooth_tops(cube: TileCube, cand: Candidate, tests: list[int]) -> list[float]:
    """``cand``'s largest smoothed value over the interior, per test period (tie-breaks)."""
    return [cand.smooth_top(cube.stack, t) for t in tests]


def tile_counts(cube: TileCube, tests: list[int]) -> list[np.ndarray]:
    """The interior's in-area counts, per test period."""
    return [cube.stack.counts[t] for t in tests]
