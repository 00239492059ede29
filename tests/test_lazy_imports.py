"""The app's first page imports only what it draws (issue 18: first page interactive <= 5 s).

A fresh server pays for every module its first page imports, and unpickling a
kept analysis imports the module of every result class in it. scipy.stats
(about a second), scipy.signal, statsmodels and altair are not needed to show a
kept analysis on a map; they are imported inside the functions (or below the
map) that use them. Each check runs in a fresh interpreter, so what this test
process has already imported does not hide an eager import.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent

#: Modules the first page must not import (each costs 0.3-1 s on a cold start).
HEAVY = ("scipy.stats", "scipy.signal", "scipy.optimize", "scipy.ndimage", "scipy.spatial",
         "scipy.sparse.csgraph", "statsmodels", "altair", "sklearn", "weasyprint")


def _imported_after(code: str, env_extra: dict[str, str] | None = None) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; which of :data:`HEAVY` it left imported."""
    probe = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))
    """)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", **(env_extra or {})}
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_probe_sees_an_eager_import():
    # The check can fail: a module that imports scipy.stats is reported.
    seen = _imported_after("import scipy.stats")
    assert seen["scipy.stats"] and not seen["altair"]


def test_first_page_modules_leave_heavy_modules_out():
    seen = _imported_after("""
        import hotspot_env.core.analysis, hotspot_env.core.hotspots, hotspot_env.core.density
        import hotspot_env.app.analysis_cache, hotspot_env.inputs.demo
        import hotspot_env.app.mapview, hotspot_env.app.places, hotspot_env.app.emptiness
        import hotspot_env.temporal.timeslice, hotspot_env.outputs.labels
        # every result class a kept analysis holds (unpickling imports their packages)
        import hotspot_env.factors, hotspot_env.models.forecast, hotspot_env.models.rtm
        import hotspot_env.interventions, hotspot_env.temporal.profiles
        import hotspot_env.temporal.trends  # the map's trend colours
    """)
    assert not any(seen.values()), {m for m, v in seen.items() if v}


def _small_analysis(tmp_path: Path):
    """Counts, KDE and Gi* of 300 dated points around two centres in Helsinki."""
    from hotspot_env.core.analysis import analyze

    rng = np.random.default_rng(7)
    centres = np.array([[24.940, 60.168], [24.955, 60.172]])
    lonlat = centres[rng.integers(0, 2, 300)] + rng.normal(0, 0.002, (300, 2))
    times = pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 365 * 24, 300), unit="h")
    path = tmp_path / "incidents.csv"
    pd.DataFrame({"lon": lonlat[:, 0], "lat": lonlat[:, 1],
                  "datetime": times.strftime("%Y-%m-%dT%H:%M:%SZ")}).to_csv(path, index=False)
    return analyze(path)


def test_a_kept_analysis_on_the_map_leaves_heavy_modules_out(tmp_path):
    analysis = _small_analysis(tmp_path)
    assert (analysis.arrays["gi_bin"] != 0).any()  # it found hot spots: Gi* ran in full
    path = tmp_path / "analysis.pickle"
    path.write_bytes(pickle.dumps(analysis, protocol=pickle.HIGHEST_PROTOCOL))
    seen = _imported_after(f"""
        import pickle
        with open({str(path)!r}, "rb") as handle:
            analysis = pickle.load(handle)
        assert analysis.grid.mask.any() and "gi_p" in analysis.arrays
        # what Explore does with it before the map is on screen
        from hotspot_env.app import emptiness, mapview, places
        from hotspot_env.temporal import timeslice

        keys = [spec.key for spec in mapview.available_layers(analysis)]
        assert "hotspots" in keys, keys
        mapview.missing_layers(analysis)
        [mapview.shown_by_default(spec, analysis) for spec in mapview.available_layers(analysis)]
        timeslice.period_labels(analysis, "month")
        mapview.explore_map(analysis, keys, privacy="internal").get_root().render()
        places.describe_cell(analysis, 0, 0, privacy="internal")
        emptiness.rtm_empty_reason(analysis)
    """)
    assert not any(seen.values()), {m for m, v in seen.items() if v}


def test_gi_star_p_values_equal_scipy_stats_normal_tail(tmp_path):
    # ndtr(-|z|) replaced stats.norm.sf(|z|) in gi_star: the same numbers, bit for bit.
    from scipy import stats

    analysis = _small_analysis(tmp_path)
    inside = analysis.grid.mask
    z, p = analysis.arrays["gi_z"][inside], analysis.arrays["gi_p"][inside]
    assert np.isfinite(p).all() and (p < 0.01).any()
    assert np.array_equal(p, 2.0 * stats.norm.sf(np.abs(z)))


@pytest.mark.parametrize("z", [np.array([0.0, -0.0, 1e-300, 1.96, -1.96, 8.3, 38.5, 40.0,
                                         np.inf, -np.inf])])
def test_normal_tail_edge_values_equal_scipy_stats(z):
    from scipy import special, stats

    assert np.array_equal(2.0 * special.ndtr(-np.abs(z)), 2.0 * stats.norm.sf(np.abs(z)))
