"""A short, self-contained HTML report of one analysis.

The report embeds its figures as base64 PNGs so it opens offline, escapes
every user-provided string, and shows only cell-level aggregates.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hotspot_env._atomic import write_text
from hotspot_env.outputs.privacy import (
    Kind,
    privacy_metadata,
    public_choice,
    public_totals,
    publish,
    publish_array,
)

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9rem} td,th{border:1px solid #ccc;padding:.25rem .5rem}
.sim{background:#fff3cd;border:1px solid #e0c060;padding:.5rem 1rem;font-weight:600}
img{max-width:100%} @media print{.noprint{display:none}}
"""


def nice_length(span_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^k m) about a fifth of ``span_m``."""
    target = max(float(span_m) / 5.0, 1.0)
    power = 10.0 ** math.floor(math.log10(target))
    return max(step * power for step in (1.0, 2.0, 5.0) if step * power <= target)


def density_png(analysis: Analysis, width_in: float = 7.0) -> bytes:
    """The map of :func:`density_figure` as PNG bytes."""
    import matplotlib.pyplot as plt

    fig = density_figure(analysis, width_in)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def density_figure(analysis: Analysis, width_in: float = 7.0) -> Any:
    """The KDE surface of ``analysis`` on its OSM basemap (no incident points).

    Streets and buildings (the analysis's OpenStreetMap layers, when it has
    them) lie under the surface; a scale bar and a north arrow replace the
    projected-coordinate axes, which mean nothing to a reader.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    grid = analysis.grid
    values = np.where(grid.mask, publish_array(analysis, "kde"), np.nan)
    minx, miny, maxx, maxy = grid.bounds
    height = width_in * (maxy - miny) / max(maxx - minx, 1)
    fig, ax = plt.subplots(figsize=(width_in, max(2.5, min(height, 9))), dpi=110)
    ax.set_facecolor("#f4f3ef")
    has_basemap = _draw_basemap(ax, analysis)
    image = ax.imshow(values, extent=(minx, maxx, miny, maxy), cmap="magma_r", origin="upper",
                      alpha=0.62 if has_basemap else 1.0, zorder=2)
    hot = np.where(grid.mask & (publish_array(analysis, "gi_bin") >= 2), 1.0, np.nan)
    ax.contour(np.nan_to_num(hot), levels=[0.5], colors="#1f77b4", linewidths=1.2,
               extent=(minx, maxx, miny, maxy), origin="upper", zorder=3)
    fig.colorbar(image, ax=ax, label=analysis.parameters.get("kde_units", "density"), shrink=0.8)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    bar = nice_length(maxx - minx)
    ax.add_artist(AnchoredSizeBar(ax.transData, bar, f"{bar:,.0f} m", "lower left",
                                  pad=0.5, borderpad=0.6, sep=4, frameon=True, size_vertical=0,
                                  fontproperties={"size": 8}))
    # Grid north of the projected CRS (within a degree or two of true north in UTM).
    ax.annotate("N", xy=(0.95, 0.96), xytext=(0.95, 0.84), xycoords="axes fraction",
                ha="center", va="center", fontsize=11, fontweight="bold", zorder=5,
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5})
    if has_basemap:
        ax.text(0.99, 0.01, "Streets and buildings © OpenStreetMap contributors (ODbL)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=6.5, color="#333",
                zorder=5, bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1.5})
    ax.set_title("Incident density (blue outline: Gi* hot spots, 95 %+)")
    return fig


def _draw_basemap(ax: Any, analysis: Analysis) -> bool:
    """Buildings and streets of the analysis under the surface; False when it has none."""
    import shapely
    from matplotlib.collections import LineCollection, PolyCollection

    crs = analysis.grid.crs
    drawn = False
    buildings = analysis.map_layers.get("buildings")
    if buildings is not None and len(buildings):
        polys = shapely.get_parts(buildings.to_crs(crs).geometry.to_numpy())
        polys = polys[shapely.get_type_id(polys) == 3]
        rings = [shapely.get_coordinates(shapely.get_exterior_ring(p)) for p in polys]
        ax.add_collection(PolyCollection(rings, facecolors="#d9d6cf", edgecolors="none",
                                         zorder=1))
        drawn = True
    streets = analysis.map_layers.get("streets")
    if streets is not None and len(streets):
        lines = shapely.get_parts(streets.to_crs(crs).geometry.to_numpy())
        lines = lines[np.isin(shapely.get_type_id(lines), (1, 2))]
        coords, which = shapely.get_coordinates(lines, return_index=True)
        if len(coords):
            parts = np.split(coords, np.flatnonzero(np.diff(which)) + 1)
            ax.add_collection(LineCollection(parts, colors="#8a8a8a", linewidths=0.6,
                                             zorder=1.5))
            drawn = True
    return drawn


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float | np.floating) else str(value)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values())
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def report_html(analysis: Analysis, sections: list[tuple[str, str]] | None = None) -> str:
    """Build the report as an HTML string.

    Parameters
    ----------
    analysis : Analysis
        The finished analysis.
    sections : list of (title, html), optional
        Extra sections from later stages (already escaped HTML).
    """
    params = analysis.parameters
    privacy = params.get("privacy", "internal")
    simulated = bool(params.get("simulated"))
    png = base64.b64encode(density_png(analysis)).decode("ascii")
    cells = publish(analysis, analysis.cells(["incidents", "gi_z", "gi_bin"]),
                    {"cell_id": Kind.IDENTIFIER})
    # ranked by the published z (the protected one in public mode), never the true one
    order = np.argsort(-analysis.arrays["gi_z"][analysis.grid.mask], kind="stable")
    top = cells.iloc[order[:10]]
    top_rows = [{"cell_id": int(r.cell_id), "incidents": r.incidents, "Gi* z": _fmt(r.gi_z),
                 "bin": r.gi_bin} for r in top.itertuples()]
    choice_rows = [{"parameter": c.name, "value": c.value, "how it was chosen": c.rule}
                   for c in (public_choice(analysis, c) for c in analysis.choices)]
    count_rows = [{"count": k, "value": v} for k, v in public_totals(analysis).items()]
    protection_rows = [{"setting": k, "value": v} for k, v in
                       privacy_metadata(analysis).items()]
    param_rows = [{"parameter": k, "value": v} for k, v in params.items() if k != "grid"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>hotspot_env report</title>", f"<style>{_STYLE}</style></head><body>",
        "<h1>hotspot_env: places, incident density and hot spots</h1>",
    ]
    if simulated:
        parts.append("<p class='sim'>Simulated incidents: this demo uses incidents drawn from "
                     "a documented generator, not real records.</p>")
    parts += [
        f"<p>Privacy mode: <b>{html.escape(privacy)}</b>. Counts are per grid cell; no "
        "individual incident location appears in this report.</p>",
        f"<img alt='incident density map' src='data:image/png;base64,{png}'>",
        "<h2>Privacy protection</h2>", _table(protection_rows),
        "<h2>Automatic choices</h2>", _table(choice_rows),
        "<h2>Counts</h2>", _table(count_rows),
        "<h2>Strongest hot spots (Gi*)</h2>", _table(top_rows),
    ]
    for title, body in sections or []:
        parts += [f"<h2>{html.escape(title)}</h2>", body]
    parts += ["<h2>Parameters</h2>", _table(param_rows),
              "<h2>Limits</h2><p>Recorded incidents reflect where people reported and where "
              "enforcement looked, not only where harm happened; treat hot spots as places to "
              "look at with residents, not as facts about people.</p>", "</body></html>"]
    return "".join(parts)


def write_report(analysis: Analysis, path: Path) -> Path:
    """Write ``report.html`` atomically."""
    from hotspot_env.interventions import report_section
    from hotspot_env.models.validation import report_section as validation_section

    sections = [s for s in (validation_section(analysis), report_section(analysis)) if s]
    return write_text(path, report_html(analysis, sections))
