"""The app server caps glibc's malloc arenas (one per new thread otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from hotspot_env.app.server_memory import limit_malloc_arenas

# Eight threads each allocate with malloc (numpy buffers above pymalloc's limit);
# glibc's malloc_info then lists one <heap> per arena.
_PROBE = textwrap.dedent("""
    import ctypes, json, sys, tempfile, threading
    import numpy as np
    from hotspot_env.app.server_memory import limit_malloc_arenas
    capped = limit_malloc_arenas(2) if sys.argv[1] == "cap" else False
    start = threading.Barrier(8)
    def work():
        start.wait()  # all alive at once: none can inherit a finished thread's arena
        keep = [np.ones(4096) for _ in range(200)]
        start.wait()
    threads = [threading.Thread(target=work) for _ in range(8)]
    [t.start() for t in threads]; [t.join() for t in threads]
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    with tempfile.NamedTemporaryFile(suffix=".xml") as out:
        fp = libc.fopen(out.name.encode(), b"w")
        libc.malloc_info(0, ctypes.c_void_p(fp))
        libc.fclose(ctypes.c_void_p(fp))
        heaps = open(out.name).read().count("<heap nr=")
    print(json.dumps({"capped": capped, "heaps": heaps}))
""")


def _probe(mode: str, **env: str) -> dict:
    full = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], env=full, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="malloc_info is glibc's")


def test_threads_share_two_arenas_once_capped():
    capped = _probe("cap")
    free = _probe("free")  # the control: without the cap each thread gets its own arena
    assert capped == {"capped": True, "heaps": 2}
    assert free["heaps"] > 2, free


def test_the_operators_setting_stands(monkeypatch: pytest.MonkeyPatch):
    assert _probe("cap", MALLOC_ARENA_MAX="3") == {"capped": False, "heaps": 3}
    monkeypatch.setenv("MALLOC_ARENA_MAX", "3")
    assert limit_malloc_arenas() is False


_TRIM_PROBE = textwrap.dedent("""
    import json, psutil, numpy as np
    from hotspot_env.app import server_memory
    keep, freed = [], []
    for i in range(8000):  # 64 KB buffers: heap, not mmap; every tenth kept, so it fragments
        (keep if i % 10 == 0 else freed).append(np.ones(8000))
    del freed
    rss = psutil.Process().memory_info().rss
    first = server_memory.release_free_memory(min_interval_s=60)
    first.join()
    after = psutil.Process().memory_info().rss
    again = server_memory.release_free_memory(min_interval_s=60)
    print(json.dumps({"before_mb": rss / 2**20, "after_mb": after / 2**20,
                      "again": again is not None}))
""")


def test_freed_heap_goes_back_to_the_system_at_most_once_per_interval():
    out = subprocess.run([sys.executable, "-c", _TRIM_PROBE], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    got = json.loads(out.strip().splitlines()[-1])
    # about 450 MB were freed between kept buffers: most of it is returned
    assert got["before_mb"] - got["after_mb"] > 300, got
    assert got["again"] is False, got
