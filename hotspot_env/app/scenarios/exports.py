"""Downloads of a portfolio: CSV, GeoJSON, GeoPackage and printable work orders."""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

import geopandas as gpd
import numpy as np

from hotspot_env.app.redress import spreadsheet_safe
from hotspot_env.app.scenarios.portfolio import Portfolio, portfolio_csv, portfolio_geojson
from hotspot_env.app.scenarios.proposals import type_label


def export_files(portfolio: Portfolio, *, simulated: bool = False) -> dict[str, bytes]:
    """The quick downloads of a portfolio: ``csv``, ``geojson`` and ``gpkg`` bytes.

    Uses the engine's writers (:mod:`hotspot_env.interventions.workorders`:
    deterministic columns, every candidate) when the portfolio came from the
    engine, else the generic ones of this module. CSV text is made
    spreadsheet-safe. ``gpkg`` is absent when no site has a location. The
    printable sheet is :func:`work_orders_html` (slower: it draws maps).
    """
    out: dict[str, bytes] = {}
    frame = _output_frame(portfolio)
    if frame is not None:
        from hotspot_env.interventions import workorders

        safe = frame.copy()
        for col in safe.columns:
            if col != safe.geometry.name and safe[col].dtype == object:
                safe[col] = safe[col].map(spreadsheet_safe)
        out["csv"] = workorders.csv_text(safe).encode("utf-8")
        out["geojson"] = workorders.geojson_text(frame).encode("utf-8")
        if len(frame):
            out["gpkg"] = _gpkg_bytes(frame)
        return out
    out["csv"] = portfolio_csv(portfolio)
    out["geojson"] = portfolio_geojson(portfolio).encode("utf-8")
    sites = portfolio.sites()
    if sites is not None and len(sites):
        out["gpkg"] = _gpkg_bytes(sites)
    return out


def work_orders_html(portfolio: Portfolio, *, simulated: bool = False,
                     maps: bool = True) -> bytes:
    """The printable work-order sheet: the engine's (with district maps) when available."""
    if portfolio.result is not None and portfolio.ranking is not None:
        from hotspot_env.interventions import workorders

        return workorders.workorders_html(portfolio.result, portfolio.ranking,
                                          maps=maps).encode("utf-8")
    return work_order_sheet(portfolio, simulated=simulated).encode("utf-8")


def _output_frame(portfolio: Portfolio) -> gpd.GeoDataFrame | None:
    """The engine's published rows (``workorders.OUTPUT_COLUMNS``) from the fast table."""
    table = portfolio.engine_table
    if table is None or portfolio.result is None:
        return None
    from hotspot_env.interventions.workorders import published_rows

    return published_rows(table, portfolio.result.grid.crs,
                          portfolio.result.parameters.get("privacy", "internal"))


def _gpkg_bytes(frame: gpd.GeoDataFrame) -> bytes:
    import tempfile
    from pathlib import Path

    frame = frame.copy()
    for column in frame.columns:
        if column != frame.geometry.name and frame[column].dtype == object:
            frame[column] = frame[column].astype(str)
    with tempfile.TemporaryDirectory(prefix="hotspot_env_gpkg_") as tmp:
        path = Path(tmp) / "interventions.gpkg"
        frame.to_file(path, layer="interventions", driver="GPKG", engine="pyogrio")
        return path.read_bytes()


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float | np.floating):
        return f"{value:,.{digits}f}"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return str(value)


def work_order_sheet(portfolio: Portfolio, *, title: str = "Work orders",
                     simulated: bool = False, currency: str = "USD") -> str:
    """A printable HTML sheet: one block per chosen site, for crews.

    Every value is HTML-escaped; the page loads nothing from anywhere.

    Parameters
    ----------
    portfolio : Portfolio
    title : str
    simulated : bool
        Print a "simulated incidents" warning on the sheet.
    currency : str
    """
    chosen = portfolio.chosen
    today = dt.date.today().isoformat()
    esc = html.escape
    blocks = []
    for _, row in chosen.iterrows():
        where = row.get("street")
        lat, lon = row.get("lat"), row.get("lon")
        coords = (f"{lat:.5f}, {lon:.5f}" if isinstance(lat, float) and isinstance(lon, float)
                  and math.isfinite(lat) and math.isfinite(lon) else "–")
        interval = ""
        if "prevented_low" in row and "prevented_high" in row:
            interval = f" ({_fmt(row.get('prevented_low'))}–{_fmt(row.get('prevented_high'))})"
        blocks.append(
            '<section class="wo">'
            f"<h2>#{esc(_fmt(row.get('rank')))} · {esc(type_label(str(row.get('type', '–'))))}"
            f"</h2><table>"
            f"<tr><th>Site ID</th><td>{esc(_fmt(row.get('site_id')))}</td></tr>"
            f"<tr><th>Where</th><td>{esc(_fmt(where))} · {esc(coords)}</td></tr>"
            f"<tr><th>Cell</th><td>{esc(_fmt(row.get('cell_id')))}</td></tr>"
            f"<tr><th>Budgeted cost</th><td>{esc(_fmt(row.get('cost'), 0))} {esc(currency)}"
            "</td></tr>"
            f"<tr><th>Expected prevented incidents</th><td>{esc(_fmt(row.get('prevented'), 2))}"
            f"{esc(interval)}</td></tr>"
            + (f"<tr><th>Residents' note</th><td>{esc(str(row.get('note')))}</td></tr>"
               if isinstance(row.get("note"), str) and row.get("note") else "")
            + "<tr><th>Done (date, initials)</th><td class=blank></td></tr>"
            "<tr><th>Crew notes</th><td class=blank></td></tr></table></section>")
    warning = ('<p class="sim">Made from <strong>simulated incidents</strong> (demo): not for '
               "real work.</p>") if simulated else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #111; }}
h1 {{ font-size: 22px; margin: 0 0 .2em; }}
.sim {{ background: #fff3cd; border: 1px solid #d39e00; padding: .5em .8em; }}
.wo {{ border: 1px solid #999; padding: .6em 1em; margin: 1em 0; page-break-inside: avoid; }}
.wo h2 {{ font-size: 17px; margin: .2em 0 .5em; }}
th {{ text-align: left; padding-right: 1.5em; vertical-align: top; width: 16em; }}
td.blank {{ border-bottom: 1px solid #555; height: 2.2em; min-width: 20em; }}
@media print {{ body {{ margin: 1cm; }} }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>{esc(today)} · {len(chosen):,} sites · budget {esc(_fmt(portfolio.budget, 0))}
{esc(currency)} · cost {esc(_fmt(portfolio.total_cost, 0))} {esc(currency)}</p>
{warning}
{''.join(blocks) or '<p>No site fits the budget.</p>'}
<p>Places, never people: sites are places; no incident is listed.</p>
</body></html>
"""
