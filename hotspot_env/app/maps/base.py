"""The offline map itself: :class:`OfflineMap`, :func:`make_map` and :func:`finish`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import folium
import matplotlib.colors as mcolors
from branca.element import CssLink, Element, Figure, JavascriptLink, MacroElement
from folium.template import Template

from hotspot_env.app.maps._style import (
    ASSET_BASE,
    BACKGROUND,
    PANES,
)
from hotspot_env.errors import InputError


class ExternalAssetError(RuntimeError):
    """An :class:`OfflineMap` would load JavaScript or CSS from another host."""


class _StyleElement(Element):
    """A ``<style>`` block (CSS is ours, never user text)."""

    def __init__(self, css: str) -> None:
        super().__init__(f"<style>{css}</style>")


class _KeepInFront(MacroElement):
    """jQuery-free replacement for folium's ``Map.keep_in_front``."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var m = {{ this._parent.get_name() }};
            function front() {
                {%- for obj in this.objects %}
                if (m.hasLayer({{ obj.get_name() }})) { {{ obj.get_name() }}.bringToFront(); }
                {%- endfor %}
            }
            m.on("overlayadd", front);
            front();
        })();
        {% endmacro %}
        """
    )

    def __init__(self, objects: Sequence[Any]) -> None:
        super().__init__()
        self._name = "KeepInFront"
        self.objects = list(objects)


def _is_external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.netloc) or parts.scheme not in ("", "data", "blob")


class OfflineMap(folium.Map):
    """A ``folium.Map`` that loads nothing from another host.

    Differences from ``folium.Map``:

    * ``default_js`` / ``default_css`` list only the local Leaflet
      (``{asset_base}/leaflet/leaflet.js`` and ``leaflet.css``). jQuery,
      Bootstrap, Font Awesome, glyphicons and Awesome Markers are dropped, so
      folium features that need them do not work here: ``folium.Popup`` (uses
      jQuery; use ``GeoJsonPopup`` or tooltips), ``folium.Icon`` markers and
      ``branca`` colormaps (streamlit-folium then adds d3 from a CDN). Use
      :func:`add_legend` for legends.
    * ``tiles=None`` by default; the page background is a pale grey, and
      :func:`add_basemap` draws streets and buildings.
    * ``keep_in_front`` does not use jQuery.
    * Two extra panes stack the basemap and raster overlays below vector
      layers.
    * With ``strict=True`` (default), rendering raises
      :class:`ExternalAssetError` if any element added an external JS/CSS link
      (for example a folium plugin), instead of producing a blank map offline.

    Parameters
    ----------
    location : sequence of float, optional
        Initial centre (lat, lon).
    asset_base : str
        URL of the folder holding ``leaflet/`` (see :func:`vendor_assets`).
    tiles : str or folium.TileLayer, optional
        Tile layer; ``None`` (default) draws no tiles.
    background : str
        CSS colour of the empty map.
    strict : bool
        Refuse to render with external JS/CSS links.
    **kwargs
        Passed to ``folium.Map``.
    """

    def __init__(
        self,
        location: Sequence[float] | None = None,
        *,
        asset_base: str = ASSET_BASE,
        tiles: Any = None,
        background: str = BACKGROUND,
        strict: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(location=location, tiles=tiles, **kwargs)
        base = asset_base.rstrip("/")
        self.asset_base = base
        # Instance attributes shadow folium's class-level CDN lists (also what
        # streamlit-folium reads to build its list of scripts to load).
        self.default_js = [("leaflet", f"{base}/leaflet/leaflet.js")]
        self.default_css = [("leaflet_css", f"{base}/leaflet/leaflet.css")]
        self.background = mcolors.to_hex(background)
        self.strict = strict
        # Leaflet zooms without limit when there are no tiles; cap it.
        self.options.setdefault("max_zoom", 20)
        for pane, z_index, pointer_events in PANES:
            folium.map.CustomPane(pane, z_index=z_index, pointer_events=pointer_events).add_to(self)

    def keep_in_front(self, *args: Any) -> None:
        """Keep the given layers on top when overlays are toggled (no jQuery)."""
        self.add_child(_KeepInFront(args))

    def external_links(self) -> list[str]:
        """Return JS/CSS URLs in the rendered page header that point to another host.

        Call after rendering (``m.get_root().render()``).
        """
        figure = self.get_root()
        urls = [
            child.url
            for child in figure.header._children.values()
            if isinstance(child, JavascriptLink | CssLink)
        ]
        return [u for u in urls if _is_external(str(u))]

    def render(self, **kwargs: Any) -> None:
        """Render into the parent figure; see ``folium.Map.render``."""
        figure = self.get_root()
        if isinstance(figure, Figure):
            css = (
                f"#{self.get_name()}.leaflet-container {{ background: {self.background}; }}\n"
                ".leaflet-container { font-family: system-ui, -apple-system, 'Segoe UI',"
                " Roboto, 'Helvetica Neue', Arial, sans-serif; }"
            )
            figure.header.add_child(_StyleElement(css), name="hotspot_env_map_css")
        super().render(**kwargs)
        if self.strict and isinstance(figure, Figure):
            external = self.external_links()
            if external:
                raise ExternalAssetError(
                    "the map would load assets from other hosts, which fails offline: "
                    + ", ".join(external)
                    + " (vendor them next to Leaflet, or pass strict=False)"
                )


def make_map(
    bounds_wgs84: Sequence[float],
    *,
    asset_base: str = ASSET_BASE,
    online_tiles: bool = False,
    **kwargs: Any,
) -> OfflineMap:
    """Create an :class:`OfflineMap` fitted to a lon/lat bounding box.

    Parameters
    ----------
    bounds_wgs84 : sequence of 4 float
        ``(west, south, east, north)`` in degrees, as given by
        ``gdf.to_crs(4326).total_bounds``.
    asset_base : str
        URL of the folder holding ``leaflet/`` (``"/app/static/vendor"`` in the
        Streamlit app).
    online_tiles : bool
        Add OpenStreetMap tiles below the basemap. Only when the user asks for
        it and is online: the tiles come from tile.openstreetmap.org.
    **kwargs
        Passed to :class:`OfflineMap` (e.g. ``height``, ``control_scale``).

    Returns
    -------
    OfflineMap
    """
    try:
        west, south, east, north = (float(v) for v in bounds_wgs84)
    except (TypeError, ValueError) as exc:
        raise InputError("bounds_wgs84 must be (west, south, east, north) in degrees") from exc
    if not all(map(math.isfinite, (west, south, east, north))):
        raise InputError("bounds_wgs84 must be finite: is the study area empty?")
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InputError(
            f"bounds_wgs84 {(west, south, east, north)} are not (west, south, east, north) "
            "in degrees: reproject to EPSG:4326 first"
        )
    kwargs.setdefault("control_scale", True)
    kwargs.setdefault("zoom_start", 14)
    m = OfflineMap(
        location=[(south + north) / 2, (west + east) / 2], asset_base=asset_base, **kwargs
    )
    if online_tiles:
        folium.TileLayer(
            "OpenStreetMap", name="OpenStreetMap tiles (online)", max_zoom=19, overlay=False
        ).add_to(m)
    m.fit_bounds([[south, west], [north, east]])
    return m


def finish(m: folium.Map, *, collapsed: bool = False, position: str = "topright") -> folium.Map:
    """Add a layer control (call after all layers are added).

    Parameters
    ----------
    m : folium.Map
    collapsed : bool
        Show the control as an icon that expands on hover.
    position : str
        Leaflet control position.

    Returns
    -------
    folium.Map
        ``m``, for chaining.
    """
    folium.LayerControl(collapsed=collapsed, position=position).add_to(m)
    return m
