"""Public coordinates come from public inputs and protected counts, never from incident points.

The attack: keep every cell's count (so every protected count) and move each incident to
another place inside its own cell. If any coordinate a public run publishes (cells,
candidates, work orders, audit places, labels) were a function of the incidents' positions,
it would move with them. Every one must stay put, and the leak detectors of
``test_privacy.py`` (no published point within 1 m of an incident) must pass on the moved
incidents too. Sightline candidates used to be published as their street sample points,
which can land within a metre of an incident geocoded to the same street: they are now the
stretch of street they cover (``candidates._street_stretches``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from test_privacy import _incident_facts, _leaks

from hotspot_env import settings
from hotspot_env.outputs.fingerprint import fingerprint_folder

pytestmark = pytest.mark.slow

def _move_within_cells(source: Path, target: Path, grid, seed: int = 3) -> int:
    """Write ``source``'s incidents to ``target``, each moved to a random point of its cell."""
    raw = pd.read_csv(source)
    pts = gpd.GeoSeries(gpd.points_from_xy(raw.lon, raw.lat), crs=4326).to_crs(grid.crs)
    row, col = grid.cell_index(pts.x.to_numpy(), pts.y.to_numpy())
    inside = row >= 0
    rng = np.random.default_rng(seed)
    u, v = rng.uniform(0.05, 0.95, (2, len(raw)))
    west = grid.x0 + col * grid.cell_size
    north = grid.bounds[3] - row * grid.cell_size
    x = np.where(inside, west + u * grid.cell_size, pts.x.to_numpy())
    y = np.where(inside, north - v * grid.cell_size, pts.y.to_numpy())
    moved = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=grid.crs).to_crs(4326)
    out = raw.copy()
    out["lon"], out["lat"] = moved.x.round(7), moved.y.round(7)
    out.to_csv(target, index=False)
    return int(inside.sum())


@pytest.fixture(scope="module")
def two_public_demos(tmp_path_factory):
    """The public demo on its incidents and on the same incidents moved within their cells."""
    from hotspot_env.inputs.demo import run_demo

    root = tmp_path_factory.mktemp("moved")
    monkeypatch = pytest.MonkeyPatch()
    runs = {}
    try:
        for name in ("original", "moved"):
            data = root / name / "data"
            shutil.copytree(settings.data_folder, data)
            if name == "moved":
                n = _move_within_cells(root / "original" / "data" / "demo" / "incidents.csv",
                                       data / "demo" / "incidents.csv", runs["original"][1].grid)
                assert n > 1000
            monkeypatch.setattr(settings, "data_folder", data)
            out = root / name / "out"
            analysis = run_demo(out=out, privacy="public")
            runs[name] = (out, analysis, data / "demo" / "incidents.csv")
    finally:
        monkeypatch.undo()
    return runs


def _vector_layers(path: Path) -> list[tuple[str, gpd.GeoDataFrame]]:
    if path.suffix == ".parquet":
        frame = gpd.read_parquet(path)
        return [(path.name, frame)] if isinstance(frame, gpd.GeoDataFrame) else []
    if path.suffix in (".gpkg", ".geojson"):
        return [(f"{path.name}:{layer}", gpd.read_file(path, layer=layer))
                for layer, _ in pyogrio.list_layers(path)]
    return []


_NUMBER = re.compile(r"-?\d+\.\d{3,}")


def _coordinate_numbers(text: str, box: tuple[float, float, float, float]) -> list[str]:
    """Numbers in ``text`` that fall in the study area's longitude or latitude range."""
    west, south, east, north = box
    found = []
    for token in _NUMBER.findall(text):
        value = float(token)
        if west - 0.05 <= value <= east + 0.05 or south - 0.05 <= value <= north + 0.05:
            found.append(token)
    return found


def test_the_attack_keeps_every_protected_count(two_public_demos):
    (a, _, _), (b, _, _) = two_public_demos["original"], two_public_demos["moved"]
    cells_a = gpd.read_file(a / "cells.gpkg", layer="cells")
    cells_b = gpd.read_file(b / "cells.gpkg", layer="cells")
    assert (cells_a["incidents"].astype(str) == cells_b["incidents"].astype(str)).all()


def test_no_public_output_byte_moves_with_the_incidents(two_public_demos):
    """Every public file (text byte for byte, rasters and tables by content) is unchanged.

    The move keeps every incident's cell, date and time, so not even the files
    that depend on times of day may change: the bandwidth, the KDE, the
    validation and everything after the grid read cells and protected counts.
    """
    (a, _, _), (b, _, _) = two_public_demos["original"], two_public_demos["moved"]
    prints_a, prints_b = fingerprint_folder(a), fingerprint_folder(b)
    assert len(prints_a) >= 15 and sorted(prints_a) == sorted(prints_b)
    changed = sorted(name for name in prints_a if prints_a[name] != prints_b[name])
    assert changed == []
    assert (a / "interventions.csv").read_text().count("\n") > 2  # candidates were written


def test_the_bandwidth_is_announced_from_the_protected_counts(two_public_demos):
    (a, analysis, _), (_, moved, _) = two_public_demos["original"], two_public_demos["moved"]
    chosen = [c for c in analysis.choices if c.name == "bandwidth_m"]
    assert chosen and chosen[0].rule.startswith("public mode: bandwidth from the protected")
    assert analysis.parameters["bandwidth_m"] == moved.parameters["bandwidth_m"]
    assert "public mode: bandwidth from the protected cell counts" in \
        (a / "manifest.json").read_text(encoding="utf-8")


def test_the_incident_file_hash_is_withheld(two_public_demos):
    """A hash of the incident file would confirm a guess of its records: not published."""
    out, _, incidents = two_public_demos["original"]
    digest = hashlib.sha256(incidents.read_bytes()).hexdigest()
    for path in out.iterdir():
        if path.suffix in (".json", ".html", ".csv", ".md", ".txt"):
            text = path.read_text(encoding="utf-8")
            assert digest[:12] not in text, path.name
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    first = manifest["inputs"][0]
    assert first["path"] == "incidents.csv" and first["sha256"] is None
    assert all(i["sha256"] for i in manifest["inputs"][1:])  # public inputs keep theirs


def test_no_published_coordinate_moves_with_the_incidents(two_public_demos):
    """Were a file to change, its geometries and coordinate-like numbers must still not."""
    (a, analysis, _), (b, _, _) = two_public_demos["original"], two_public_demos["moved"]
    box = tuple(gpd.GeoSeries([shapely.box(*analysis.grid.bounds)],
                              crs=analysis.grid.crs).to_crs(4326).total_bounds)
    checked = 0
    for name in sorted(p.name for p in a.iterdir() if p.is_file()):
        for layer, frame in _vector_layers(a / name):
            other = dict(_vector_layers(b / name))[layer]
            assert len(frame) == len(other), layer
            assert frame.geometry.geom_equals_exact(other.geometry, 0.0).all(), layer
            checked += 1
        if name.endswith((".html", ".json", ".csv")):
            assert _coordinate_numbers((a / name).read_text(encoding="utf-8"), box) == \
                _coordinate_numbers((b / name).read_text(encoding="utf-8"), box), name
            checked += 1
    assert checked >= 4


def test_the_leak_detectors_pass_on_the_moved_incidents(two_public_demos):
    out, analysis, incidents = two_public_demos["moved"]
    problems, n_tables = _leaks(out, _incident_facts(incidents, analysis.grid.crs.to_string()))
    assert problems == [] and n_tables >= 2


def test_sightline_candidates_are_published_as_street_stretches(two_public_demos):
    out, _, _ = two_public_demos["original"]
    cands = gpd.read_parquet(out / "interventions_candidates.parquet")
    sight = cands[cands["type"] == "sightline_clearing"]
    assert len(sight) >= 1
    assert set(sight.geom_type) == {"LineString"}
    published = gpd.read_file(out / "interventions.geojson")
    assert not published.geom_type.isin(["MultiPoint"]).any()
