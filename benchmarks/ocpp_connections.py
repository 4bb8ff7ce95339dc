"""Idle OCPP connections held by one gateway process, and memory per connection.

    .venv/bin/python benchmarks/ocpp_connections.py [--count 10000] [--concurrency 200]

The gateway (OcppServer on an aiohttp app) runs in its own process; this process opens
``--count`` authenticated OCPP 1.6 websockets to it and keeps them idle. Memory per connection
is the growth of the server's RSS divided by the connections, measured after a warm-up
connection and a gc. Both processes raise RLIMIT_NOFILE to the hard limit; the count is cut
to what the limit allows.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time

import aiohttp
from aiohttp import web
from ocpp_bench_common import (
    charger_ids,
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


async def serve(port: int, count: int) -> None:
    quiet_logs()
    raise_fd_limit()
    server, _ = make_server(count)

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
        return web.json_response({"rss_kb": rss_kb(), "connections": len(server.registry)})

    await run_site(server, port, [web.get("/stats", stats)])
    print("READY", flush=True)
    await asyncio.Event().wait()


async def stats(http: aiohttp.ClientSession, base: str) -> dict[str, int]:
    async with http.get(f"{base}/stats") as response:
        data: dict[str, int] = await response.json()
        return data


async def connect_all(base: str, count: int, concurrency: int) -> None:
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
        for ws in sockets:
            await ws.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve(int(sys.argv[2]), int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    limit = raise_fd_limit()
    count = min(args.count, limit - 200)
    if count < args.count:
        print(f"RLIMIT_NOFILE {limit}: scaled down to {count} connections")
    port = free_port()
    server = spawn_self("--serve", str(port), str(count))
    try:
        wait_ready(server)
        asyncio.run(connect_all(f"http://127.0.0.1:{port}", count, args.concurrency))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
