"""A run's outputs appear together or not at all, even when a writer fails half-way."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hotspot_env import _atomic as atomic
from hotspot_env._atomic import STAGING_PREFIX, staged_folder
from hotspot_env.cli import app
from hotspot_env.outputs import export, report

runner = CliRunner()


@pytest.fixture(autouse=True)
def _core_only(monkeypatch):
    """Atomicity is about writing: skip the later analysis stages to stay fast."""
    monkeypatch.setattr("hotspot_env.core.pipeline.default_stages", lambda: [])


@pytest.fixture
def incidents(tmp_path) -> Path:
    rng = np.random.default_rng(3)
    lon = -46.633 + rng.uniform(-0.01, 0.01, 60)
    lat = -23.550 + rng.uniform(-0.01, 0.01, 60)
    path = tmp_path / "incidents.csv"
    path.write_text("lon,lat\n" + "".join(f"{a:.6f},{b:.6f}\n" for a, b in zip(lon, lat,
                                                                             strict=True)))
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _run(incidents: Path, out: Path):
    return runner.invoke(app, ["analyze", "--incidents", str(incidents), "--out", str(out),
                               "--quiet"])


def test_failing_geotiff_writer_leaves_no_output(incidents, tmp_path, monkeypatch):
    calls = []

    def broken(analysis, path):
        calls.append(path)
        Path(path).write_bytes(b"II*\x00 half a GeoTIFF")  # a partial file, then the failure
        raise RuntimeError("disk full while writing the GeoTIFF")

    monkeypatch.setattr(export, "write_density", broken)
    out = tmp_path / "out"
    result = _run(incidents, out)
    assert isinstance(result.exception, RuntimeError)
    assert calls, "the writer was never reached"
    # cells.gpkg was complete before the failure: it must be rolled back with the rest
    assert not out.exists() or _tree(out) == {}, _tree(out)


def test_failing_report_writer_keeps_the_previous_run_intact(incidents, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _run(incidents, out).exit_code == 0
    previous = _tree(out)
    assert {"cells.gpkg", "density.tif", "manifest.json", "report.html"} <= set(previous)

    def broken(analysis, path):
        Path(path).write_text("<html>half a report")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_report", broken)
    result = runner.invoke(app, ["analyze", "--incidents", str(incidents), "--out", str(out),
                                 "--cell-size", "50", "--quiet"])
    assert result.exit_code == 2  # an OSError is a one-line error too
    assert len(result.stderr.strip().splitlines()) == 1 and "No space left" in result.stderr
    assert _tree(out) == previous  # nothing of the failed run, nothing of the old run lost


def test_failure_while_moving_into_place_rolls_back(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    (out / "keep.txt").write_text("not ours")
    real_replace = os.replace
    moves = []

    def flaky(src, dst):
        if Path(dst).parent == out and Path(src).parent.name.startswith(STAGING_PREFIX):
            moves.append(dst)
            if len(moves) == 3:
                raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    with pytest.raises(OSError), staged_folder(out) as stage:
        for name in ("a.txt", "b.txt", "c.txt", "manifest.json"):
            (stage / name).write_text(f"new {name}")
    assert _tree(out) == {"a.txt": b"old a", "keep.txt": b"not ours"}


def test_success_moves_every_file_including_subfolders(tmp_path):
    out = tmp_path / "fresh" / "out"
    with staged_folder(out) as stage:
        (stage / "sub").mkdir()
        (stage / "sub" / "x.csv").write_text("cell_id\n1\n")
        (stage / "manifest.json").write_text("{}")
        assert not (out / "manifest.json").exists()  # nothing visible before the end
    assert _tree(out) == {"manifest.json": b"{}", "sub/x.csv": b"cell_id\n1\n"}


def test_write_outputs_returns_final_paths(incidents, tmp_path):
    from hotspot_env.core.analysis import analyze

    out = tmp_path / "out"
    written = export.write_outputs(analyze(incidents), out)
    assert all(Path(p).parent == out and Path(p).is_file() for p in written.values()), written
    assert not list(out.glob(".*"))
