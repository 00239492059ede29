"""The trends stage's files: ``trends.csv`` (one row per cell) and ``demand_forecast.csv``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from hotspot_env.outputs.privacy import Kind, publish

if TYPE_CHECKING:

    from hotspot_env.core.analysis import Analysis

#: Privacy kinds of the ``trends.csv`` columns not already declared per cell.
TRENDS_KINDS = {"cell_id": Kind.IDENTIFIER}

#: Privacy kinds of the ``demand_forecast.csv`` columns: district-week
#: forecasts aggregate many cells (rounded to whole incidents in public mode).
DEMAND_KINDS = {"district": Kind.IDENTIFIER, "week_start": Kind.IDENTIFIER,
                "expected_incidents": Kind.AREA_DERIVED, "lo80": Kind.AREA_DERIVED,
                "hi80": Kind.AREA_DERIVED, "top_categories": Kind.LABEL}


def trends_frame(analysis: Analysis) -> pd.DataFrame:
    """``trends.csv`` rows: one per cell, through the privacy gate; no coordinates."""
    grid = analysis.grid
    mask = grid.mask
    arrays = analysis.arrays
    frame = pd.DataFrame({"cell_id": grid.cell_ids()[mask]})
    for name in ("district", "trend_class", "trend_z", "trend_p", "count_trend_z",
                 "count_trend_p", "change_before", "change_after", "change_p", "change_class"):
        if name in arrays:
            frame[name] = arrays[name][mask]
    for name in ("trend_z", "trend_p", "count_trend_z", "count_trend_p", "change_p"):
        if name in frame:
            frame[name] = frame[name].astype(float).round(6)
    return publish(analysis, frame, TRENDS_KINDS)


def write_trends(analysis: Analysis, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``trends.csv`` and ``demand_forecast.csv`` atomically.

    Nothing is written when the trends stage did not run (no dates); the
    reason is in ``analysis.trends_message``.

    Returns
    -------
    dict of str to Path
        File name to path.
    """
    from hotspot_env._atomic import prepare_folder, write_text

    info = analysis.trends
    if not info:
        return {}
    folder = prepare_folder(folder)
    # pandas writes it (about 0.9 s for a metro city's 240k cells, measured): a hand-written
    # Arrow writer saved 0.6 s of a 30-40 s run, not worth its own float formatting.
    written = {"trends.csv": write_text(folder / "trends.csv",
                                        trends_frame(analysis).to_csv(index=False))}
    table = info.get("demand")
    if table is not None:
        written["demand_forecast.csv"] = write_text(
            folder / "demand_forecast.csv",
            publish(analysis, table, DEMAND_KINDS).to_csv(index=False))
    return written
