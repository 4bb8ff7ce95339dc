"""Admission of a booking at a busy site: 100 EVSEs in three classes (50 Type 2 22 kW, 30 CCS
50 kW, 20 CCS 150 kW), 10,000 future bookings over 7 days.

    .venv/bin/python benchmarks/booking_admission.py [--rounds 5] [--admissions 400]
                                                     [--bookings 10000] [--seed 7] [--long 0]

Per round, interleaved: the in-process timeline (the per-site lock and the sweep in Python),
the Redis timeline (one round trip: the admission Lua script over the site's keys, the atomic
step included) and, as the reference, a bare Lua script doing the same sweep (read the window,
sort the endpoints, the largest overlap; one class, no Hall check, nothing written), called
with EVALSHA straight from redis-py over a plain sorted set of the same promises by start
(the layout before the length buckets: one index, read back by the longest promise stored).
``--long N`` adds N promises of 24 h (reservations made now until tomorrow): with one index
every read reaches a day back; the timelines' length buckets keep them to their own bucket.
Each admission that succeeds is released again, so the
site keeps its 10,000 bookings. Printed per round: p50 / p99 of the call seen from Python,
and Redis's own time per script call (INFO commandstats; in-process: the p99 of this thread's
CPU time per admission, the work without the waits a loaded machine adds); then the min and
median over the rounds. Goal: the Redis timeline's p99 <= 2 ms.

A private redis-server on a free loopback port, pinned to the second core (taskset) while
this process keeps the first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402

from ocpi_gateway.reservation_policy.capacity.base import (  # noqa: E402
    CapacityTimeline,
    Promise,
    ms,
)
from ocpi_gateway.reservation_policy.capacity.classes import (  # noqa: E402
    Need,
    SupplyConnector,
    SupplyEvse,
)
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity  # noqa: E402
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity, encode  # noqa: E402

SITE = "BENCH-SITE"
START = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
T2, CCS = "IEC_62196_T2", "IEC_62196_T2_COMBO"
NEEDS = [Need(frozenset({T2})), Need(frozenset({CCS})),
         Need(frozenset({CCS}), min_power_w=100000), Need()]

REFERENCE = r"""
local a, b = tonumber(ARGV[1]), tonumber(ARGV[2])
local longest = tonumber(redis.call('HGET', KEYS[2], 'longest') or '0')
local events = {}
local load = 0
for _, mem in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], a - longest, '(' .. ARGV[2])) do
  local s, e = string.match(mem, '^[^\t]*\t([^\t]*)\t([^\t]*)')
  s, e = tonumber(s), tonumber(e)
  if e > a then
    if s <= a then load = load + 1 else events[#events + 1] = (s - a) * 2 + 1 end
    if e < b then events[#events + 1] = (e - a) * 2 end
  end
end
table.sort(events)
local most = load
for _, ev in ipairs(events) do
  if ev % 2 == 1 then load = load + 1 else load = load - 1 end
  if load > most then most = load end
end
return most
"""


def reference_keys() -> list[str]:
    return ["bench:{" + SITE + "}:z", "bench:{" + SITE + "}:site"]


def supply() -> list[SupplyEvse]:
    out = [SupplyEvse(f"AC{n:02d}", (SupplyConnector(T2, "AC_3_PHASE", 22000),))
           for n in range(50)]
    out += [SupplyEvse(f"DC{n:02d}", (SupplyConnector(CCS, "DC", 50000),)) for n in range(30)]
    out += [SupplyEvse(f"HP{n:02d}", (SupplyConnector(CCS, "DC", 150000),))
            for n in range(20)]
    return out


def random_booking(rng: random.Random, pid: str) -> Promise:
    start = START + timedelta(minutes=15 * rng.randrange(0, 7 * 24 * 4))
    length = timedelta(minutes=15 * rng.randint(1, 4))
    return Promise(pid, start - timedelta(minutes=10), start + length + timedelta(minutes=10),
                   rng.choice(NEEDS))


async def fill(rng: random.Random, count: int, long: int = 0) -> list[Promise]:
    """``count`` bookings the site can carry (admitted one by one in-process), after ``long``
    promises of 24 h."""
    memory = MemoryCapacity(clock=lambda: START)
    await memory.set_supply(SITE, supply())
    kept: list[Promise] = []
    for n in range(long):
        promise = Promise(f"long-{n}", START, START + timedelta(hours=24), rng.choice(NEEDS))
        if not (await memory.admit(SITE, promise)).ok:
            sys.exit(f"only {n} promises of 24 h fit the site")
        kept.append(promise)
    count += long
    n = 0
    while len(kept) < count:
        n += 1
        if n > 5 * count:
            sys.exit(f"only {len(kept)} of {count} bookings fit the site")
        promise = random_booking(rng, f"seed-{n}")
        if (await memory.admit(SITE, promise)).ok:
            kept.append(promise)
    return kept


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def measure(timeline: CapacityTimeline, requests: list[Promise],
                  cpu: list[float] | None = None) -> tuple[list[float], int]:
    """Wall time of each admission, ms (``cpu``: this thread's CPU time of each, ms)."""
    took: list[float] = []
    admitted = 0
    for promise in requests:
        t0, c0 = time.perf_counter(), time.thread_time()
        answer = await timeline.admit(SITE, promise)
        took.append((time.perf_counter() - t0) * 1000)
        if cpu is not None:
            cpu.append((time.thread_time() - c0) * 1000)
        if answer.ok:
            admitted += 1
            await timeline.release(SITE, promise.promise_id)
    return took, admitted


async def measure_reference(client: aioredis.Redis, sha: str, requests: list[Promise]
                            ) -> list[float]:
    z, site = reference_keys()
    took = []
    for promise in requests:
        a, b = int(promise.start.timestamp() * 1000), int(promise.end.timestamp() * 1000)
        t0 = time.perf_counter()
        await client.evalsha(sha, 2, z, site, a, b)
        took.append((time.perf_counter() - t0) * 1000)
    return took


async def load_reference(client: aioredis.Redis, bookings: list[Promise]) -> None:
    """The reference's plain index: every promise by start, the longest stored."""
    z, site = reference_keys()
    pipe = client.pipeline(transaction=False)
    for p in bookings:
        pipe.zadd(z, {encode(p): ms(p.start)})
    pipe.hset(site, "longest", max(ms(p.end) - ms(p.start) for p in bookings))
    await pipe.execute()


async def script_usec(client: aioredis.Redis) -> float:
    stats: dict[str, Any] = await client.info("commandstats")
    entry = stats.get("cmdstat_evalsha", {})
    return float(entry.get("usec_per_call", 0.0))


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is needed (apt-get install -y redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(workdir)]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        command = ["taskset", "-c", "1", *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("redis-server did not start")


async def main(args: argparse.Namespace) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    rng = random.Random(args.seed)
    bookings = await fill(rng, args.bookings, args.long)
    with tempfile.TemporaryDirectory() as workdir:
        proc, url = start_redis(Path(workdir))
        try:
            await run(args, rng, bookings, url)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def run(args: argparse.Namespace, rng: random.Random, bookings: list[Promise],
              url: str) -> None:
    memory = MemoryCapacity(clock=lambda: START)
    redis_timeline = RedisCapacity.from_url(url, clock=lambda: START)
    client = aioredis.from_url(url)
    for timeline in (memory, redis_timeline):
        await timeline.set_supply(SITE, supply())
        await timeline.rebuild(SITE, bookings)
    sha = await client.script_load(REFERENCE)
    await load_reference(client, bookings)
    print(f"site: {len(supply())} EVSEs in 3 classes, {len(bookings)} bookings over 7 days "
          f"({args.long} of them 24 h long); "
          f"{args.admissions} admissions per round and backend; load {load()}")
    figures: dict[str, list[tuple[float, float, float, float]]] = {
        "in-process": [], "redis": [], "bare Lua (reference)": []}
    for round_no in range(1, args.rounds + 1):
        requests = [random_booking(rng, f"r{round_no}-{n}") for n in range(args.admissions)]
        cpu: list[float] = []
        took, admitted = await measure(memory, requests, cpu)
        figures["in-process"].append((min(took), percentile(took, 50), percentile(took, 99),
                                      percentile(cpu, 99)))
        await client.config_resetstat()
        took, admitted_redis = await measure(redis_timeline, requests)
        usec = await script_usec(client)
        figures["redis"].append((min(took), percentile(took, 50), percentile(took, 99),
                                 usec / 1000))
        assert admitted == admitted_redis, "the two backends disagree"
        await client.config_resetstat()
        took = await measure_reference(client, sha, requests)
        usec = await script_usec(client)
        figures["bare Lua (reference)"].append(
            (min(took), percentile(took, 50), percentile(took, 99), usec / 1000))
        print(f"round {round_no}: admitted {admitted}/{len(requests)}; " + "; ".join(
            f"{name} min {f[-1][0]:.3f} p50 {f[-1][1]:.3f} p99 {f[-1][2]:.3f} ms"
            + (f" (in Redis {f[-1][3]:.3f} ms/call)" if name != "in-process"
               else f" (CPU p99 {f[-1][3]:.3f})")
            for name, f in figures.items()) + f"; load {load()}")
    print("over the rounds (min / median), ms:")
    for name, rows in figures.items():
        mins, p50s, p99s, inside = zip(*rows, strict=True)
        line = (f"  {name:22} min {min(mins):.3f}   "
                f"p50 {min(p50s):.3f} / {statistics.median(p50s):.3f}   "
                f"p99 {min(p99s):.3f} / {statistics.median(p99s):.3f}")
        line += (f"   in Redis {min(inside):.3f} / {statistics.median(inside):.3f}"
                 if name != "in-process"
                 else f"   CPU p99 {min(inside):.3f} / {statistics.median(inside):.3f}")
        print(line)
    print(f"load average (1/5/15 min): {load()}")
    await redis_timeline.close()
    await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--admissions", type=int, default=400)
    parser.add_argument("--bookings", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--long", type=int, default=0,
                        help="promises of 24 h among the bookings")
    asyncio.run(main(parser.parse_args()))
