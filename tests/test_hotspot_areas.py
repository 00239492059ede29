"""Hot spots readable at a city-wide zoom: merged, outlined areas, cells when zoomed in (issue 18).

The references are independent of the code under test: shapely boxes built by
hand for the areas, pyproj's Web Mercator for the zoom at which a cell is 12
pixels wide, and Chromium for what Leaflet actually draws at each zoom.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import CRS, Transformer

from hotspot_env.app import maps
from hotspot_env.app.maps.areas import outline_colour
from hotspot_env.core.grid import Grid

try:
    from tests.browser import block_external, chromium_available
except ImportError:  # tests/ is not a package when run by the pytest script
    from browser import block_external, chromium_available

#: Classes on a 6 x 7 grid (row 0 north). The 99 % block of four and the
#: single 99 % cell touch only at a corner: two areas, not one.
PATTERN = np.array([
    [3, 3, 0, 0, 0, 0, 2],
    [3, 3, 0, 0, 0, 2, 2],
    [0, 0, 3, 0, 0, 0, 0],
    [0, 0, 0, 0, -1, -1, 0],
    [0, 0, 0, 0, -1, 0, 0],
    [0, 0, 0, 0, 0, 0, 0],
])
SIZE = 73.3  # an odd size and origin: shared edges differ in the last float digit


@pytest.fixture(scope="module")
def grid() -> Grid:
    return Grid(crs=CRS.from_epsg(31983), x0=331_290.7, y0=7_393_710.3, cell_size=SIZE,
                n_cols=7, n_rows=6, mask=np.ones((6, 7), dtype=bool))


@pytest.fixture(scope="module")
def cells(grid):
    frame = grid.to_geodataframe({"gi_bin": PATTERN})
    return frame[frame["gi_bin"] != 0]


def _cell_box(grid: Grid, row: int, col: int) -> shapely.Polygon:
    west, north = grid.x0 + col * SIZE, grid.bounds[3] - row * SIZE
    return shapely.box(west, north - SIZE, west + SIZE, north)


def test_zoom_for_width_matches_web_mercator():
    lat, lon = -23.55, -46.63  # São Paulo, UTM 23S
    utm = CRS.from_epsg(31983)
    x, y = Transformer.from_crs(4326, utm, always_xy=True).transform(lon, lat)
    lon2, lat2 = Transformer.from_crs(utm, 4326, always_xy=True).transform(x + 100.0, y)
    merc = Transformer.from_crs(4326, 3857, always_xy=True)
    span = merc.transform(lon2, lat2)[0] - merc.transform(lon, lat)[0]
    zoom = maps.zoom_for_width(100.0, lat, pixels=12)
    metres_per_pixel = 2 * math.pi * 6_378_137 / (256 * 2**zoom)  # Leaflet's scale at zoom
    assert span / metres_per_pixel == pytest.approx(12.0, rel=2e-3)
    assert maps.zoom_for_width(200.0, lat, 12) == pytest.approx(zoom - 1)
    with pytest.raises(ValueError):
        maps.zoom_for_width(0.0, lat)


def test_touching_cells_of_one_class_merge_into_one_area(grid, cells):
    areas = maps.merge_classes(cells, "gi_bin", maps.GI_BINS)
    assert areas.crs == cells.crs
    # classes in legend order (hot 99 % first), larger areas first
    assert areas["value"].tolist() == [3, 3, 2, -1]
    assert areas["cells"].tolist() == [4, 1, 3, 3]
    expected = [
        shapely.union_all([_cell_box(grid, r, c) for r in (0, 1) for c in (0, 1)]),
        _cell_box(grid, 2, 2),
        shapely.union_all([_cell_box(grid, 0, 6), _cell_box(grid, 1, 5), _cell_box(grid, 1, 6)]),
        shapely.union_all([_cell_box(grid, 3, 4), _cell_box(grid, 3, 5), _cell_box(grid, 4, 4)]),
    ]
    for geom, want, n in zip(areas.geometry, expected, areas["cells"], strict=True):
        assert geom.geom_type == "Polygon" and len(geom.interiors) == 0  # no slivers
        assert geom.area == pytest.approx(n * SIZE**2, rel=1e-9)
        assert geom.symmetric_difference(want).area < 1e-4 * SIZE**2
    assert areas["label"].iloc[0] == maps.GI_BINS[3][0]


def test_only_listed_classes_are_merged(cells):
    hot_only = {3: maps.GI_BINS[3]}
    areas = maps.merge_classes(cells, "gi_bin", hot_only)
    assert set(areas["value"]) == {3}
    assert maps.merge_classes(cells.iloc[:0], "gi_bin", maps.GI_BINS).empty


def _map_with_areas(grid, cells, zoom):
    bounds = Transformer.from_crs(grid.crs, 4326, always_xy=True).transform_bounds(*grid.bounds)
    m = maps.make_map(bounds, asset_base="/vendor", height=500)
    entries = maps.add_cells(m, cells, "gi_bin", name="Gi* hot and cold spots",
                             tooltip_fields=["cell_id"], areas_below_zoom=zoom)
    maps.finish(m)
    return m, entries


def test_areas_and_cells_share_one_layer_entry(grid, cells):
    m, entries = _map_with_areas(grid, cells, 16.25)
    assert list(entries) == [maps.GI_BINS[v][0] for v in (3, 2, -1)]
    groups = [c for c in m._children.values() if c._name == "FeatureGroup"]
    assert len(groups) == 1 and groups[0].layer_name == "Gi* hot and cold spots"
    layers = [c for c in groups[0]._children.values() if hasattr(c, "data")]
    sizes = sorted(len(layer.data["features"]) for layer in layers)
    assert sizes == [4, len(cells)]  # four merged areas, every cell
    areas = min(layers, key=lambda layer: len(layer.data["features"]))
    for feature in areas.data["features"]:
        fill, line = feature["properties"]["_fill"], feature["properties"]["_line"]
        assert sum(int(line[i:i + 2], 16) for i in (1, 3, 5)) < sum(
            int(fill[i:i + 2], 16) for i in (1, 3, 5))  # the outline is darker than the fill
    page = m.get_root().render()
    assert "m.getZoom() >= 16.25" in page
    assert m.external_links() == []


def test_without_a_zoom_the_cells_are_drawn_as_before(grid, cells):
    bounds = Transformer.from_crs(grid.crs, 4326, always_xy=True).transform_bounds(*grid.bounds)
    m = maps.make_map(bounds)
    maps.add_cells(m, cells, "gi_bin", name="cells")
    assert not any(c._name == "FeatureGroup" for c in m._children.values())
    assert "getZoom() >=" not in m.get_root().render()


# --------------------------------------------------------------------------- browser




@pytest.mark.browser
def test_areas_below_the_zoom_cells_above_it_in_chromium(served_dir, browser, grid, cells):
    assert chromium_available(), "install Debian chromium (make chromium): browser tests need it"
    root, base_url = served_dir
    maps.vendor_assets(root)
    lat = Transformer.from_crs(grid.crs, 4326, always_xy=True).transform(grid.x0, grid.y0)[1]
    zoom = maps.zoom_for_width(SIZE, lat, 12)
    m, _ = _map_with_areas(grid, cells, zoom)
    m.save(str(root / "map.html"))
    page = browser.new_page(viewport={"width": 900, "height": 600})
    errors: list[str] = []
    try:
        blocked = block_external(page)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base_url}/map.html", wait_until="load")
        name = m.get_name()
        paths = ".leaflet-overlay-pane svg path"

        def zoom_to(level: int) -> None:
            # re-issued until it holds: a zoom asked for while the first fit still
            # animates is dropped by Leaflet
            page.wait_for_function(
                f"() => {{ if ({name}.getZoom() !== {level}) {{ {name}.setZoom({level}, "
                f"{{animate: false}}); }} return {name}.getZoom() === {level}; }}")

        zoom_to(math.floor(zoom) - 1)
        page.wait_for_function(f"() => document.querySelectorAll('{paths}').length === 4")
        strokes = page.eval_on_selector_all(paths, "els => els.map(e => e.getAttribute('stroke'))")
        assert set(strokes) == {outline_colour(c) for c in ("#d62f27", "#ed7551", "#a9c4e2")}
        zoom_to(math.ceil(zoom) + 1)
        page.wait_for_function(
            f"() => document.querySelectorAll('{paths}').length === {len(cells)}")
        # the layer control hides both
        page.locator(".leaflet-control-layers-overlays input").first.uncheck()
        page.wait_for_function(f"() => document.querySelectorAll('{paths}').length === 0")
        zoom_to(math.floor(zoom) - 1)
        page.wait_for_timeout(300)
        assert page.locator(paths).count() == 0
    finally:
        page.close()
    assert blocked == [] and errors == []
