"""Timing hooks (hotspot_env.core.timing): what is recorded, where, and for whom (no speeds)."""

from __future__ import annotations

import threading

import geopandas as gpd
import numpy as np
import pytest
import shapely

from hotspot_env.core import pipeline
from hotspot_env.core.timing import StageTimer, recording, timed


def test_nothing_is_recorded_without_a_recorder():
    timer = StageTimer()
    with timed("kde"):
        pass
    assert timer.stages == {} and timer.cpu == {}


def test_exclusive_steps_hide_nested_exclusive_ones_but_not_parts():
    timer = StageTimer()
    with recording(timer):
        with timed("analyze", exclusive=False), timed("area"):
            with timed("project"):  # inside "area": counted as area only
                pass
            with timed("area/part", exclusive=False):  # a part always counts
                pass
        with timed("project"):
            pass
    assert list(timer.stages) == ["area/part", "area", "analyze", "project"]
    assert list(timer.cpu) == list(timer.stages)
    assert all(v >= 0 for v in (*timer.stages.values(), *timer.cpu.values()))


def test_a_step_that_raises_is_recorded_and_the_next_one_counts():
    timer = StageTimer()
    with recording(timer):
        with pytest.raises(ZeroDivisionError), timed("gi_star"):
            _ = 1 / 0
        with timed("kde"):  # the failed step left no exclusive step open
            pass
    assert set(timer.stages) == {"gi_star", "kde"}


def test_repeated_steps_add_up_into_one_entry():
    timer = StageTimer()
    timer.add("kde", 1.5, 1.0)
    timer.add("kde", 0.5, 0.25)
    assert timer.stages == {"kde": 2.0} and timer.cpu == {"kde": 1.25}


def test_recording_ends_with_its_block():
    timer = StageTimer()
    with recording(timer):
        pass
    with timed("kde"):
        pass
    assert timer.stages == {}


def test_threads_never_record_into_another_threads_timer():
    mine, theirs = StageTimer(), StageTimer()
    barrier = threading.Barrier(2)

    def other_run():
        with recording(theirs):
            barrier.wait()
            with timed("other"):
                barrier.wait()

    with recording(mine):
        thread = threading.Thread(target=other_run)
        thread.start()
        barrier.wait()
        with timed("mine"):  # the other thread is inside its own "other" step now
            barrier.wait()
        thread.join()

        def untracked():  # a thread without a recorder of its own records nothing
            with timed("stray"):
                pass

        helper = threading.Thread(target=untracked)
        helper.start()
        helper.join()
    assert set(mine.stages) == {"mine"}
    assert set(theirs.stages) == {"other"}


def _incidents(n: int = 300) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(3)
    lon = -46.64 + rng.normal(0, 0.004, n)
    lat = -23.55 + rng.normal(0, 0.004, n)
    return gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326)


def test_pipeline_names_its_analysis_steps_and_stages():
    timer = StageTimer()
    with recording(timer):
        pipeline.run(_incidents(), stages=["factors"], cell_size=100.0)
    for step in ("area", "project", "grid", "counts", "bandwidth", "kde", "gi_star",
                 "analyze", "stage:factors", "factors/lighting", "factors/access"):
        assert step in timer.stages, step
    assert not any(k.startswith("export") for k in timer.stages)  # nothing was written


def test_a_failing_stage_goes_to_the_callback_and_the_run_goes_on(monkeypatch):
    ran: list[str] = []

    def broken(analysis):
        raise RuntimeError("stage is broken")

    def after(analysis):
        ran.append("after")

    monkeypatch.setattr(pipeline, "default_stages",
                        lambda: [("broken", broken), ("after", after)])
    errors: dict[str, str] = {}
    pipeline.run(_incidents(), cell_size=100.0,
                 on_stage_error=lambda name, exc: errors.setdefault(name, str(exc)))
    assert errors == {"broken": "stage is broken"} and ran == ["after"]
    with pytest.raises(RuntimeError, match="stage is broken"):
        pipeline.run(_incidents(), cell_size=100.0)
