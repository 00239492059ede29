"""The validation table read and written: summary, verdict, chart rows, report, files."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hotspot_env.models.validation.constants import BASELINES, LABELS, METHODS
from hotspot_env.models.validation.verdict import caution, verdict_sentence

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Wide view: one row per method, hit rate, PAI and PEI per area share, deviance, MSE."""
    area = table[table["metric"].isin(["hit_rate", "pai", "pei"])]
    wide = area.pivot_table(index="method", columns=["metric", "area_pct"], values="value",
                            sort=False)
    wide.columns = [f"{m}_{a:g}pct" for m, a in wide.columns]
    other = table[table["metric"].isin(["poisson_deviance", "mse"])].pivot_table(
        index="method", columns="metric", values="value", sort=False)
    out = wide.join(other)
    order = [m for m in METHODS if m in out.index] + [m for m in out.index if m not in METHODS]
    return out.loc[order]


def verdict(table: pd.DataFrame) -> str:
    """The comparison in one plain sentence (from ``attrs["meta"]``), "" when absent."""
    comp = table.attrs.get("meta", {}).get("comparison")
    return verdict_sentence(comp) if comp else ""


def chart_frame(table: pd.DataFrame, metric: str = "pei") -> pd.DataFrame:
    """Rows for a bar chart: ``method`` (plain name), ``area_pct``, ``value``, ``baseline``."""
    sub = table[table["metric"] == metric][["method", "area_pct", "value"]].copy()
    sub["baseline"] = sub["method"].isin(BASELINES)
    sub["method"] = sub["method"].map(lambda m: LABELS.get(m, m))
    return sub.reset_index(drop=True)



def report_section(analysis: Analysis) -> tuple[str, str] | None:
    """Report section: the comparison sentence and PAI/PEI per method at each area share."""
    import html

    table = analysis.validation
    if not isinstance(table, pd.DataFrame) or table.empty:
        return None
    wide = summary(table)
    cols = [c for c in wide.columns if c.startswith(("pai_", "pei_"))] + ["poisson_deviance"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["method", *cols])
    body = "".join(
        "<tr><td>" + html.escape(LABELS.get(m, m)) + "</td>"
        + "".join(f"<td>{row[c]:.3f}</td>" if c != "poisson_deviance" else f"<td>{row[c]:,.1f}</td>"
                  for c in cols) + "</tr>" for m, row in wide.iterrows())
    meta = table.attrs.get("meta", {})
    intro = (f"<p>Fitted on {meta.get('n_train', 0):,} incidents before {meta.get('split_date')}, "
             f"scored on the {meta.get('n_test', 0):,} after it. "
             f"{html.escape(verdict(table))}</p>")
    warning = caution(meta.get("comparison"))
    if warning:  # the guide's bar, not met: said before the numbers, not after
        intro = f"<p><strong>{html.escape(warning)}</strong></p>" + intro
    return "Validation: does the ranking beat counting?", (
        intro + f"<table><tr>{head}</tr>{body}</table>")


def write_validation(table: pd.DataFrame, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``validation.csv`` (the tidy table) and ``validation.json`` (meta + table)."""
    from hotspot_env._atomic import prepare_folder, write_text

    folder = prepare_folder(folder)
    csv = write_text(folder / "validation.csv", table.to_csv(index=False, lineterminator="\n"))
    doc = json_safe({"meta": table.attrs.get("meta", {}),
                  "results": table.to_dict(orient="records")})
    js = write_text(folder / "validation.json", json.dumps(doc, indent=2) + "\n")
    return {"validation.csv": csv, "validation.json": js}


def write_stage_validation(analysis: Analysis, folder: Path) -> dict[str, Path]:
    """Export writer: ``validation.csv`` when the validation stage ran (else nothing)."""
    from hotspot_env._atomic import write_text

    table = analysis.validation
    if not isinstance(table, pd.DataFrame) or table.empty:
        return {}
    path = write_text(Path(folder) / "validation.csv",
                      table.to_csv(index=False, lineterminator="\n"))
    return {"validation.csv": path}


def json_safe(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, unknown objects to str."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
