"""Fewer garbage collections while a recomputation runs.

A run allocates millions of short-lived containers (folded facts, evaluations, values),
and CPython's collector runs its youngest generation every 700 net allocations and, every
100 of those, walks every object the process holds: with Great Expectations, pandas and
SQLAlchemy loaded, that is hundreds of thousands of objects a time. Measured on a warm
7-day backfill of a small business: 2.5 s of 10 s in collections (4 full ones took 1.8 s).
Almost all of those containers are freed by reference counting as soon as they are dropped;
the collector is only needed for cycles, which a run makes few of.

:func:`fewer_collections` raises the youngest generation's threshold to
:data:`YOUNG_THRESHOLD` for the time of a run (the same backfill: 2 collections, 0.2 s)
and puts it back when the last run in the process ends; the older generations keep their
thresholds, so cycles are still collected.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["YOUNG_THRESHOLD", "fewer_collections"]

#: net container allocations between two collections of the youngest generation while a run is on
YOUNG_THRESHOLD = 200_000

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect the youngest generation every :data:`YOUNG_THRESHOLD` allocations inside the block.

    Nested and concurrent blocks share the setting: the first one in raises the threshold
    (never lowers it: a process that chose a higher one keeps it), the last one out restores
    what was set before.
    """
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            young, *older = _saved
            gc.set_threshold(max(young, YOUNG_THRESHOLD), *older)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
