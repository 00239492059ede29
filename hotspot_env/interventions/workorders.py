"""Output files: the ranked table (CSV, GeoPackage, GeoJSON), equity, work orders.

``interventions.csv`` / ``interventions.gpkg``
    One row per candidate, sorted by rank then ``intervention_id``; columns
    :data:`OUTPUT_COLUMNS`. ``cost`` is annualised (USD per year: capital /
    lifetime + maintenance), ``capital_cost`` the one-off spend (USD),
    ``cost_basis`` what the cost rests on (published study, city tender or
    placeholder) and ``cost_year`` its price year, ``prevented_*`` expected
    prevented incidents per year (blank for "effect unknown" options: mean, 10th and
    90th percentile of the Monte Carlo draws, and the value at the rate ratios'
    point estimates), ``prevented_per_cost`` and ``score`` (weighted) per USD
    1,000 per year. ``selected`` is the optimiser's portfolio (the greedy one
    when no optimiser ran), ``selected_greedy`` the fast re-rank's.
``interventions.geojson``
    The same rows in EPSG:4326 (RFC 7946), coordinates rounded to 1e-7 deg.
``equity.csv``
    Share of harm vs share of investment per district (:mod:`.equity`).
``workorders.html``
    A printable sheet: a page per district with a static map (OSM streets and
    the interventions, never incidents) and a table with checkboxes for crews.

CSV and GeoJSON are byte-identical for the same inputs and seed: rows sorted,
floats formatted with fixed precision, ``\\n`` line ends.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env._atomic import atomic_path, prepare_folder, write_text
from hotspot_env.interventions.equity import rule_text
from hotspot_env.interventions.result import InterventionsResult, Ranking
from hotspot_env.outputs.labels import type_label, weights_text
from hotspot_env.outputs.privacy import Kind, publish_table

OUTPUT_COLUMNS: tuple[str, ...] = (
    "intervention_id", "type", "location", "quantity", "unit", "cost", "capital_cost",
    "cost_basis", "cost_year", "prevented_mean", "prevented_lo", "prevented_hi",
    "prevented_point", "prevented_per_cost", "score", "selected", "selected_greedy", "rank",
    "district", "evidence", "verified", "source", "note", "reason",
)

#: Fixed decimal places per float column.
DECIMALS: dict[str, int] = {
    "quantity": 2, "cost": 2, "capital_cost": 2, "prevented_mean": 4, "prevented_lo": 4,
    "prevented_hi": 4, "prevented_point": 4, "prevented_per_cost": 6, "score": 6,
}

#: Colours of intervention types on the work-order maps.
TYPE_COLOURS: dict[str, str] = {
    "streetlight_upgrade": "#f2b701", "new_streetlight": "#e68310",
    "vacant_lot_greening": "#3c9d3c",
    "vacant_lot_cleanup": "#8fbc5a", "abandoned_building_remediation": "#8c564b",
    "sightline_clearing": "#17becf", "youth_space": "#9467bd", "alley_gating": "#d62728",
    "busy_streets_maintenance": "#2ca02c",
}

#: Table columns a work-order row shows.
_SHEET_COLUMNS: tuple[str, ...] = (
    "intervention_id", "type", "location", "quantity", "unit", "capital_cost", "cost",
    "cost_basis", "prevented_mean", "prevented_lo", "prevented_hi", "note", "reason", "evidence",
)

#: Rows shown for review when no budget was given.
REVIEW_ROWS: int = 25

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#111;font-size:11pt}
h1{font-size:1.4rem;margin:0 0 .5rem} h2{font-size:1.15rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;width:100%;font-size:9pt}
th,td{border:1px solid #888;padding:.2rem .35rem;vertical-align:top;text-align:left}
th{background:#eee} td.num{text-align:right;white-space:nowrap}
td.box{text-align:center;font-size:14pt} .reason{color:#444;font-size:8pt}
.note{font-style:italic} .sim{background:#fff3cd;border:1px solid #e0c060;padding:.4rem .8rem}
.meta{font-size:9pt;color:#333} .flag{color:#a00} img{max-width:100%;border:1px solid #ccc}
.sign{min-width:7rem} section.district{margin-top:1.2rem} .headline{font-size:12pt}
@media print{
  body{margin:0;font-size:10pt} .noprint{display:none}
  section.district{break-before:page;page-break-before:always}
  tr,img{break-inside:avoid;page-break-inside:avoid}
  thead{display:table-header-group}
  @page{size:A4 landscape;margin:12mm}
}
"""


def _count(n: int, noun: str) -> str:
    """``1 intervention``, ``2 interventions``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


# ===================================================================== tables
#: Privacy kinds of the published columns. Prevented counts and scores come
#: from the baseline, which public mode builds on the protected forecast.
OUTPUT_KINDS: dict[str, Kind] = {
    "intervention_id": Kind.IDENTIFIER, "type": Kind.LABEL, "location": Kind.IDENTIFIER,
    "quantity": Kind.FACTOR, "unit": Kind.LABEL, "cost": Kind.FACTOR,
    "capital_cost": Kind.FACTOR, "cost_basis": Kind.LABEL, "cost_year": Kind.LABEL,
    "prevented_mean": Kind.PROTECTED_DERIVED,
    "prevented_lo": Kind.PROTECTED_DERIVED, "prevented_hi": Kind.PROTECTED_DERIVED,
    "prevented_point": Kind.PROTECTED_DERIVED, "prevented_per_cost": Kind.PROTECTED_DERIVED,
    "score": Kind.PROTECTED_DERIVED, "selected": Kind.LABEL, "selected_greedy": Kind.LABEL,
    "rank": Kind.LABEL, "district": Kind.IDENTIFIER, "evidence": Kind.LABEL,
    "verified": Kind.LABEL, "source": Kind.LABEL, "note": Kind.LABEL, "reason": Kind.LABEL,
}

#: Privacy kinds of ``equity.csv``: harm comes from the same baseline.
EQUITY_KINDS: dict[str, Kind] = {
    "district": Kind.IDENTIFIER, "harm_per_year": Kind.PROTECTED_DERIVED,
    "harm_share": Kind.PROTECTED_DERIVED, "investment": Kind.FACTOR,
    "investment_share": Kind.FACTOR, "n_selected": Kind.LABEL, "flagged": Kind.LABEL,
}


def published_rows(table: gpd.GeoDataFrame, crs: Any,
                   privacy: str = "internal") -> gpd.GeoDataFrame:
    """Reduce an engine table (``InterventionsResult.table``) to :data:`OUTPUT_COLUMNS`.

    The rows pass the privacy gate (:func:`hotspot_env.outputs.privacy.publish_table`):
    every column declared in :data:`OUTPUT_KINDS`, every text neutralised.
    """
    table = table.copy()
    for col in OUTPUT_COLUMNS:
        if col not in table:
            table[col] = ""
    frame = table[list(OUTPUT_COLUMNS)].copy()
    for col in ("location", "unit", "district", "evidence", "verified", "source", "note",
                "reason", "type", "intervention_id", "cost_basis", "cost_year"):
        frame[col] = frame[col].fillna("").astype(str)
    frame["rank"] = frame["rank"].astype(np.int64)
    frame["selected"] = frame["selected"].astype(bool)
    frame["selected_greedy"] = frame["selected_greedy"].astype(bool)
    frame = publish_table(frame, OUTPUT_KINDS, privacy)
    return gpd.GeoDataFrame(frame, geometry=table.geometry.to_numpy(), crs=crs)


def csv_text(frame: pd.DataFrame) -> str:
    """Deterministic CSV text of an output table (fixed decimals, ``\\n``).

    Written with the :mod:`csv` module directly: the same dialect as
    ``DataFrame.to_csv`` (minimal quoting, ``"`` doubled), without building a
    frame of strings first.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(OUTPUT_COLUMNS)
    writer.writerows(zip(*(_fmt_column(frame[c], c) for c in OUTPUT_COLUMNS), strict=True))
    return buffer.getvalue()


def geojson_text(frame: gpd.GeoDataFrame) -> str:
    """Deterministic GeoJSON (EPSG:4326, coordinates rounded to 1e-7 deg)."""
    wgs = frame.to_crs(4326) if len(frame) else frame.set_crs(4326, allow_override=True)
    geoms = shapely.transform(wgs.geometry.to_numpy(), lambda c: np.round(c, 7))
    # column by column (vectorised checks) rather than a dict per row through to_dict
    columns = [_json_column(frame[c], c) for c in OUTPUT_COLUMNS]
    shapes = shapely.to_geojson(geoms) if len(geoms) else []
    features = [{"type": "Feature", "properties": dict(zip(OUTPUT_COLUMNS, values, strict=True)),
                 "geometry": json.loads(shape)}
                for values, shape in zip(zip(*columns, strict=True), shapes, strict=True)]
    doc = {"type": "FeatureCollection", "name": "interventions", "features": features}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def equity_csv(frame: pd.DataFrame) -> str:
    """Deterministic CSV of the equity table."""
    out = frame.copy()
    for col, d in (("harm_per_year", 4), ("harm_share", 4), ("investment", 2),
                   ("investment_share", 4)):
        out[col] = [f"{v:.{d}f}" for v in out[col].to_numpy(dtype=float)]
    out["flagged"] = np.where(out["flagged"].to_numpy(dtype=bool), "true", "false")
    return out.to_csv(index=False, lineterminator="\n")


def _fmt_column(values: pd.Series, col: str) -> list[str]:
    if col in DECIMALS:
        spec = f".{DECIMALS[col]}f"
        v = values.to_numpy(dtype=float)
        return [format(x, spec) if ok else ""
                for x, ok in zip(v.tolist(), np.isfinite(v).tolist(), strict=True)]
    if col in ("selected", "selected_greedy"):
        return ["true" if v else "false" for v in values.to_numpy(dtype=bool)]
    if col == "rank":
        return [str(int(v)) for v in values]
    return values.fillna("").astype(str).tolist()


def _json_column(values: pd.Series, col: str) -> list[Any]:
    """JSON-ready values of one output column (what :func:`_json_value` gives per value)."""
    if col in DECIMALS:
        v = values.to_numpy(dtype=float)
        return [round(x, DECIMALS[col]) if ok else None
                for x, ok in zip(v.tolist(), np.isfinite(v).tolist(), strict=True)]
    if values.dtype.kind in "biu" or (values.dtype.kind != "O"
                                      and pd.api.types.is_string_dtype(values.dtype)):
        return values.tolist()  # already Python bools, ints or strings
    return [_json_value(v, col) for v in values.tolist()]


def _json_value(value: Any, col: str) -> Any:
    if col in DECIMALS:
        v = float(value)
        return round(v, DECIMALS[col]) if np.isfinite(v) else None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


# ================================================================ work orders
class DistrictMaps:
    """Draws district maps over one basemap, reusing one figure and one street index.

    A new matplotlib figure, a street filter over the whole basemap and a new
    spatial index per district cost more than drawing the district itself;
    here they are made once. Each district's artists are removed after its
    PNG is written, so maps never show each other's interventions. The
    interventions are drawn as one collection per kind (lines, areas, points)
    instead of one artist per geometry.

    Parameters
    ----------
    basemap : GeoDataFrame or None
        Streets (``layer == "street"``) to draw underneath.
    width_in : float
        Width of the map (inches, at 90 dpi).
    """

    def __init__(self, basemap: gpd.GeoDataFrame | None, width_in: float = 7.0) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        streets = np.zeros(0, dtype=object)
        if basemap is not None and len(basemap):
            streets = basemap.geometry.to_numpy()[(basemap["layer"] == "street").to_numpy()]
        self._streets = streets
        self._tree = shapely.STRtree(streets) if len(streets) else None
        # pyplot-free figure: no global figure registry to create and close per map
        self.figure = Figure(figsize=(width_in, width_in * 0.69), dpi=90)
        FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99)
        self.ax = self.figure.add_subplot()
        self.ax.set_aspect("equal")
        self.ax.set_xticks([])
        self.ax.set_yticks([])
        self.ax.text(0.99, 0.01, "Streets © OpenStreetMap contributors",
                     transform=self.ax.transAxes, ha="right", va="bottom", fontsize=6,
                     color="#555")

    def png(self, frame: gpd.GeoDataFrame, labels: list[str]) -> bytes:
        """PNG bytes of a map of ``frame`` (``type``, geometry) labelled with ``labels``."""
        import matplotlib.patheffects as pe
        from matplotlib.collections import LineCollection, PolyCollection
        from matplotlib.lines import Line2D

        ax = self.ax
        geoms = frame.geometry.to_numpy()
        types = frame["type"].to_numpy(dtype=str)
        minx, miny, maxx, maxy = shapely.total_bounds(geoms)
        pad = max(120.0, 0.1 * max(maxx - minx, maxy - miny))
        minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
        side = max(maxx - minx, maxy - miny, 400.0)
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        minx, maxx = cx - side * 0.65, cx + side * 0.65
        miny, maxy = cy - side * 0.45, cy + side * 0.45
        artists: list[Any] = []
        if self._tree is not None:
            idx = np.sort(self._tree.query(shapely.box(minx, miny, maxx, maxy)))
            lines = _line_coords(self._streets[idx])
            if lines:
                artists.append(ax.add_collection(LineCollection(
                    lines, colors="#9a9a9a", linewidths=0.6, zorder=1)))
        parts, owner = shapely.get_parts(geoms, return_index=True)
        kind = shapely.get_type_id(parts)
        colour = np.array([TYPE_COLOURS.get(t, "#333333") for t in types], dtype=object)
        is_line = np.isin(kind, (1, 2))
        if is_line.any():
            artists.append(ax.add_collection(LineCollection(
                _line_coords(parts[is_line]), colors=list(colour[owner[is_line]]),
                linewidths=3.0, capstyle="projecting", zorder=3)))
        is_area = kind == 3
        if is_area.any():
            rings = [shapely.get_coordinates(shapely.get_exterior_ring(p)) for p in parts[is_area]]
            artists.append(ax.add_collection(PolyCollection(
                rings, facecolors=list(colour[owner[is_area]]), edgecolors="#222", alpha=0.6,
                linewidths=0.8, zorder=2)))
        is_point = ~is_line & ~is_area
        if is_point.any():
            artists.append(ax.scatter(shapely.get_x(parts[is_point]),
                                      shapely.get_y(parts[is_point]), s=28,
                                      c=list(colour[owner[is_point]]), edgecolors="#222",
                                      linewidths=0.5, zorder=4))
        halo = [pe.withStroke(linewidth=2.5, foreground="white")]
        anchor = shapely.point_on_surface(geoms)
        for x, y, label in zip(shapely.get_x(anchor), shapely.get_y(anchor), labels,
                               strict=True):
            artists.append(ax.annotate(label, (x, y), fontsize=8, fontweight="bold", zorder=5,
                                       xytext=(3, 3), textcoords="offset points",
                                       path_effects=halo))
        present = list(dict.fromkeys(types))
        if present:
            artists.append(ax.legend(handles=[
                Line2D([0], [0], color=TYPE_COLOURS.get(t, "#333"), lw=4,
                       label=type_label(t)) for t in present],
                loc="lower left", fontsize=7, framealpha=0.9))
        bar = _nice_bar(side)
        bx, by = maxx - side * 0.08 - bar, miny + side * 0.05
        artists += ax.plot([bx, bx + bar], [by, by], color="black", lw=2)
        artists.append(ax.text(bx + bar / 2, by + side * 0.015, f"{bar:g} m", ha="center",
                               fontsize=7))
        ax.set_xlim(minx, maxx)
        ax.set_ylim(miny, maxy)
        buffer = io.BytesIO()
        try:
            # zlib level 1: a third of the encoding time for a slightly larger PNG
            self.figure.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
        finally:
            for artist in artists:
                artist.remove()
        return buffer.getvalue()


def _line_coords(lines: np.ndarray) -> list[np.ndarray]:
    """Vertex arrays of the (multi)lines among ``lines``, one per part."""
    parts = shapely.get_parts(lines)
    parts = parts[np.isin(shapely.get_type_id(parts), (1, 2))]
    coords, which = shapely.get_coordinates(parts, return_index=True)
    if not len(coords):
        return []
    return np.split(coords, np.flatnonzero(np.diff(which)) + 1)


def _nice_bar(side: float) -> float:
    target = side / 5
    for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if step >= target:
            return float(step)
    return 10000.0


def workorders_html(
    result: InterventionsResult, ranking: Ranking | None = None, *, maps: bool = True,
    table: gpd.GeoDataFrame | None = None, equity: pd.DataFrame | None = None,
) -> str:
    """The printable work-order sheet (HTML string, every text escaped).

    ``table`` and ``equity`` (``result.table(ranking)``, ``result.equity(ranking)``)
    are computed when not given.
    """
    ranking = ranking or result.ranking or result.rerank()
    table = result.table(ranking) if table is None else table
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             "<title>Work orders: environmental crime prevention</title>",
             f"<style>{_STYLE}</style></head><body>",
             "<h1>Work orders: environmental crime prevention</h1>"]
    if result.parameters.get("simulated"):
        parts.append("<p class='sim'>Simulated incidents: this sheet comes from a demo with "
                     "simulated incidents, not real records.</p>")
    chosen = table[table["selected"].to_numpy(dtype=bool)]
    review = False
    if not len(chosen) and ranking.budget is None and len(table):
        chosen = table.head(REVIEW_ROWS)
        review = True
    parts += _summary_html(result, ranking, table,
                           result.equity(ranking) if equity is None else equity)
    if review:
        parts.append(f"<p class='sim'>No budget was given: these are the {len(chosen)} "
                     "best-ranked candidates for review, not a selection.</p>")
    elif not len(chosen):
        parts.append("<p class='sim'>Nothing is selected, so there are no work orders.</p>")
        parts.append("</body></html>")
        return "".join(parts)
    mapper = DistrictMaps(result.basemap) if maps else None
    # the row texts once, for the columns the sheet shows (to_dict per district on the
    # whole table cost more than the maps)
    records = chosen[list(_SHEET_COLUMNS)].to_dict("records")
    districts = chosen["district"].astype(str).to_numpy()
    for district in sorted(set(districts)):
        at = np.flatnonzero(districts == district)
        parts += _district_html(district, chosen.iloc[at], [records[i] for i in at], mapper)
    parts.append("</body></html>")
    return "".join(parts)


def _summary_html(result: InterventionsResult, ranking: Ranking, table: gpd.GeoDataFrame,
                  eq: pd.DataFrame) -> list[str]:
    """The sheet's head: budget, the headline effect, warnings, priorities, equity flags."""
    esc = html.escape
    effect = result.model.portfolio_prevented(ranking.selected)
    budget_txt = (f"{ranking.budget:,.0f} USD per year" if ranking.budget is not None
                  else "none given")
    sel_cost = table.loc[table["selected"], "cost"].sum()
    sel_capital = table.loc[table["selected"], "capital_cost"].sum()
    parts = [
        f"<p class='meta'>Budget: {esc(budget_txt)}. {esc(ranking.message)}. Selected: "
        f"{_count(int(ranking.selected.sum()), 'intervention')}, {sel_cost:,.0f} "
        f"USD per year ({sel_capital:,.0f} USD capital).</p>"
        f"<p class='headline'><strong>{esc(headline_text(effect))}</strong></p>"
        f"<p class='meta'>{esc(secondary_text(effect))}. Costs are annualised: capital spread "
        "over its lifetime plus yearly maintenance. Places, never people: every measure changes "
        "a place, none watches anyone.</p>"]
    for warning in result.cost_warnings(ranking):
        parts.append(f"<p class='meta flag'>Warning: {esc(warning)}.</p>")
    weights = weights_text({**ranking.weights.categories, **ranking.weights.types})
    if weights:  # in the words of the app's sliders, not the engine's keys
        parts.append(f"<p class='meta'>Priorities: {esc(weights)}.</p>")
    flagged = eq[eq["flagged"]]
    if len(flagged) and ranking.selected.any():
        items = ", ".join(f"{esc(str(r.district))} (harm {r.harm_share:.0%}, investment "
                          f"{r.investment_share:.0%})" for r in flagged.itertuples())
        parts.append(f"<p class='meta flag'>Equity check ({esc(rule_text())}): {items}.</p>")
    return parts


def _district_html(district: str, rows: gpd.GeoDataFrame, records: list[dict[str, Any]],
                   mapper: DistrictMaps | None) -> list[str]:
    """One district's section: its totals, its map and one numbered row per work order."""
    esc = html.escape
    labels = [str(i) for i in range(1, len(rows) + 1)]
    parts = ["<section class='district'>", f"<h2>District {esc(district)}</h2>",
             f"<p class='meta'>{_count(len(rows), 'intervention')}; capital "
             f"{rows['capital_cost'].sum():,.0f} USD; {rows['cost'].sum():,.0f} USD per "
             "year annualised.</p>"]
    if mapper is not None:
        png = base64.b64encode(mapper.png(rows, labels)).decode("ascii")
        parts.append(f"<img alt='map of district {esc(district)}' "
                     f"src='data:image/png;base64,{png}'>")
    parts.append(
        "<table><thead><tr><th>Done</th><th>#</th><th>ID</th><th>Type</th><th>Location</th>"
        "<th>Quantity</th><th>Capital (USD)</th><th>USD/year</th>"
        "<th>Prevented/year (80 %)</th><th>Notes</th><th class='sign'>Date, crew</th>"
        "</tr></thead><tbody>")
    for label, rec in zip(labels, records, strict=True):
        note = str(rec.get("note") or "")
        note_html = f"<div class='note'>Note: {esc(note)}</div>" if note else ""
        parts.append(
            "<tr><td class='box' aria-label='done'>&#9744;</td>"  # one box, to tick on paper
            f"<td>{esc(label)}</td><td><code>{esc(str(rec['intervention_id']))}</code></td>"
            f"<td>{esc(type_label(rec['type']))}</td>"
            f"<td>{esc(str(rec['location']))}</td>"
            f"<td class='num'>{rec['quantity']:g} {esc(str(rec['unit']))}</td>"
            f"<td class='num'>{rec['capital_cost']:,.0f}</td>"
            f"<td class='num'>{rec['cost']:,.0f}<div class='reason'>"
            f"{esc(str(rec['cost_basis']))}</div></td>"
            f"<td class='num'>{_prevented_cell(rec)}</td>"
            f"<td>{note_html}<div class='reason'>{esc(str(rec['reason']))}</div>"
            f"<div class='reason'>Evidence: {esc(str(rec['evidence']))}</div></td>"
            "<td></td></tr>")
    parts.append("</tbody></table></section>")
    return parts


def headline_text(effect: Any) -> str:
    """The one headline number: joint effect with overlaps combined, with its 80 % interval.

    The same words on the work orders, in the report, the CLI and the app.
    """
    return (f"Expected prevented incidents per year (joint effect, overlaps combined): "
            f"{effect.mean:.1f} (80 % interval {effect.lo:.1f} to {effect.hi:.1f})")


def secondary_text(effect: Any) -> str:
    """The sum over sites, labelled as the secondary figure it is."""
    return (f"Sum over sites, overlapping sites counted twice (not the estimate): "
            f"{effect.additive:.1f}")


def _prevented_cell(rec: dict[str, Any]) -> str:
    mean = float(rec["prevented_mean"])
    if not np.isfinite(mean):
        return "effect unknown"
    return f"{mean:.2f} ({float(rec['prevented_lo']):.2f}-{float(rec['prevented_hi']):.2f})"


# ==================================================================== writers
def write_intervention_files(
    result: InterventionsResult, folder: str | os.PathLike[str], ranking: Ranking | None = None
) -> dict[str, Path]:
    """Write the CSV, GeoPackage, GeoJSON, equity CSV and work-order sheet atomically."""
    folder = prepare_folder(folder)
    ranking = ranking or result.ranking or result.rerank()
    table = result.table(ranking)
    equity = result.equity(ranking)
    privacy = result.parameters.get("privacy", "internal")
    frame = published_rows(table, result.grid.crs, privacy)
    equity = publish_table(equity, EQUITY_KINDS, privacy)
    written = {"interventions.csv": write_text(folder / "interventions.csv", csv_text(frame)),
               "interventions.geojson": write_text(folder / "interventions.geojson",
                                                   geojson_text(frame))}
    with atomic_path(folder / "interventions.gpkg") as tmp:
        # the Arrow path of pyogrio writes the same layer in half the time
        frame.to_file(tmp, layer="interventions", driver="GPKG", engine="pyogrio",
                      use_arrow=True)
    written["interventions.gpkg"] = folder / "interventions.gpkg"
    written["equity.csv"] = write_text(folder / "equity.csv", equity_csv(equity))
    written["workorders.html"] = write_text(folder / "workorders.html",
                                            workorders_html(result, ranking, table=table,
                                                            equity=equity))
    return written
