"""The admin reservations query (``GET /admin/api/reservations``) over 100,000 stored
reservations on SQLite, through the real HTTP route of a real gateway (create_app with every
extension, bearer token, the OpenAPI-described query parsed and checked), one request at a
time on a kept-alive connection from a client in the same process.

The records: 20 sites, 50 eMSPs, 5,000 tokens, created over 90 days, mostly ended (EXPIRED,
USED, CANCELLED), about 2% live. Each query shape is asked ``--requests`` times with its
parameters rotated (another site, eMSP, token, week each time); the second-page shape follows
a cursor. Printed per shape and over all: min, median and p99 in ms, and the load average.
Goal (issue 12): p99 <= 50 ms.

Usage: nice -n 5 .venv/bin/python benchmarks/admin_reservations_query.py
       [--records 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

CONFIG = Path(__file__).resolve().parents[1] / "config"
PASSWORD = "benchmark-operator-password"
NOW = datetime.now(UTC)
T0 = NOW - timedelta(days=90)
SITES = [f"SITE-{n:02d}" for n in range(20)]
EMSPS = [f"DE-E{n:02d}" for n in range(50)]
STATES = ["EXPIRED"] * 30 + ["USED"] * 50 + ["CANCELLED"] * 15 + ["REMOVED"] * 2 \
    + ["FAILED"] + ["ACTIVE", "PENDING"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fill(store_url: str, records: int, rng: random.Random) -> float:
    """``records`` reservations as the reservation service stores them; seconds taken."""
    from ocpi_gateway.reservation_policy.records import (
        COLLECTION,
        Reservation,
        ReservationState,
    )
    from ocpi_gateway.store import open_store

    store = await open_store(store_url)
    started = time.perf_counter()
    try:
        for n in range(records):
            emsp = rng.choice(EMSPS)
            country, party = emsp.split("-")
            created = T0 + timedelta(seconds=rng.uniform(0, 90 * 86_400))
            state = ReservationState(rng.choice(STATES))
            if state in (ReservationState.ACTIVE, ReservationState.PENDING):
                created = NOW - timedelta(minutes=rng.uniform(0, 30))  # live: not expired
            r = Reservation(
                key=f"{emsp}/R{n}", country_code=country, party_id=party,
                reservation_id=f"R{n}", location_id=rng.choice(SITES),
                token_uid=f"TOK{rng.randrange(5000):05d}", token_type="RFID",
                expiry=created + timedelta(minutes=rng.choice((45, 60, 90))), state=state,
                evse_uid=f"E{rng.randrange(8)}", charge_point_id=f"CP{rng.randrange(80):02d}",
                created_at=created, updated_at=created,
                history=({"at": created.isoformat(), "from": None, "to": "PENDING",
                          "reason": "requested"},))
            await store.put(COLLECTION, r.key, r.to_doc())
    finally:
        await store.close()
    return time.perf_counter() - started


def _week(rng: random.Random) -> str:
    start = T0 + timedelta(days=rng.uniform(0, 83))
    return (f"from={start.isoformat()}&to={(start + timedelta(days=7)).isoformat()}"
            .replace("+", "%2B"))


SHAPES: dict[str, Callable[[random.Random], str]] = {
    "newest (no filter)": lambda rng: "",
    "state+site": lambda rng: f"state=EXPIRED&site={rng.choice(SITES)}",
    "eMSP+week": lambda rng: f"emsp={rng.choice(EMSPS)}&{_week(rng)}",
    "token": lambda rng: f"token=TOK{rng.randrange(5000):05d}",
    "live": lambda rng: "state=live",
    "two states": lambda rng: "state=CANCELLED,REMOVED",
    "site+state+eMSP": lambda rng: (f"site={rng.choice(SITES)}&state=USED,EXPIRED"
                                    f"&emsp={rng.choice(EMSPS)}"),
    "site+week, by expiry": lambda rng: f"site={rng.choice(SITES)}&{_week(rng)}&sort=expiry",
}


async def measure(base: str, token: str, requests: int, rng: random.Random
                  ) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async def get(query: str) -> tuple[float, Any]:
            started = time.perf_counter()
            async with http.get(f"{base}/admin/api/reservations?limit=50&{query}") as answer:
                body = await answer.json()
                assert answer.status == 200, (answer.status, body)
            return (time.perf_counter() - started) * 1000, body

        for _ in range(20):  # warm-up: connection, caches, the first plans
            await get("")
        for name, make in SHAPES.items():
            timings[name] = [(await get(make(rng)))[0] for _ in range(requests)]
        pages = timings["state+site, page 2"] = []
        for _ in range(requests):
            _, first = await get(SHAPES["state+site"](rng))
            cursor = first["next_cursor"]
            query = SHAPES["state+site"](rng).split("&site=")[0]
            if cursor:
                site = first["items"][0]["location_id"]
                elapsed, _ = await get(f"{query}&site={site}&cursor={cursor}")
                pages.append(elapsed)
    return timings


def _figures(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (f"min {ordered[0]:6.2f}  median {statistics.median(ordered):6.2f}  "
            f"p99 {p99:6.2f} ms  (n={len(ordered)})")


async def main(records: int, requests: int) -> None:
    from ocpi_gateway.app import create_app
    from ocpi_gateway.config import ListenSettings, load_settings
    from ocpi_gateway.logging import configure_logging
    from ocpi_gateway.ocpp_adapter.auth import hash_password

    configure_logging("WARNING")
    rng = random.Random(12)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store_url = f"sqlite:///{work / 'gateway.db'}"
        took = await fill(store_url, records, rng)
        print(f"stored {records} reservations in {took:.1f} s")
        operators = work / "operators.yaml"
        operators.write_text(yaml.safe_dump({"operators": [
            {"name": "bench", "role": "viewer", "password_hash": hash_password(PASSWORD)}]}))
        port = _port()
        settings = load_settings(CONFIG / "gateway.yaml").model_copy(update={
            "store_url": store_url, "operators_file": operators, "redis_url": None,
            "listen": ListenSettings(host="127.0.0.1", port=port),
            "public_url": f"http://127.0.0.1:{port}", "log_level": "WARNING"})
        app = create_app(settings)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{base}/admin/api/tokens",
                                     json={"name": "bench", "password": PASSWORD}) as answer:
                    assert answer.status == 201, await answer.text()
                    token = (await answer.json())["token"]
            timings = await measure(base, token, requests, rng)
        finally:
            await runner.cleanup()
    everything: list[float] = []
    for name, values in timings.items():
        if not values:
            print(f"{name:<24} none (too few records for a second page)")
            continue
        everything += values
        print(f"{name:<24} {_figures(values)}")
    print(f"{'all':<24} {_figures(everything)}")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    options = parser.parse_args()
    asyncio.run(main(options.records, options.requests))
