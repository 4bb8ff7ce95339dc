"""GET /ocpi/2.2.1/locations?limit=10, authenticated, against the gateway's Locations sender,
with a bare aiohttp+orjson handler serving the same bytes measured beside it in the same run.

Each server runs in its own process (spawned), the load generator (aiohttp client, keep-alive,
C concurrent workers) in this one. Two phases per server: saturation (requests/s, p50/p99) and
half of the saturated rate, paced (p50/p99 at half load).

Usage: .venv/bin/python benchmarks/locations_get.py [--locations 200] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web

TOKEN = "benchmark-token-0123456789abcdef0123456789"
URL_PATH = "/ocpi/2.2.1/locations?limit=10"


async def gateway_app(locations: int, workdir: Path, auth: bool = True) -> web.Application:
    """The real gateway app (create_app: transport middleware with token authentication and
    routing headers, SQLite store, Locations extension) with one registered eMSP."""
    from ocpi_gateway.app import create_app
    from ocpi_gateway.config import GatewaySettings
    from ocpi_gateway.locations.sample import sample_location
    from ocpi_gateway.partners.models import PartnerRole
    from ocpi_gateway.partners.registry import PartnerRegistry
    from ocpi_gateway.store import open_store

    path = workdir / "locations.yaml"
    path.write_text(yaml.safe_dump({"locations": [sample_location(i) for i in range(locations)]}))
    store_url = f"sqlite:///{workdir / 'gateway.db'}"
    store = await open_store(store_url)
    registry = PartnerRegistry(store)
    partner = await registry.create("bench eMSP")
    await registry.register(partner, roles=[PartnerRole(role="EMSP", country_code="NL",
                                                        party_id="BEN")],
                            versions_url="http://127.0.0.1:1/versions", version="2.2.1",
                            endpoints=[], token_to_send="x", send_base64=True,
                            issue_token=TOKEN)
    await store.close()
    settings = GatewaySettings(
        cpo_roles=[{"country_code": "NL", "party_id": "EXA",
                    "business_details": {"name": "Example CPO"}}],
        store_url=store_url, locations_file=path, log_level="WARNING")
    app = create_app(settings, extensions=["ocpi_gateway.deliveries.app:install",
                                           "ocpi_gateway.locations.extension:install"])
    if not auth:
        # The same app without the transport middleware, to show what authentication costs.
        app.middlewares.clear()
    return app


async def bare_app(body: bytes) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")
    app = web.Application()
    app.router.add_get("/ocpi/2.2.1/locations", handler)
    return app


def serve(kind: str, locations: int, port_queue: Any, stop: Any, body: bytes) -> None:
    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            if kind in ("gateway", "sender"):
                import logging

                import structlog
                structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(
                    logging.WARNING))
                app = await gateway_app(locations, Path(tmp), auth=kind == "gateway")
            else:
                app = await bare_app(body)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port_queue.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
            await asyncio.to_thread(stop.wait)
            await runner.cleanup()
    asyncio.run(run())


async def load(url: str, headers: dict[str, str], seconds: float, concurrency: int,
               rate: float | None = None) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    interval = concurrency / rate if rate else 0.0
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker(offset: float) -> None:
            nonlocal errors
            next_at = time.perf_counter() + offset
            while True:
                if interval:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_at += interval
                start = time.perf_counter()
                if start >= deadline:
                    return
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - start)
        began = time.perf_counter()
        await asyncio.gather(*(worker(i * interval / concurrency) for i in range(concurrency)))
        elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, latencies, errors


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] * 1000 if len(values) > 2 else 0.0


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--without-auth-too", action="store_true",
                        help="also measure the sender without authentication")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    headers = {"Authorization": "Token " + base64.b64encode(TOKEN.encode()).decode()}
    body = b""
    kinds = ["gateway", "sender", "bare"] if args.without_auth_too else ["gateway", "bare"]
    for kind in kinds:
        port_queue = ctx.Queue()
        stop = ctx.Event()
        proc = ctx.Process(target=serve, args=(kind, args.locations, port_queue, stop, body),
                           daemon=True)
        proc.start()
        port = port_queue.get(timeout=60)
        url = f"http://127.0.0.1:{port}{URL_PATH}"
        try:
            async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as r:
                sample = await r.read()
                assert r.status == 200, sample[:200]
            if kind == "gateway":
                parsed = orjson.loads(sample)
                assert len(parsed["data"]) == 10 and len(parsed["data"][0]["evses"]) == 4
                body = sample  # the bare server serves exactly these bytes
            await load(url, headers, 1.0, args.concurrency)  # warm-up
            rps, lat, errors = await load(url, headers, args.seconds, args.concurrency)
            half_rps, half_lat, half_errors = await load(url, headers, args.seconds,
                                                         args.concurrency, rate=rps / 2)
            label = {"gateway": "gateway (auth + sender)", "sender": "sender without auth",
                     "bare": "bare aiohttp+orjson"}[kind]
            print(f"{label:<24} {rps:8.0f} req/s  p50 {pct(lat, 50):5.2f} ms  "
                  f"p99 {pct(lat, 99):6.2f} ms | at half load ({half_rps:6.0f} req/s): "
                  f"p50 {pct(half_lat, 50):5.2f} ms  p99 {pct(half_lat, 99):6.2f} ms  "
                  f"[{len(sample)} bytes/response, {errors + half_errors} errors]")
        finally:
            stop.set()
            proc.join(timeout=10)
    print(f"({args.locations} locations of 4 EVSEs, limit=10, {args.concurrency} connections, "
          f"{args.seconds:.0f}s per phase, one client process)")


if __name__ == "__main__":
    asyncio.run(main())
