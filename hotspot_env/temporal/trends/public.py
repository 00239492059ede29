"""Public mode's trends: the space-time cube and the change test from protected counts only.

An attacker holding every public file must not rebuild a small count
(``tests/test_public_neighbours.py``). The trend statistics (Mann-Kendall z
and p, the emerging hot-spot classes, the per-step tallies) are therefore
computed from the protected cell x time-step cube (its own count release,
``trends_cube``: each incident falls in one cell and one step, so its
sensitivity is 1), and the change test from the protected counts before and
after the boundary (release ``change``, the counts ``trends.csv`` publishes).
Every figure is then post-processing of published or released counts: adding
an incident to a cell whose counts stay below k changes no byte.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from hotspot_env.core.choices import Choice, announce
from hotspot_env.outputs.privacy import protection_for
from hotspot_env.temporal.trends.cube import Cube

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis


def protected_cube(analysis: Analysis, cube: Cube, choices: list[Choice]) -> Cube:
    """``cube`` as the trend tests may read it (public mode: the protected counts).

    Parameters
    ----------
    analysis : Analysis
        The run; internal mode (no ``protection``) returns ``cube`` unchanged.
    cube : Cube
        The true space-time cube.
    choices : list of Choice
        The run's choices; public mode announces the basis there.

    Returns
    -------
    Cube
        Public mode: the same steps, each count replaced by its protected value
        (noise with ε, then 1..k-1 entered as the stand-in; never below zero).
    """
    protection = protection_for(analysis)
    if protection is None:
        return cube
    imputed = np.maximum(protection.counts("trends_cube", cube.counts).imputed, 0)
    choices.append(announce(Choice(
        "trends_basis", "protected counts",
        "public mode: the trend tests and emerging hot-spot classes read the protected cell "
        "by time-step counts (each count from 1 to k-1 entered as its stand-in) and the change "
        "test the protected counts before and after the boundary, never the true counts")))
    return replace(cube, counts=imputed)


def protected_change_counts(analysis: Analysis, before: np.ndarray, after: np.ndarray,
                            mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The change test's counts: true in internal mode, the released ones in public mode.

    Parameters
    ----------
    analysis : Analysis
        The run.
    before, after : ndarray of int64, shape ``grid.shape``
        The true counts per cell (the arrays declared as ``change_before`` and
        ``change_after``: the gate releases the same values).
    mask : ndarray of bool
        The study area's cells.

    Returns
    -------
    before, after : ndarray of int64
        Per cell of ``mask`` (row-major).
    """
    protection = protection_for(analysis)
    if protection is None:
        return before[mask], after[mask]
    return tuple(np.maximum(protection.counts(name, values).imputed[mask], 0)
                 for name, values in (("change_before", before), ("change_after", after)))
