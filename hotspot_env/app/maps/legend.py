"""Legend boxes (colour bars and class swatches) and large print for projectors."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import folium
import matplotlib
import matplotlib.colors as mcolors
import numpy as np
from branca.element import Element, MacroElement
from folium.template import Template

from hotspot_env.app.maps._style import (
    GI_BINS,
)
from hotspot_env.app.maps._text import fmt_number, to_hex_colour
from hotspot_env.errors import InputError


class _Legend(MacroElement):
    """A Leaflet control holding pre-escaped legend HTML."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .hotspot-legend {
            background: rgba(255, 255, 255, 0.94);
            color: #1f1f1f;
            padding: 8px 11px 9px;
            border-radius: 6px;
            box-shadow: 0 1px 5px rgba(0, 0, 0, 0.35);
            font: 14px/1.35 system-ui, -apple-system, "Segoe UI", Roboto,
                  "Helvetica Neue", Arial, sans-serif;
            min-width: 180px;
            max-width: 300px;
        }
        .hotspot-legend .hl-title { font-weight: 600; font-size: 15px; margin-bottom: 5px; }
        .hotspot-legend .hl-bar {
            height: 14px; border: 1px solid rgba(0, 0, 0, 0.35); border-radius: 2px;
        }
        .hotspot-legend .hl-ticks {
            display: flex; justify-content: space-between; font-size: 13px; margin-top: 2px;
        }
        .hotspot-legend .hl-row { display: flex; align-items: center; margin: 3px 0; }
        .hotspot-legend .hl-swatch {
            width: 18px; height: 14px; margin-right: 7px; flex: none;
            border: 1px solid rgba(0, 0, 0, 0.35); border-radius: 2px;
        }
        .hotspot-legend .hl-note { font-size: 12.5px; color: #444; margin-top: 6px; }
        </style>
        {% endmacro %}

        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function () {
            var div = L.DomUtil.create("div", "hotspot-legend leaflet-control");
            div.innerHTML = {{ this.content|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, content: str, position: str) -> None:
        super().__init__()
        self._name = "Legend"
        self.content = content
        self.position = position


def _is_colorbar_spec(spec: Any) -> bool:
    return isinstance(spec, Mapping) and {"vmin", "vmax", "cmap"} <= set(spec.keys())


def add_legend(
    m: folium.Map,
    title: str,
    spec: Mapping[str, Any],
    *,
    units: str = "",
    note: str = "",
    position: str = "bottomright",
) -> str:
    """Add a legend box in a corner of the map.

    Parameters
    ----------
    m : folium.Map
    title : str
        Bold first line.
    spec : mapping
        Either a colour bar spec, a mapping with ``vmin``, ``vmax`` and
        ``cmap`` (optionally ``opacity``, ``clipped_low``, ``clipped_high``),
        as returned by :func:`add_raster_overlay`; or categorical entries,
        ``{label: colour}`` in display order (see :func:`gi_legend_entries`).
    units : str
        Units shown after the colour bar's top value (e.g. ``"per km²"``).
    note : str
        A short "what this shows" line under the legend.
    position : str
        ``"bottomright"``, ``"bottomleft"``, ``"topright"`` or ``"topleft"``.

    Returns
    -------
    str
        The legend's HTML (all text escaped).
    """
    if position not in ("bottomright", "bottomleft", "topright", "topleft"):
        raise InputError(f"invalid legend position {position!r}")
    parts = [f'<div class="hl-title">{html.escape(str(title))}</div>']
    if _is_colorbar_spec(spec):
        parts.append(_colorbar_html(spec, units))
    else:
        if not isinstance(spec, Mapping) or not spec:
            raise InputError("legend spec must be a colour bar spec or {label: colour} entries")
        for label, colour in spec.items():
            parts.append(
                '<div class="hl-row"><span class="hl-swatch" '
                f'style="background:{to_hex_colour(colour)}"></span>'
                f"<span>{html.escape(str(label))}</span></div>"
            )
    if note:
        parts.append(f'<div class="hl-note">{html.escape(str(note))}</div>')
    content = "".join(parts)
    m.add_child(_Legend(content, position))
    return content


def large_print(m: folium.Map, scale: float = 1.45) -> None:
    """Legends, tooltips and controls ``scale`` times larger: a map projected on a wall.

    Only our own CSS, added to the map page's head; nothing is loaded.
    """
    px = {
        name: round(size * float(scale))
        for name, size in (("body", 14), ("title", 15), ("ticks", 13), ("note", 12.5), ("tip", 13))
    }
    css = (
        f".hotspot-legend {{ font-size: {px['body']}px !important; max-width: 420px; }}"
        f".hotspot-legend .hl-title {{ font-size: {px['title']}px !important; }}"
        f".hotspot-legend .hl-ticks {{ font-size: {px['ticks']}px !important; }}"
        f".hotspot-legend .hl-note {{ font-size: {px['note']}px !important; }}"
        f".hotspot-legend .hl-swatch {{ width: {px['body']}px; height: {px['body']}px; }}"
        f".leaflet-tooltip {{ font-size: {px['tip']}px !important; }}"
        f".leaflet-tooltip table, .leaflet-tooltip th, .leaflet-tooltip td "
        f"{{ font-size: {px['tip']}px !important; }}"
        ".leaflet-control-zoom a { width: 44px !important; height: 44px !important;"
        " line-height: 44px !important; font-size: 26px !important; }"
    )
    m.get_root().header.add_child(Element(f"<style>{css}</style>"))


def _colorbar_html(spec: Mapping[str, Any], units: str) -> str:
    cmap = spec["cmap"]
    colormap = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    stops = ", ".join(
        f"{mcolors.to_hex(colormap(x))} {x * 100:.0f}%" for x in np.linspace(0.0, 1.0, 11)
    )
    opacity = float(spec.get("opacity", 1.0))
    vmin, vmax = float(spec["vmin"]), float(spec["vmax"])
    if abs(vmin) < 1e-6 * max(abs(vmax), 1e-300):  # a zero that arithmetic left at 1.6e-13
        vmin = 0.0
    low = ("&le; " if spec.get("clipped_low") else "") + html.escape(fmt_number(vmin))
    high = ("&ge; " if spec.get("clipped_high") else "") + html.escape(fmt_number(vmax))
    mid = html.escape(fmt_number((vmin + vmax) / 2))
    unit = f" {html.escape(str(units))}" if units else ""
    return (
        f'<div class="hl-bar" style="background: linear-gradient(to right, {stops});'
        f' opacity: {max(opacity, 0.35):.2f}"></div>'
        f'<div class="hl-ticks"><span>{low}</span><span>{mid}</span>'
        f"<span>{high}{unit}</span></div>"
    )


def gi_legend_entries(
    categories: Mapping[Any, tuple[str, str]] | None = None,
) -> dict[str, str]:
    """Legend entries ``{label: colour}`` for Gi* bins (hot 99 % first)."""
    cats = GI_BINS if categories is None else categories
    return {label: colour for label, colour in cats.values()}
