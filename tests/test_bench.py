"""The benchmark command on a tiny synthetic city: JSON shape and peer agreement (no timings)."""

import json

import pytest
from typer.testing import CliRunner

from hotspot_env.bench import RESULT_KEYS, expected_steps
from hotspot_env.cli import app


def test_bench_tiny_json_has_every_key_and_matches_peers(tmp_path):
    result = CliRunner().invoke(app, ["bench", "--scale", "tiny", "--json",
                                      "--out", str(tmp_path / "bench")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(RESULT_KEYS) <= set(data)
    assert data["scale"] == "tiny"
    assert data["n_incidents"] > 0 and data["n_cells"] > 0
    expected_stages, expected_parts = expected_steps()
    assert list(data["stages"]) == expected_stages  # every stage, in pipeline order
    assert set(expected_parts) <= set(data["substages"])
    assert data["stages_untimed"] == [] and data["stages_missing"] == []
    assert all(v >= 0 for v in data["stages"].values())
    assert data["stages"]["kde"] > 0 and data["stages"]["factors"] > 0
    assert data["kde_max_rel_err"] <= 1e-3
    assert data["gi_max_abs_dz"] <= 1e-8
    assert data["counts_mismatch_points"] == 0
    assert data["peak_rss_mb"] > 0
    assert {"cpu_count", "ram_gb", "python", "numpy"} <= set(data["machine"])
    saved = json.loads((tmp_path / "bench" / "results-tiny.json").read_text())
    assert saved["n_cells"] == data["n_cells"]
    assert (tmp_path / "bench" / "cells.gpkg").is_file()


def test_bench_leaves_the_pipeline_unpatched():
    """The benchmark records the pipeline's own timing hooks; it replaces no attribute."""
    import ast
    import inspect

    from hotspot_env import bench

    tree = ast.parse(inspect.getsource(bench))
    calls = {node.func.id for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not calls & {"setattr", "delattr"}


def test_bench_without_its_extra_says_which_package_to_install(monkeypatch):
    import importlib.util

    from hotspot_env import bench
    from hotspot_env.errors import InputError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "esda" else real(name, *a))
    with pytest.raises(InputError, match=r"needs esda: install the \[bench\] extra"):
        bench.run_bench("tiny")
