"""A SIGKILLed gateway loses no delivery of a fan-out it handed over: ``enqueue_many`` stores
every partner's delivery by group commit before it returns. A process queueing status changes
for 50 partners as fast as it can is killed mid-stream; every change it reported has its 50
deliveries in the outbox."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ocpi_gateway.deliveries.models import COLLECTION as OUTBOX
from ocpi_gateway.store.sqlite import SqliteStore
from tests.locations.fanout_crash_writer import PARTNERS, QUEUED
from tests.sigkill import killed_after


def queued(text: str) -> list[int]:
    """The changes the writer reported in ``text`` (whole lines only: the kill may cut the
    last one, which then was not reported)."""
    return [int(line.removeprefix(QUEUED)) for line in text.split("\n")
            if line.startswith(QUEUED) and len(line) == len(QUEUED) + 6]


@pytest.mark.timeout(120)
async def test_every_handed_over_fan_out_survives_a_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    # Killed while changes are being queued: well past the first commits.
    reported = await killed_after("tests.locations.fanout_crash_writer", str(path), queued, 60)
    store = await SqliteStore.open(str(path))
    try:
        rows = await store.find(OUTBOX)
    finally:
        await store.close()
    per_change = Counter(row["body"]["change"] for row in rows)
    assert reported and len(set(reported)) == len(reported)
    incomplete = {n: per_change[n] for n in reported if per_change[n] != PARTNERS}
    assert incomplete == {}
    # Each partner's delivery is stored once (nothing is written twice by the batches).
    assert len({(row["partner_id"], row["body"]["change"]) for row in rows}) == len(rows)
