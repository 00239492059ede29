"""The trends stage's files: ``trends.csv`` (one row per cell) and ``demand_forecast.csv``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hotspot_env.outputs.privacy import Kind, publish

if TYPE_CHECKING:
    import pyarrow as pa

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
    from hotspot_env._atomic import prepare_folder, write_bytes, write_text

    info = analysis.trends
    if not info:
        return {}
    folder = prepare_folder(folder)
    written = {"trends.csv": write_bytes(folder / "trends.csv", csv_bytes(trends_frame(analysis)))}
    table = info.get("demand")
    if table is not None:
        written["demand_forecast.csv"] = write_text(
            folder / "demand_forecast.csv",
            publish(analysis, table, DEMAND_KINDS).to_csv(index=False))
    return written


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame.to_csv(index=False)`` as UTF-8, byte for byte, written by Arrow when it can.

    pandas writes the cells one Python object at a time (about 1.2 s for the
    240k cells x 11 columns of a metro ``trends.csv``); Arrow's CSV writer
    writes text and integer columns in C++. The text of each float is
    pandas' own (``DataFrame.to_csv`` formats floats with NumPy's
    ``astype(str)``, Python's ``repr``), so Arrow only writes; pandas writes
    the header. Frames Arrow would write differently (booleans, mixed
    objects, cells that need quotes, a line separator other than ``\\n``) go
    through ``to_csv`` itself.

    Parameters
    ----------
    frame : DataFrame
        The table.

    Returns
    -------
    bytes
    """
    import io

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    header = frame.iloc[:0].to_csv(index=False).encode("utf-8")
    table = _as_text_or_integers(frame) if os.linesep == "\n" else None
    if table is not None:
        body = io.BytesIO()
        try:  # quoting_style "none" refuses a cell that needs quotes, as pandas would quote it
            pa_csv.write_csv(table, body, pa_csv.WriteOptions(include_header=False,
                                                              quoting_style="none"))
            return header + body.getvalue()
        except pa.ArrowInvalid:
            pass
    return frame.to_csv(index=False).encode("utf-8")


def _as_text_or_integers(frame: pd.DataFrame) -> pa.Table | None:
    """``frame`` as an Arrow table of text and integer columns, or None if it is not one.

    Floats become pandas' CSV text of them (NaN as null, written empty). A
    single column is left to pandas, which quotes an empty only field.
    """
    import pyarrow as pa

    if frame.shape[1] < 2:
        return None
    columns = []
    for _, column in frame.items():
        if isinstance(column.dtype, np.dtype) and column.dtype.kind == "f":
            columns.append(_float_text(column.to_numpy()))
            continue
        try:
            array = pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed objects
            return None
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
                or pa.types.is_integer(array.type)):
            return None
        columns.append(array)
    return pa.table(columns, names=[f"c{i}" for i in range(len(columns))])


def _float_text(values: np.ndarray) -> pa.Array:
    """pandas' CSV text of each float (``astype(str)``) as Arrow strings, NaN as null.

    Each distinct value is formatted once (most cells share a few, such as 0
    and 1): distinct bit patterns, since ``-0.0 == 0.0`` but is written apart.
    """
    import pyarrow as pa

    missing = np.isnan(values)
    if values.dtype.itemsize not in (2, 4, 8):  # no integer of the same size to view as
        return pa.array(values.astype(str), mask=missing)
    codes, bits = pd.factorize(values.view(f"i{values.dtype.itemsize}"))
    text = pa.array(bits.view(values.dtype).astype(str))
    return text.take(pa.array(codes, mask=missing))
