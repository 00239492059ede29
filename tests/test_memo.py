"""IdentityCache (the app's per-analysis caches)."""

from __future__ import annotations

import gc
import threading
import weakref

from hotspot_env._memo import IdentityCache


class Owner:
    """A stand-in for an analysis or engine (hashable by identity, weak-referenceable)."""


def test_values_are_per_object_and_per_key():
    cache: IdentityCache[str] = IdentityCache(maxsize=4)
    a, b = Owner(), Owner()
    calls = []

    def make(tag):
        calls.append(tag)
        return tag

    assert cache.get(a, 1, lambda: make("a1")) == "a1"
    assert cache.get(a, 1, lambda: make("again")) == "a1"  # a hit
    assert cache.get(b, 1, lambda: make("b1")) == "b1"  # another object, same key
    assert cache.get(a, 2, lambda: make("a2")) == "a2"
    assert calls == ["a1", "b1", "a2"]


def test_an_entry_keeps_its_owner_alive_so_its_id_cannot_be_reused():
    cache: IdentityCache[int] = IdentityCache(maxsize=2)
    owner = Owner()
    ref = weakref.ref(owner)
    cache.get(owner, "k", lambda: 1)
    del owner
    gc.collect()
    assert ref() is not None  # still cached: no new object can take its id
    for _ in range(2):  # evicted by newer entries, the owner is released
        cache.get(Owner(), "k", lambda: 2)
    gc.collect()
    assert ref() is None and len(cache) == 2


def test_least_recently_used_goes_first():
    cache: IdentityCache[str] = IdentityCache(maxsize=2)
    a, b, c = Owner(), Owner(), Owner()
    cache.get(a, 0, lambda: "a")
    cache.get(b, 0, lambda: "b")
    cache.get(a, 0, lambda: "a-miss")  # a used again: b is now the oldest
    cache.get(c, 0, lambda: "c")
    assert cache.get(a, 0, lambda: "a-miss") == "a"
    assert cache.get(b, 0, lambda: "b-new") == "b-new"


def test_concurrent_sessions_share_one_consistent_cache():
    cache: IdentityCache[tuple[int, int]] = IdentityCache(maxsize=8)
    owners = [Owner() for _ in range(4)]
    errors, start = [], threading.Barrier(8)

    def session(i):
        start.wait()
        for n in range(300):
            owner = owners[(i + n) % 4]
            key = n % 3
            value = cache.get(owner, key, lambda o=owner, k=key: (id(o), k))
            if value != (id(owner), key):
                errors.append(value)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) <= 8

