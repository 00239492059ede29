"""The same run in two folders writes the same files: no output names this machine's folders.

The interventions state used to record the evidence library's absolute path, so the same
analysis in two checkouts gave two different ``interventions_state.npz`` files (and two
manifests, which hash it). Now the library is recorded as a portable reference beside its
SHA-256 (:func:`hotspot_env.interventions.evidence.portable_reference`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hotspot_env import settings
from hotspot_env.cli import app
from hotspot_env.interventions import InterventionsResult
from hotspot_env.interventions.evidence import portable_reference, resolve_reference

pytestmark = pytest.mark.slow


def _run_in(root: Path, sao_paulo: dict[str, Path], monkeypatch) -> Path:
    """São Paulo analysed with every input and the data folder copied under ``root``."""
    data = root / "checkout" / "data"
    shutil.copytree(settings.data_folder, data)
    inputs = root / "inputs"
    inputs.mkdir()
    for path in sao_paulo.values():
        shutil.copy(path, inputs / path.name)
    monkeypatch.setattr(settings, "data_folder", data)
    monkeypatch.chdir(root)
    out = root / "out"
    result = CliRunner().invoke(app, [
        "analyze", "--incidents", str(inputs / sao_paulo["incidents"].name),
        "--osm", str(inputs / sao_paulo["osm"].name), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, sao_paulo):
    monkeypatch = pytest.MonkeyPatch()
    try:
        return [_run_in(tmp_path_factory.mktemp(f"place{i}_{'x' * i}"), sao_paulo, monkeypatch)
                for i in (1, 2)]
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize("name", ["interventions_state.npz", "manifest.json"])
def test_two_folders_give_the_same_bytes(two_runs, name):
    first, second = (run / name for run in two_runs)
    assert first.read_bytes() == second.read_bytes(), name
    for run in two_runs:  # not a folder of either run, in any form
        text = (run / name).read_bytes()
        assert str(run.parent).encode() not in text
        assert b"/checkout/" not in text and b"/inputs/" not in text


def test_the_state_records_references_and_digests(two_runs):
    with np.load(two_runs[0] / "interventions_state.npz", allow_pickle=False) as data:
        meta = json.loads(data["meta"].tobytes().decode("utf-8"))
    library = meta["library"]
    assert library["evidence_path"] == "data:evidence.csv"
    assert library["costs_path"] == "data:costs.csv"
    assert set(library["sha256"]) == {"evidence.csv", "costs.csv"}
    digest = __import__("hashlib").sha256(
        (Path(settings.data_folder) / "evidence.csv").read_bytes()).hexdigest()
    assert library["sha256"]["evidence.csv"] == digest
    # the state loads back, its library named in the data folder of wherever it is read
    again = InterventionsResult.load(two_runs[1])
    assert again.library.evidence_path == Path(settings.data_folder) / "evidence.csv"


def test_references_in_and_outside_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "data_folder", tmp_path / "data")
    (tmp_path / "data" / "sub").mkdir(parents=True)
    assert portable_reference(tmp_path / "data" / "sub" / "evidence.csv") == \
        "data:sub/evidence.csv"
    assert portable_reference(tmp_path / "mine" / "my_evidence.csv") == "file:my_evidence.csv"
    assert resolve_reference("data:sub/evidence.csv") == tmp_path / "data" / "sub" / \
        "evidence.csv"
    assert resolve_reference("file:my_evidence.csv") == Path("my_evidence.csv")
    # a state written before the change recorded an absolute path: still read
    assert resolve_reference("/old/checkout/data/evidence.csv") == \
        Path("/old/checkout/data/evidence.csv")
