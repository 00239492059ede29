"""Server warm-up: the first mode's demo at once, the others only once a page is drawn.

Unpickling an analysis holds the interpreter lock; done while the first visitor's
page draws its map, it slows that page (issue 18: first page interactive <= 5 s).
"""

from __future__ import annotations

import concurrent.futures
import threading

from app_pages import warmup


def _no_imports(monkeypatch):
    for name in ("START_MODULES", "LATER_MODULES"):
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


def test_start_modules_before_the_server_answers_the_rest_in_the_background(monkeypatch):
    # The lifespan imports the first page's code before it yields (the server
    # answers after it); the demo loads in a thread, later pages' code and the
    # other modes once a page is drawn.
    import asyncio

    import hotspot_env.inputs.demo as demo

    steps: list[str] = []
    demo_loaded, answering = threading.Event(), threading.Event()

    def fake_cached_demo(privacy: str) -> None:
        answering.wait(30)  # the test has looked at what came before the server answered
        steps.append(f"demo {privacy}")
        demo_loaded.set()

    monkeypatch.setattr(demo, "cached_demo", fake_cached_demo)
    monkeypatch.setattr(warmup, "_import", lambda names: steps.extend(names))
    monkeypatch.setattr(warmup, "FIRST_PAGE_DRAWN", threading.Event())

    async def serve() -> list[str]:
        async with warmup.warm_up(None):
            return list(steps)  # what had happened when the server began to answer

    # In its own thread: a browser test's Playwright (sync API) may still hold an
    # event loop in this one, and asyncio.run refuses to nest.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        at_start = pool.submit(asyncio.run, serve()).result()
    answering.set()
    assert at_start == list(warmup.START_MODULES)
    assert demo_loaded.wait(30)
    thread = next(t for t in threading.enumerate() if t.name == "hotspot-env-warm-up")
    thread.join(0.3)
    assert steps == [*warmup.START_MODULES, "demo internal"]  # waiting for a page
    warmup.page_drawn()
    thread.join(30)
    assert steps == [*warmup.START_MODULES, "demo internal", *warmup.LATER_MODULES,
                     "demo public"]


def test_start_modules_cover_what_the_first_page_imports():
    import importlib.util

    for name in (*warmup.START_MODULES, *warmup.LATER_MODULES):
        assert importlib.util.find_spec(name) is not None, name
    # unpickling a kept analysis imports these packages; the map and charts need the rest
    for name in ("hotspot_env.core.analysis", "hotspot_env.interventions",
                 "hotspot_env.models.rtm", "hotspot_env.app.mapview", "altair"):
        assert name in warmup.START_MODULES


def test_a_failing_start_import_does_not_stop_the_server(monkeypatch, caplog):
    monkeypatch.setattr(warmup, "START_MODULES", ("hotspot_env.no_such_module",))
    warmup.import_start_modules()
    assert "importing the app's modules at start failed" in caplog.text
