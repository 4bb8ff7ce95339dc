"""A SIGKILLed gateway loses no CDR it acknowledged: CDRs are stored and their POSTs queued by
group commit (many sessions' writes in one transaction), and a session counts as billed only
once its commit is done. A process finishing sessions as fast as it can is killed mid-stream;
every session it reported billed has its CDR in the store and its POST in the outbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpi_gateway.cdrs.repository import COLLECTION as CDRS
from ocpi_gateway.deliveries.models import COLLECTION as OUTBOX
from ocpi_gateway.store.sqlite import SqliteStore
from tests.cdrs.crash_writer import BILLED
from tests.sigkill import killed_after


def billed(text: str) -> list[str]:
    """The session ids the writer reported billed in ``text`` (whole lines only: the kill
    may cut the last one, which then was not reported)."""
    return [line.removeprefix(BILLED) for line in text.split("\n")
            if line.startswith(BILLED) and len(line) == len(BILLED) + 7]


@pytest.mark.timeout(120)
async def test_every_acknowledged_cdr_survives_a_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    # Killed while sessions are being billed: well past the first batches.
    acknowledged = await killed_after("tests.cdrs.crash_writer", str(path), billed, 200)
    store = await SqliteStore.open(str(path))
    try:
        cdrs = {d["id"] for d in await store.find(CDRS)}
        posted = [d["body"]["id"] for d in await store.find(OUTBOX)]
    finally:
        await store.close()
    assert acknowledged and len(set(acknowledged)) == len(acknowledged)
    missing_cdrs = [s for s in acknowledged if s not in cdrs]
    missing_posts = set(acknowledged) - set(posted)
    assert missing_cdrs == [] and missing_posts == set()
    # Each stored CDR is queued once at most (nothing is stored twice by the batches).
    assert len(posted) == len(set(posted))
