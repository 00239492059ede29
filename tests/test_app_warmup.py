"""Server warm-up: the first mode's demo at once, the others only once a page is drawn.

Unpickling an analysis holds the interpreter lock; done while the first visitor's
page draws its map, it slows that page (issue 18: first page interactive <= 5 s).
"""

from __future__ import annotations

import threading

from app_pages import warmup


def test_other_modes_wait_for_the_first_page(monkeypatch):
    import hotspot_env.inputs.demo as demo

    loaded: list[str] = []
    first = threading.Event()

    def fake_cached_demo(privacy: str):
        loaded.append(privacy)
        first.set()

    monkeypatch.setattr(demo, "cached_demo", fake_cached_demo)
    monkeypatch.setattr(warmup, "MODULES", ())
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
    monkeypatch.setattr(warmup, "MODULES", ())
    monkeypatch.setattr(warmup, "FIRST_PAGE_DRAWN", threading.Event())
    monkeypatch.setattr(warmup, "FIRST_PAGE_TIMEOUT_S", 0.01)
    warmup.prepare()
    assert loaded == ["internal", "public"]
