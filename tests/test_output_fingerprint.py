"""A refactor changes no output: São Paulo's files, before and after, hash the same.

"Before" is :data:`REFERENCE`, the last commit that changed an output on purpose. The test checks
it out beside the working tree (``git worktree``), runs its CLI on the São Paulo pair in
internal and public mode, runs today's CLI on the same inputs, and compares the fingerprints of
every output file (:mod:`hotspot_env.outputs.fingerprint`: bytes for text files, contents for
GeoPackage, GeoTIFF, Parquet and NPZ). Both runs use the same interpreter and libraries, so only
the code differs. A clone without that history compares with :data:`RECORDED`, the same
reference's fingerprints as recorded on the development machine (no output records the
checkout's folder: ``tests/test_portable_outputs.py``).

When an output changes *on purpose*, move :data:`REFERENCE` to the commit that changed it and
say why in that commit (``python scripts/fingerprint_outputs.py`` shows which files differ).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hotspot_env.outputs.fingerprint import fingerprint_folder

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
#: Last deliberate change: public figures from protected information only (São Paulo public:
#: trends.csv and cells.gpkg, trend tests on the protected cell x step cube, the change test on the
#: released before/after counts, the dark share from the protected dark and not-dark counts, the
#: work-timing shares to the nearest 10 %; interventions_state.npz, which holds the timing texts;
#: manifest.json and report.html, which announce the bases and state the protected dark share;
#: 9693ce8, h-pubval2). Before it: public validation scored on the protected counts only (São
#: Paulo public: validation.csv, and manifest.json and report.html, which state it; 2828ded,
#: h-pubval). Before it,
#: two deliberate changes, met in the merge of main into h-pubbw: public mode computed from cells
#: and protected counts only (São Paulo public: the bandwidth from the protected cell counts, so
#: cells.gpkg's KDE and density.tif; the held-out validation on incidents at their cell centres,
#: validation.csv; the incident file's hash withheld and percentages and distances no longer rounded
#: in announcements, manifest.json and report.html; 8a5162c), and the forecast's ties within 1e-14
#: of the best score (São Paulo internal: validation.csv, manifest.json, report.html; f5bdca6).
#: Before: 8fbdb69 (the trust fixes' validation verdict), 7ecf4e71 (the last commit before the
#: package moved into subpackages, issue 19).
REFERENCE = "9693ce812745a10d047c9747fe9a3f953eff4fd9"
RECORDED = DATA / "output_fingerprints.json"
RUNS = {"sao_paulo": [], "sao_paulo_public": ["--privacy", "public"]}

pytestmark = pytest.mark.slow


def _analyze(code: Path, out: Path, extra: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(code)}
    # One data folder (evidence, costs) for both: only the code differs.
    launch = ("import sys; from pathlib import Path; from hotspot_env import settings; "
              f"settings.data_folder = Path({str(ROOT / 'data')!r}); "
              "from hotspot_env.cli import app; sys.argv[0] = 'hotspot-env'; app()")
    result = subprocess.run(
        [sys.executable, "-c", launch, "analyze", "--incidents",
         str(DATA / "sao_paulo_homicides.csv"), "--osm", str(DATA / "spo_osm.pbf"),
         "--out", str(out), "--quiet", *extra],
        cwd=out.parent, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def _reference_checkout(tmp: Path) -> Path | None:
    """The reference commit checked out under ``tmp``, or None without git history."""
    if shutil.which("git") is None:
        return None
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{REFERENCE}^{{commit}}"],
                           capture_output=True)
    if found.returncode != 0:
        return None
    target = tmp / "reference"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force",
                    str(target), REFERENCE], check=True, capture_output=True)
    return target


@pytest.fixture(scope="module")
def fingerprints(tmp_path_factory) -> tuple[dict, dict]:
    tmp = tmp_path_factory.mktemp("fingerprint")
    after = {}
    for name, extra in RUNS.items():
        _analyze(ROOT, tmp / "after" / name, extra)
        after[name] = fingerprint_folder(tmp / "after" / name)
    checkout = _reference_checkout(tmp)
    if checkout is None:
        recorded = json.loads(RECORDED.read_text())
        return {name: recorded[name] for name in RUNS}, after
    try:
        before = {}
        for name, extra in RUNS.items():
            _analyze(checkout, tmp / "before" / name, extra)
            before[name] = fingerprint_folder(tmp / "before" / name)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)],
                       capture_output=True)
    return before, after


@pytest.mark.parametrize("run", sorted(RUNS))
def test_every_output_file_is_unchanged(fingerprints, run):
    before, after = fingerprints
    assert sorted(after[run]) == sorted(before[run]), "a different set of output files"
    changed = [name for name in sorted(before[run]) if before[run][name] != after[run][name]]
    assert not changed, f"{run}: outputs changed by the code: {changed}"
    assert len(after[run]) >= 15  # cells, density, hot spots, RTM, trends, interventions, ...


def test_the_fingerprint_sees_a_changed_value(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    frame = gpd.GeoDataFrame({"n": [1.0, 2.0]}, geometry=[Point(0, 0), Point(1, 1)],
                             crs="EPSG:3857")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    frame.to_file(tmp_path / "a" / "cells.gpkg")
    frame.assign(n=[1.0, 2.0 + 1e-12]).to_file(tmp_path / "b" / "cells.gpkg")
    (tmp_path / "a" / "x.csv").write_text("n\n1\n")
    (tmp_path / "b" / "x.csv").write_text("n\n1\n")
    a, b = fingerprint_folder(tmp_path / "a"), fingerprint_folder(tmp_path / "b")
    assert a["x.csv"] == b["x.csv"]
    assert a["cells.gpkg"] != b["cells.gpkg"]
