"""What an index on the outbox's ``queued_at`` would cost and give, on SQLite.

Every push to a partner writes its outbox row and deletes it once delivered, so an index of
the collection costs every push; the admin list's time range (``GET /admin/api/outbox?from=
&to=``) is what it would serve. Both are measured for the outbox's indexes as they are and
with ``("queued_at",)`` added, in the same run, rounds interleaved (fresh database each):

- writes: ``--count`` rows written then deleted, in group commits of 50 (as the outbox's);
- reads: over ``--rows`` dead letters queued across a day, the first page (50) of one hour's,
  newest first, ``--queries`` times.

    .venv/bin/python benchmarks/outbox_queued_index.py [--count 20000] [--rows 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ocpi_gateway.admin.service.outbox import OutboxFilter, list_deliveries
from ocpi_gateway.deliveries.models import COLLECTION, Delivery
from ocpi_gateway.domain.store import Delete, Put
from ocpi_gateway.store import indexes, sqlite
from ocpi_gateway.store.sqlite import SqliteStore

T0 = datetime(2026, 12, 1, tzinfo=UTC)
BATCH = 50
AS_IS = indexes.INDEXES[COLLECTION]
VARIANTS = {"as is": AS_IS, "with queued_at": (*AS_IS, ("queued_at",))}


@contextmanager
def outbox_indexes(wanted: tuple[indexes.Index, ...]) -> Iterator[None]:
    indexes.INDEXES[COLLECTION] = wanted
    saved = sqlite._INDEXES
    sqlite._INDEXES = [sqlite._index_sql(c, i) for c, group in indexes.INDEXES.items()
                       for i in group]
    try:
        yield
    finally:
        indexes.INDEXES[COLLECTION] = AS_IS
        sqlite._INDEXES = saved


def row(n: int, *, queued_at: float, dead: bool = False) -> Delivery:
    return Delivery(id=f"d{n:08d}", partner_id=f"p{n % 20}", method="PATCH",
                    url=f"https://emsp{n % 20}.example/ocpi/2.2.1/locations/NL/EXA/L{n}",
                    body={"status": "CHARGING", "last_updated": "2026-12-01T12:00:00Z"},
                    ordering_key=f"L{n}", seq=n, queued_at=queued_at, dead=dead,
                    owner="gw-1")


async def writes(path: Path, count: int) -> float:
    """Rows per second, each written then deleted."""
    store = await SqliteStore.open(str(path))
    try:
        started = time.perf_counter()
        for first in range(0, count, BATCH):
            batch = [row(n, queued_at=T0.timestamp() + n) for n in range(first, first + BATCH)]
            await store.write_batch([Put(COLLECTION, d.id, d.to_doc()) for d in batch])
            await store.write_batch([Delete(COLLECTION, d.id) for d in batch])
        return count / (time.perf_counter() - started)
    finally:
        await store.close()


async def reads(path: Path, rows: int, queries: int) -> float:
    """Milliseconds per query, median."""
    store = await SqliteStore.open(str(path))
    try:
        spacing = 86400 / rows
        for first in range(0, rows, 500):
            await store.write_batch([
                Put(COLLECTION, d.id, d.to_doc()) for d in (
                    row(n, queued_at=T0.timestamp() + n * spacing, dead=True)
                    for n in range(first, min(first + 500, rows)))])
        query = OutboxFilter.model_validate({"from": (T0 + timedelta(hours=12)).isoformat(),
                                             "to": (T0 + timedelta(hours=13)).isoformat()})
        times = []
        for _ in range(queries):
            started = time.perf_counter()
            page = await list_deliveries(store, query)
            times.append((time.perf_counter() - started) * 1000)
            assert len(page.items) == 50
        return statistics.median(times)
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {
        name: {"writes": [], "reads": []} for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            for name, wanted in VARIANTS.items():
                with outbox_indexes(wanted):
                    base = Path(tmp) / f"{n}-{name.replace(' ', '_')}"
                    results[name]["writes"].append(await writes(base.with_suffix(".w.db"),
                                                                args.count))
                    results[name]["reads"].append(await reads(base.with_suffix(".r.db"),
                                                              args.rows, args.queries))
    print(f"outbox on SQLite, {args.rounds} rounds interleaved; writes: {args.count} rows "
          f"written+deleted in batches of {BATCH}; reads: 1 hour of {args.rows} dead letters "
          "over a day, first page of 50")
    for name, figures in results.items():
        w, r = figures["writes"], figures["reads"]
        print(f"  {name:<15} writes/s min {min(w):8.0f} median {statistics.median(w):8.0f}   "
              f"range query ms min {min(r):7.2f} median {statistics.median(r):7.2f}")


if __name__ == "__main__":
    asyncio.run(main())
