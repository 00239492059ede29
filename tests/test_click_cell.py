"""A click on the map names the cell drawn under it, on a grid unlike the demo's.

An uploaded city once showed a tooltip for one cell and a panel for the cell
below it. Here the polygons are taken from the map as drawn (the GeoJSON that
:func:`hotspot_env.app.maps.add_cells` writes, in WGS 84), and points inside each
are sent through :func:`hotspot_env.app.places.cell_at`, as a click is: both must
name the same cell. The grid is in the southern hemisphere (UTM 23S, São
Paulo), with an odd cell size, so a flipped row or a half-cell shift fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import CRS

from hotspot_env.app import maps, mapview, places
from hotspot_env.core.grid import Grid


@pytest.fixture(scope="module")
def grid() -> Grid:
    rng = np.random.default_rng(3)
    mask = rng.random((23, 31)) > 0.15  # an irregular study area
    return Grid(crs=CRS.from_epsg(31983), x0=331_290.0, y0=7_393_710.0, cell_size=73.0,
                n_cols=31, n_rows=23, mask=mask)


def _drawn_features(grid: Grid) -> list[dict]:
    ids = grid.cell_ids()
    cells = grid.to_geodataframe({"cls": np.full(grid.shape, 3), "cell_number": ids})
    from pyproj import Transformer

    west, south, east, north = grid.bounds
    lon0, lat0 = Transformer.from_crs(grid.crs, 4326, always_xy=True).transform(west, south)
    lon1, lat1 = Transformer.from_crs(grid.crs, 4326, always_xy=True).transform(east, north)
    m = maps.make_map((lon0, lat0, lon1, lat1))
    maps.add_cells(m, cells, "cls", name="cells", tooltip_fields=["cell_number"])
    layer = next(c for c in m._children.values() if hasattr(c, "data"))
    return layer.data["features"]


def test_points_inside_each_drawn_cell_select_that_cell(grid):
    features = _drawn_features(grid)
    assert len(features) == int(grid.mask.sum())
    for feature in features:
        polygon = shapely.geometry.shape(feature["geometry"])
        cell_id = int(feature["properties"]["t0"].replace(",", ""))
        # the centre and points 20 % in from each corner (lon/lat of the drawn shape)
        (x0, y0), (x1, y1) = np.array(polygon.bounds).reshape(2, 2)
        probes = [polygon.centroid.coords[0]] + [
            (x0 + fx * (x1 - x0), y0 + fy * (y1 - y0))
            for fx in (0.2, 0.8) for fy in (0.2, 0.8)]
        for lon, lat in probes:
            assert polygon.contains(shapely.Point(lon, lat))
            rc = places.cell_at(grid, lat, lon)
            assert rc is not None, (cell_id, lat, lon)
            assert rc[0] * grid.n_cols + rc[1] == cell_id, (cell_id, rc, lat, lon)


def test_selected_cell_outline_is_the_clicked_cell(grid):
    rows, cols = np.nonzero(grid.mask)
    row, col = int(rows[len(rows) // 3]), int(cols[len(cols) // 3])
    layer = mapview.selected_cell_layer(grid, (row, col))
    (polygon,) = layer._children.values()
    outline = shapely.Polygon([(lon, lat) for lat, lon in polygon.locations])
    lon, lat = places.cell_centre_lonlat(grid, row, col)
    assert outline.contains(shapely.Point(lon, lat))
    assert places.cell_at(grid, lat, lon) == (row, col)
    # the outline matches the cell's own square, projected (corners within 1 cm)
    square = grid.polygons()[np.flatnonzero((rows == row) & (cols == col))[0]]
    import geopandas as gpd

    expected = gpd.GeoSeries([square], crs=grid.crs).to_crs(4326).iloc[0]
    assert outline.symmetric_difference(expected).area < 1e-12
    assert not mapview.selected_cell_layer(grid, None)._children  # nothing selected
