"""A process-wide memory budget for captured activations, shared by every explorer.

Each explorer (or any other long-lived user) holds one :class:`BudgetCache`. All caches keep their
entries in one least-recently-used order: when the total passes the budget, the least recently
used entries of the least recently used cache go first. An evicted entry is simply gone; its owner
recaptures it when it is touched again. A cache that is garbage-collected frees its entries.

Examples
--------
>>> set_memory_budget("256 MiB")
>>> memory_budget()
268435456
>>> set_memory_budget(DEFAULT_BUDGET)
"""

from __future__ import annotations

import itertools
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

__all__ = ["BudgetCache", "memory_budget", "memory_in_use", "set_memory_budget"]

DEFAULT_BUDGET = 512 * 2**20
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
          "kib": 2**10, "mib": 2**20, "gib": 2**30}  # fmt: skip


class _Budget:
    """The shared LRU: caches in use order, each with its entries in use order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.RLock()
        self._caches: OrderedDict[int, OrderedDict[Hashable, tuple[Any, int]]] = OrderedDict()

    def get(self, cache: int, key: Hashable) -> Any:
        with self._lock:
            entries = self._caches.get(cache)
            if entries is None or key not in entries:
                return None
            self._caches.move_to_end(cache)
            entries.move_to_end(key)
            return entries[key][0]

    def put(self, cache: int, key: Hashable, value: Any, nbytes: int) -> None:
        with self._lock:
            entries = self._caches.setdefault(cache, OrderedDict())
            if key in entries:
                self.used -= entries.pop(key)[1]
            entries[key] = (value, int(nbytes))
            self._caches.move_to_end(cache)
            self.used += int(nbytes)
            self._evict(keep=(cache, key))

    def drop(self, cache: int) -> None:
        with self._lock:
            for _, nbytes in self._caches.pop(cache, {}).values():
                self.used -= nbytes

    def discard(self, cache: int, key: Hashable) -> None:
        with self._lock:
            entries = self._caches.get(cache)
            if entries is not None and key in entries:
                self.used -= entries.pop(key)[1]

    def _evict(self, keep: tuple[int, Hashable] | None = None) -> None:
        """Drop least-recently-used entries until within budget; ``keep`` (just asked for) stays."""
        keep_cache = keep[0] if keep is not None else None
        for cache in list(self._caches):
            entries = self._caches[cache]
            for key in list(entries):
                if self.used <= self.limit:
                    return
                if (cache, key) == keep:
                    continue
                self.used -= entries.pop(key)[1]
            if not entries and cache != keep_cache:
                del self._caches[cache]

    def set_limit(self, limit: int) -> None:
        with self._lock:
            self.limit = limit
            self._evict()


_BUDGET = _Budget(DEFAULT_BUDGET)
_IDS = itertools.count(1)


class BudgetCache:
    """One user's view of the shared budget: ``get``/``put`` by key, eviction decided globally.

    Examples
    --------
    >>> cache = BudgetCache()
    >>> cache.put("layer1", "activations", nbytes=1024)
    >>> cache.get("layer1")
    'activations'
    """

    def __init__(self) -> None:
        self._id = next(_IDS)
        weakref.finalize(self, _BUDGET.drop, self._id)

    def get(self, key: Hashable) -> Any:
        """The value, or None when it was never put or has been evicted (marks it recently used)."""
        return _BUDGET.get(self._id, key)

    def put(self, key: Hashable, value: Any, nbytes: int) -> None:
        """Keep ``value`` (``nbytes`` large), evicting others if the budget is exceeded."""
        _BUDGET.put(self._id, key, value, nbytes)

    def discard(self, key: Hashable) -> None:
        _BUDGET.discard(self._id, key)

    def clear(self) -> None:
        """Free every entry of this cache."""
        _BUDGET.drop(self._id)


def set_memory_budget(limit: int | str) -> None:
    """Set the memory all explorers together may keep for activations (default 512 MiB).

    ``limit`` is a byte count or a string such as ``"1 GiB"``, ``"300MB"``. Lowering it evicts at
    once; evicted layers are recaptured (one stop-early forward) when they are shown again.

    Examples
    --------
    >>> import featviz_widgets
    >>> featviz_widgets.set_memory_budget("1 GiB")  # doctest: +SKIP
    """
    _BUDGET.set_limit(_parse_bytes(limit))


def memory_budget() -> int:
    """The current budget in bytes."""
    return _BUDGET.limit


def memory_in_use() -> int:
    """Bytes of activations kept now by every explorer together (always <= the budget, except
    for a single entry larger than the whole budget, which is kept while it is shown)."""
    return _BUDGET.used


def _parse_bytes(limit: int | str) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int | str):
        raise TypeError(
            f"memory budget must be bytes (int) or a string like '512 MiB', got {limit!r}"
        )
    if isinstance(limit, str):
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", limit)
        unit = match and _UNITS.get(match[2].lower())
        if not match or unit is None:
            raise ValueError(
                f"cannot read memory budget {limit!r}: write a number and a unit, e.g. '512 MiB', "
                "'2GB' or 1000000"
            )
        limit = int(float(match[1]) * unit)
    if limit < 0:
        raise ValueError(f"memory budget must be >= 0 bytes, got {limit}")
    return limit
