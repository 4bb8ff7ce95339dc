"""``GET booking_locations/{id}/{calendar_id}`` over 7 days at a busy site: 100 EVSEs in three
classes (benchmarks/booking_admission.py's site) with 10,000 future bookings.

    .venv/bin/python benchmarks/booking_calendar.py [--rounds 5] [--gets 200]
                                                    [--bookings 10000] [--seed 7]

What is timed is what the handler does for one calendar (``Bookings.site`` with ``only``: the
free timeslots of that class over the 7-day window through the gateway's ``SpareCache`` over
the capacity timeline, the OCPI 2.3.0 Calendar, its JSON), on the in-process timeline and on
the Redis timeline (a private redis-server on its own core), in two cases per round:

- unchanged: the same calendar asked again and again;
- right after a change: before each GET a booking is admitted or released (by the timeline
  itself, as another instance would), so the calendar asked has just changed (the cache
  reads the change log and recomputes the changed interval only).

One full sweep without the cache (what the first GET after a start costs) is printed too.

Printed per round: min / p50 / p99 per backend and case, with the load average, and the p99 of
this process's CPU time per GET (``time.thread_time``: the work itself, without the time the
scheduler of a loaded machine kept the process waiting; on Redis without the server's part);
then the min and median over the rounds. Goal: p99 <= 10 ms in both cases.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from booking_admission import (  # noqa: E402
    SITE,
    START,
    fill,
    percentile,
    random_booking,
    start_redis,
    supply,
)

from ocpi_gateway.bookings.calendars import (  # noqa: E402
    calendar_id,
    calendar_of,
    site_zone,
    window_of,
)
from ocpi_gateway.ocpi.seam import to_json  # noqa: E402
from ocpi_gateway.ocpi.v2_3_0.bookings import calendar_view  # noqa: E402
from ocpi_gateway.reservation_policy.capacity.base import CapacityTimeline, Promise  # noqa: E402
from ocpi_gateway.reservation_policy.capacity.classes import SiteClasses  # noqa: E402
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity  # noqa: E402
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity  # noqa: E402
from ocpi_gateway.reservation_policy.capacity.slots import SpareSource  # noqa: E402
from ocpi_gateway.reservation_policy.capacity.spare_cache import SpareCache  # noqa: E402
from ocpi_gateway.reservation_policy.policy import BookingTerms, PolicySettings  # noqa: E402

NOW = START - timedelta(hours=1)
SETTINGS = PolicySettings(bookings=BookingTerms(
    enabled=True, max_advance_days=7, timeslot_increment_minutes=15,
    activation_lead_minutes=10, turnover_buffer_minutes=10, min_duration_minutes=15))


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


async def one_get(timeline: SpareSource, table: SiteClasses, wanted: str) -> bytes:
    """What the handler computes for ``GET .../{SITE}/{wanted}`` (``timeline``: the
    gateway's ``SpareCache`` over the timeline, or the timeline itself)."""
    zone = site_zone(None)
    begin, end = window_of(SETTINGS.bookings, NOW, zone)
    for cls in table.classes:
        if calendar_id(cls) == wanted:
            view = await calendar_of(timeline, SITE, cls, SETTINGS, begin, end, zone)
            calendar = calendar_view(view, NOW)
            assert calendar is not None
            return to_json(calendar)
    raise SystemExit(f"no calendar {wanted}")


async def measure(timeline: CapacityTimeline, table: SiteClasses, wanted: str, gets: int,
                  changes: list[Promise] | None) -> tuple[list[float], list[float]]:
    """Wall time and this thread's CPU time of each GET, ms."""
    cache = SpareCache(timeline)
    await one_get(cache, table, wanted)  # the first GET after a start sweeps the window
    took, cpu = [], []
    admitted: list[Promise] = []
    for n in range(gets):
        if changes is not None:
            if admitted and n % 2:
                await timeline.release(SITE, admitted.pop().promise_id)
            elif (await timeline.admit(SITE, changes[n])).ok:
                admitted.append(changes[n])
        t0, c0 = time.perf_counter(), time.thread_time()
        await one_get(cache, table, wanted)
        took.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
    for p in admitted:
        await timeline.release(SITE, p.promise_id)
    return took, cpu


async def main(args: argparse.Namespace) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    rng = random.Random(args.seed)
    bookings = await fill(rng, args.bookings)
    with tempfile.TemporaryDirectory() as workdir:
        proc, url = start_redis(Path(workdir))
        try:
            await run(args, rng, bookings, url)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def run(args: argparse.Namespace, rng: random.Random, bookings: list[Promise],
              url: str) -> None:
    memory = MemoryCapacity(clock=lambda: NOW)
    redis_timeline = RedisCapacity.from_url(url, clock=lambda: NOW)
    table = SiteClasses.build(supply())
    for timeline in (memory, redis_timeline):
        await timeline.set_supply(SITE, supply())
        await timeline.rebuild(SITE, bookings)
    wanted = calendar_id(table.classes[0])
    t0 = time.perf_counter()
    size = len(await one_get(memory, table, wanted))
    sweep = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    await one_get(redis_timeline, table, wanted)
    print(f"one full sweep of the window (no cache, the first GET after a start): in-process "
          f"{sweep:.1f} ms, redis {(time.perf_counter() - t0) * 1000:.1f} ms")
    print(f"site: {len(supply())} EVSEs, {len(bookings)} bookings over 7 days; calendar "
          f"{wanted} ({size} bytes of JSON); {args.gets} GETs per round and case; "
          f"load {load()}")
    figures: dict[str, list[tuple[float, float, float, float]]] = {}
    for round_no in range(1, args.rounds + 1):
        changes = [random_booking(rng, f"c{round_no}-{n}") for n in range(args.gets)]
        line = []
        for name, timeline in (("in-process", memory), ("redis", redis_timeline)):
            for case, change in (("unchanged", None), ("after a change", changes)):
                took, cpu = await measure(timeline, table, wanted, args.gets, change)
                row = (min(took), percentile(took, 50), percentile(took, 99),
                       percentile(cpu, 99))
                figures.setdefault(f"{name}, {case}", []).append(row)
                line.append(f"{name} {case} min {row[0]:.2f} p50 {row[1]:.2f} "
                            f"p99 {row[2]:.2f} (CPU p99 {row[3]:.2f})")
        print(f"round {round_no}: " + "; ".join(line) + f" ms; load {load()}")
    print("over the rounds (min / median), ms:")
    for name, rows in figures.items():
        mins, p50s, p99s, cpus = zip(*rows, strict=True)
        print(f"  {name:28} min {min(mins):.2f}   p50 {min(p50s):.2f} / "
              f"{statistics.median(p50s):.2f}   p99 {min(p99s):.2f} / "
              f"{statistics.median(p99s):.2f}   CPU p99 {min(cpus):.2f} / "
              f"{statistics.median(cpus):.2f}")
    print(f"load average (1/5/15 min): {load()}")
    await redis_timeline.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gets", type=int, default=200)
    parser.add_argument("--bookings", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(main(parser.parse_args()))
