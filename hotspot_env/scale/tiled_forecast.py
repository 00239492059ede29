"""The forecast's cross-validation on dask: count cubes on the tiles, the choice in the client.

:class:`TiledCube` is the count cube that :func:`hotspot_env.models.forecast.fit_forecast`
reads under ``--engine dask`` (its ``cube`` option): the one forecast fit
(rolling-origin folds, the one-standard-error choice, the calibration) runs
in the client, unchanged, while each tile keeps its window of the cube and its
smooths on its worker (:mod:`hotspot_env.scale.tile_forecast`). The global
quantities of the score come from per-tile reductions:

* each period's smooth floored against the whole grid's largest value (the
  tiles' maxima) and rescaled to the period's in-area total (the tiles' sums);
* the tie-break's largest smoothed value (the tiles' maxima);
* the PEI's top share of *all* cells: an exact distributed selection of the
  cut-off (:mod:`hotspot_env.models.topk`), with the one pro rata rule of
  :func:`hotspot_env.models.scores.hits` and ties within
  :data:`~hotspot_env.models.scores.TIE_RTOL` of the largest score.

The calibration (a Poisson GLM over every cell and fold of the chosen
candidate) and the forecast surface use the chosen candidate's scores, which
the tiles send back and the client puts in the grid's order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from hotspot_env.core.grid import Grid
from hotspot_env.models import topk
from hotspot_env.models.forecast.cube import keep_totals
from hotspot_env.models.forecast.rankers import Candidate
from hotspot_env.models.scores import TIE_RTOL, tie_tolerance, treatable_cells
from hotspot_env.scale.tile_forecast import (
    ForecastTilePayload,
    build_tile,
    fold_sketches,
    fold_tables,
    rescale,
    smooth_maxima,
    smooth_tops,
    smooth_totals,
    tile_counts,
    tile_scores,
)
from hotspot_env.scale.tiles import Tile


class TiledCubeBuilder:
    """The ``cube`` option of :func:`~hotspot_env.models.forecast.fit_forecast` for a tiled run.

    Called as :func:`~hotspot_env.models.forecast.count_stack` is; returns a
    :class:`TiledCube`. :attr:`stats` records the tiles and round trips.
    """

    def __init__(self, client: Any, tiles: Callable[[], list[Tile]]) -> None:
        self.client = client
        self.tiles = tiles
        self.stats: dict[str, int] = {}

    def __call__(self, grid: Grid, x: np.ndarray, y: np.ndarray, period: np.ndarray, n: int,
                 max_bandwidth: float) -> TiledCube:
        pad = int(math.ceil(max_bandwidth / grid.cell_size)) + 1
        keep = period >= 0
        row, col = grid.padded_cell_index(x[keep], y[keep], pad)
        ok = (col >= 0) & (col < grid.n_cols + 2 * pad) & (row >= 0) & (row < grid.n_rows + 2 * pad)
        row, col, per = row[ok], col[ok], np.asarray(period[keep][ok], np.int64)
        rows, cols = row - pad, col - pad
        inside = (rows >= 0) & (cols >= 0) & (rows < grid.n_rows) & (cols < grid.n_cols)
        inside[inside] = grid.mask[rows[inside], cols[inside]]
        totals = np.bincount(per[inside], minlength=n).astype(float)
        self.stats.clear()
        return TiledCube(self, grid, pad, (per, row, col), totals, np.arange(n))


class TiledCube:
    """A count cube whose windows and smooths stay on the tiles (see the module's notes).

    Parameters
    ----------
    builder : TiledCubeBuilder
        The client, the tiles and the stats.
    grid : Grid
        The global grid.
    pad : int
        The smoothing pad (cells).
    points : tuple of ndarray
        Every counted incident's period and padded row and column.
    totals : ndarray
        In-area incidents per period (all periods).
    periods : ndarray of int
        The periods of this cube (gaps left out by :meth:`select`).
    """

    def __init__(self, builder: TiledCubeBuilder, grid: Grid, pad: int,
                 points: tuple[np.ndarray, np.ndarray, np.ndarray], all_totals: np.ndarray,
                 periods: np.ndarray) -> None:
        self.builder, self.grid, self.pad, self.points = builder, grid, pad, points
        self.all_totals, self.periods = all_totals, np.asarray(periods, np.int64)
        self.cubes: list[Any] | None = None
        self.tops: dict[tuple[str, int], float] = {}

    @property
    def n_periods(self) -> int:
        """Periods in the cube."""
        return int(self.periods.size)

    def totals(self) -> np.ndarray:
        """In-area incidents per period."""
        return self.all_totals[self.periods]

    def select(self, periods: np.ndarray) -> TiledCube:
        """The cube on ``periods`` (positions in this cube), e.g. without the gaps."""
        return TiledCube(self.builder, self.grid, self.pad, self.points, self.all_totals,
                         self.periods[np.asarray(periods, np.int64)])

    # ------------------------------------------------------------------ the tiles' cubes
    def _map(self, func: Callable[..., Any], **kwargs: Any) -> list[Any]:
        client = self.builder.client
        self.builder.stats["round_trips"] = self.builder.stats.get("round_trips", 0) + 1
        return client.gather(client.map(func, self.cubes, pure=False, **kwargs))

    def _payloads(self, radii: list[float]) -> list[ForecastTilePayload]:
        grid, pad = self.grid, self.pad
        per, row, col = self.points
        position = np.full(self.all_totals.size, -1, np.int64)
        position[self.periods] = np.arange(self.periods.size)
        sel = position[per] >= 0
        per, row, col = position[per[sel]], row[sel], col[sel]
        order = np.argsort(row, kind="stable")
        row_sorted = row[order]
        out = []
        for tile in self.builder.tiles():
            lo, hi = np.searchsorted(row_sorted, [tile.row0, tile.row1 + 2 * pad])
            idx = np.sort(order[lo:hi])
            idx = idx[(col[idx] >= tile.col0) & (col[idx] < tile.col1 + 2 * pad)]
            out.append(ForecastTilePayload(
                tile, grid.x0, grid.bounds[3], grid.cell_size, grid.crs,
                grid.mask[tile.row0:tile.row1, tile.col0:tile.col1], pad, self.n_periods,
                per[idx], row[idx] - tile.row0, col[idx] - tile.col0, radii))
        return out

    def _build(self, radii: list[float]) -> None:
        """The tiles' cubes and smooths, floored and rescaled as one machine's (3 round trips)."""
        client = self.builder.client
        self.cubes = client.map(build_tile, client.scatter(self._payloads(radii), hash=False),
                                pure=False)
        self.builder.stats["tiles"] = len(self.cubes)
        maxima = self._map(smooth_maxima)
        largest = {h: max(m[h] for m in maxima) for h in radii}
        sums = self._map(smooth_totals, largest=largest)
        want = self.totals()[:, None]
        self.factors = {h: keep_totals(np.sum([s[h] for s in sums], axis=0), want)
                        for h in radii}

    def prepare(self, cands: list[Candidate], tests: list[int]) -> None:
        """Build the tiles' cubes for ``cands`` and the tie-breaks' tops of every test fold."""
        if self.cubes is not None:
            return
        self._build(sorted({c.radius_m for c in cands if c.blend != "none"}))
        ties = [(i, t, None) for i, c in enumerate(cands) if c.blend == "tiebreak"
                for t in tests]
        tops = self._map(rescale, factors=self.factors, tiebreaks=ties, cands=cands)
        for j, (i, t, _) in enumerate(ties):
            self.tops[(cands[i].name, t)] = max((part[j] for part in tops), default=0.0)

    def _top(self, cand: Candidate, t: int) -> float | None:
        return self.tops.get((cand.name, t)) if cand.blend == "tiebreak" else None

    # ------------------------------------------------------------------ the score
    def fold_pei(self, cands: list[Candidate], tests: list[int], share: float) -> np.ndarray:
        """``(candidates, tests)`` PEI at ``share`` of all cells, from the tiles (2 round trips)."""
        self.prepare(cands, tests)
        folds = [(i, t, self._top(c, t)) for i, c in enumerate(cands) for t in tests]
        k = treatable_cells(int(self.grid.mask.sum()), share)
        parts = self._map(fold_sketches, cands=cands, folds=folds, tests=tests)
        finite = [all(p[0][j][0] for p in parts) for j in range(len(folds))]
        tols = [tie_tolerance(max(p[0][j][1] for p in parts), TIE_RTOL)
                for j in range(len(folds))]
        brackets = [(*topk.bracket([p[0][j][2] for p in parts], k), tols[j])
                    for j in range(len(folds))]
        best_br = [topk.bracket([p[1][m] for p in parts], k) for m in range(len(tests))]
        tables = self._map(fold_tables, cands=cands, folds=folds, brackets=brackets,
                           tests=tests, best=best_br)
        best = [topk.part_hits([tb[1][m] for tb in tables], k, 0.0) for m in range(len(tests))]
        out = np.full((len(cands), len(tests)), np.nan)
        for j, (i, t, _) in enumerate(folds):
            m = tests.index(t)
            if best[m] > 0 and finite[j]:
                out[i, m] = topk.part_hits([tb[0][j] for tb in tables], k, tols[j]) / best[m]
        return out

    def fold_scores(self, cand: Candidate, tests: list[int]) -> list[np.ndarray]:
        """``cand``'s scores per in-area cell (the grid's order) for each test period."""
        self.prepare([cand], tests)
        missing = [t for t in tests if cand.blend == "tiebreak" and (cand.name, t) not in self.tops]
        if missing:
            parts = self._map(smooth_tops, cand=cand, tests=missing)
            for m, t in enumerate(missing):
                self.tops[(cand.name, t)] = max((p[m] for p in parts), default=0.0)
        parts = self._map(tile_scores, cand=cand, tests=tests,
                          tops=[self._top(cand, t) for t in tests])
        return [self._merge([p[m] for p in parts]) for m in range(len(tests))]

    def fold_counts(self, tests: list[int]) -> list[np.ndarray]:
        """The in-area counts per cell (the grid's order) of each test period."""
        parts = self._map(tile_counts, tests=tests)
        return [self._merge([p[m] for p in parts]) for m in range(len(tests))]

    def _merge(self, parts: list[np.ndarray]) -> np.ndarray:
        """The in-area values of every tile, in the grid's order."""
        out = np.zeros(self.grid.shape)
        for tile, part in zip(self.builder.tiles(), parts, strict=True):
            window = out[tile.row0:tile.row1, tile.col0:tile.col1]
            window[self.grid.mask[tile.row0:tile.row1, tile.col0:tile.col1]] = part
        return out[self.grid.mask]


def with_tiled_forecast(options: dict[str, dict[str, Any]], client: Any,
                        tiles: Callable[[], list[Tile]]) -> dict[str, dict[str, Any]]:
    """``options`` with the forecast's count cube on the tiles (in place; returned)."""
    options.setdefault("forecast", {})["cube"] = TiledCubeBuilder(client, tiles)
    return options


def forecast_cube_stats(options: dict[str, dict[str, Any]]) -> dict[str, int]:
    """What the tiled forecast cube did ({} if the forecast did not use it)."""
    builder = options.get("forecast", {}).get("cube")
    return dict(builder.stats) if isinstance(builder, TiledCubeBuilder) else {}
