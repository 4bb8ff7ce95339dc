"""Idle OCPP connections held by one gateway process, and memory per connection.

    .venv/bin/python benchmarks/ocpp_connections.py [--count 10000] [--concurrency 200]
                                                    [--cold 200]

The gateway (OcppServer on an aiohttp app) runs in its own process; this process opens
``--count`` authenticated OCPP 1.6 websockets to it and keeps them idle. Memory per connection
is the growth of the server's RSS divided by the connections, measured after a warm-up
connection and a gc. Both processes raise RLIMIT_NOFILE to the hard limit; the count is cut
to what the limit allows.

Those chargers share one password hash (warm: the server verifies it once and remembers the
success), which flatters the connect rate. Then ``--cold`` more chargers, each with its own
production-cost hash (log2 N = 14, made once and kept in $TMPDIR), connect the same way: each
pays scrypt. Printed: both connect rates, the server's CPU per handshake in each (from its
rusage), and the ratios cold / warm.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import resource
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from ocpp_bench_common import (
    NullPublisher,
    charger_ids,
    chargers_config,
    free_port,
    make_server,
    open_charger,
    quiet_logs,
    raise_fd_limit,
    rss_kb,
    run_site,
    spawn_self,
    wait_ready,
)
from ocpp_restart_storm import distinct_credentials

from ocpi_gateway.domain.authorization import AcceptAllAuthorizer
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig
from ocpi_gateway.ocpp_adapter.server import OcppServer, OcppTimings

COLD_PREFIX = "CP-COLD-"


def cold_ids(count: int) -> list[str]:
    return [f"{COLD_PREFIX}{n:05d}" for n in range(count)]


def with_cold(count: int, cold_hashes: Path | None) -> ChargersConfig | None:
    """The warm chargers' configuration plus one charger per hash in ``cold_hashes``."""
    if cold_hashes is None:
        return None
    hashes: list[str] = json.loads(cold_hashes.read_text())
    warm = chargers_config(count).model_dump(mode="json")["chargers"]
    return ChargersConfig.model_validate({"chargers": warm + [
        {"id": cp, "ocpp_version": "1.6", "password_hash": stored}
        for cp, stored in zip(cold_ids(len(hashes)), hashes, strict=True)]})


async def serve(port: int, count: int, cold_hashes: Path | None = None) -> None:
    quiet_logs()
    raise_fd_limit()
    config = with_cold(count, cold_hashes)
    if config is None:
        server, _ = make_server(count)
    else:
        server = OcppServer(config, NullPublisher(), AcceptAllAuthorizer(), instance_id="bench",
                            redis_url=None,
                            timings=OcppTimings(ws_ping_interval=60.0, presence_ttl=10.0,
                                                stream_block_ms=1000))

    import os
    import tracemalloc
    tracing = bool(os.environ.get("OCPP_BENCH_TRACEMALLOC"))
    if tracing:
        tracemalloc.start(1)
    snapshots = []

    async def stats(request: web.Request) -> web.Response:
        gc.collect()
        if tracing:
            snapshots.append(tracemalloc.take_snapshot())
            if len(snapshots) == 2:
                for stat in snapshots[1].compare_to(snapshots[0], "lineno")[:25]:
                    print(stat, file=sys.stderr)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return web.json_response({"rss_kb": rss_kb(), "connections": len(server.registry),
                                  "cpu_s": usage.ru_utime + usage.ru_stime})

    await run_site(server, port, [web.get("/stats", stats)])
    print("READY", flush=True)
    await asyncio.Event().wait()


async def stats(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    async with http.get(f"{base}/stats") as response:
        data: dict[str, float] = await response.json()
        return data


async def connect_cold(http: aiohttp.ClientSession, base: str,
                       passwords: list[str], concurrency: int
                       ) -> tuple[list[aiohttp.ClientWebSocketResponse], float]:
    gate = asyncio.Semaphore(concurrency)

    async def one(charge_point_id: str, password: str) -> aiohttp.ClientWebSocketResponse:
        token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode()
        async with gate:
            return await http.ws_connect(f"{base}/ocpp/{charge_point_id}",
                                         protocols=("ocpp1.6",), autoping=True, heartbeat=None,
                                         headers={"Authorization": f"Basic {token}"})

    started = time.perf_counter()
    sockets = await asyncio.gather(*(one(cp, password) for cp, password in zip(
        cold_ids(len(passwords)), passwords, strict=True)))
    return sockets, time.perf_counter() - started


async def connect_all(base: str, count: int, concurrency: int,
                      cold_passwords: list[str] | None = None) -> None:
    ids = charger_ids(count)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets = [await open_charger(http, base, ids[0])]
        await asyncio.sleep(0.5)
        before = await stats(http, base)
        gate = asyncio.Semaphore(concurrency)

        async def one(charge_point_id: str) -> aiohttp.ClientWebSocketResponse:
            async with gate:
                return await open_charger(http, base, charge_point_id)

        started = time.perf_counter()
        sockets += await asyncio.gather(*(one(cp) for cp in ids[1:]))
        elapsed = time.perf_counter() - started
        await asyncio.sleep(2.0)
        after = await stats(http, base)
        opened = after["connections"] - before["connections"]
        print(f"connections held by the gateway: {after['connections']}")
        print(f"connect rate: {opened / elapsed:,.0f} handshakes/s "
              f"({opened} in {elapsed:.1f} s, concurrency {concurrency})")
        print(f"gateway RSS: {before['rss_kb'] / 1024:.1f} MiB with 1 connection, "
              f"{after['rss_kb'] / 1024:.1f} MiB with {after['connections']}")
        print(f"memory per idle connection: "
              f"{(after['rss_kb'] - before['rss_kb']) / max(opened, 1):.1f} KiB")
        warm_rate = opened / elapsed
        warm_cpu = (after["cpu_s"] - before["cpu_s"]) * 1000 / max(opened, 1)
        print(f"warm (one hash shared): gateway CPU {warm_cpu:.2f} ms per handshake "
              "(with the idle wait after it)")
        if cold_passwords:
            cold_sockets, cold_elapsed = await connect_cold(http, base, cold_passwords,
                                                            concurrency)
            sockets += cold_sockets
            await asyncio.sleep(2.0)
            cold = await stats(http, base)
            cold_opened = int(cold["connections"] - after["connections"])
            cold_rate = cold_opened / cold_elapsed
            cold_cpu = (cold["cpu_s"] - after["cpu_s"]) * 1000 / max(cold_opened, 1)
            print(f"cold ({len(cold_passwords)} chargers, each its own hash): {cold_rate:,.1f} "
                  f"handshakes/s ({cold_opened} in {cold_elapsed:.1f} s), gateway CPU "
                  f"{cold_cpu:.2f} ms per handshake")
            print(f"cold / warm: connect rate {cold_rate / warm_rate:.3f}, CPU per handshake "
                  f"{cold_cpu / max(warm_cpu, 1e-9):.1f}x")
        for ws in sockets:
            await ws.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve(int(sys.argv[2]), int(sys.argv[3]),
                          Path(sys.argv[4]) if len(sys.argv) > 4 else None))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--cold", type=int, default=200,
                        help="chargers with a hash each, connected after the warm ones; 0: none")
    args = parser.parse_args()
    limit = raise_fd_limit()
    count = min(args.count, limit - 200 - args.cold)
    if count < args.count:
        print(f"RLIMIT_NOFILE {limit}: scaled down to {count} connections")
    port = free_port()
    extra: list[str] = []
    passwords: list[str] | None = None
    if args.cold:
        pairs = distinct_credentials(args.cold, 14)
        passwords = [password for password, _ in pairs]
        hashes = Path(f"/tmp/ocpp-connections-cold-{port}.json")
        hashes.write_text(json.dumps([stored for _, stored in pairs]))
        extra = [str(hashes)]
    server = spawn_self("--serve", str(port), str(count), *extra)
    try:
        wait_ready(server)
        asyncio.run(connect_all(f"http://127.0.0.1:{port}", count, args.concurrency,
                                passwords))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
