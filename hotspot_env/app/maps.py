"""Offline web maps: folium/Leaflet with every asset served locally.

This is the only module of the package that imports folium; the analysis core
never does. Stock ``folium.Map`` pulls Leaflet, jQuery, Bootstrap, Font Awesome
and Awesome Markers from CDNs and OpenStreetMap tiles from the tile servers, so
on a machine without internet the map is blank. :class:`OfflineMap` instead
links only the Leaflet copy shipped by the ``xstatic-leaflet`` package (copied
next to the app by :func:`vendor_assets`), draws no tiles, and a basemap is
drawn from the OSM street and building layers the analysis already has
(:func:`add_basemap`).

Typical use::

    vendor_assets(Path("static"))          # once, at app start
    m = make_map(study_area.to_crs(4326).total_bounds)
    add_basemap(m, streets, buildings)
    legend = add_raster_overlay(m, density, grid.transform, grid.crs, name="Density")
    add_legend(m, "Incident density", legend, units="per km²", note="Kernel density.")
    add_cells(m, gi_cells, "gi_bin", name="Gi* hot spots", tooltip_fields=["count"])
    add_legend(m, "Gi* hot and cold spots", gi_legend_entries(), position="bottomleft")
    finish(m)

Layers are stacked in panes, bottom to top: optional online tiles, the basemap
(non-interactive), raster overlays, then cells and vector layers (Leaflet's
overlay pane), so hot-spot cells are never hidden under a raster.

Everything a user can type (layer names, titles, column names and values) is
HTML-escaped before it reaches the page: folium's tooltips and Leaflet's
layer control render strings as HTML.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlsplit

import folium
import geopandas as gpd
import matplotlib
import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import shapely
from branca.element import CssLink, Element, Figure, JavascriptLink, MacroElement
from folium.template import Template
from PIL import Image
from pyproj import Transformer
from rasterio.crs import CRS as RioCRS
from rasterio.transform import Affine, array_bounds
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

from hotspot_env.errors import InputError
from hotspot_env.outputs.labels import field_label

__all__ = [
    "ASSET_BASE",
    "GI_BINS",
    "ExternalAssetError",
    "OfflineMap",
    "RasterLegend",
    "add_basemap",
    "add_cells",
    "add_legend",
    "large_print",
    "add_raster_overlay",
    "add_vector_layer",
    "finish",
    "gi_legend_entries",
    "make_map",
    "mercator_bounds_to_latlon",
    "vendor_assets",
]

#: URL under which Streamlit serves ``static/vendor`` (``static/`` next to
#: ``app.py``, with ``server.enableStaticServing = true``).
ASSET_BASE = "/app/static/vendor"

#: Gi* confidence bins in ArcGIS style: value -> (label, colour). 0 (not
#: significant) is deliberately absent, so it is not drawn.
GI_BINS: dict[int, tuple[str, str]] = {
    3: ("Hot spot, 99 % confidence", "#d62f27"),
    2: ("Hot spot, 95 % confidence", "#ed7551"),
    1: ("Hot spot, 90 % confidence", "#fab984"),
    -1: ("Cold spot, 90 % confidence", "#a9c4e2"),
    -2: ("Cold spot, 95 % confidence", "#6d94c7"),
    -3: ("Cold spot, 99 % confidence", "#3a64a8"),
}

#: Pane names and z-indexes (Leaflet: tiles 200, overlays 400, markers 600).
BASEMAP_PANE = "hotspotBasemap"
RASTER_PANE = "hotspotRaster"
_PANES = ((BASEMAP_PANE, 250, False), (RASTER_PANE, 350, False))

#: Map background and basemap colours (a light, low-contrast "positron" look).
BACKGROUND = "#e6e3dc"
STREET_COLOUR = "#ffffff"
BUILDING_FILL = "#d6d2ca"
BUILDING_LINE = "#c2bdb3"

OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)

#: Decimal places kept in lon/lat coordinates (1e-6 degree is about 0.1 m).
COORD_DECIMALS = 6

#: Largest reprojected raster (pixels) embedded in a page; larger grids are
#: resampled to fit, keeping the page light.
MAX_OVERLAY_PIXELS = 4_000_000

_MAJOR_HIGHWAYS = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)

_LEAFLET_FILES = ("leaflet.js", "leaflet.css", "leaflet.js.map")
_STAMP_FILE = ".xstatic-version"


class ExternalAssetError(RuntimeError):
    """An :class:`OfflineMap` would load JavaScript or CSS from another host."""


class RasterLegend(TypedDict):
    """What :func:`add_raster_overlay` drew, for :func:`add_legend`."""

    vmin: float
    vmax: float
    cmap: str
    opacity: float
    clipped_low: bool
    clipped_high: bool
    bounds: list[list[float]]
    shape: tuple[int, int]


# --------------------------------------------------------------------------- assets


def _leaflet_source() -> tuple[Path, str]:
    import xstatic.pkg.leaflet as xleaflet

    return Path(xleaflet.BASE_DIR), f"xstatic-leaflet {xleaflet.PACKAGE_VERSION}"


def _vendored_ok(dest: Path, stamp: str, src: Path) -> bool:
    try:
        if (dest / _STAMP_FILE).read_text(encoding="utf-8") != stamp:
            return False
    except OSError:
        return False
    needed = [dest / name for name in _LEAFLET_FILES if (src / name).exists()]
    needed += [dest / "images" / p.name for p in (src / "images").glob("*.png")]
    return all(p.is_file() for p in needed)


def vendor_assets(static_dir: str | os.PathLike[str]) -> Path:
    """Copy Leaflet's JS, CSS and images into ``static_dir/vendor/leaflet``.

    The files come from the installed ``xstatic-leaflet`` package. The call is
    idempotent and cheap when the same version is already in place (a stamp
    file is compared); otherwise the files are written to a temporary folder
    which is then renamed into place, so a browser never sees a half-copied
    folder and concurrent app processes do not clash.

    Parameters
    ----------
    static_dir : path-like
        The folder served as static files (for Streamlit: ``static/`` next to
        ``app.py``, served at ``/app/static/``).

    Returns
    -------
    pathlib.Path
        ``static_dir / "vendor" / "leaflet"``.
    """
    src, stamp = _leaflet_source()
    dest = Path(static_dir) / "vendor" / "leaflet"
    if _vendored_ok(dest, stamp, src):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".leaflet-tmp-", dir=dest.parent))
    try:
        tmp.chmod(0o755)
        for name in _LEAFLET_FILES:
            if (src / name).exists():
                shutil.copyfile(src / name, tmp / name)
        shutil.copytree(src / "images", tmp / "images")
        (tmp / _STAMP_FILE).write_text(stamp, encoding="utf-8")
        if dest.exists():
            old = dest.with_name(f".leaflet-old-{uuid.uuid4().hex}")
            try:
                dest.rename(old)
            except FileNotFoundError:  # another process moved it first
                pass
            else:
                shutil.rmtree(old, ignore_errors=True)
        try:
            tmp.rename(dest)
        except OSError:
            # Another process won the race; fine if what it wrote is complete.
            if not _vendored_ok(dest, stamp, src):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


# --------------------------------------------------------------------------- map


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
        for pane, z_index, pointer_events in _PANES:
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


# --------------------------------------------------------------------------- geometry helpers


def _check_crs(gdf: gpd.GeoDataFrame, what: str) -> None:
    if gdf.crs is None:
        raise InputError(f"{what} has no CRS: set one (e.g. gdf.set_crs(...)) before mapping")


def _prepare_geoms(
    gdf: gpd.GeoDataFrame | gpd.GeoSeries, what: str, simplify_m: float | None
) -> gpd.GeoSeries:
    """Simplify in metres, reproject to EPSG:4326, round to ~0.1 m; keeps the index."""
    _check_crs(gdf, what)
    geoms = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    if simplify_m:
        if geoms.crs.is_geographic:
            geoms = geoms.to_crs(geoms.estimate_utm_crs())
        geoms = gpd.GeoSeries(
            shapely.simplify(geoms.values, simplify_m, preserve_topology=True),
            index=geoms.index,
            crs=geoms.crs,
        )
    geoms = geoms.to_crs(4326)
    rounded = shapely.transform(geoms.values, lambda xy: np.round(xy, COORD_DECIMALS))
    return gpd.GeoSeries(rounded, index=geoms.index, crs=4326)


def _coords_list(coords: np.ndarray) -> list[list[float]]:
    return coords.tolist()


def _split(coords: np.ndarray, index: np.ndarray) -> list[np.ndarray]:
    if len(coords) == 0:
        return []
    cuts = np.flatnonzero(np.diff(index)) + 1
    return np.split(coords, cuts)


def _multiline_geojson(geoms: Iterable[Any]) -> dict[str, Any] | None:
    """One MultiLineString from all line parts (polygons contribute their rings)."""
    arr = np.asarray(list(geoms), dtype=object)
    arr = arr[~shapely.is_missing(arr) & ~shapely.is_empty(arr)] if arr.size else arr
    if arr.size == 0:
        return None
    types = shapely.get_type_id(arr)
    polys = np.isin(types, (3, 6))
    if polys.any():
        arr = arr.copy()
        arr[polys] = shapely.boundary(arr[polys])
    arr = arr[np.isin(shapely.get_type_id(arr), (1, 2, 5))]
    parts = shapely.get_parts(arr)
    parts = parts[shapely.get_num_coordinates(parts) >= 2]
    if parts.size == 0:
        return None
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    lines = [_coords_list(c) for c in _split(coords, idx)]
    return {"type": "MultiLineString", "coordinates": lines}


def _multipolygon_geojson(geoms: Iterable[Any]) -> dict[str, Any] | None:
    """One MultiPolygon from all polygon parts."""
    arr = np.asarray(list(geoms), dtype=object)
    if arr.size == 0:
        return None
    arr = arr[~shapely.is_missing(arr) & ~shapely.is_empty(arr)]
    arr = arr[np.isin(shapely.get_type_id(arr), (3, 6))]
    polys = shapely.get_parts(arr)
    polys = polys[~shapely.is_empty(polys)]
    if polys.size == 0:
        return None
    return {"type": "MultiPolygon", "coordinates": _polygon_coords(polys)}


def _polygon_coords(polys: np.ndarray) -> list[list[list[list[float]]]]:
    """Coordinates of single polygons as nested lists (exterior ring first)."""
    rings, ring_owner = shapely.get_rings(polys, return_index=True)
    coords, coord_owner = shapely.get_coordinates(rings, return_index=True)
    ring_coords = _split(coords, coord_owner)
    out: list[list[list[list[float]]]] = [[] for _ in range(len(polys))]
    for owner, ring in zip(ring_owner.tolist(), ring_coords, strict=True):
        out[owner].append(_coords_list(ring))
    return out


def _geometry_geojson(geom: Any) -> dict[str, Any] | None:
    """GeoJSON geometry dict with Python floats (short JSON numbers)."""
    if geom is None or geom.is_empty:
        return None
    kind = geom.geom_type
    if kind == "Point":
        return {"type": "Point", "coordinates": [geom.x, geom.y]}
    if kind == "MultiPoint":
        pts = shapely.get_coordinates(geom)
        return {"type": "MultiPoint", "coordinates": _coords_list(pts)}
    if kind in ("LineString", "LinearRing"):
        return {"type": "LineString", "coordinates": _coords_list(shapely.get_coordinates(geom))}
    if kind == "MultiLineString":
        return _multiline_geojson([geom])
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": _polygon_coords(np.array([geom]))[0]}
    if kind == "MultiPolygon":
        return _multipolygon_geojson([geom])
    if kind == "GeometryCollection":
        parts = [g for g in (_geometry_geojson(p) for p in geom.geoms) if g is not None]
        return {"type": "GeometryCollection", "geometries": parts} if parts else None
    raise InputError(f"cannot map geometry type {kind}")


def _fmt_value(value: Any) -> str:
    """Human-readable, HTML-escaped text for a tooltip cell."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return "&ndash;"
    if value is pd.NA or value is pd.NaT:
        return "&ndash;"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return html.escape(f"{int(value):,}")
    if isinstance(value, float | np.floating):
        return html.escape(_fmt_number(float(value)))
    return html.escape(str(value))


def _fmt_number(value: float) -> str:
    """Short label for a number: 3 significant digits, thousands separators, never ``1e-13``."""
    if not math.isfinite(value):
        return str(value)
    a = abs(value)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 0.01:
        digits = max(0, 2 - math.floor(math.log10(a)))
        text = f"{value:.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if a < 1e-6:  # floating-point residue of a zero (e.g. a KDE's empty edge)
        return "0"
    return f"{value:.{1 - math.floor(math.log10(a))}f}"


def _tooltip_table(
    df: pd.DataFrame, fields: Sequence[str] | None
) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """Internal keys, escaped aliases and escaped per-row values for a tooltip."""
    fields = list(fields or [])
    missing = [f for f in fields if f not in df.columns]
    if missing:
        raise InputError(f"tooltip fields not in the data: {missing}")
    keys = [f"t{i}" for i in range(len(fields))]
    aliases = [html.escape(field_label(f)) for f in fields]  # people read labels, not ids
    rows: list[dict[str, str]] = [{} for _ in range(len(df))]
    for key, field in zip(keys, fields, strict=True):
        for row, value in zip(rows, df[field].tolist(), strict=True):
            row[key] = _fmt_value(value)
    return keys, aliases, rows


def _layer_name(name: str) -> str:
    # Leaflet's layer control inserts names as HTML.
    return html.escape(str(name))


def _colour(value: Any) -> str:
    try:
        return mcolors.to_hex(value)
    except ValueError as exc:
        raise InputError(f"not a colour: {value!r}") from exc


# --------------------------------------------------------------------------- basemap


def add_basemap(
    m: folium.Map,
    streets: gpd.GeoDataFrame | None,
    buildings: gpd.GeoDataFrame | None,
    *,
    name: str = "Basemap (OpenStreetMap data)",
    simplify_m: float = 1.0,
    show: bool = True,
) -> folium.FeatureGroup | None:
    """Draw a light basemap from OSM streets and buildings.

    Buildings are light grey and streets white on the pale map background
    (major roads, recognised from a ``highway`` column if present, are wider;
    no casing, which would double the street payload). The layers
    are non-interactive, in a pane below rasters and cells. Geometries are
    simplified at ``simplify_m`` metres, rounded to 6 decimals (~0.1 m) and
    merged into one multi-geometry per style, so the HTML stays small.

    Parameters
    ----------
    m : folium.Map
        Usually an :class:`OfflineMap` (which defines the basemap pane).
    streets, buildings : GeoDataFrame or None
        OSM layers in any CRS. Polygons in ``streets`` (squares, areas) are
        drawn by their outline; non-polygons in ``buildings`` are ignored.
    name : str
        Name in the layer control.
    simplify_m : float
        Simplification tolerance in metres (0 to keep every vertex).
    show : bool
        Whether the basemap is on when the page opens.

    Returns
    -------
    folium.FeatureGroup or None
        The basemap group, or None if there was nothing to draw.
    """
    pane = BASEMAP_PANE if isinstance(m, OfflineMap) else "overlayPane"
    group = folium.FeatureGroup(name=_layer_name(name), show=show)
    drawn = False

    if buildings is not None and len(buildings):
        geoms = _prepare_geoms(buildings, "buildings", simplify_m)
        geom = _multipolygon_geojson(geoms.values)
        if geom is not None:
            _static_geojson(
                geom,
                {
                    "fillColor": BUILDING_FILL,
                    "fillOpacity": 1.0,
                    "color": BUILDING_LINE,
                    "weight": 0.5,
                },
                pane,
            ).add_to(group)
            drawn = True

    if streets is not None and len(streets):
        geoms = _prepare_geoms(streets, "streets", simplify_m)
        major = np.zeros(len(geoms), dtype=bool)
        if "highway" in streets.columns:
            major = streets["highway"].map(_is_major_highway).to_numpy(dtype=bool)
        styled = []
        for mask, width in ((~major, 2.5), (major, 4.5)):
            geom = _multiline_geojson(geoms.values[mask])
            if geom is not None:
                styled.append(geom)
                _static_geojson(
                    geom, {"color": STREET_COLOUR, "weight": width, "opacity": 1.0}, pane
                ).add_to(group)
        drawn = drawn or bool(styled)

    if not drawn:
        return None
    group.add_to(m)
    return group


def _is_major_highway(value: Any) -> bool:
    if isinstance(value, list | tuple | np.ndarray):
        return any(_is_major_highway(v) for v in value)
    return isinstance(value, str) and value in _MAJOR_HIGHWAYS


def _static_geojson(geometry: dict[str, Any], style: dict[str, Any], pane: str) -> folium.GeoJson:
    """A non-interactive GeoJson layer of one feature with a fixed style."""
    data = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": geometry}],
    }
    return folium.GeoJson(
        data,
        style_function=lambda _feature, style=style: dict(style),
        control=False,
        interactive=False,
        pane=pane,
        attribution=OSM_ATTRIBUTION,
        smooth_factor=1.0,
    )


# --------------------------------------------------------------------------- raster


def add_raster_overlay(
    m: folium.Map,
    values: np.ndarray,
    transform: Affine,
    crs: Any,
    *,
    name: str,
    cmap: str | mcolors.Colormap = "magma",
    opacity: float = 0.7,
    vmin: float | None = None,
    vmax: float | None = None,
    nodata_below: float | None = None,
    transparent_zero: bool = True,
    resampling: Resampling = Resampling.nearest,
    show: bool = True,
) -> RasterLegend:
    """Draw a grid as a coloured, semi-transparent Leaflet ImageOverlay.

    The grid is reprojected to Web Mercator (EPSG:3857), because Leaflet
    stretches an image linearly between its corner coordinates in Web
    Mercator; it is coloured with a matplotlib colormap, PNG-encoded and
    embedded as a ``data:`` URL, so nothing is fetched.

    Parameters
    ----------
    m : folium.Map
    values : numpy.ndarray
        2-D grid, row 0 at the north edge.
    transform : affine.Affine
        The grid's affine transform (projected CRS, metres).
    crs : any
        The grid's CRS (anything ``rasterio.crs.CRS.from_user_input`` takes).
    name : str
        Name in the layer control.
    cmap : str or matplotlib Colormap
        Colormap (default ``"magma"``).
    opacity : float
        Layer opacity in [0, 1].
    vmin, vmax : float, optional
        Colour range; default the minimum and maximum of the drawn values.
        Values outside are clipped to the end colours.
    nodata_below : float, optional
        Values below this are transparent.
    transparent_zero : bool
        Zero values are transparent (default; "no incidents" shows the basemap).
        NaN is always transparent.
    resampling : rasterio.warp.Resampling
        Resampling for the reprojection (nearest keeps cells crisp).
    show : bool
        Whether the layer is on when the page opens.

    Returns
    -------
    RasterLegend
        ``vmin``, ``vmax``, ``cmap`` (name), ``opacity``, whether values were
        clipped at either end, the image ``bounds`` ``[[south, west], [north,
        east]]`` and the PNG ``shape`` (rows, cols); pass it to
        :func:`add_legend`.
    """
    arr = np.array(values, dtype=np.float64, copy=True)
    if arr.ndim != 2 or min(arr.shape) == 0:
        raise InputError(f"raster values must be a non-empty 2-D array, got shape {arr.shape}")
    if not 0 <= opacity <= 1:
        raise InputError(f"opacity must be between 0 and 1, got {opacity}")
    src_crs = RioCRS.from_user_input(crs)
    colormap = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap

    hide = ~np.isfinite(arr)
    if transparent_zero:
        hide |= arr == 0
    if nodata_below is not None:
        hide |= arr < nodata_below
    arr[hide] = np.nan

    shown = arr[~hide]
    lo = float(shown.min()) if shown.size else 0.0
    hi = float(shown.max()) if shown.size else 1.0
    vmin_ = lo if vmin is None else float(vmin)
    vmax_ = hi if vmax is None else float(vmax)
    if not (math.isfinite(vmin_) and math.isfinite(vmax_)) or vmax_ < vmin_:
        raise InputError(f"invalid colour range vmin={vmin_}, vmax={vmax_}")

    # Reproject to Web Mercator (float32 halves the memory of large grids). The
    # output covers the whole source extent (calculate_default_transform may
    # cut up to a pixel off a rotated grid's corners); square pixels with
    # about the source's pixel count, capped at MAX_OVERLAY_PIXELS.
    arr = arr.astype(np.float32)
    dst_transform, dst_w, dst_h = _mercator_grid(arr.shape, transform, src_crs)
    merc = np.full((dst_h, dst_w), np.nan, dtype=np.float32)
    reproject(
        source=arr,
        destination=merc,
        src_transform=transform,
        src_crs=src_crs,
        src_nodata=np.nan,
        dst_transform=dst_transform,
        dst_crs="EPSG:3857",
        dst_nodata=np.nan,
        resampling=resampling,
    )

    # Colour.
    valid = np.isfinite(merc)
    span = vmax_ - vmin_
    norm = np.zeros_like(merc)
    if span > 0:
        np.divide(merc - vmin_, span, out=norm, where=valid)
    np.clip(norm, 0.0, 1.0, out=norm)
    rgba = colormap(norm, bytes=True)
    rgba[~valid] = 0
    rgba[..., 3] = np.where(valid, 255, 0).astype(np.uint8)

    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", compress_level=6)
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

    bounds = mercator_bounds_to_latlon(array_bounds(dst_h, dst_w, dst_transform))

    pane = RASTER_PANE if isinstance(m, OfflineMap) else "overlayPane"
    folium.raster_layers.ImageOverlay(
        image=url,
        bounds=bounds,
        opacity=opacity,
        name=_layer_name(name),
        show=show,
        pixelated=True,
        interactive=False,
        pane=pane,
    ).add_to(m)

    return RasterLegend(
        vmin=vmin_,
        vmax=vmax_,
        cmap=colormap.name,
        opacity=float(opacity),
        clipped_low=bool(shown.size and lo < vmin_),
        clipped_high=bool(shown.size and hi > vmax_),
        bounds=bounds,
        shape=(int(dst_h), int(dst_w)),
    )


def _mercator_grid(
    shape: tuple[int, int], transform: Affine, src_crs: RioCRS
) -> tuple[Affine, int, int]:
    """Web Mercator transform, width and height covering a source grid."""
    height, width = shape
    left, bottom, right, top = array_bounds(height, width, transform)
    suggested, _w, _h = calculate_default_transform(
        src_crs, "EPSG:3857", width, height, left=left, bottom=bottom, right=right, top=top
    )
    res = abs(suggested.a)
    west, south, east, north = transform_bounds(
        src_crs, "EPSG:3857", left, bottom, right, top, densify_pts=21
    )
    dst_w = max(1, math.ceil((east - west) / res - 1e-6))
    dst_h = max(1, math.ceil((north - south) / res - 1e-6))
    if dst_w * dst_h > MAX_OVERLAY_PIXELS:
        res *= math.sqrt(dst_w * dst_h / MAX_OVERLAY_PIXELS)
        dst_w = max(1, math.ceil((east - west) / res - 1e-6))
        dst_h = max(1, math.ceil((north - south) / res - 1e-6))
    return Affine(res, 0.0, west, 0.0, -res, north), dst_w, dst_h


def mercator_bounds_to_latlon(bounds: Sequence[float]) -> list[list[float]]:
    """Convert Web Mercator ``(west, south, east, north)`` to ``[[south, west], [north, east]]``.

    Parameters
    ----------
    bounds : sequence of 4 float
        Bounds in EPSG:3857 metres.

    Returns
    -------
    list
        Leaflet bounds in degrees (an axis-aligned Mercator box is also
        axis-aligned in lon/lat).
    """
    west, south, east, north = bounds
    to_wgs84 = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    (lon_w, lon_e), (lat_s, lat_n) = to_wgs84.transform([west, east], [south, north])
    return [[float(lat_s), float(lon_w)], [float(lat_n), float(lon_e)]]


# --------------------------------------------------------------------------- legend


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
                f'style="background:{_colour(colour)}"></span>'
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
    px = {name: round(size * float(scale)) for name, size in
          (("body", 14), ("title", 15), ("ticks", 13), ("note", 12.5), ("tip", 13))}
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
    low = ("&le; " if spec.get("clipped_low") else "") + html.escape(_fmt_number(vmin))
    high = ("&ge; " if spec.get("clipped_high") else "") + html.escape(_fmt_number(vmax))
    mid = html.escape(_fmt_number((vmin + vmax) / 2))
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


# --------------------------------------------------------------------------- cells / vectors


def add_cells(
    m: folium.Map,
    cells: gpd.GeoDataFrame,
    column: str,
    *,
    name: str,
    categories: Mapping[Any, tuple[str, str]] | None = None,
    tooltip_fields: Sequence[str] = (),
    popup_field: str | None = None,
    fill_opacity: float = 0.65,
    show: bool = True,
    max_features: int = 20_000,
) -> dict[str, str]:
    """Draw classified grid cells (e.g. Gi* significant cells) with tooltips.

    Parameters
    ----------
    m : folium.Map
    cells : GeoDataFrame
        Cell polygons in any CRS.
    column : str
        Column holding the class of each cell.
    name : str
        Name in the layer control.
    categories : mapping, optional
        ``{value: (label, colour)}``; cells whose value is not a key (e.g. Gi*
        bin 0) are not drawn. Default :data:`GI_BINS`.
    tooltip_fields : sequence of str
        Columns shown on hover, after the class label (values are escaped).
    popup_field : str, optional
        Column shown in a popup on click (escaped).
    fill_opacity : float
        Fill opacity of the cells.
    show : bool
        Whether the layer is on when the page opens.
    max_features : int
        Refuse more cells than this (the page would be slow); filter first.

    Returns
    -------
    dict
        Legend entries ``{label: colour}`` of the classes drawn, in the order
        of ``categories``.
    """
    if column not in cells.columns:
        raise InputError(f"column {column!r} not in cells")
    cats = dict(GI_BINS if categories is None else categories)
    keep = cells[column].map(lambda v: v in cats if _hashable(v) else False).to_numpy(dtype=bool)
    sub = cells.loc[keep]
    if len(sub) > max_features:
        raise InputError(
            f"{len(sub):,} cells to draw is too many for a web map (limit {max_features:,}): "
            "draw only significant cells, or show the grid as a raster"
        )
    if popup_field is not None and popup_field not in cells.columns:
        raise InputError(f"popup field {popup_field!r} not in cells")
    if sub.empty:
        return {}
    geoms = _prepare_geoms(sub, "cells", simplify_m=None)
    keys, aliases, rows = _tooltip_table(sub, tooltip_fields)
    popups = [_fmt_value(v) for v in sub[popup_field].tolist()] if popup_field else None

    features = []
    present: set[Any] = set()
    for i, (value, geom, row) in enumerate(zip(sub[column].tolist(), geoms, rows, strict=True)):
        label, colour = cats[value]
        present.add(value)
        props = {"_class": html.escape(str(label)), "_fill": _colour(colour), **row}
        if popups is not None:
            props["_popup"] = popups[i]
        gj = _geometry_geojson(geom)
        if gj is not None:
            features.append({"type": "Feature", "id": str(i), "properties": props, "geometry": gj})
    if not features:
        return {}

    tooltip = folium.GeoJsonTooltip(
        fields=["_class", *keys],
        aliases=["Class", *aliases],
        sticky=True,
        style="font-size: 13px;",
    )
    popup = folium.GeoJsonPopup(fields=["_popup"], labels=False) if popups is not None else None
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=_layer_name(name),
        show=show,
        style_function=lambda f: {
            "fillColor": f["properties"]["_fill"],
            "color": f["properties"]["_fill"],
            "weight": 0.6,
            "fillOpacity": fill_opacity,
            "opacity": 0.9,
        },
        highlight_function=lambda _f: {"weight": 2.5, "color": "#111111"},
        tooltip=tooltip,
        popup=popup,
    ).add_to(m)
    return {label: _colour(c) for value, (label, c) in cats.items() if value in present}


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def add_vector_layer(
    m: folium.Map,
    gdf: gpd.GeoDataFrame,
    *,
    name: str,
    color: str,
    weight: float = 2.0,
    tooltip_fields: Sequence[str] | None = None,
    show: bool = True,
    radius: float = 5.0,
    fill_opacity: float = 0.25,
    simplify_m: float | None = 1.0,
    max_features: int = 20_000,
) -> folium.GeoJson | None:
    """Draw lines, points (small circle markers) or polygons in one colour.

    Parameters
    ----------
    m : folium.Map
    gdf : GeoDataFrame
        Features in any CRS.
    name : str
        Name in the layer control.
    color : str
        Any matplotlib colour.
    weight : float
        Line width in pixels (outline width for polygons and points).
    tooltip_fields : sequence of str, optional
        Columns shown on hover (values are escaped).
    show : bool
        Whether the layer is on when the page opens.
    radius : float
        Circle marker radius in pixels for points.
    fill_opacity : float
        Fill opacity of polygons (points use a stronger fill).
    simplify_m : float or None
        Simplification tolerance in metres for lines and polygons.
    max_features : int
        Refuse more features than this (the page would be slow).

    Returns
    -------
    folium.GeoJson or None
        The layer, or None if ``gdf`` has no geometry to draw.
    """
    if len(gdf) > max_features:
        raise InputError(
            f"{len(gdf):,} features is too many for a web map layer (limit {max_features:,})"
        )
    colour = _colour(color)
    sub = gdf.loc[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    if sub.empty:
        return None
    geoms = _prepare_geoms(sub, name, simplify_m)
    keys, aliases, rows = _tooltip_table(sub, tooltip_fields)
    features = []
    for i, (geom, row) in enumerate(zip(geoms, rows, strict=True)):
        gj = _geometry_geojson(geom)
        if gj is not None:
            features.append({"type": "Feature", "id": str(i), "properties": row, "geometry": gj})
    if not features:
        return None
    tooltip = (
        folium.GeoJsonTooltip(fields=keys, aliases=aliases, sticky=True, style="font-size: 13px;")
        if keys
        else None
    )
    layer = folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=_layer_name(name),
        show=show,
        style_function=_vector_style(colour, weight, fill_opacity),
        marker=folium.CircleMarker(radius=radius),
        tooltip=tooltip,
    )
    layer.add_to(m)
    return layer


def _vector_style(colour: str, weight: float, fill_opacity: float) -> Any:
    def style(feature: dict[str, Any]) -> dict[str, Any]:
        if feature["geometry"]["type"] in ("Point", "MultiPoint"):
            return {
                "color": "#ffffff",
                "weight": 1.5,
                "opacity": 1.0,
                "fill": True,
                "fillColor": colour,
                "fillOpacity": 0.9,
            }
        return {
            "color": colour,
            "weight": weight,
            "opacity": 0.9,
            "fillColor": colour,
            "fillOpacity": fill_opacity,
        }

    return style
