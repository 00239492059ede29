"""The done-ledger: which interventions were carried out, when, and at what cost.

Crews mark work orders done by re-importing the work-order table
(``interventions.csv`` / ``.gpkg`` / ``.geojson``) with a ``done_date`` column,
or any table of ``intervention_id`` and ``done_date``. Each completed
intervention keeps the stable id of its work order
(:func:`hotspot_env.interventions.candidate_table.candidate_id`); its type, place
and planned cost come from the analysis folder's ``interventions.gpkg``, so a
crew's sheet needs only the id and the date (``quantity`` and
``capital_cost`` may be given to record what was actually installed and spent).

The ledger is written as ``interventions_done.csv`` (geometry as WKT in
EPSG:4326, 1e-7 deg) and ``interventions_done.gpkg`` (the analysis CRS), and
each write bumps ``ledger.version`` in the folder's ``manifest.json`` with the
files' SHA-256, so an evaluation names the exact ledger it used. The ledger
describes places (streets, lots), never people.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env._atomic import atomic_path, prepare_folder, write_text
from hotspot_env.errors import InputError

#: Columns of the ledger (besides geometry), in order.
LEDGER_COLUMNS: tuple[str, ...] = (
    "intervention_id", "type", "done_date", "location", "district", "quantity", "unit",
    "capital_cost", "cost", "prevented_mean", "prevented_lo", "prevented_hi",
)
LEDGER_CSV = "interventions_done.csv"
LEDGER_GPKG = "interventions_done.gpkg"
#: Names accepted for the date a work order was completed.
DONE_NAMES: tuple[str, ...] = ("done_date", "done", "date_done", "completed")
_NUMERIC = ("quantity", "capital_cost", "cost", "prevented_mean", "prevented_lo", "prevented_hi")


def read_pool(analysis_dir: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Every candidate of a finished analysis (``interventions.gpkg``), done or not."""
    path = Path(analysis_dir) / "interventions.gpkg"
    if not path.is_file():
        raise InputError(f"{path} does not exist: pass the folder of a finished 'analyze' run "
                         "(it holds interventions.gpkg)")
    pool = gpd.read_file(path, layer="interventions", engine="pyogrio")
    if "intervention_id" not in pool or "type" not in pool:
        raise InputError(f"{path} has no intervention_id/type columns: re-run 'analyze'")
    return pool


def read_orders(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Work orders marked done: ``intervention_id``, ``done_date`` (+ optional actuals).

    Rows without a done date are work not yet done and are skipped.

    Parameters
    ----------
    path : path-like
        CSV, GeoPackage or GeoJSON with an ``intervention_id`` column and a
        date column (:data:`DONE_NAMES`), ``YYYY-MM-DD``.

    Returns
    -------
    DataFrame
        ``intervention_id``, ``done_date`` (date string) and any of
        ``quantity``/``capital_cost`` given, one row per id.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"work-order file {path} does not exist: check the path")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif suffix in (".gpkg", ".geojson", ".json", ".shp", ".parquet"):
            frame = pd.DataFrame(gpd.read_file(path, engine="pyogrio").drop(columns="geometry",
                                                                              errors="ignore"))
        else:
            raise InputError(f"{path.name}: use a CSV, GeoPackage or GeoJSON work-order file")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path.name} could not be read ({type(exc).__name__}): export the "
                         "work orders again as CSV") from None
    lower = {str(c).strip().lower(): c for c in frame.columns}
    if "intervention_id" not in lower:
        raise InputError(f"{path.name} has no intervention_id column: re-import the work-order "
                         "table (interventions.csv) with a done_date column")
    done_col = next((lower[n] for n in DONE_NAMES if n in lower), None)
    if done_col is None:
        raise InputError(f"{path.name} has no done_date column: add one (YYYY-MM-DD) and fill it "
                         "for each completed work order")
    ids = frame[lower["intervention_id"]].astype(str).str.strip()
    raw = frame[done_col].fillna("").astype(str).str.strip()
    has = raw.ne("") & ids.ne("")
    dates = pd.to_datetime(raw.where(has), format="%Y-%m-%d", errors="coerce")
    bad = has & dates.isna()
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # line 1 is the header
        raise InputError(f"{path.name} line {line}: done_date {raw[bad].iloc[0]!r} is not a date "
                         "like 2024-05-31")
    out = pd.DataFrame({"intervention_id": ids[has].to_numpy(),
                        "done_date": dates[has].dt.strftime("%Y-%m-%d").to_numpy()})
    for col in ("quantity", "capital_cost"):
        if col in lower:
            values = pd.to_numeric(frame.loc[has, lower[col]].replace("", np.nan), errors="coerce")
            out[col] = values.to_numpy(dtype=float)
    if not len(out):
        raise InputError(f"{path.name} marks no work order as done: fill done_date for the "
                         "completed ones")
    dupes = out["intervention_id"].duplicated(keep="last")
    return out[~dupes].reset_index(drop=True)  # the last line for an id wins (a correction)


def build_ledger(orders: pd.DataFrame, pool: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Join done orders to their candidates: type, place and planned figures.

    Actual ``quantity``/``capital_cost`` in ``orders`` replace the planned ones;
    the annual ``cost`` is rescaled with the capital cost.
    """
    known = pool.drop_duplicates("intervention_id").set_index("intervention_id")
    missing = sorted(set(orders["intervention_id"]) - set(known.index))
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise InputError(f"{len(missing)} done work order(s) are not in this analysis "
                         f"({shown}): use the analysis folder the work orders came from")
    rows = known.loc[orders["intervention_id"]]
    ledger = gpd.GeoDataFrame({"intervention_id": orders["intervention_id"].to_numpy()},
                              geometry=rows.geometry.to_numpy(), crs=pool.crs)
    for col in LEDGER_COLUMNS[1:]:
        if col == "done_date":
            ledger[col] = orders["done_date"].to_numpy()
        elif col in rows:
            ledger[col] = rows[col].to_numpy()
        else:
            ledger[col] = np.nan if col in _NUMERIC else ""
    for col in ("quantity", "capital_cost"):
        if col in orders:
            actual = orders[col].to_numpy(dtype=float)
            planned = ledger[col].to_numpy(dtype=float)
            if col == "capital_cost":
                scale = np.where(np.isfinite(actual) & (planned > 0), actual / planned, 1.0)
                ledger["cost"] = ledger["cost"].to_numpy(dtype=float) * scale
            ledger[col] = np.where(np.isfinite(actual), actual, planned)
    return _sorted(ledger)


def merge_ledgers(old: gpd.GeoDataFrame | None, new: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add ``new`` records to an existing ledger; a re-imported id replaces its old record."""
    if old is None or not len(old):
        return _sorted(new)
    keep = old[~old["intervention_id"].isin(new["intervention_id"])]
    merged = pd.concat([keep.to_crs(new.crs), new], ignore_index=True)
    return _sorted(gpd.GeoDataFrame(merged, geometry="geometry", crs=new.crs))


def read_ledger(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Read a ledger (``interventions_done.gpkg`` or ``.csv``) and check its columns."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"ledger {path} does not exist: write it with 'hotspot-env done'")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype={"intervention_id": str, "done_date": str,
                                         "district": str, "location": str},
                            keep_default_na=False, na_values={c: [""] for c in _NUMERIC})
        if "wkt" not in frame:
            raise InputError(f"{path.name} has no wkt column: pass the ledger written by "
                             "'hotspot-env done'")
        ledger = gpd.GeoDataFrame(frame.drop(columns="wkt"),
                                  geometry=shapely.from_wkt(frame["wkt"].to_numpy()),
                                  crs="EPSG:4326")
    else:
        ledger = gpd.read_file(path, engine="pyogrio")
    lacking = [c for c in ("intervention_id", "type", "done_date") if c not in ledger]
    if lacking:
        raise InputError(f"{path.name} lacks {', '.join(lacking)}: pass the ledger written by "
                         "'hotspot-env done'")
    dates = pd.to_datetime(ledger["done_date"].astype(str), format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        raise InputError(f"{path.name}: done_date must be YYYY-MM-DD in every row")
    if not len(ledger):
        raise InputError(f"{path.name} holds no completed intervention")
    return ledger


def ledger_csv(ledger: gpd.GeoDataFrame) -> str:
    """Deterministic CSV text: :data:`LEDGER_COLUMNS` + ``wkt`` (EPSG:4326, 1e-7 deg)."""
    frame = pd.DataFrame({c: ledger[c].to_numpy() for c in LEDGER_COLUMNS})
    for col in _NUMERIC:
        v = frame[col].to_numpy(dtype=float)
        frame[col] = [f"{x:.4f}" if np.isfinite(x) else "" for x in v]
    wgs = ledger.geometry.to_crs(4326).to_numpy()
    frame["wkt"] = shapely.to_wkt(shapely.set_precision(wgs, 1e-7), rounding_precision=7)
    return frame.to_csv(index=False, lineterminator="\n")


def write_ledger(ledger: gpd.GeoDataFrame, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the ledger CSV and GeoPackage atomically and version it in ``manifest.json``."""
    folder = prepare_folder(folder)
    written = {LEDGER_CSV: write_text(folder / LEDGER_CSV, ledger_csv(ledger))}
    with atomic_path(folder / LEDGER_GPKG) as tmp:
        ledger.to_file(tmp, layer="interventions_done", driver="GPKG", engine="pyogrio")
    written[LEDGER_GPKG] = folder / LEDGER_GPKG
    _version_in_manifest(folder, ledger, written)
    return written


def done_from_folder(analysis_dir: str | os.PathLike[str], orders: str | os.PathLike[str],
                     out: str | os.PathLike[str] | None = None
                     ) -> tuple[gpd.GeoDataFrame, dict[str, Path]]:
    """``hotspot-env done``: add the orders marked done to the ledger of ``analysis_dir``.

    The ledger already in ``out`` (default ``analysis_dir``) is extended, so
    crews can report work in several batches.
    """
    out = Path(out) if out is not None else Path(analysis_dir)
    pool = read_pool(analysis_dir)
    new = build_ledger(read_orders(orders), pool)
    old = read_ledger(out / LEDGER_GPKG) if (out / LEDGER_GPKG).is_file() else None
    ledger = merge_ledgers(old, new)
    return ledger, write_ledger(ledger, out)


def _sorted(ledger: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return ledger.sort_values(["done_date", "intervention_id"], kind="stable").reset_index(
        drop=True)


def _version_in_manifest(folder: Path, ledger: gpd.GeoDataFrame,
                         written: dict[str, Path]) -> None:
    from hotspot_env._hashing import file_sha256

    path = folder / "manifest.json"
    manifest: dict[str, Any] = {}
    if path.is_file():
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise InputError(f"{path} is not valid JSON: restore it before recording work done"
                             ) from None
    version = int(manifest.get("ledger", {}).get("version", 0)) + 1
    manifest["ledger"] = {
        "version": version, "n_done": int(len(ledger)),
        "files": [{"path": name, "sha256": file_sha256(p)} for name, p in sorted(written.items())],
    }
    write_text(path, json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False))
