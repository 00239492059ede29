"""Peer comparisons of ``hotspot-env bench``: the same computation by a reference library.

Each function times ours and the peer's on the benchmark's data and measures
how far the results differ (``benchmarks/README.md`` says how each is made fair):

* counts vs ``geopandas.sjoin(points, cells, predicate="within")`` + groupby;
* KDE (epanechnikov) vs scikit-learn ``KernelDensity`` (kd-tree, exact) and,
  if installed, KDEpy ``FFTKDE`` (a binned approximation);
* Gi* vs ``esda.G_Local(star=True, transform="B", permutations=0)`` with a
  ``libpysal.weights.lat2W`` queen W of the full rectangular grid.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np

#: Cell centres scikit-learn is evaluated at (random sample, time scaled up).
SKLEARN_SAMPLE_CELLS: int = 2_000


def compare_counts(grid: Any, x: np.ndarray, y: np.ndarray, crs: Any) -> dict[str, Any]:
    """Counts per cell: ours vs ``geopandas.sjoin(..., predicate="within")`` + groupby."""
    import geopandas as gpd
    import shapely

    from hotspot_env.core.density import count_incidents

    t0 = time.perf_counter()
    ours = count_incidents(grid, x, y)
    ours_s = time.perf_counter() - t0
    cells = grid.to_geodataframe()
    points = gpd.GeoDataFrame(geometry=shapely.points(x, y), crs=crs)
    t0 = time.perf_counter()
    joined = gpd.sjoin(points, cells[["cell_id", "geometry"]], predicate="within", how="inner")
    theirs = joined.groupby("cell_id").size()
    sjoin_s = time.perf_counter() - t0
    flat = np.zeros(grid.n_rows * grid.n_cols, dtype=np.int64)
    flat[theirs.index.to_numpy()] = theirs.to_numpy()
    mismatch = int(np.abs(flat - ours.ravel()).sum())
    return {"counts_s": ours_s, "sjoin_s": sjoin_s,
            "counts_speedup_vs_sjoin": sjoin_s / max(ours_s, 1e-9),
            "counts_mismatch_points": mismatch}


def compare_kde(grid: Any, x: np.ndarray, y: np.ndarray, bandwidth: float,
                seed: int = 0) -> dict[str, Any]:
    """Epanechnikov KDE at every cell centre: ours vs scikit-learn (and KDEpy).

    scikit-learn is timed on :data:`SKLEARN_SAMPLE_CELLS` random cell centres
    (all of them if the grid is smaller) and its time scaled linearly to the
    whole grid; the tree build (``fit``) is counted once, unscaled. The error
    is measured on the sampled cells whose density exceeds 1 % of the maximum.
    """
    from sklearn.neighbors import KernelDensity

    from hotspot_env.core.density import kde

    kde(grid, x[:10], y[:10], bandwidth, kernel="epanechnikov")  # compile outside the timing
    t0 = time.perf_counter()
    ours = kde(grid, x, y, bandwidth, kernel="epanechnikov")
    ours_s = time.perf_counter() - t0

    n_all = grid.n_rows * grid.n_cols
    rng = np.random.default_rng(seed)
    sample = (np.arange(n_all) if n_all <= SKLEARN_SAMPLE_CELLS
              else np.sort(rng.choice(n_all, SKLEARN_SAMPLE_CELLS, replace=False)))
    cx, cy = grid.centres()
    query = np.c_[cx.ravel()[sample], cy.ravel()[sample]]
    pts = np.c_[x, y].astype(np.float64)
    t0 = time.perf_counter()
    model = KernelDensity(kernel="epanechnikov", bandwidth=bandwidth, algorithm="kd_tree",
                          rtol=0, atol=0).fit(pts)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with np.errstate(divide="ignore"):
        theirs = np.exp(model.score_samples(query)) * len(pts)
    score_s = time.perf_counter() - t0
    sklearn_s = fit_s + score_s * n_all / sample.size
    mine = ours.ravel()[sample]
    big = mine > 0.01 * ours.max()
    rel = np.abs(mine[big] - theirs[big]) / theirs[big] if big.any() else np.zeros(1)
    result: dict[str, Any] = {
        "kde_s": ours_s, "sklearn_s_scaled": sklearn_s, "sklearn_fit_s": fit_s,
        "sklearn_sample_cells": int(sample.size), "sklearn_sample_score_s": score_s,
        "kde_speedup_vs_sklearn": sklearn_s / max(ours_s, 1e-9),
        "kde_max_rel_err": float(rel.max()), "kde_cells_compared": int(big.sum()),
    }
    result.update(_compare_kdepy(grid, x, y, bandwidth, ours))
    return result


def _compare_kdepy(grid: Any, x: np.ndarray, y: np.ndarray, bandwidth: float,
                   ours: np.ndarray) -> dict[str, Any]:
    """KDEpy ``FFTKDE`` (binned, linear binning) on the cell-centre lattice, if installed."""
    try:
        from KDEpy import FFTKDE
    except ImportError:
        return {"kdepy_s": None, "kde_speedup_vs_kdepy": None, "kdepy_max_rel_err": None}
    cs = grid.cell_size
    # KDEpy's bw is the kernel's 1-D standard deviation: its epanechnikov has
    # variance 1/5 at unit radius, so radius h means bw = h / sqrt(5) (in 2-D too).
    bw = bandwidth / math.sqrt(5.0)
    pad = int(math.ceil(bandwidth / cs)) + 2
    xs = grid.x0 + (np.arange(-pad, grid.n_cols + pad) + 0.5) * cs
    ys = grid.bounds[3] - (np.arange(-pad, grid.n_rows + pad) + 0.5) * cs
    keep = (x > xs[0]) & (x < xs[-1]) & (y > ys[-1]) & (y < ys[0])
    pts = np.c_[x[keep], y[keep]]
    lattice = np.stack(np.meshgrid(xs, ys[::-1], indexing="ij"), axis=-1).reshape(-1, 2)
    t0 = time.perf_counter()
    values = FFTKDE(kernel="epa", bw=bw, norm=2).fit(pts).evaluate(lattice)
    kdepy_s = time.perf_counter() - t0
    dens = (values.reshape(xs.size, ys.size)[:, ::-1].T * keep.sum())
    dens = dens[pad:pad + grid.n_rows, pad:pad + grid.n_cols]
    big = ours > 0.01 * ours.max()
    rel = np.abs(dens[big] - ours[big]) / ours[big]
    return {"kdepy_s": kdepy_s, "kdepy_max_rel_err": float(rel.max()),
            "kdepy_note": "FFTKDE is a binned (linear binning) approximation"}


def compare_gi(grid: Any, counts: np.ndarray) -> dict[str, Any]:
    """Gi* on the full rectangular grid: ours vs ``esda.G_Local`` with a lat2W queen W."""
    import warnings

    import esda
    import libpysal

    from hotspot_env.core.hotspots import gi_star

    full = replace(grid, mask=np.ones(grid.shape, dtype=bool))
    y = counts.astype(np.float64)
    gi_star(full, y)  # warm-up (imports, caches), untimed
    t0 = time.perf_counter()
    ours = gi_star(full, y)
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    w = libpysal.weights.lat2W(grid.n_rows, grid.n_cols, rook=False)
    w_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = esda.G_Local(y.ravel(), w, star=True, transform="B", permutations=0)
    esda_s = time.perf_counter() - t0
    dz = np.abs(ours.z.ravel() - ref.Zs)
    return {"gi_s": ours_s, "esda_s": esda_s, "esda_w_build_s": w_s,
            "gi_speedup_vs_esda": esda_s / max(ours_s, 1e-9),
            "gi_max_abs_dz": float(np.nanmax(dz)), "gi_cells_compared": int(dz.size)}

