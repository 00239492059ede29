"""A wheel carries what a run needs: evidence, costs, category map, the demo's inputs.

``data/`` lives at the repository root, where people edit it; ``setup.py`` copies it into the
wheel as ``hotspot_env/data``, and :data:`hotspot_env.settings.data_folder` looks there first,
then beside the package (a checkout or an editable install). The test builds a wheel from a
copy of the sources (nothing is written into the checkout), checks its file list, and runs the
unpacked wheel away from the checkout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hotspot_env import settings

ROOT = Path(__file__).resolve().parents[1]
#: What a run reads from the data folder (the demo's incidents, meta and layers included).
NEEDED = ("evidence.csv", "costs.csv", "category_map.csv", "demo/incidents.csv",
          "demo/incidents.meta.json", "demo/layers.gpkg")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "hotspot_env", src / "hotspot_env", ignore=ignore)
    shutil.copytree(ROOT / "data", src / "data", ignore=ignore)
    dist = tmp / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(dist)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = dist.glob("hotspot_env-*.whl")
    return built


def test_the_checkout_reads_data_beside_the_package():
    assert settings._shipped_data_folder() == ROOT / "data"


def test_the_wheel_carries_the_data_folder(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for rel in NEEDED:
            assert f"hotspot_env/data/{rel}" in names, rel
            assert zf.read(f"hotspot_env/data/{rel}") == (ROOT / "data" / rel).read_bytes(), rel
        assert "hotspot_env/resources/land_110m_within_1deg.geojson" in names
    assert not [n for n in names if n.startswith("data/")]  # nothing outside the package
    assert not [n for n in names if n.startswith(("tests/", "scripts/", "app_pages/"))]


def test_an_unpacked_wheel_finds_its_data_away_from_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    probe = (
        "import json; from hotspot_env import settings; "
        "from hotspot_env.interventions import load_library; "
        "from hotspot_env.inputs import formats; "
        "from hotspot_env.inputs.demo import demo_incidents_path, demo_layers_path; "
        "lib = load_library(); "
        "print(json.dumps({'data': str(settings.data_folder), "
        "'evidence': str(lib.evidence_path), 'types': len(lib.types), "
        "'category_map': str(formats.CATEGORY_MAP_PATH), "
        "'demo': [str(demo_incidents_path()), str(demo_layers_path())]}))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env={"PYTHONPATH": str(site),
                                                         "PATH": "/usr/bin:/bin",
                                                         "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    shipped = site / "hotspot_env" / "data"
    assert found["data"] == str(shipped)
    assert found["evidence"] == str(shipped / "evidence.csv") and found["types"] >= 5
    assert found["category_map"] == str(shipped / "category_map.csv")
    assert found["demo"] == [str(shipped / "demo" / "incidents.csv"),
                             str(shipped / "demo" / "layers.gpkg")]
