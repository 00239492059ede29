"""The report's map: OSM basemap, scale bar, north arrow, no projected-coordinate ticks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import shapely  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

from hotspot_env.outputs.report import density_figure, density_png, nice_length  # noqa: E402


@pytest.mark.parametrize(("span", "bar"), [(2200, 200), (1000, 200), (999, 100), (12_000, 2000),
                                           (52_000, 10_000), (40, 5), (3, 1)])
def test_nice_length(span, bar):
    assert nice_length(span) == bar


@pytest.fixture(scope="module")
def demo():
    from hotspot_env.core.analysis import analyze
    from hotspot_env.inputs.demo import demo_incidents_path, demo_osm_path

    return analyze(demo_incidents_path(), osm=demo_osm_path())


def test_map_has_basemap_scale_bar_north_arrow_and_no_ticks(demo):
    fig = density_figure(demo)
    ax = fig.axes[0]
    try:
        assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
        assert ax.get_xlabel() == "" and ax.get_ylabel() == ""
        bars = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
        assert len(bars) == 1
        label = bars[0].txt_label.get_text()
        width = demo.grid.bounds[2] - demo.grid.bounds[0]
        assert label == f"{nice_length(width):,.0f} m"
        assert any(t.get_text() == "N" and t.arrow_patch is not None for t in ax.texts
                   if hasattr(t, "arrow_patch"))
        streets = shapely.get_parts(demo.map_layers["streets"].geometry.to_numpy())
        lines = [c for c in ax.collections if isinstance(c, LineCollection)]
        assert len(lines) == 1 and len(lines[0].get_segments()) == np.isin(
            shapely.get_type_id(streets), (1, 2)).sum()
        assert any(isinstance(c, PolyCollection) and not isinstance(c, LineCollection)
                   and len(c.get_paths()) > 100 for c in ax.collections)  # buildings
        assert any("OpenStreetMap" in t.get_text() for t in ax.texts)
    finally:
        plt.close(fig)


def test_map_without_osm_layers_still_draws(demo):
    from dataclasses import replace

    bare = replace(demo, map_layers={}) if hasattr(demo, "__dataclass_fields__") else demo
    png = density_png(bare)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
