"""A big catalog is frozen out of garbage collection; a reload pauses the collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ocpi_gateway.locations import heap


@pytest.fixture(autouse=True)
def restore_collector() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()
    gc.unfreeze()


def test_a_big_catalog_pauses_the_collector_then_freezes_what_exists() -> None:
    gc.unfreeze()
    with heap.collector_paused(heap.FREEZE_FROM):
        assert not gc.isenabled()
        with heap.collector_paused(heap.FREEZE_FROM):  # nested: still paused after it
            pass
        assert not gc.isenabled()
        assert gc.get_freeze_count() == 0
    assert gc.isenabled() and gc.get_freeze_count() > 0


def test_a_small_catalog_leaves_the_collector_alone() -> None:
    gc.unfreeze()
    with heap.collector_paused(heap.FREEZE_FROM - 1):
        assert gc.isenabled()
    heap.freeze_published(heap.FREEZE_FROM - 1)
    assert gc.get_freeze_count() == 0
    heap.freeze_published(heap.FREEZE_FROM)
    assert gc.get_freeze_count() > 0


def test_the_collector_comes_back_after_a_failed_reload() -> None:
    with pytest.raises(RuntimeError), heap.collector_paused(heap.FREEZE_FROM):
        raise RuntimeError("bad file")
    assert gc.isenabled()
