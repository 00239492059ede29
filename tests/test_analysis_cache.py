"""The disk cache of finished analyses (``hotspot_env.app.analysis_cache``) and the lazy package.

A cached analysis must equal a fresh one, be computed once per key, be
recomputed whenever code, inputs, options or settings change, and survive a
broken or unwritable cache folder.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from hotspot_env import settings
from hotspot_env.app import analysis_cache


@pytest.fixture(autouse=True)
def _fresh_memory():
    analysis_cache.forget()
    yield
    analysis_cache.forget()


@pytest.fixture
def incidents_csv(tmp_path):
    """A small incident file: 300 points around two centres in Helsinki."""
    rng = np.random.default_rng(7)
    centres = np.array([[24.940, 60.168], [24.955, 60.172]])
    pick = rng.integers(0, 2, 300)
    lonlat = centres[pick] + rng.normal(0, 0.002, (300, 2))
    times = pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 365 * 24, 300), unit="h")
    path = tmp_path / "incidents.csv"
    pd.DataFrame({"lon": lonlat[:, 0], "lat": lonlat[:, 1],
                  "datetime": times.strftime("%Y-%m-%dT%H:%M:%SZ")}).to_csv(path, index=False)
    return path


class Counter:
    """A compute function that counts its calls."""

    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def test_cached_analysis_equals_a_fresh_one(tmp_path, incidents_csv):
    from hotspot_env.core.analysis import analyze

    key = analysis_cache.cache_key([incidents_csv], {"privacy": "internal"})
    first, hit = analysis_cache.cached(key, lambda: analyze(incidents_csv), tmp_path)
    assert not hit and (tmp_path / f"{key}.pickle").is_file()
    analysis_cache.forget()  # as a new process would: only the file remains
    loaded, hit = analysis_cache.cached(key, lambda: pytest.fail("recomputed"), tmp_path)
    assert hit and loaded is not first
    fresh = analyze(incidents_csv)
    assert loaded.grid.shape == fresh.grid.shape
    for name, values in fresh.arrays.items():
        np.testing.assert_array_equal(loaded.arrays[name], values, err_msg=name)
    assert loaded.parameters == fresh.parameters
    assert loaded.choice_messages() == fresh.choice_messages()


def test_computed_once_per_key_in_memory_and_on_disk(tmp_path):
    compute = Counter({"x": np.arange(5)})
    value, hit = analysis_cache.cached("k1", compute, tmp_path)
    again, hit_again = analysis_cache.cached("k1", compute, tmp_path)
    # held in memory, still reported as computed by this process
    assert (hit, hit_again, compute.calls) == (False, False, 1)
    assert again is value  # the same object from memory, not a second copy
    analysis_cache.forget()
    from_disk, hit = analysis_cache.cached("k1", compute, tmp_path)
    assert hit and compute.calls == 1
    np.testing.assert_array_equal(from_disk["x"], np.arange(5))


def test_key_changes_with_inputs_options_and_settings(tmp_path, monkeypatch):
    data = tmp_path / "a.csv"
    data.write_text("lon,lat\n1,2\n")
    base = analysis_cache.cache_key([data], {"privacy": "internal"})
    assert analysis_cache.cache_key([data], {"privacy": "internal"}) == base
    assert analysis_cache.cache_key([data], {"privacy": "public"}) != base
    monkeypatch.setattr(settings, "k_threshold", settings.k_threshold + 1)
    assert analysis_cache.cache_key([data], {"privacy": "internal"}) != base
    monkeypatch.undo()
    data.write_text("lon,lat\n1,3\n")
    assert analysis_cache.cache_key([data], {"privacy": "internal"}) != base
    data.write_text("lon,lat\n1,2\n")
    # where the caches live does not change what an analysis computes
    monkeypatch.setattr(settings, "cache_folder", tmp_path / "elsewhere")
    assert analysis_cache.cache_key([data], {"privacy": "internal"}) == base


def test_key_changes_with_the_package_source(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    before = analysis_cache.source_digest(package)
    (package / "a.py").write_text("x = 2\n")
    assert analysis_cache.source_digest(package) != before


def test_broken_entry_is_recomputed(tmp_path):
    (tmp_path / "k2.pickle").write_bytes(b"not a pickle")
    compute = Counter([1, 2, 3])
    value, hit = analysis_cache.cached("k2", compute, tmp_path)
    assert (value, hit, compute.calls) == ([1, 2, 3], False, 1)
    analysis_cache.forget()
    assert analysis_cache.cached("k2", compute, tmp_path) == ([1, 2, 3], True)


def test_unwritable_folder_still_returns_the_value(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder would go")
    value, hit = analysis_cache.cached("k3", Counter(42), blocker / "analyses")
    assert (value, hit) == (42, False)


def test_environment_variable_moves_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOT_ENV_CACHE_DIR", str(tmp_path))
    assert analysis_cache.cache_folder() == tmp_path / analysis_cache.SUBFOLDER
    monkeypatch.delenv("HOTSPOT_ENV_CACHE_DIR")
    assert analysis_cache.cache_folder() == settings.cache_folder / analysis_cache.SUBFOLDER


def test_importing_the_package_does_not_load_the_analysis_stack():
    code = ("import sys, hotspot_env.errors, hotspot_env.core.choices; "
            "print(sorted(m for m in ('scipy', 'geopandas', 'rasterio', 'folium') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
    import hotspot_env

    assert hotspot_env.analyze is hotspot_env.core.analysis.analyze
    assert set(hotspot_env.__all__) <= set(dir(hotspot_env))
    with pytest.raises(AttributeError):
        hotspot_env.no_such_name  # noqa: B018
