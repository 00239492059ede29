"""The risk terrain model's design on dask: rows on the tiles, sums in the client.

:class:`TiledDesign` is the :class:`~hotspot_env.models.rtm.glm.DesignStats`
that :func:`hotspot_env.models.rtm.fit` reads under ``--engine dask``: the one
RTM selection (family test, per-factor best operationalisation, stepwise BIC,
Holm) runs in the client, unchanged, while each tile keeps its cells' rows of
the design on its worker (:mod:`hotspot_env.scale.tile_rtm`). What is global
is merged from per-tile sums:

* the candidates kept: a candidate is tested when it is on in some but not
  all cells (the tiles' counts added up), and once per distinct indicator
  (the tiles' column digests compared);
* the density threshold ``mean + 2 SD`` (RTMDx): the tiles' ``n`` and ``sum``,
  then their sums of squared deviations from the global mean;
* every fit: the tiles' frequency tables of (indicator pattern, count) on the
  fit's columns, added up (:func:`hotspot_env.models.rtm.glm.merge_keys`).
  ``X'WX``, ``X'Wz`` and the NB2 log-likelihood of every IRLS step, at every
  dispersion, are sums over that table's rows, so one round trip per fit gives
  the statistics of all its steps — the same table, row for row, as one machine
  groups, hence the same coefficients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import shapely

from hotspot_env.core.grid import Grid
from hotspot_env.models.rtm._geometry import geometry_array, single_parts
from hotspot_env.models.rtm.candidates import Candidate, same_geometries
from hotspot_env.models.rtm.glm import DesignStats, merge_keys, ungroup
from hotspot_env.scale.tile_rtm import (
    RTMTilePayload,
    TileSummary,
    build_tile,
    density_spread,
    density_sums,
    finish_tile,
    layer_reach,
    parts_near,
    raw_candidates,
    summarise,
    tile_group_keys_many,
    tile_indicators,
    tile_linear_predictor,
)
from hotspot_env.scale.tiles import Tile, assemble


class TiledDesignBuilder:
    """The ``design`` option of :func:`hotspot_env.models.rtm.fit` for a tiled run.

    Parameters
    ----------
    client : dask.distributed.Client
        The run's client.
    tiles : callable
        Returns the run's tiles (known once the surfaces are computed).
    """

    def __init__(self, client: Any, tiles: Callable[[], list[Tile]]) -> None:
        self.client = client
        self.tiles = tiles
        #: What the last design did (tiles, candidates, round trips), for the run manifest.
        self.stats: dict[str, int] = {}

    def __call__(self, grid: Grid, counts: np.ndarray, layers: dict[str, Any],
                 block_length_m: float, multiples: tuple[float, ...],
                 operations: tuple[str, ...]) -> TiledDesign:
        distances = sorted({float(m * block_length_m) for m in multiples})
        names = [name for name, frame in layers.items() if frame is not None and len(frame)]
        same = _same_as(names, layers)
        parts = [single_parts(layers[name]) for name in names]
        trees = [shapely.STRtree(p) if p.size and same[i] == i else None
                 for i, p in enumerate(parts)]
        reach = layer_reach(grid.cell_size, distances)
        tiles = self.tiles()
        counts = np.where(grid.mask, np.asarray(counts), 0).astype(np.int64)
        payloads = []
        for tile in tiles:
            west, south, east, north = tile.bounds(grid, pad=0)
            near = (west - reach, south - reach, east + reach, north + reach)
            sl = (slice(tile.row0, tile.row1), slice(tile.col0, tile.col1))
            payloads.append(RTMTilePayload(
                tile, grid.x0, grid.bounds[3], grid.cell_size, grid.crs, grid.mask[sl],
                counts[sl], [parts_near(p, t, near) for p, t in zip(parts, trees, strict=True)],
                same, distances, tuple(operations), float(block_length_m)))
        raw = raw_candidates(len(names), distances, tuple(operations))
        self.stats.clear()
        return TiledDesign(self.client, grid, tiles, self._rows(payloads),
                           [(names[i], op, d) for i, op, d in raw], self.stats)

    def _rows(self, payloads: list[RTMTilePayload]) -> list[Any]:
        """Futures of each tile's rows, built in three passes (the density's mean, SD, rows)."""
        client = self.client
        built = client.map(build_tile, client.scatter(payloads, hash=False), pure=False)
        sums = client.gather(client.map(density_sums, built, pure=False))
        n: dict[tuple[int, float], int] = {}
        total: dict[tuple[int, float], float] = {}
        for part in sums:
            for key, (cells, s) in part.items():
                n[key] = n.get(key, 0) + cells
                total[key] = total.get(key, 0.0) + s
        means = {key: total[key] / n[key] if n[key] else 0.0 for key in n}
        spread = client.gather(client.map(density_spread, built, means=means, pure=False))
        thresholds = {key: (means[key], float(np.sqrt(sum(p[key] for p in spread) / n[key]))
                            if n[key] else 0.0) for key in n}
        return client.map(finish_tile, built, thresholds=thresholds, pure=False)


def _same_as(names: list[str], layers: dict[str, Any]) -> list[int]:
    """Per layer, the first layer holding exactly the same geometries (itself if none).

    The same features often come twice (a factor's features and the user layer
    it was built from); as in one process, their indicators are computed once.
    """
    geoms = [geometry_array(layers[name]) for name in names]
    return [next(k for k in range(i + 1) if same_geometries(geoms[k], geoms[i]))
            for i in range(len(names))]


class TiledDesign(DesignStats):
    """The RTM design whose rows stay on the tiles; every statistic is a sum over tiles.

    Parameters
    ----------
    client : dask.distributed.Client
        The run's client.
    grid : Grid
        The global grid.
    tiles : list of Tile
        The tiles, in the order of ``rows``.
    rows : list of Future
        Each tile's :class:`~hotspot_env.scale.tile_rtm.TileRows`.
    raw : list of (str, str, float)
        Each raw column's factor, operation and distance.
    stats : dict, optional
        Filled with ``tiles``, ``candidates`` and ``round_trips`` (frequency
        tables fetched; each round trip serves several fits).
    """

    def __init__(self, client: Any, grid: Grid, tiles: list[Tile], rows: list[Any],
                 raw: list[tuple[str, str, float]], stats: dict[str, int] | None = None
                 ) -> None:
        self.client, self.grid, self.tiles, self.rows = client, grid, tiles, rows
        summaries: list[TileSummary] = client.gather(client.map(summarise, rows, pure=False))
        self.n_rows = sum(s.n for s in summaries)
        self.y_total = sum(s.y_total for s in summaries)
        self.ymax = max((s.y_max for s in summaries), default=0) + 1
        on = np.sum([s.on for s in summaries], axis=0) if summaries else np.zeros(len(raw))
        # as candidate_indicators then _distinct: varying columns, the first of equal ones
        self.columns: list[int] = []
        seen: set[tuple[bytes, ...]] = set()
        for j in range(len(raw)):
            key = tuple(s.digest[j] for s in summaries)
            if 0 < on[j] < grid.n_cells and key not in seen:
                seen.add(key)
                self.columns.append(j)
        self.on = [int(on[j]) for j in self.columns]
        self.candidates = [Candidate(*raw[j]) for j in self.columns]
        self._grouped: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.stats = {} if stats is None else stats
        self.stats.update(tiles=len(tiles), candidates=len(self.columns), round_trips=0)

    def _map(self, func: Callable[..., Any], **kwargs: Any) -> list[Any]:
        return self.client.gather(self.client.map(func, self.rows, pure=False, **kwargs))

    def grouped(self, columns: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The tiles' frequency tables on ``columns``, added up (cached per column set)."""
        self.prefetch([columns])
        return self._grouped[tuple(columns)]

    def prefetch(self, column_sets: list[list[int]]) -> None:
        """The grouped data of every new column set, in one round trip to the tiles."""
        todo = list(dict.fromkeys(tuple(c) for c in column_sets if tuple(c) not in self._grouped))
        if not todo:
            return
        raw = [[self.columns[j] for j in cols] for cols in todo]
        per_tile = self._map(tile_group_keys_many, column_sets=raw, ymax=self.ymax)
        for i, cols in enumerate(todo):
            keys, freq = merge_keys([tables[i] for tables in per_tile])
            self._grouped[cols] = ungroup(keys, freq, len(cols), self.ymax)
        self.stats["round_trips"] += 1

    def cells(self, j: int) -> int:
        return self.on[j]

    def indicator(self, j: int) -> np.ndarray:
        return self.indicators([j])[0]

    def indicators(self, columns: list[int]) -> list[np.ndarray]:
        per_tile = self._map(tile_indicators, columns=[self.columns[j] for j in columns])
        return [assemble(self.tiles, [parts[i] for parts in per_tile], self.grid.shape, False,
                         bool) for i in range(len(columns))]

    def linear_predictor(self, columns: list[int], coef: np.ndarray) -> np.ndarray:
        parts = self._map(tile_linear_predictor, columns=[self.columns[j] for j in columns],
                          coef=np.asarray(coef, float))
        return assemble(self.tiles, parts, self.grid.shape, 0.0, np.float64)


def with_tiled_rtm(stage_options: dict[str, dict[str, Any]] | None, client: Any,
                   tiles: Callable[[], list[Tile]]) -> dict[str, dict[str, Any]]:
    """``stage_options`` with the RTM stage's design on the tiles (a copy; the rest unchanged)."""
    options = {name: dict(opts) for name, opts in (stage_options or {}).items()}
    options.setdefault("rtm", {})["design"] = TiledDesignBuilder(client, tiles)
    return options


def rtm_design_stats(options: dict[str, dict[str, Any]]) -> dict[str, int]:
    """What the tiled RTM design of :func:`with_tiled_rtm`'s options did ({} if it did not run)."""
    builder = options.get("rtm", {}).get("design")
    return dict(builder.stats) if isinstance(builder, TiledDesignBuilder) else {}
