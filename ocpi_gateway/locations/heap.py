"""Keeping a big catalog (10,000 locations: millions of Python objects) from stalling the
event loop through memory management.

- CPython's full garbage collection walks every tracked object, holding the GIL: with a big
  catalog loaded that is seconds, at a moment the allocator picks. Once the catalog is
  published its objects are frozen (``gc.freeze``): collections no longer walk them.
- A reload allocates a whole new catalog: the collector is paused meanwhile (the parse runs
  in a thread but would trigger full collections that stop the loop too), then the new
  objects are frozen. Cyclic garbage made while paused is frozen with them and never freed:
  the catalog's objects hold no cycles, so that is little, once per reload.
- Dropping the old catalog frees its objects in one cascade that holds the GIL for a
  noticeable time: it is emptied a few locations at a time instead, once code that read it
  before the swap (a command in flight) is done with it.

Freezing keeps whatever cyclic garbage exists at that moment for good, so it is done only for
a catalog big enough for collections to matter (FREEZE_FROM locations), not for the small
ones of a test suite that starts hundreds of gateways in one process.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

FREEZE_FROM = 1_000
"""Locations from which a catalog's objects are frozen and reloads pause the collector."""

_pauses = 0


@contextmanager
def collector_paused(locations: int) -> Iterator[None]:
    """For a big catalog (``locations`` of the current one): no garbage collection inside;
    on leaving the outermost, what exists is frozen."""
    global _pauses
    if locations < FREEZE_FROM:
        yield
        return
    was_enabled = gc.isenabled()
    _pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _pauses -= 1
        if _pauses == 0:
            gc.freeze()
            if was_enabled:
                gc.enable()


def freeze_published(locations: int) -> None:
    """A big published catalog is long-lived: exclude it from every later collection."""
    if locations >= FREEZE_FROM:
        gc.freeze()


class Releasable(Protocol):
    def release_some(self, count: int) -> bool: ...


RELEASE_AFTER = 120.0
"""Seconds an old catalog is kept after a reload before it is emptied."""


async def release_gradually(old: Releasable, *, after: float = RELEASE_AFTER,
                            batch: int = 100) -> None:
    await asyncio.sleep(after)
    # Not waiting for anything: handing the loop back between two batches is the point.
    while old.release_some(batch):  # noqa: ASYNC110
        await asyncio.sleep(0)
