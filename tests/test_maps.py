"""Tests for hotspot_env.app.maps: offline folium maps (no CDN, no tiles)."""

from __future__ import annotations

import base64
import io
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import folium
import geopandas as gpd
import matplotlib
import numpy as np
import pytest
import shapely
from PIL import Image
from pyproj import Transformer
from rasterio.transform import array_bounds, from_origin
from rasterio.warp import calculate_default_transform, transform_bounds

from hotspot_env.app import maps

try:
    from tests.browser import block_external, chromium_available
except ImportError:  # tests/ is not a package when run by the pytest script
    from browser import block_external, chromium_available

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
XSS = "<img src=x onerror=alert(1)>"

# Helsinki centre in UTM 35N.
CRS = "EPSG:32635"
X0, Y0 = 385_000.0, 6_671_000.0
CELL = 10.0


# --------------------------------------------------------------------------- fixtures


def _streets() -> gpd.GeoDataFrame:
    lines = []
    highway = []
    for i in range(13):  # a street grid with one diagonal avenue
        y = Y0 + i * 150
        lines.append(shapely.LineString([(X0, y), (X0 + 3000, y)]))
        highway.append("residential")
    for j in range(21):
        x = X0 + j * 150
        lines.append(shapely.LineString([(x, Y0), (x, Y0 + 1800)]))
        highway.append("residential")
    lines.append(shapely.LineString([(X0, Y0), (X0 + 3000, Y0 + 1800)]))
    highway.append("primary")
    return gpd.GeoDataFrame({"highway": highway}, geometry=lines, crs=CRS)


def _buildings() -> gpd.GeoDataFrame:
    boxes = [
        shapely.box(X0 + 20 + i * 150, Y0 + 20 + j * 150, X0 + 130 + i * 150, Y0 + 130 + j * 150)
        for i in range(20)
        for j in range(12)
        if (i + j) % 3
    ]
    return gpd.GeoDataFrame({"building": ["yes"] * len(boxes)}, geometry=boxes, crs=CRS)


def _grid() -> tuple[np.ndarray, object]:
    """200 rows x 300 cols of 10 m; zero in the west third, a hot NE corner."""
    rows, cols = 200, 300
    yy, xx = np.mgrid[0:rows, 0:cols]
    values = np.exp(-(((xx - 270) / 60.0) ** 2 + ((yy - 30) / 50.0) ** 2)) * 10.0
    values[:, :100] = 0.0
    values[:40, 250:] = 20.0  # the hot corner (row 0 = north)
    transform = from_origin(X0, Y0 + rows * CELL, CELL, CELL)
    return values, transform


def _cells() -> gpd.GeoDataFrame:
    bins = [3, 3, 2, 1, 0, -1, -2, -3]
    geoms = [
        shapely.box(X0 + 2500 + k * 60, Y0 + 1700, X0 + 2560 + k * 60, Y0 + 1760)
        if b > 0
        else shapely.box(X0 + 300 + k * 60, Y0 + 200, X0 + 360 + k * 60, Y0 + 260)
        for k, b in enumerate(bins)
    ]
    return gpd.GeoDataFrame(
        {
            "gi_bin": bins,
            "z": [3.1, 2.9, 2.1, 1.7, 0.2, -1.7, -2.1, -3.2],
            "note": [XSS, "a & b", "ok", "ok", "ok", "ok", "ok", "<script>alert(2)</script>"],
        },
        geometry=geoms,
        crs=CRS,
    )


def _bounds_wgs84() -> tuple[float, float, float, float]:
    area = gpd.GeoSeries([shapely.box(X0, Y0, X0 + 3000, Y0 + 2000)], crs=CRS)
    return tuple(area.to_crs(4326).total_bounds)


def _full_map(asset_base: str = maps.ASSET_BASE, **kwargs) -> tuple[maps.OfflineMap, dict]:
    m = maps.make_map(_bounds_wgs84(), asset_base=asset_base, **kwargs)
    maps.add_basemap(m, _streets(), _buildings())
    values, transform = _grid()
    legend = maps.add_raster_overlay(
        m, values, transform, CRS, name="Density " + XSS, nodata_below=0.5
    )
    maps.add_legend(m, "Incident density", legend, units="per km²", note="Kernel density.")
    entries = maps.add_cells(
        m,
        _cells(),
        "gi_bin",
        name="Gi* hot spots",
        tooltip_fields=["z", "note"],
        popup_field="note",
    )
    maps.add_legend(m, XSS, entries, note="Gi* " + XSS, position="bottomleft")
    pts = gpd.GeoDataFrame(
        {"kind": ["bar", XSS]},
        geometry=[shapely.Point(X0 + 900, Y0 + 900), shapely.Point(X0 + 1200, Y0 + 600)],
        crs=CRS,
    )
    maps.add_vector_layer(m, pts, name="Licensed premises", color="purple", tooltip_fields=["kind"])
    maps.finish(m)
    return m, legend


def _walk(element):
    for child in element._children.values():
        yield child
        yield from _walk(child)


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.refs.append(a["src"])
        if tag == "link" and a.get("href"):
            self.refs.append(a["href"])


def _script_and_link_refs(page: str) -> list[str]:
    parser = _Refs()
    parser.feed(page)
    return parser.refs


def _overlay_png(m: folium.Map) -> tuple[np.ndarray, list[list[float]]]:
    overlays = [c for c in m._children.values() if isinstance(c, folium.raster_layers.ImageOverlay)]
    assert len(overlays) == 1
    url = overlays[0].url
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    img = Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))
    assert img.mode == "RGBA"
    return np.asarray(img), overlays[0].bounds


# --------------------------------------------------------------------------- (a) offline


def test_map_html_has_no_external_scripts_or_styles():
    m, _ = _full_map()
    page = m.get_root().render()
    refs = _script_and_link_refs(page)
    assert "/app/static/vendor/leaflet/leaflet.js" in refs
    assert "/app/static/vendor/leaflet/leaflet.css" in refs
    external = [r for r in refs if urlsplit(r).netloc or urlsplit(r).scheme in ("http", "https")]
    assert external == []
    for cdn in ("cdn.jsdelivr", "code.jquery", "cdnjs", "bootstrapcdn", "d3js.org"):
        assert cdn not in page
    assert m.external_links() == []


def test_online_tiles_add_only_a_tile_layer():
    m = maps.make_map(_bounds_wgs84(), online_tiles=True)
    page = m.get_root().render()
    assert all(not urlsplit(r).netloc for r in _script_and_link_refs(page))
    assert "tile.openstreetmap.org" in page
    page_offline = maps.make_map(_bounds_wgs84()).get_root().render()
    assert "tile.openstreetmap.org" not in page_offline


def test_external_plugin_is_refused():
    from folium.plugins import Fullscreen

    m = maps.make_map(_bounds_wgs84())
    Fullscreen().add_to(m)
    with pytest.raises(maps.ExternalAssetError, match="cdn"):
        m.get_root().render()


def test_vendor_assets_is_idempotent(tmp_path):
    dest = maps.vendor_assets(tmp_path)
    assert dest == tmp_path / "vendor" / "leaflet"
    for name in ("leaflet.js", "leaflet.css", "images/layers.png", "images/marker-icon.png"):
        assert (dest / name).is_file()
    mtime = (dest / "leaflet.js").stat().st_mtime_ns
    assert maps.vendor_assets(tmp_path) == dest
    assert (dest / "leaflet.js").stat().st_mtime_ns == mtime
    (dest / "leaflet.css").unlink()  # incomplete copy is repaired
    maps.vendor_assets(tmp_path)
    assert (dest / "leaflet.css").is_file()
    assert [p.name for p in dest.parent.iterdir()] == ["leaflet"]  # no temp folders left


def test_basemap_payload_is_small():
    m = maps.make_map(_bounds_wgs84())
    before = len(m.get_root().render())
    m = maps.make_map(_bounds_wgs84())
    maps.add_basemap(m, _streets(), _buildings())
    page = m.get_root().render()
    # ~160 buildings and 35 streets: a few kB per 100 features.
    assert len(page) - before < 40_000
    layers = [c for c in _walk(m) if isinstance(c, folium.GeoJson)]
    assert len(layers) == 3  # buildings, minor streets, major streets
    for layer in layers:
        assert layer.options["interactive"] is False
        assert layer.options["pane"] == maps.BASEMAP_PANE
        assert len(layer.data["features"]) == 1  # merged into one multi-geometry
        text = json.dumps(layer.data)
        assert not re.search(r"\d\.\d{7,}", text)  # at most 6 decimals


# --------------------------------------------------------------------------- (b) raster


def test_raster_overlay_png_and_bounds():
    values, transform = _grid()
    m = maps.make_map(_bounds_wgs84())
    legend = maps.add_raster_overlay(m, values, transform, CRS, name="density", cmap="magma")
    png, bounds = _overlay_png(m)
    rows, cols = legend["shape"]
    assert png.shape == (rows, cols, 4)
    assert legend["vmin"] == pytest.approx(values[values > 0].min())
    assert legend["vmax"] == pytest.approx(20.0)

    # Bounds: the Web Mercator box around the grid, at rasterio's suggested
    # resolution, starting at the box's north-west corner, in degrees.
    h, w = values.shape
    src_bounds = array_bounds(h, w, transform)
    suggested, _, _ = calculate_default_transform(CRS, "EPSG:3857", w, h, *src_bounds)
    res = suggested.a
    west, south, east, north = transform_bounds(CRS, "EPSG:3857", *src_bounds, densify_pts=21)
    assert cols == math.ceil((east - west) / res) and rows == math.ceil((north - south) / res)
    tr = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    (lon_w, lon_e), (lat_s, lat_n) = tr.transform(
        [west, west + cols * res], [north - rows * res, north]
    )
    np.testing.assert_allclose(
        np.array(bounds), [[lat_s, lon_w], [lat_n, lon_e]], atol=1e-6, rtol=0
    )
    assert bounds == legend["bounds"]
    # ... and contain the source grid's corners, with less than a pixel to spare.
    lons, lats = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(
        [X0, X0 + 3000, X0, X0 + 3000], [Y0, Y0, Y0 + 2000, Y0 + 2000]
    )
    pixel_deg = 360 * res / (2 * math.pi * 6378137)
    assert -1e-9 <= min(lons) - bounds[0][1] < 1e-6
    assert -1e-9 <= bounds[1][0] - max(lats) < 1e-6
    assert 0 <= bounds[1][1] - max(lons) < pixel_deg
    assert 0 <= min(lats) - bounds[0][0] < pixel_deg

    alpha = png[..., 3]
    assert set(np.unique(alpha)) <= {0, 255}
    # West third is zero -> transparent; the grid is slightly rotated in Web
    # Mercator (UTM convergence), so test well inside each region.
    assert (alpha[5:-5, : int(cols * 0.28)] == 0).all()
    assert (
        alpha[int(rows * 0.3) : int(rows * 0.7), int(cols * 0.5) : int(cols * 0.7)] == 255
    ).all()
    # The hot NE corner has the top colour of the colormap.
    top = np.array(matplotlib.colormaps["magma"](1.0, bytes=True)[:3])
    corner = png[int(rows * 0.05) : int(rows * 0.15), int(cols * 0.88) : int(cols * 0.95), :3]
    assert (corner == top).all()
    bottom_colour = np.array(matplotlib.colormaps["magma"](0.0, bytes=True)[:3])
    assert not (corner == bottom_colour).all()


def test_raster_overlay_threshold_and_limits():
    values, transform = _grid()
    m = maps.make_map(_bounds_wgs84())
    legend = maps.add_raster_overlay(
        m, values, transform, CRS, name="d", vmin=0, vmax=5, nodata_below=1.0
    )
    assert legend["clipped_high"] and not legend["clipped_low"]
    png, _ = _overlay_png(m)
    visible = png[..., 3] == 255
    share = visible.mean()
    assert 0 < share < (values >= 1.0).mean() + 0.05
    html_legend = maps.add_legend(m, "Density", legend, units="per km²")
    assert "&ge; 5" in html_legend


def test_million_cell_raster_is_one_image_not_features():
    # A 1000 x 1000 grid must reach the page as one PNG overlay of about the
    # grid's size, never as per-cell vector features (speed lives in the benchmark).
    rng = np.random.default_rng(1)
    values = rng.gamma(1.0, 1.0, (1000, 1000))
    m = maps.make_map(_bounds_wgs84())
    maps.add_raster_overlay(m, values, from_origin(X0, Y0 + 2000, 2.0, 2.0), CRS, name="big")
    png, _ = _overlay_png(m)
    assert 900 <= png.shape[0] <= 1100 and 900 <= png.shape[1] <= 1100
    assert not [c for c in m._children.values() if isinstance(c, folium.GeoJson)]


# --------------------------------------------------------------------------- (c) escaping


def test_legend_text_is_escaped():
    m = maps.make_map(_bounds_wgs84())
    content = maps.add_legend(m, XSS, {XSS: "red", "b": "#00ff00"}, note=XSS)
    assert "&lt;img src=x onerror=alert(1)&gt;" in content
    assert "<img" not in content
    assert "background:#ff0000" in content
    page = m.get_root().render()
    assert XSS not in page and "<img src=x" not in page
    with pytest.raises(ValueError, match="colour"):
        maps.add_legend(m, "t", {"x": "red;background:url(http://evil)"})


def test_cells_tooltips_and_names_are_escaped():
    m, _ = _full_map()
    page = m.get_root().render()
    assert XSS not in page
    assert "<script>alert(2)" not in page
    cells_layer = next(
        c
        for c in m._children.values()
        if isinstance(c, folium.GeoJson) and c.layer_name and "Gi" in c.layer_name
    )
    notes = [f["properties"]["t1"] for f in cells_layer.data["features"]]
    assert "&lt;img src=x onerror=alert(1)&gt;" in notes
    assert "a &amp; b" in notes
    # bin 0 is not drawn; the seven significant cells are
    assert len(notes) == 7


def test_add_cells_returns_drawn_classes():
    m = maps.make_map(_bounds_wgs84())
    entries = maps.add_cells(m, _cells(), "gi_bin", name="cells", tooltip_fields=["z"])
    assert list(entries) == [label for label, _ in maps.GI_BINS.values()]
    assert entries["Hot spot, 99 % confidence"] == "#d62f27"


# --------------------------------------------------------------------------- (d) browser






@pytest.mark.browser
def test_offline_map_renders_in_chromium(served_dir, browser):
    assert chromium_available(), "install Debian chromium (make chromium): browser tests need it"
    root, base_url = served_dir
    maps.vendor_assets(root)
    m, _ = _full_map(asset_base="/vendor", height=700)
    m.save(str(root / "map.html"))

    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    dialogs: list[str] = []
    failed: list[str] = []
    page = browser.new_page(viewport={"width": 1100, "height": 720})
    try:
        blocked = block_external(page)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(f"{base_url}/map.html", wait_until="load")
        page.wait_for_function(
            "() => { const i = document.querySelector('.leaflet-image-layer');"
            " return i && i.complete && i.naturalWidth > 0; }",
            timeout=10_000,
        )
        assert page.locator(".leaflet-container").count() == 1
        widths = page.eval_on_selector_all(
            "img.leaflet-image-layer", "els => els.map(e => e.naturalWidth)"
        )
        assert widths and max(widths) > 0
        basemap_paths = page.locator(".leaflet-hotspotBasemap-pane svg path").count()
        assert basemap_paths == 3  # buildings, minor streets, major streets
        assert page.locator(".leaflet-overlay-pane svg path").count() >= 7

        assert page.locator(".hotspot-legend").count() == 2
        assert page.locator(".hotspot-legend img").count() == 0
        gi_legend = page.locator(".hotspot-legend", has_text="Hot spot, 99 %")
        assert XSS in gi_legend.inner_text()
        assert page.locator(".leaflet-control-layers").count() == 1
        assert page.locator(".leaflet-control-layers img").count() == 0

        # Tooltip on a hot-spot cell shows escaped text, not markup.
        page.locator('.leaflet-overlay-pane path[fill="#d62f27"]').first.hover()
        tooltip = page.locator(".leaflet-tooltip")
        tooltip.wait_for(timeout=5_000)
        assert "Hot spot, 99 % confidence" in tooltip.inner_text()
        assert page.locator(".leaflet-tooltip img").count() == 0
        page.mouse.move(5, 5)

        page.screenshot(path=str(ARTIFACTS / "maps_offline.png"))
    finally:
        page.close()
    assert blocked == []
    assert errors == []
    assert dialogs == []
    assert failed == []
