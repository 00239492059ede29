"""A short, self-contained HTML report of one analysis.

The report embeds its figures as base64 PNGs so it opens offline, escapes
every user-provided string, and shows only cell-level aggregates.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hotspot_env.atomic import write_text
from hotspot_env.privacy import (
    Kind,
    privacy_metadata,
    public_choice,
    public_totals,
    publish,
    publish_array,
)

if TYPE_CHECKING:
    from hotspot_env.analysis import Analysis

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9rem} td,th{border:1px solid #ccc;padding:.25rem .5rem}
.sim{background:#fff3cd;border:1px solid #e0c060;padding:.5rem 1rem;font-weight:600}
img{max-width:100%} @media print{.noprint{display:none}}
"""


def density_png(analysis: Analysis, width_in: float = 7.0) -> bytes:
    """Render the KDE surface of ``analysis`` as a PNG (no incident points)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = analysis.grid
    values = np.where(grid.mask, publish_array(analysis, "kde"), np.nan)
    minx, miny, maxx, maxy = grid.bounds
    height = width_in * (maxy - miny) / max(maxx - minx, 1)
    fig, ax = plt.subplots(figsize=(width_in, max(2.5, min(height, 9))), dpi=110)
    image = ax.imshow(values, extent=(minx, maxx, miny, maxy), cmap="magma_r", origin="upper")
    hot = np.where(grid.mask & (publish_array(analysis, "gi_bin") >= 2), 1.0, np.nan)
    ax.contour(np.nan_to_num(hot), levels=[0.5], colors="#1f77b4", linewidths=1.0,
               extent=(minx, maxx, miny, maxy), origin="upper")
    fig.colorbar(image, ax=ax, label=analysis.parameters.get("kde_units", "density"), shrink=0.8)
    ax.set_xlabel(f"easting (m, {analysis.grid.crs.to_string()})")
    ax.set_ylabel("northing (m)")
    ax.set_title("Incident density (blue outline: Gi* hot spots, 95 %+)")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


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
    from hotspot_env.validation import report_section as validation_section

    sections = [s for s in (validation_section(analysis), report_section(analysis)) if s]
    return write_text(path, report_html(analysis, sections))
