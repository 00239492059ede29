"""A small cache of results per live object, safe in the app's threaded server.

The app caches work per analysis or per interventions engine (projected
basemaps, engines with the user's proposals). Keying by ``id(obj)`` alone
returns a stale entry once ``obj`` is collected and its id reused; here each
entry keeps its owner alive and is only returned for that very object, and a
lock keeps concurrent sessions from corrupting the dictionary.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

Value = TypeVar("Value")


class IdentityCache(Generic[Value]):
    """Bounded, least-recently-used cache keyed by an object's identity and a key.

    Parameters
    ----------
    maxsize : int
        Entries kept; the least recently used goes first.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = int(maxsize)
        self._items: OrderedDict[tuple[int, Hashable], tuple[Any, Value]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, owner: Any, key: Hashable, make: Callable[[], Value]) -> Value:
        """The value cached for ``(owner, key)``, made with ``make()`` on a miss.

        ``make`` runs outside the lock (it may take seconds); two sessions
        missing at once both compute, and the later result is kept.
        """
        slot = (id(owner), key)
        with self._lock:
            hit = self._items.get(slot)
            if hit is not None and hit[0] is owner:
                self._items.move_to_end(slot)
                return hit[1]
        value = make()
        with self._lock:
            self._items[slot] = (owner, value)  # holding owner: its id cannot be reused
            self._items.move_to_end(slot)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._items.clear()
