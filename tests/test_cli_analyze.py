"""End-to-end: the CLI on the real São Paulo pair, carried in tests/data/."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from typer.testing import CliRunner

from hotspot_env.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def sp_out(sao_paulo, tmp_path_factory):
    out = tmp_path_factory.mktemp("sp")
    result = runner.invoke(app, ["analyze", "--incidents", str(sao_paulo["incidents"]),
                                 "--osm", str(sao_paulo["osm"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_outputs_exist_with_contract_columns(sp_out):
    out, _ = sp_out
    for name in ("cells.gpkg", "density.tif", "manifest.json", "report.html"):
        assert (out / name).is_file(), name
    cells = gpd.read_file(out / "cells.gpkg", layer="cells")
    for col in ("cell_id", "incidents", "kde", "gi_z", "gi_p", "gi_bin"):
        assert col in cells.columns
    assert cells.crs.is_projected
    assert cells.cell_id.is_unique
    assert set(cells.gi_bin.unique()) <= {-3, -2, -1, 0, 1, 2, 3}
    assert (cells.gi_p.between(0, 1)).all()


def test_counts_add_up_and_match_data_readme(sp_out):
    out, _ = sp_out
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    cells = gpd.read_file(out / "cells.gpkg", layer="cells")
    assert counts["incidents_used"] == int(cells.incidents.sum())
    assert counts["incidents_read"] == 6214
    assert counts["incidents_read"] == counts["incidents_used"] + counts["incidents_dropped"]
    # tests/data/README.md: 342 points in the street network's convex hull, 350 in its bbox;
    # the study area is that hull plus 25 m, so the count lies between them.
    assert 342 <= counts["incidents_used"] <= 350


def test_manifest_records_inputs_parameters_versions(sp_out, sao_paulo):
    out, output = sp_out
    manifest = json.loads((out / "manifest.json").read_text())
    hashes = {i["path"]: i["sha256"] for i in manifest["inputs"]}
    assert hashes["sao_paulo_homicides.csv"].startswith("3fdc2512cb07")
    assert hashes["spo_osm.pbf"].startswith("5cb72c6df542")
    names = {c["name"] for c in manifest["automatic_choices"]}
    assert {"crs", "cell_size_m", "bandwidth_m", "study_area"} <= names
    assert manifest["parameters"]["crs"] == "EPSG:32723"
    assert manifest["versions"]["esda"] != "missing"
    # every automatic choice was also printed
    for name in ("crs set to EPSG:32723", "cell_size_m set to", "bandwidth_m set to"):
        assert name in output


def test_density_tif_matches_cells(sp_out):
    out, _ = sp_out
    cells = gpd.read_file(out / "cells.gpkg", layer="cells")
    with rasterio.open(out / "density.tif") as src:
        band = src.read(1)
        assert src.crs.to_epsg() == 32723
        rows, cols = rasterio.transform.rowcol(src.transform,
                                               cells.geometry.centroid.x.to_numpy(),
                                               cells.geometry.centroid.y.to_numpy())
    np.testing.assert_allclose(band[rows, cols], cells.kde.to_numpy(), rtol=1e-6)


def test_no_output_contains_an_incident_coordinate(sp_out, sao_paulo):
    out, _ = sp_out
    raw = pd.read_csv(sao_paulo["incidents"])
    needles = {f"{v:.5f}" for v in np.r_[raw.lon.to_numpy()[:2000], raw.lat.to_numpy()[:2000]]}
    for path in out.iterdir():
        if path.suffix in (".json", ".html", ".csv"):
            text = path.read_text(errors="ignore")
            assert not any(n in text for n in needles), path.name
    cells = gpd.read_file(out / "cells.gpkg", layer="cells")
    assert (cells.geometry.geom_type == "Polygon").all()


def test_bad_input_exit_2_one_line_nothing_written(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("lon,lat\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", "--incidents", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert "no rows" in result.output and "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_swapped_coordinates_error_suggests_fix(sao_paulo, tmp_path):
    raw = pd.read_csv(sao_paulo["incidents"]).head(300)
    swapped = raw.rename(columns={"lon": "lat", "lat": "lon"})
    path = tmp_path / "swapped.csv"
    swapped.to_csv(path, index=False)
    result = runner.invoke(app, ["analyze", "--incidents", str(path), "--osm",
                                 str(sao_paulo["osm"]), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "swapped" in result.output
