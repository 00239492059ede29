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
    add_cells(m, gi_cells, "gi_bin", name="Gi* hot spots", tooltip_fields=["count"],
              areas_below_zoom=zoom_for_width(100, 60.2))  # merged areas until 100 m = 12 px
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

from hotspot_env.app.maps._style import ASSET_BASE, BASEMAP_PANE, GI_BINS, RASTER_PANE
from hotspot_env.app.maps.areas import merge_classes, zoom_for_width
from hotspot_env.app.maps.assets import vendor_assets
from hotspot_env.app.maps.base import ExternalAssetError, OfflineMap, finish, make_map
from hotspot_env.app.maps.basemap import add_basemap, add_styled_basemap, basemap_styles
from hotspot_env.app.maps.cells import add_cells
from hotspot_env.app.maps.legend import add_legend, gi_legend_entries, large_print
from hotspot_env.app.maps.raster import RasterLegend, add_raster_overlay, mercator_bounds_to_latlon
from hotspot_env.app.maps.vectors import add_vector_layer

__all__ = [
    "ASSET_BASE",
    "GI_BINS",
    "BASEMAP_PANE",
    "ExternalAssetError",
    "OfflineMap",
    "RASTER_PANE",
    "RasterLegend",
    "add_basemap",
    "add_cells",
    "add_legend",
    "large_print",
    "add_raster_overlay",
    "add_styled_basemap",
    "add_vector_layer",
    "basemap_styles",
    "finish",
    "gi_legend_entries",
    "make_map",
    "mercator_bounds_to_latlon",
    "merge_classes",
    "vendor_assets",
    "zoom_for_width",
]
