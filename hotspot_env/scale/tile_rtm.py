"""What one dask task computes for the risk terrain model: one tile's rows of the design.

The risk terrain model's design matrix (every operationalisation of every
factor layer, at every cell) is never built whole: each tile builds the rows
of its interior cells from the features near it, keeps them on its worker, and
answers the client's questions with sums over its rows
(:class:`hotspot_env.scale.tiled_design.TiledDesign`):

1. :func:`build_tile` — proximity indicators (exact from the features within
   the largest distance) and the density surfaces (from the features within
   the kernel radius), with the density's ``n`` and ``sum`` per surface;
2. :func:`density_spread` — the sum of squared deviations from the global
   mean (two passes, as ``numpy.std`` computes it on one machine);
3. :func:`finish_tile` — the density indicators against the global
   ``mean + 2 SD`` threshold (RTMDx), then the tile's rows ``y`` and ``X``;
4. per fit, :func:`tile_group_keys` — the tile's frequency table of
   (indicator pattern, count) on the fit's columns, the sufficient statistic
   of every IRLS step (:func:`hotspot_env.models.rtm.glm.group_keys`);
5. :func:`tile_linear_predictor` and :func:`tile_indicator` — the fitted
   model's per-cell values of the interior.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import shapely

from hotspot_env.models.rtm.density import above_threshold, density_pad, density_surfaces
from hotspot_env.models.rtm.glm import group_keys
from hotspot_env.models.rtm.proximity import proximity_of_parts
from hotspot_env.scale.threads import single_threaded
from hotspot_env.scale.tiles import TileGridPayload

#: A raw candidate: (layer position, operation, distance in metres).
RawCandidate = tuple[int, str, float]


def raw_candidates(n_layers: int, distances: list[float], operations: tuple[str, ...]
                   ) -> list[RawCandidate]:
    """Every operationalisation, in the order ``rtm.candidate_indicators`` makes them.

    Per layer: proximity at each distance (ascending), then density at each.
    """
    ds = sorted({float(d) for d in distances})
    out: list[RawCandidate] = []
    for i in range(n_layers):
        for op in ("proximity", "density"):
            if op in operations:
                out += [(i, op, d) for d in ds]
    return out


def layer_reach(cell_size: float, distances: list[float]) -> float:
    """How far (m) beyond a tile a feature can still change its indicators.

    A proximity indicator looks ``max(distances)`` from a cell centre; a
    density surface bins features on the tile padded by
    :func:`~hotspot_env.models.rtm.density.density_pad` cells. One cell more
    for safety: a feature whose envelope misses the tile grown by this reach
    changes none of its cells.
    """
    dmax = max(distances)
    return max(dmax, density_pad(cell_size, dmax) * cell_size) + cell_size


@dataclass(frozen=True)
class RTMTilePayload(TileGridPayload):
    """The inputs of one tile's design task: the tile on its grid
    (:class:`~hotspot_env.scale.tiles.TileGridPayload`), its counts and the layers in reach.

    Attributes
    ----------
    counts : ndarray of int64
        Incidents per interior cell (the protected counts in public mode).
    layers : list of ndarray
        Per candidate layer (in the run's order), its single-part features
        whose envelope meets the tile grown by :func:`layer_reach` (empty for
        a layer that repeats an earlier one).
    same_as : list of int
        Per layer, the first layer with exactly the same features (itself if
        none): its indicators are computed once.
    distances : list of float
        Distances of influence and kernel radii (metres).
    operations : tuple of str
        ``proximity`` and/or ``density``.
    unit_m : float
        The block length (line length counted as one feature).
    """

    counts: np.ndarray
    layers: list[np.ndarray]
    same_as: list[int]
    distances: list[float]
    operations: tuple[str, ...]
    unit_m: float


@dataclass
class TileDesignParts:
    """A tile's indicators before the density thresholds (kept on its worker).

    ``proximity`` and ``surfaces`` are keyed by (layer position, distance);
    ``sums`` holds each surface's (cells, sum) over the interior's study area.
    """

    payload: RTMTilePayload = field(repr=False)
    proximity: dict[tuple[int, float], np.ndarray] = field(repr=False)
    surfaces: dict[tuple[int, float], np.ndarray] = field(repr=False)
    sums: dict[tuple[int, float], tuple[int, float]]


@dataclass
class TileRows:
    """A tile's rows of the design (kept on its worker).

    Attributes
    ----------
    mask : ndarray of bool
        The interior's study-area cells.
    y : ndarray of int64
        Their counts, row-major.
    X : ndarray of uint8
        Their indicators, one column per raw candidate (:func:`raw_candidates`).
    """

    mask: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    X: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class TileSummary:
    """What the client needs of a tile's rows to choose the candidates.

    ``on`` counts each raw candidate's cells; ``digest`` fingerprints its
    column (two candidates are the same indicator iff every tile's digests
    match); ``n`` and ``y_total``/``y_max`` describe the counts.
    """

    on: np.ndarray
    digest: list[bytes]
    n: int
    y_total: int
    y_max: int


@single_threaded  # the density surfaces run numba kernels: one thread per task
def build_tile(payload: RTMTilePayload) -> TileDesignParts:
    """Proximity indicators and density surfaces of one tile's interior."""
    grid = payload.grid()
    proximity: dict[tuple[int, float], np.ndarray] = {}
    surfaces: dict[tuple[int, float], np.ndarray] = {}
    for i, parts in enumerate(payload.layers):
        first = payload.same_as[i]
        if first != i:  # the same features as an earlier layer: the same arrays
            proximity.update({(i, d): v for (k, d), v in proximity.items() if k == first})
            surfaces.update({(i, h): v for (k, h), v in surfaces.items() if k == first})
            continue
        if "proximity" in payload.operations:
            for d, ind in proximity_of_parts(grid, parts, payload.distances).items():
                proximity[(i, d)] = ind
        if "density" in payload.operations:
            for h, dens in density_surfaces(grid, parts, payload.distances,
                                            payload.unit_m).items():
                surfaces[(i, h)] = dens
    sums = {key: (int(payload.mask.sum()), float(dens[payload.mask].sum()))
            for key, dens in surfaces.items()}
    return TileDesignParts(payload, proximity, surfaces, sums)


def density_sums(parts: TileDesignParts) -> dict[tuple[int, float], tuple[int, float]]:
    """Each density surface's (cells, sum) over the interior's study area."""
    return parts.sums


def density_spread(parts: TileDesignParts, means: dict[tuple[int, float], float]
                   ) -> dict[tuple[int, float], float]:
    """Each surface's sum of squared deviations from its global mean (the SD's second pass)."""
    mask = parts.payload.mask
    return {key: float(((dens[mask] - means[key]) ** 2).sum())
            for key, dens in parts.surfaces.items()}


def finish_tile(parts: TileDesignParts, thresholds: dict[tuple[int, float], tuple[float, float]]
                ) -> TileRows:
    """The tile's rows: density indicators against the global (mean, SD), then ``y`` and ``X``."""
    payload = parts.payload
    mask = payload.mask
    raw = raw_candidates(len(payload.layers), payload.distances, payload.operations)
    X = np.empty((int(mask.sum()), len(raw)), np.uint8, order="F")
    for j, (i, op, d) in enumerate(raw):
        if op == "proximity":
            X[:, j] = parts.proximity[(i, d)][mask]
        else:
            mean, sd = thresholds[(i, d)]
            X[:, j] = above_threshold(parts.surfaces[(i, d)], mask, mean, sd)[mask]
    return TileRows(mask, np.asarray(payload.counts[mask], dtype=np.int64), X)


def summarise(rows: TileRows) -> TileSummary:
    """Cells on and a digest of each raw candidate's column; the counts' size, total and max."""
    on = rows.X.sum(axis=0, dtype=np.int64)
    digest = [hashlib.blake2b(np.packbits(rows.X[:, j]).tobytes(), digest_size=16).digest()
              for j in range(rows.X.shape[1])]
    return TileSummary(on, digest, int(rows.y.size), int(rows.y.sum()),
                       int(rows.y.max()) if rows.y.size else 0)


def tile_group_keys(rows: TileRows, columns: list[int], ymax: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The tile's frequency table on raw ``columns`` (``ymax``: the global largest count + 1)."""
    return group_keys(rows.y, rows.X[:, columns], ymax)


def tile_group_keys_many(rows: TileRows, column_sets: list[list[int]], ymax: int
                         ) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`tile_group_keys` of several column sets (one task, one round trip)."""
    return [tile_group_keys(rows, cols, ymax) for cols in column_sets]


def tile_indicator(rows: TileRows, column: int) -> np.ndarray:
    """Raw candidate ``column``'s indicator over the interior (False outside the area)."""
    out = np.zeros(rows.mask.shape, dtype=bool)
    out[rows.mask] = rows.X[:, column].astype(bool)
    return out


def tile_indicators(rows: TileRows, columns: list[int]) -> list[np.ndarray]:
    """:func:`tile_indicator` of several raw candidates (one task, one round trip)."""
    return [tile_indicator(rows, j) for j in columns]


def tile_linear_predictor(rows: TileRows, columns: list[int], coef: np.ndarray) -> np.ndarray:
    """``sum_i coef_i * indicator_{columns_i}`` over the interior, added in the same order."""
    lin = np.zeros(rows.mask.shape)
    for c, j in zip(coef, columns, strict=True):
        lin += c * tile_indicator(rows, j)
    return lin


def parts_near(parts: np.ndarray, tree: shapely.STRtree | None,
               bounds: tuple[float, float, float, float]) -> np.ndarray:
    """The features of ``parts`` whose envelope meets ``bounds``, in their original order."""
    if tree is None or parts.size == 0:
        return parts[:0]
    hit = tree.query(shapely.box(*bounds))
    return parts[np.sort(hit)]
