"""Incident counts per cell and kernel density estimation (KDE) on the grid.

Counts are a single vectorised ``numpy.bincount`` over cell indices. The KDE is
an *exact* kernel sum evaluated at cell centres: every point adds its kernel to
the cells within one bandwidth, compiled with numba, so cost grows with
``n_points x (bandwidth / cell_size)^2`` and memory with the grid only. No
binning approximation is involved, so results match scikit-learn's
``KernelDensity`` to floating-point precision for the kernels both support. The
sum runs in parallel over bands of grid rows (numba threads), with results
bit-identical for any number of threads.

Weights already binned on a padded grid (the forecast's per-period count
cubes, the risk terrain model's feature layers) are smoothed with the same
quartic kernel by FFT convolution (:func:`binned_kde`): the kernel sum of
points at cell centres, whose cost does not grow with the number of points,
periods or the bandwidth. Both routes agree to about 1e-15 relative
(``tests/test_density.py``); the exact sum is 2 to 8 times slower on dense
layers with radii of many cells, so binned inputs keep the FFT route.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from hotspot_env import settings
from hotspot_env._jit import njit
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError

#: Kernels available, with the constant that makes each integrate to one in 2D
#: for a kernel of radius ``h``: K(d) = c / h^2 * profile(d^2 / h^2) for d < h.
KERNELS: dict[str, float] = {
    # Quartic (biweight): 3 / (pi h^2) * (1 - u)^2, Silverman (1986) Table 3.1.
    "quartic": 3.0 / math.pi,
    # Epanechnikov: 2 / (pi h^2) * (1 - u).
    "epanechnikov": 2.0 / math.pi,
}


def count_incidents(grid: Grid, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Count points per cell.

    Parameters
    ----------
    grid : Grid
        The study grid.
    x, y : ndarray
        Point coordinates in the grid's CRS (metres).

    Returns
    -------
    ndarray of int64, shape ``grid.shape``
        Number of points in each cell; points outside the study area are ignored.
    """
    row, col = grid.cell_index(x, y)
    inside = row >= 0
    flat = row[inside] * grid.n_cols + col[inside]
    counts = np.bincount(flat, minlength=grid.n_rows * grid.n_cols)
    return counts.reshape(grid.shape).astype(np.int64)


def choose_bandwidth(x: np.ndarray, y: np.ndarray, cell_size: float,
                     weights: np.ndarray | None = None,
                     announced: bool = True) -> tuple[float, Choice]:
    """Choose a quartic-kernel radius by a normal-reference rule of thumb.

    Silverman's (1986, eq. 3.31) normal-reference bandwidth is computed on each
    axis, ``h = 1.06 * min(sd, IQR / 1.34) * n^(-1/5)``, and the two are
    averaged (as sfhotspot does with ``MASS::bandwidth.nrd``). A quartic kernel
    of radius ``R`` has a per-axis standard deviation of ``R / (2 * sqrt(2))``,
    so ``R = 2 * sqrt(2) * h`` gives the quartic kernel the same spread as the
    Gaussian reference. The radius is never less than
    :data:`settings.min_bandwidth_cells` cells, so the surface is smoother than
    the grid it is drawn on.

    Parameters
    ----------
    x, y : ndarray
        Point coordinates (metres).
    cell_size : float
        Grid cell size (metres).
    weights : ndarray of int, optional
        Frequency weights: point ``i`` stands for ``weights[i]`` points (public
        mode: cell centres weighted by their protected counts). The result is
        that of the points repeated by their weights.
    announced : bool
        Log the choice (a caller that rewords it announces its own).

    Returns
    -------
    bandwidth : float
        Kernel radius in metres (rounded to 1 m).
    choice : Choice
        The announcement.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.int64)
        keep = weights > 0
        x, y, weights = x[keep], y[keep], weights[keep]
    n = x.size if weights is None else int(weights.sum())
    floor_m = settings.min_bandwidth_cells * cell_size
    if n < 2:
        value = float(round(floor_m))
        rule = f"fewer than 2 incidents, so the minimum of {settings.min_bandwidth_cells:g} cells"
        choice = Choice("bandwidth_m", value, rule)
        return value, announce(choice) if announced else choice
    hs = []
    for v in (x, y):
        sd, (q75, q25) = _spread(v, weights)
        spread = min(sd, (q75 - q25) / 1.34) or sd
        hs.append(1.06 * spread * n ** (-0.2))
    radius = 2.0 * math.sqrt(2.0) * float(np.mean(hs))
    value = float(round(max(radius, floor_m)))
    raised = f", raised to the {settings.min_bandwidth_cells:g}-cell minimum"
    rule = (
        "quartic radius = 2*sqrt(2) x Silverman's normal-reference bandwidth "
        f"(mean over x and y, n = {n:,})" + (raised if radius < floor_m else "")
    )
    choice = Choice("bandwidth_m", value, rule)
    return value, announce(choice) if announced else choice


def _spread(v: np.ndarray, weights: np.ndarray | None) -> tuple[float, np.ndarray]:
    """Sample standard deviation and the 75th and 25th percentiles of ``v``.

    With frequency ``weights`` both equal those of ``np.repeat(v, weights)``
    (``ddof=1``; numpy's default linear interpolation) without repeating.
    """
    if weights is None:
        return float(np.std(v, ddof=1)), np.percentile(v, [75, 25])
    n = int(weights.sum())
    mean = float(np.dot(weights, v)) / n
    sd = math.sqrt(float(np.dot(weights, (v - mean) ** 2)) / (n - 1))
    return sd, frequency_percentile(v, weights, [75, 25])


def frequency_percentile(values: np.ndarray, weights: np.ndarray, q: list[float]) -> np.ndarray:
    """``np.percentile(np.repeat(values, weights), q)`` without building the repeat.

    Numpy's default (linear) rule: the ``q``-th percentile of ``N`` sorted values
    lies at position ``q / 100 * (N - 1)``, between the two values there.
    """
    order = np.argsort(values, kind="stable")
    v, ends = np.asarray(values, float)[order], np.cumsum(np.asarray(weights)[order])
    position = np.asarray(q, dtype=float) / 100.0 * (int(ends[-1]) - 1)
    low = np.floor(position)
    lo = v[np.searchsorted(ends, low, side="right")]
    hi = v[np.minimum(np.searchsorted(ends, low + 1, side="right"), v.size - 1)]
    return lo + (position - low) * (hi - lo)


def kde(
    grid: Grid,
    x: np.ndarray,
    y: np.ndarray,
    bandwidth: float,
    kernel: str = "quartic",
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Kernel density at every cell centre, in points per square metre.

    Parameters
    ----------
    grid : Grid
        The study grid; density is evaluated at its cell centres.
    x, y : ndarray
        Point coordinates in the grid's CRS (metres). Points outside the grid
        still contribute to cells within ``bandwidth`` of them.
    bandwidth : float
        Kernel radius ``h`` in metres (the kernel is zero beyond it).
    kernel : {"quartic", "epanechnikov"}
        Kernel profile; quartic is the crime-mapping convention (Chainey 2013).
    weights : ndarray, optional
        Weight per point (default 1).

    Returns
    -------
    ndarray of float64, shape ``grid.shape``
        ``sum_i w_i K(d_i)`` where K integrates to one, i.e. expected points per
        m^2. Multiply by 1e6 for points per km^2.
    """
    if kernel not in KERNELS:
        raise InputError(f"unknown kernel {kernel!r}: use one of {', '.join(KERNELS)}")
    if not (math.isfinite(bandwidth) and bandwidth > 0):
        raise InputError(f"bandwidth must be a positive number of metres, got {bandwidth!r}")
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    w = (np.ones_like(x) if weights is None
         else np.ascontiguousarray(weights, dtype=np.float64))
    out = np.zeros(grid.shape, dtype=np.float64)
    _kernel_sum(x, y, w, out, grid.x0, grid.bounds[3], grid.cell_size, float(bandwidth),
                1 if kernel == "quartic" else 2)
    return out * (KERNELS[kernel] / bandwidth**2)


#: Grid rows per parallel band of the KDE kernel sum; bands are small so a band
#: full of hot spots does not leave the other threads idle at the end.
_BAND_ROWS = 8


@njit(nogil=True, parallel=True)
def _kernel_sum(x, y, w, out, x0, ytop, cs, h, power):  # pragma: no cover - compiled
    """Add every point's kernel to the cells within ``h`` of it (in place).

    The grid is split into bands of :data:`_BAND_ROWS` rows processed in
    parallel; each band walks the points in their given order and writes only
    its own rows, so every cell receives the same terms, in the same order and
    with the same floating-point operations as a plain serial loop over points
    and cells: the result is bit-identical for any number of threads. For each
    row a point reaches, only the columns that can lie inside its circle are
    visited, with the squared column offsets computed once per point and an
    unsigned inner index (no negative-index wraparound), so the compiler
    vectorises the inner loop; ``max(v, 0)`` is exactly the test ``u < 1``.
    """
    n_rows, n_cols = out.shape
    n = x.size
    h2 = h * h
    r_lo = np.empty(n, dtype=np.int64)
    r_hi = np.empty(n, dtype=np.int64)
    for i in range(n):
        xi = x[i]
        yi = y[i]
        if not (np.isfinite(xi) and np.isfinite(yi)):
            r_lo[i] = 1
            r_hi[i] = 0
            continue
        r_lo[i] = max(0, int(math.floor((ytop - (yi + h)) / cs - 0.5)))
        r_hi[i] = min(n_rows - 1, int(math.ceil((ytop - (yi - h)) / cs - 0.5)))
    n_bands = (n_rows + _BAND_ROWS - 1) // _BAND_ROWS
    for band in numba.prange(n_bands):
        b_lo = band * _BAND_ROWS
        b_hi = min(n_rows - 1, b_lo + _BAND_ROWS - 1)
        dx2 = np.empty(n_cols + 2)
        for i in range(n):
            lo = max(r_lo[i], b_lo)
            hi = min(r_hi[i], b_hi)
            if lo > hi:
                continue
            xi = x[i]
            yi = y[i]
            wi = w[i]
            c_lo = max(0, int(math.floor((xi - h - x0) / cs - 0.5)))
            c_hi = min(n_cols - 1, int(math.ceil((xi + h - x0) / cs - 0.5)))
            for c in range(c_lo, c_hi + 1):
                dx = x0 + (c + 0.5) * cs - xi
                dx2[c - c_lo] = dx * dx
            for r in range(lo, hi + 1):
                dy = ytop - (r + 0.5) * cs - yi
                dy2 = dy * dy
                if dy2 >= h2:
                    continue
                # columns whose centre may lie inside the circle on this row,
                # with a cell of slack each side (v = 0 there)
                half = math.sqrt(h2 - dy2)
                a = max(c_lo, int(math.floor((xi - half - x0) / cs - 0.5)))
                b = min(c_hi, int(math.ceil((xi + half - x0) / cs - 0.5)))
                if b < a:
                    continue
                row = out[r]
                m = np.uint64(b - a + 1)
                au = np.uint64(a)
                off = np.uint64(a - c_lo)
                if power == 1:
                    for k in range(m):
                        v = max(1.0 - (dx2[off + k] + dy2) / h2, 0.0)
                        row[au + k] += wi * (v * v)
                else:
                    for k in range(m):
                        v = max(1.0 - (dx2[off + k] + dy2) / h2, 0.0)
                        row[au + k] += wi * v


def quartic_kernel(bandwidth: float, cell_size: float) -> np.ndarray:
    """Quartic kernel ``3 / (pi h^2) (1 - d^2/h^2)^2`` sampled at cell-centre offsets (per m^2)."""
    k = int(math.floor(bandwidth / cell_size))
    off = np.arange(-k, k + 1) * cell_size
    u = (off[:, None] ** 2 + off[None, :] ** 2) / bandwidth**2
    return np.where(u < 1.0, (1.0 - u) ** 2, 0.0) * (3.0 / (math.pi * bandwidth**2))


def binned_kde(grid: Grid, binned: np.ndarray, bandwidth: float, pad: int) -> np.ndarray:
    """Quartic KDE of weights binned on a padded grid, at the grid's cell centres.

    ``binned`` has shape ``(..., n_rows + 2 pad, n_cols + 2 pad)`` (e.g. one
    layer per period); the result ``(..., n_rows, n_cols)`` is in weight per
    m^2. This is :func:`kde` of points at the centres of the padded cells,
    computed by FFT convolution (cost independent of the number of points
    and of the bandwidth); it agrees with :func:`kde` to round-off.
    """
    dens = binned_kde_raw(grid, binned, bandwidth, pad)
    return drop_round_off(dens, float(np.max(np.abs(dens), initial=0.0)))


def binned_kde_raw(grid: Grid, binned: np.ndarray, bandwidth: float, pad: int) -> np.ndarray:
    """:func:`binned_kde` before :func:`drop_round_off` (a tile's part of a larger grid)."""
    kernel = quartic_kernel(bandwidth, grid.cell_size)
    if binned.ndim == 3:
        kernel = kernel[None]
    if kernel.shape[-1] == 1:
        dens = binned * kernel.reshape(-1)[0]
    else:
        from scipy import signal  # here: scipy.signal imports scipy.stats (about 1 s)

        axes = (-2, -1)
        dens = signal.fftconvolve(binned, kernel, mode="same", axes=axes)
    return dens[..., pad:pad + grid.n_rows, pad:pad + grid.n_cols]


def drop_round_off(dens: np.ndarray, largest: float) -> np.ndarray:
    """``dens`` with values up to ``1e-12 x largest`` set to 0 (``largest``: the max magnitude).

    FFT round-off leaves tiny negative/positive values where the density is 0;
    on tiles, ``largest`` is the whole grid's (the tiles' maxima, reduced).
    """
    return np.where(dens > 1e-12 * max(largest, 1e-300), dens, 0.0)
