"""Hot spots one month or quarter at a time: what the Explore time slider shows.

The whole-period Gi* map hides when a place heated up or cooled down. Here the
analysis's own incidents (already in the grid's CRS and inside the study area)
are counted per cell for one calendar month or quarter, and Gi* runs on those
counts exactly as on the whole period (:func:`hotspot_env.core.hotspots.gi_star`).
Only cell counts and classes leave this module, never incident points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hotspot_env.core.hotspots import gi_star

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Slider steps offered: label -> pandas period frequency.
STEPS: dict[str, str] = {"month": "M", "quarter": "Q"}


@dataclass(frozen=True)
class PeriodLayer:
    """One period's counts and Gi* classes.

    Attributes
    ----------
    label : str
        ``"2024-03"`` or ``"2024Q1"``.
    counts : ndarray of int64, shape ``grid.shape``
        Recorded incidents per cell in the period (0 outside the study area).
    gi_bin : ndarray of int8, shape ``grid.shape``
        Gi* bins (-3..3) of those counts.
    incidents : int
        Incidents in the period inside the study area.
    """

    label: str
    counts: np.ndarray
    gi_bin: np.ndarray
    incidents: int


def _periods(analysis: Analysis, step: str) -> pd.Series:
    if step not in STEPS:
        raise ValueError(f"step must be one of {', '.join(STEPS)}, not {step!r}")
    times = pd.to_datetime(analysis.points["datetime"], utc=True, errors="coerce")
    # a UTC instant names its calendar period; the drop of the zone is deliberate
    return times.dt.tz_localize(None).dt.to_period(STEPS[step])


def period_labels(analysis: Analysis, step: str = "month") -> list[str]:
    """The periods that hold dated incidents, oldest first (empty without dates)."""
    periods = _periods(analysis, step).dropna()
    return [str(p) for p in sorted(periods.unique())]


def period_layer(analysis: Analysis, label: str, step: str = "month") -> PeriodLayer:
    """Counts and Gi* classes of the incidents in period ``label`` (see :func:`period_labels`).

    Raises
    ------
    ValueError
        For a step other than ``month``/``quarter`` or a period with no incident.
    """
    grid = analysis.grid
    periods = _periods(analysis, step).astype(str)
    chosen = (periods == str(label)).to_numpy()
    if not chosen.any():
        raise ValueError(f"no dated incident in {label!r}")
    geometry = analysis.points.geometry[chosen]
    rows, cols = grid.cell_index(geometry.x.to_numpy(), geometry.y.to_numpy())
    inside = rows >= 0
    flat = np.bincount(rows[inside] * grid.n_cols + cols[inside],
                       minlength=grid.n_rows * grid.n_cols)
    counts = flat.reshape(grid.shape).astype(np.int64)
    return PeriodLayer(str(label), counts, gi_star(grid, counts).bin.astype(np.int8),
                       int(inside.sum()))
