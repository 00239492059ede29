"""Opening a national run in the app: allowed folders, the region list, loading one region.

References are independent of the code under test: the partitions read
straight with geopandas, the manifest read with json, the published counts
summed by hand, and the files actually opened recorded by a spy on the reader
(and, independently, by corrupting every other region's files).
"""

from __future__ import annotations

import json
import os
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from hotspot_env.app import national
from hotspot_env.app import region_view as rv
from hotspot_env.errors import InputError
from hotspot_env.outputs.privacy import stand_in

REGIONS = ["city_00", "city_01"]


def roots_for(*folders) -> national.RunRoots:
    return national.run_roots(False, {national.RUN_ROOTS_ENV: os.pathsep.join(map(str, folders))})


# ------------------------------------------------------------------ allowed folders
def test_roots_come_from_the_variable_then_the_local_run_else_none(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    named = roots_for(a, b)
    assert named.roots == (a.resolve(), b.resolve())
    assert named.choice().name == "run_roots" and national.RUN_ROOTS_ENV in named.rule
    local = national.run_roots(True, {})
    assert local.roots == (national.Path.home().resolve(),)
    served = national.run_roots(False, {})
    assert served.roots == ()
    with pytest.raises(InputError, match="opens no run folder") as info:
        national.resolve_run_folder(str(tmp_path), served)
    assert "\n" not in str(info.value)


def test_folders_outside_the_roots_are_refused_in_one_line(tmp_path):
    inside = tmp_path / "runs" / "r1"
    inside.mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    roots = roots_for(tmp_path / "runs")
    assert national.resolve_run_folder(str(inside), roots) == inside.resolve()
    for text, words in [(str(outside), "outside the folders"),
                        (str(tmp_path / "runs" / ".." / "elsewhere"), "outside the folders"),
                        ("runs/r1", "absolute path"), ("", "give the run folder"),
                        (str(tmp_path / "runs" / "missing"), "not a folder")]:
        with pytest.raises(InputError, match=words) as info:
            national.resolve_run_folder(text, roots)
        assert "\n" not in str(info.value)


def test_a_link_inside_a_root_cannot_lead_outside(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "runs" / "link").symlink_to(tmp_path / "secret", target_is_directory=True)
    with pytest.raises(InputError, match="outside the folders"):
        national.resolve_run_folder(str(tmp_path / "runs" / "link"), roots_for(tmp_path / "runs"))


def test_folders_that_are_no_national_run_are_refused(tmp_path):
    roots = roots_for(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no manifest.json"):
        national.open_run(str(empty), roots)
    single = tmp_path / "single"
    single.mkdir()
    (single / "manifest.json").write_text(json.dumps({"manifest_version": 3, "counts": {}}))
    with pytest.raises(InputError, match="holds no national run"):
        national.open_run(str(single), roots)
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    (crafted / "manifest.json").write_text(json.dumps(
        {"manifest_version": 1, "tiles": [{"region": "../../etc"}]}))
    with pytest.raises(InputError, match="not a plain file name"):
        national.open_run(str(crafted), roots)


# ------------------------------------------------------------------ the region list
def test_region_list_matches_the_partitions(national_runs):
    folder = national_runs["internal"]
    run = national.open_run(str(folder), roots_for(national_runs["root"]))
    table = run.region_table()
    assert list(table["region"]) == REGIONS == run.regions
    manifest = json.loads((folder / "manifest.json").read_text())
    assert run.statistics_note() == manifest["statistics"] and run.engine == "regions"
    for region, row in zip(REGIONS, table.itertuples(), strict=True):
        cells = gpd.read_parquet(folder / "cells" / f"{region}.parquet")
        assert row.cells == len(cells)
        assert row.incidents == int(cells["incidents"].sum()) > 0
    assert run.privacy_mode == "internal" and run.simulated


def test_a_public_run_lists_protected_tallies_only(national_runs):
    folder = national_runs["public"]
    run = national.open_run(str(folder), roots_for(national_runs["root"]))
    assert run.privacy_mode == "public"
    table = run.region_table()
    k = json.loads(json.loads((folder / "manifest.json").read_text())["tiles"][0]["privacy"]
                   ["privacy"])["k_threshold"]
    for region, row in zip(REGIONS, table.itertuples(), strict=True):
        text = gpd.read_parquet(folder / "cells" / f"{region}.parquet")["incidents"].astype(str)
        imputed = sum(stand_in(k) if t == f"<{k}" else int(t) for t in text)
        assert row.incidents == round(imputed, -1) and row.incidents % 10 == 0
    # the manifest itself carries no exact tally in public mode
    record = json.loads((folder / "manifest.json").read_text())["tiles"][1]
    text = gpd.read_parquet(folder / "cells" / "city_01.parquet")["incidents"].astype(str)
    assert record["counts"]["incidents_used"] == sum(stand_in(k) if t == f"<{k}" else int(t)
                                                     for t in text)
    assert all(v % 10 == 0 for key, v in record["counts"].items()
               if key not in ("incidents_used", "note"))


# ------------------------------------------------------------------ loading one region
def test_only_the_chosen_regions_files_are_read(national_runs, monkeypatch):
    folder = national_runs["internal"]
    run = national.open_run(str(folder), roots_for(national_runs["root"]))
    opened = []
    real = gpd.read_parquet

    def spy(path, *args, **kwargs):
        opened.append(os.path.relpath(path, folder))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(gpd, "read_parquet", spy)
    view = national.load_region(run, "city_01", "internal")
    assert sorted(opened) == ["cells/city_01.parquet", "interventions/city_01.parquet"]
    assert view.region == "city_01" and (view.cells["region"] == "city_01").all()


def test_a_region_loads_with_every_other_regions_files_broken(national_runs, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(national_runs["internal"], copy)
    for path in [copy / "density.tif", *copy.glob("*/city_00.parquet"),
                 *(copy / "workorders" / "city_00").iterdir()]:
        path.write_bytes(b"not a file of this run")
    run = national.open_run(str(copy), roots_for(tmp_path))
    view = national.load_region(run, "city_01", "internal")
    reference = gpd.read_parquet(national_runs["internal"] / "cells" / "city_01.parquet")
    pd.testing.assert_frame_equal(pd.DataFrame(view.cells.drop(columns="geometry")),
                                  pd.DataFrame(reference.drop(columns="geometry")))
    assert view.grid.mask.sum() == len(reference)
    rows, cols = np.divmod(reference["cell_id"].to_numpy(), view.grid.n_cols)
    np.testing.assert_array_equal(view.arrays["kde"][rows, cols], reference["kde"].to_numpy())
    with pytest.raises(InputError, match="no region"):
        national.load_region(run, "city_09", "internal")


def test_public_sessions_see_public_runs_only(national_runs):
    roots = roots_for(national_runs["root"])
    internal = national.open_run(str(national_runs["internal"]), roots)
    with pytest.raises(InputError, match="written in internal mode") as info:
        national.load_region(internal, "city_00", "public")
    assert "\n" not in str(info.value)
    public = national.open_run(str(national_runs["public"]), roots)
    for privacy in ("public", "internal"):
        view = national.load_region(public, "city_00", privacy)
        text = view.cells["incidents"].astype(str)
        k = view.record["parameters"]["k_threshold"]
        small = pd.to_numeric(text, errors="coerce")
        assert ((small == 0) | (small >= k) | small.isna()).all()
        assert (text == f"<{k}").any() and "incidents" not in view.arrays


# ------------------------------------------------------------------ what the pages show
@pytest.fixture(scope="module")
def view_internal(national_runs):
    run = national.open_run(str(national_runs["internal"]), roots_for(national_runs["root"]))
    return run, national.load_region(run, "city_01", "internal")


def test_region_map_draws_its_layers_inside_the_region(view_internal):
    run, view = view_internal
    keys = [layer.key for layer in rv.available_layers(view)]
    assert {"density", "hotspots", "rtm"} <= set(keys)
    html = rv.region_map(view, ["density", "hotspots"], sites=rv.sites(view, 5)) \
        .get_root().render()
    assert "data:image/png;base64" in html and "Intervention sites" in html
    assert "http://" not in html.replace("http://www.w3.org", "")
    west, south, east, north = rv.bounds_wgs84(view)
    box = gpd.GeoSeries(gpd.points_from_xy(*np.array(view.record["bounds"]).reshape(2, 2).T),
                        crs=view.grid.crs).to_crs(4326).total_bounds
    assert box[0] - 1e-3 <= west < east <= box[2] + 1e-3
    assert box[1] - 1e-3 <= south < north <= box[3] + 1e-3


def rc_of(view, cell_id: int) -> tuple[int, int]:
    """Row and column of a saved cell id in the view's (cut) grid."""
    row0, col0, n_cols = view.window
    row, col = divmod(int(cell_id), n_cols)
    return row - row0, col - col0


def test_a_clicked_place_shows_its_saved_row(view_internal):
    _, view = view_internal
    row = view.cells.sort_values("incidents").iloc[-1]
    head, table = rv.place_table(view, *rc_of(view, row["cell_id"]))
    assert head["cell_id"] == str(row["cell_id"]) and head["incidents"] == str(row["incidents"])
    assert head["why"] == row["why"]
    kde = float(row["kde"])
    written = f"{kde:,.0f}" if kde >= 100 else f"{kde:.1f}" if kde >= 1 else f"{kde:.2f}"
    assert table.set_index("Measure").loc["Incident density", "Value"] == written
    assert len(table) == len([c for c in rv.CELL_FIELDS if c in view.cells.columns]) > 5
    with pytest.raises(KeyError):
        rv.place_table(view, view.grid.n_rows + 5, 0)


def test_interventions_table_and_work_orders_come_from_the_region(view_internal, tmp_path):
    run, view = view_internal
    table = rv.interventions_table(view)
    saved = gpd.read_parquet(run.folder / "interventions" / "city_01.parquet")
    assert len(table) == len(saved) > 0
    assert list(table["rank"]) == sorted(saved["rank"])
    assert "geometry" not in table and "Street light upgrade" in set(table["type"])
    files = rv.work_order_files(run.folder, view)
    names = {path.name for _, path, _ in files}
    assert names == {"interventions.csv", "interventions.geojson", "interventions.gpkg",
                     "equity.csv", "workorders.html"}
    assert all(path.parent.name == "city_01" for _, path, _ in files)
    crafted = type(view)(view.region, view.grid, view.arrays, view.cells, view.interventions,
                         {**view.record, "files": ["workorders/city_01/../../manifest.json",
                                                   "workorders/city_00/interventions.csv"]})
    assert rv.work_order_files(run.folder, crafted) == []
    assert "no budget" in rv.ranking_message(view)


def test_top_places_are_the_highest_risk_cells(view_internal):
    _, view = view_internal
    top = rv.top_places(view, 5)
    expected = view.cells.sort_values("rtm_score", ascending=False, kind="stable").head(5)
    assert list(top["cell_id"]) == list(expected["cell_id"])
    np.testing.assert_allclose(top["risk score"], expected["rtm_score"].round(2))


def test_a_public_regions_pages_show_protected_counts_only(national_runs):
    run = national.open_run(str(national_runs["public"]), roots_for(national_runs["root"]))
    view = national.load_region(run, "city_01", "public")
    k = view.record["parameters"]["k_threshold"]

    def protected(values) -> bool:
        text = pd.Series(values, dtype=str)
        numbers = pd.to_numeric(text[text != f"<{k}"])
        return bool(((numbers == 0) | (numbers >= k)).all())

    top = rv.top_places(view, 40)
    assert protected(top["incidents"]) and (top["incidents"] == f"<{k}").any()
    cells = rv.hotspot_cells(view)
    assert len(cells) and protected(cells["incidents"])
    for cell_id in view.cells["cell_id"].head(60):
        head, _ = rv.place_table(view, *rc_of(view, cell_id))
        assert protected([head["incidents"]])


def test_a_region_on_a_national_grid_loads_its_own_window(national_runs, tmp_path):
    """A tiled run's regions share one national grid: a region loads its window only."""
    from hotspot_env.scale.outputs import mosaic_grid

    copy = tmp_path / "run"
    shutil.copytree(national_runs["internal"], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    whole = mosaic_grid(manifest["tiles"])  # the grid covering both cities
    own = manifest["tiles"][1]["grid"]
    size = own["cell_size"]
    row_shift = round((whole["y0"] + whole["n_rows"] * size - own["y0"] - own["n_rows"] * size)
                      / size)
    col_shift = round((own["x0"] - whole["x0"]) / size)
    assert row_shift > 0 or col_shift > 0  # the second city is not at the national corner
    path = copy / "cells" / "city_01.parquet"
    cells = gpd.read_parquet(path)
    rows, cols = np.divmod(cells["cell_id"].to_numpy(), own["n_cols"])
    cells["cell_id"] = (rows + row_shift) * whole["n_cols"] + cols + col_shift
    cells.to_parquet(path)
    manifest["tiles"][1]["grid"] = whole
    (copy / "manifest.json").write_text(json.dumps(manifest))

    run = national.open_run(str(copy), roots_for(tmp_path))
    view = national.load_region(run, "city_01", "internal")
    assert view.grid.shape == (own["n_rows"], own["n_cols"])  # not the national grid
    assert view.grid.bounds == pytest.approx((own["x0"], own["y0"], own["x0"] + own["n_cols"]
                                              * size, own["y0"] + own["n_rows"] * size))
    centres = cells.geometry.centroid
    r, c = view.grid.cell_index(centres.x.to_numpy(), centres.y.to_numpy())
    assert (r >= 0).all() and view.grid.mask[r, c].all()
    np.testing.assert_array_equal(view.arrays["kde"][r, c], cells["kde"].to_numpy())
    assert [view.cell_id(a, b) for a, b in zip(r, c, strict=True)] == list(cells["cell_id"])
    head, _ = rv.place_table(view, int(r[7]), int(c[7]))
    assert head["cell_id"] == str(cells["cell_id"].iloc[7])
