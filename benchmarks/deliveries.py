"""Deliveries/s to 20 loopback eMSP Locations receivers: httpx vs aiohttp's client.

Each delivery is one PATCH of an EVSE status (the commonest push), 50 in flight at a time,
spread over 20 receivers that answer with an OCPI envelope. Prints one line per client.
Usage: .venv/bin/python benchmarks/deliveries.py [--count N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import orjson
from aiohttp import web

PARTNERS = 20
OK = orjson.dumps({"status_code": 1000, "timestamp": "2026-11-23T12:00:00Z"})


async def start_receivers() -> tuple[list[web.AppRunner], list[str]]:
    async def patch(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=OK, content_type="application/json")

    runners, urls = [], []
    for _ in range(PARTNERS):
        app = web.Application()
        app.router.add_route("PATCH", "/ocpi/emsp/2.2.1/locations/{tail:.*}", patch)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{port}/ocpi/emsp/2.2.1/locations/NL/EXA/LOC1/EVSE1")
    return runners, urls


def body(i: int) -> bytes:
    return orjson.dumps({"status": "CHARGING" if i % 2 else "AVAILABLE",
                         "last_updated": "2026-11-23T12:00:00Z"})


async def run(send: Callable[[str, bytes], Awaitable[int]], urls: list[str], count: int,
              concurrency: int) -> tuple[float, int]:
    sem = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(i: int) -> None:
        nonlocal failures
        async with sem:
            if await send(urls[i % len(urls)], body(i)) != 200:
                failures += 1

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.perf_counter() - start), failures


async def bench_engine(urls: list[str], count: int, concurrency: int) -> None:
    """The gateway's DeliveryEngine end to end: SQLite outbox write, send, delete."""
    import logging
    import tempfile

    import structlog

    from ocpi_gateway.deliveries import DeliveryEngine, DeliveryPolicy
    from ocpi_gateway.store import open_store

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    async def headers_for(_partner: str) -> dict[str, str]:
        return {"Authorization": "Token dG9rZW4="}

    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite:///{tmp}/outbox.db")
        per_partner = max(1, concurrency // len(urls))
        engine = DeliveryEngine(store, headers_for,
                                policy=DeliveryPolicy(concurrency_per_partner=per_partner))
        await engine.start()
        start = time.perf_counter()
        partners = len(urls)
        for change in range(count // partners):
            # One EVSE status change fanned out to every partner, as the publisher does.
            await asyncio.gather(*(
                engine.enqueue(f"p{p}", "PATCH", f"{urls[p]}{change % 200}",
                               orjson.loads(body(change)), ordering_key=f"{urls[p]}{change % 200}")
                for p in range(partners)))
        enqueued = time.perf_counter() - start
        await engine.drain(120)
        elapsed = time.perf_counter() - start
        print(f"DeliveryEngine (SQLite outbox, own client) {count / elapsed:6.0f} deliveries/s "
              f"end to end ({engine.delivered} delivered; enqueue alone {count / enqueued:.0f}/s)")
        await engine.stop()
        await store.close()


def serve_receivers(queue: multiprocessing.Queue[list[str]], stop: Any) -> None:
    """The receivers run in their own process so they don't share the client's core."""
    async def body_() -> None:
        runners, urls = await start_receivers()
        queue.put(urls)
        await asyncio.to_thread(stop.wait)
        for runner in runners:
            await runner.cleanup()
    asyncio.run(body_())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[str]] = ctx.Queue()
    stop = ctx.Event()
    child = ctx.Process(target=serve_receivers, args=(queue, stop), daemon=True)
    child.start()
    urls = queue.get(timeout=30)
    headers = {"Authorization": "Token dG9rZW4=", "Content-Type": "application/json"}
    try:
        limits = httpx.Limits(max_connections=args.concurrency,
                              max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=10) as hx:
            async def send_httpx(url: str, data: bytes) -> int:
                return (await hx.patch(url, content=data, headers=headers)).status_code
            await run(send_httpx, urls, 200, args.concurrency)  # warm-up: open connections
            rate, failed = await run(send_httpx, urls, args.count, args.concurrency)
            print(f"httpx {httpx.__version__:<8} {rate:8.0f} deliveries/s  "
                  f"({args.count} PATCH, {args.concurrency} in flight, {PARTNERS} receivers, "
                  f"{failed} failed)")
        connector = aiohttp.TCPConnector(limit=args.concurrency, limit_per_host=0)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            async def send_aiohttp(url: str, data: bytes) -> int:
                async with session.patch(url, data=data, headers=headers) as resp:
                    await resp.read()
                    return resp.status
            await run(send_aiohttp, urls, 200, args.concurrency)
            rate, failed = await run(send_aiohttp, urls, args.count, args.concurrency)
            print(f"aiohttp {aiohttp.__version__:<6} {rate:8.0f} deliveries/s  "
                  f"({args.count} PATCH, {args.concurrency} in flight, {PARTNERS} receivers, "
                  f"{failed} failed)")
        await bench_engine(urls, args.count, args.concurrency)
    finally:
        stop.set()
        child.join(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
