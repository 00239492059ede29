"""Server warm-up: the first mode's demo at once, the others only once a page is drawn.

Unpickling an analysis holds the interpreter lock; done while the first visitor's
page draws its map, it slows that page (issue 18: first page interactive <= 5 s).
"""

from __future__ import annotations

import threading

from app_pages import warmup


def _no_imports(monkeypatch):
    for name in ("ANALYSIS_MODULES", "MAP_MODULES", "LATER_MODULES"):
        monkeypatch.setattr(warmup, name, ())


def test_other_modes_wait_for_the_first_page(monkeypatch):
    import hotspot_env.inputs.demo as demo

    loaded: list[str] = []
    first = threading.Event()

    def fake_cached_demo(privacy: str):
        loaded.append(privacy)
        first.set()

    monkeypatch.setattr(demo, "cached_demo", fake_cached_demo)
    _no_imports(monkeypatch)
    monkeypatch.setattr(warmup, "FIRST_PAGE_DRAWN", threading.Event())
    thread = threading.Thread(target=warmup.prepare, daemon=True)
    thread.start()
    assert first.wait(30)
    thread.join(0.5)  # still waiting for a page: public is not loaded
    assert thread.is_alive() and loaded == ["internal"]
    warmup.page_drawn()
    thread.join(30)
    assert not thread.is_alive() and loaded == ["internal", "public"]


def test_without_a_page_the_wait_ends(monkeypatch):
    import hotspot_env.inputs.demo as demo

    loaded: list[str] = []
    monkeypatch.setattr(demo, "cached_demo", lambda privacy: loaded.append(privacy))
    _no_imports(monkeypatch)
    monkeypatch.setattr(warmup, "FIRST_PAGE_DRAWN", threading.Event())
    monkeypatch.setattr(warmup, "FIRST_PAGE_TIMEOUT_S", 0.01)
    warmup.prepare()
    assert loaded == ["internal", "public"]


def test_map_modules_after_the_first_analysis_and_later_modules_after_the_page(monkeypatch):
    # The first page needs the analysis and its map: nothing else competes with
    # them for the interpreter lock (altair, the scenarios, the other modes).
    import hotspot_env.inputs.demo as demo

    steps: list[str] = []
    monkeypatch.setattr(demo, "cached_demo", lambda privacy: steps.append(f"demo {privacy}"))
    monkeypatch.setattr(warmup, "_import", lambda names: steps.extend(names))
    monkeypatch.setattr(warmup, "FIRST_PAGE_DRAWN", threading.Event())
    thread = threading.Thread(target=warmup.prepare, daemon=True)
    thread.start()
    deadline = 30.0
    while "folium.plugins" not in steps and deadline > 0:
        thread.join(0.05)
        deadline -= 0.05
    thread.join(0.3)
    before_page = list(steps)
    warmup.page_drawn()
    thread.join(30)
    assert before_page == [*warmup.ANALYSIS_MODULES, "demo internal", *warmup.MAP_MODULES]
    assert steps == [*before_page, *warmup.LATER_MODULES, "demo public"]
    assert "altair" in warmup.LATER_MODULES and "altair" not in before_page


def test_warm_up_module_names_import():
    import importlib.util

    for name in (*warmup.ANALYSIS_MODULES, *warmup.MAP_MODULES, *warmup.LATER_MODULES):
        assert importlib.util.find_spec(name) is not None, name
