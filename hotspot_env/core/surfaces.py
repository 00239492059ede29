"""The run's surfaces: the KDE radius, then counts, KDE and Gi* per cell with their privacy kinds.

:func:`local_surfaces` computes them in this process; the dask engine
(``scale.engine.TiledSurfaces``) is another :data:`SurfaceEngine` with the same
answers. In public mode every statistic published unchanged is computed from
the protected counts, never from the points.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hotspot_env import settings
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.density import choose_bandwidth, count_incidents, kde
from hotspot_env.core.grid import Grid
from hotspot_env.core.hotspots import GiStar, gi_star
from hotspot_env.core.public_basis import protected_bandwidth
from hotspot_env.core.timing import timed
from hotspot_env.outputs.privacy import Kind, Protection


def run_bandwidth(xs: np.ndarray, ys: np.ndarray, grid: Grid, bandwidth: float | None,
                  protection: Protection | None, choices: list[Choice]) -> float:
    """The KDE radius: given or chosen, raised to the public-mode minimum when public.

    Public mode chooses it from the protected cell counts, never from the
    incidents' spread (:func:`hotspot_env.core.public_basis.protected_bandwidth`).
    """
    if bandwidth is None:
        with timed("bandwidth"):
            if protection is None:
                bandwidth, bw_choice = choose_bandwidth(xs, ys, grid.cell_size)
            else:
                bandwidth, bw_choice = protected_bandwidth(grid, xs, ys, protection)
        choices.append(bw_choice)
    if protection is not None and bandwidth < settings.public_min_bandwidth_m:
        bandwidth = settings.public_min_bandwidth_m
        choices.append(announce(Choice(
            "bandwidth_m", bandwidth, "raised to the public-mode minimum so a single incident "
            "cannot be pinpointed")))
    return bandwidth


#: ``(grid, xs, ys, bandwidth, protection) -> (counts, density, gi, choices)``:
#: see :func:`local_surfaces`.
SurfaceEngine = Callable[[Grid, np.ndarray, np.ndarray, float, Protection | None],
                         tuple[np.ndarray, np.ndarray, GiStar, list[Choice]]]


def local_surfaces(grid: Grid, xs: np.ndarray, ys: np.ndarray, bandwidth: float,
                   protection: Protection | None = None
                   ) -> tuple[np.ndarray, np.ndarray, GiStar, list[Choice]]:
    """Counts, KDE and Gi* over the whole grid, in this process.

    Parameters
    ----------
    grid : Grid
        The study grid.
    xs, ys : ndarray
        The incidents used (inside the study area), in ``grid.crs``.
    bandwidth : float
        Quartic KDE radius in metres.
    protection : Protection, optional
        Public mode: the KDE and Gi* read the protected counts (the KDE from
        weighted cell centres), never the points.

    Returns
    -------
    counts : ndarray of int64
        Incidents per cell (0 outside the area).
    density : ndarray of float
        KDE in points per km² (not yet per year, not yet masked).
    gi : GiStar
        Gi* on the counts (or the protected counts).
    choices : list of Choice
        Automatic choices the engine made (none here; the tiling for dask).
    """
    with timed("counts"):
        counts = np.where(grid.mask, count_incidents(grid, xs, ys), 0)
    if protection is not None:
        basis = np.where(grid.mask, protection.counts("incidents", counts).imputed, 0)
        cx, cy = grid.centres()
        with timed("kde"):
            density = kde(grid, cx.ravel(), cy.ravel(), bandwidth,
                          weights=basis.ravel().astype(float)) * 1e6
    else:
        basis = counts
        with timed("kde"):
            density = kde(grid, xs, ys, bandwidth) * 1e6
    with timed("gi_star"):
        gi = gi_star(grid, basis)
    return counts, density, gi, []


def surface_layers(grid: Grid, xs: np.ndarray, ys: np.ndarray, bandwidth: float,
                   years: float | None, protection: Protection | None,
                   engine: SurfaceEngine, choices: list[Choice]
                   ) -> tuple[dict[str, np.ndarray], dict[str, Kind]]:
    """The per-cell layers (counts, KDE, Gi*) and their privacy kinds.

    ``engine`` computes them (:func:`local_surfaces`, or tiles on dask); its
    automatic choices join ``choices``. In public mode every statistic
    published unchanged is computed from the protected counts, never from
    the points.
    """
    derived_kind = Kind.COUNT_DERIVED if protection is None else Kind.PROTECTED_DERIVED
    counts, density, gi, engine_choices = engine(grid, xs, ys, bandwidth, protection)
    choices.extend(engine_choices)
    if years:
        density = density / years
    density = np.where(grid.mask, density, np.nan)
    arrays = {"incidents": counts, "kde": density, "gi_z": gi.z, "gi_p": gi.p,
              "gi_bin": gi.bin}
    kinds = {"incidents": Kind.COUNT, "kde": derived_kind, "gi_z": derived_kind,
             "gi_p": derived_kind, "gi_bin": derived_kind}
    return arrays, kinds

