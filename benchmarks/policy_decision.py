"""Policy decision + atomic hold at a location with 100 EVSEs: p50/p99 (goal p99 <= 2 ms).

Each sample is one ``PolicyEngine.decide`` (policy lookup, availability snapshot, exclusions,
ordering by every rule) followed by ``PolicyEngine.hold`` (the atomic pick-and-hold); the hold
is released outside the timed part so every sample sees the same location.

    .venv/bin/python benchmarks/policy_decision.py [--samples 3000] [--redis-url URL] [--cluster]

``--cluster`` also starts a 3-master Redis Cluster and measures it against the single Redis,
rounds interleaved in the same run.

Each store is measured with a fresh availability snapshot per decision and with the engine's
short snapshot cache (``snapshot_ttl``), which only affects ordering, never freeness.
Without --redis-url a private redis-server is started on a free port when one is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis

from ocpi_gateway.domain.ids import ChargerAddress
from ocpi_gateway.redis_clients import RedisMode, RedisTarget
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore, EvseStatus
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.availability.redis import RedisAvailability
from ocpi_gateway.reservation_policy.engine import PolicyEngine
from ocpi_gateway.reservation_policy.models import (
    ConnectorInfo,
    EvseCandidate,
    Partner,
    ReservationRequest,
)
from ocpi_gateway.reservation_policy.plans import Plan
from ocpi_gateway.reservation_policy.policy import PolicySource, parse_policy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' Redis processes
from tests.redis_servers import RedisClusterProcesses

LOCATION = "BENCH"
EVSES = 100
SNAPSHOT_TTL = 0.25


def candidates() -> list[EvseCandidate]:
    out = []
    for i in range(EVSES):
        cp = f"CP{i // 4:03d}"
        conns = (ConnectorInfo("IEC_62196_T2", 22_000),) if i % 3 else (
            ConnectorInfo("IEC_62196_T2", 22_000), ConnectorInfo("IEC_62196_T2_COMBO", 150_000))
        out.append(EvseCandidate(LOCATION, f"E{i:03d}", cp, ChargerAddress(cp, i % 4 + 1),
                                 i % 10 != 0, conns, i % 2 == 0))
    return out


async def populate(store: AvailabilityStore, cands: list[EvseCandidate]) -> None:
    now = datetime.now(UTC)
    for i, c in enumerate(cands):
        status = EvseStatus.CHARGING if i % 3 == 1 else EvseStatus.AVAILABLE
        await store.set_status(LOCATION, c.evse_uid, status, now)


async def measure(store: AvailabilityStore, samples: int, snapshot_ttl: float) -> list[float]:
    cands = candidates()
    await populate(store, cands)
    policy = PolicySource(policy=parse_policy({"defaults": {
        "walk_in_reserve": 2, "allow_whole_charger": True,
        "ordering": ["connector_wanted", "single_connector", "spread_across_chargers",
                     "least_recently_reserved", "highest_power"]}}))
    engine = PolicyEngine(policy, store, snapshot_ttl=snapshot_ttl)
    request = ReservationRequest(LOCATION, None, Partner("NL", "EXA"), "04A1B2C3",
                                 datetime.now(UTC) + timedelta(minutes=30),
                                 connector_standard="IEC_62196_T2", min_power_w=11_000)
    timings = []
    for i in range(samples + 200):
        start = time.perf_counter()
        plan = await engine.decide(request, cands)
        assert isinstance(plan, Plan), plan
        held = await engine.hold(plan, holder="bench", until=request.expiry)
        elapsed = time.perf_counter() - start
        assert held is not None
        await store.release(LOCATION, held.evse_uid, holder="bench")
        if i >= 200:  # warm-up
            timings.append(elapsed * 1000)
    return timings


def _label(ttl: float) -> str:
    return f"{EVSES} EVSEs, " + (f"snapshot ttl {ttl:g}s" if ttl else "fresh snapshot")


def report(name: str, timings: list[float]) -> None:
    q = statistics.quantiles(timings, n=100)
    print(f"{name:<42} n={len(timings)} p50={q[49]:.3f} ms p99={q[98]:.3f} ms "
          f"max={max(timings):.3f} ms (goal p99 <= 2 ms)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", tempfile.gettempdir()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


async def run(samples: int, url: str | None) -> None:
    for ttl in (0.0, SNAPSHOT_TTL):
        report(f"in-process {_label(ttl)}", await measure(MemoryAvailability(), samples, ttl))
    if url is None:
        print("redis: skipped (no redis-server and no --redis-url)")
        return
    client = aioredis.from_url(url)
    await client.delete(*[f"avail:{{{LOCATION}}}:{k}" for k in
                          ("status", "updated", "holder", "until", "reserved")])
    # The floor under every Redis figure: one round trip on this machine, now.
    pings = []
    for _ in range(samples):
        start = time.perf_counter()
        await client.ping()
        pings.append((time.perf_counter() - start) * 1000)
    q = statistics.quantiles(pings, n=100)
    print(f"{'redis PING round trip (floor)':<42} n={len(pings)} p50={q[49]:.3f} ms "
          f"p99={q[98]:.3f} ms")
    store = RedisAvailability(client)
    for ttl in (0.0, SNAPSHOT_TTL):
        report(f"redis {_label(ttl)}", await measure(store, samples, ttl))
    await store.close()


async def run_cluster(samples: int, single_url: str, cluster_url: str) -> None:
    """Single Redis against a 3-master Redis Cluster, rounds interleaved in one run."""
    stores = {"single redis": RedisAvailability.from_url(single_url),
              "redis cluster (3 masters)": RedisAvailability.from_url(
                  RedisTarget(url=cluster_url, mode=RedisMode.CLUSTER))}
    timings: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(5):
        for name, store in stores.items():
            timings[name] += await measure(store, samples // 5, 0.0)
    for name, found in timings.items():
        report(f"{name} fresh snapshot", found)
    medians = {name: statistics.median(found) for name, found in timings.items()}
    ratio = medians["redis cluster (3 masters)"] / medians["single redis"]
    print(f"cluster / single (median): {ratio:.2f}x")
    for store in stores.values():
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--redis-url")
    parser.add_argument("--cluster", action="store_true",
                        help="also a 3-master Redis Cluster against a single Redis")
    args = parser.parse_args()
    proc = None
    url = args.redis_url
    if url is None and shutil.which("redis-server"):
        proc, url = _start_redis()
    try:
        asyncio.run(run(args.samples, url))
        if args.cluster and url is not None:
            with tempfile.TemporaryDirectory() as workdir:
                cluster = RedisClusterProcesses(Path(workdir))
                cluster.start()
                try:
                    asyncio.run(run_cluster(args.samples, url, cluster.url))
                finally:
                    cluster.stop()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
