"""Status fan-out: one StatusNotification → the EVSE PATCH at every registered partner.

    .venv/bin/python benchmarks/fanout.py [--partners 1,20,100] [--changes 40]

The real gateway app (embedded defaults: SQLite store, in-process availability) with one
location; an OCPP 1.6 charger (raw websocket) reports its connector Charging, then Available,
and so on, one change at a time. The partners' Locations receivers live in another process
(one aiohttp server, one URL per partner), so that their work is not the gateway's; each
PATCH's arrival is timed there (CLOCK_MONOTONIC, shared by both processes). Per partner
count: the time from sending the StatusNotification to the last partner's PATCH (p50, p99),
and that time divided by the number of partners (which should not grow with it).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web
from ocpp_bench_common import auth_header, free_port, hash_password, percentile, quiet_logs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.peers.gateway import gateway_settings, start_gateway  # noqa: E402

PASSWORD = "bench-password"
CHARGER = "CP-FAN-1"
OK = orjson.dumps({"status_code": 1000, "timestamp": "2026-12-01T12:00:00Z"})


def receivers(port: int, arrivals: Any, ready: Any) -> None:
    """The partners' Locations receivers: every PATCH reported as (partner, status, time)."""
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if request.method == "PATCH":
            status = orjson.loads(body).get("status")
            arrivals.put((request.match_info["partner"], status, time.perf_counter()))
        elif request.method == "PUT":
            arrivals.put((request.match_info["partner"], "PUT", time.perf_counter()))
        return web.Response(body=OK, content_type="application/json")

    async def run() -> None:
        app = web.Application()
        app.router.add_route("*", "/{partner}/2.2.1/locations/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()
    asyncio.run(run())


def write_configs(workdir: Path) -> dict[str, Path]:
    docs = {
        "locations_file": {"locations": [{
            "country_code": "NL", "party_id": "EXA", "id": "LOC-FAN", "address": "Fanweg 1",
            "city": "Utrecht", "country": "NLD", "time_zone": "Europe/Amsterdam",
            "coordinates": {"latitude": "52.090000", "longitude": "5.120000"},
            "evses": [{"uid": "FAN-1", "charge_point_id": CHARGER,
                       "capabilities": ["REMOTE_START_STOP_CAPABLE"],
                       "connectors": [{"id": "1", "ocpp_connector_id": 1,
                                       "standard": "IEC_62196_T2", "format": "SOCKET",
                                       "power_type": "AC_3_PHASE", "max_voltage": 230,
                                       "max_amperage": 32, "max_electric_power": 22000}]}]}]},
        "chargers_file": {"chargers": [{"id": CHARGER, "ocpp_version": "1.6",
                                        "password_hash": hash_password(PASSWORD)}]},
    }
    paths = {}
    for key, doc in docs.items():
        paths[key] = workdir / f"{key}.yaml"
        paths[key].write_text(yaml.safe_dump(doc), encoding="utf-8")
    return paths


async def add_partners(gateway: Any, first: int, count: int, receiver_base: str) -> None:
    from ocpi_gateway.partners.grants import Grants
    from ocpi_gateway.partners.models import PartnerEndpoint, PartnerRole

    registry = gateway.partners
    for i in range(first, first + count):
        partner = await registry.create(f"fan eMSP {i}", Grants(any_role=True))
        await registry.register(
            partner, roles=[PartnerRole(role="EMSP", country_code="DE", party_id=f"{i:03d}")],
            versions_url=f"{receiver_base}/p{i}/versions", version="2.2.1",
            endpoints=[PartnerEndpoint(identifier="locations", role="RECEIVER",
                                       url=f"{receiver_base}/p{i}/2.2.1/locations")],
            token_to_send=f"token-{i}", send_base64=True)


async def collect(arrivals: Any, wanted: set[str], status: str, wait: float = 30.0
                  ) -> float:
    """Time of the last of ``wanted``'s PATCHes carrying ``status``."""
    last = 0.0
    deadline = time.monotonic() + wait
    while wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(wanted)} partners never got {status}")
        try:
            partner, got, at = await asyncio.to_thread(arrivals.get, True, 1.0)
        except Exception:
            continue
        if got == status and partner in wanted:
            wanted.discard(partner)
            last = max(last, at)
    return last


async def main(partner_counts: list[int], changes: int) -> None:
    quiet_logs()
    ctx = multiprocessing.get_context("spawn")
    arrivals = ctx.Queue()
    ready = ctx.Event()
    port = free_port()
    process = ctx.Process(target=receivers, args=(port, arrivals, ready), daemon=True)
    process.start()
    ready.wait(30)
    receiver_base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        gateway = await start_gateway(gateway_settings(workdir, **write_configs(workdir),
                                                       instance_id="gw-fan"))
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(f"{gateway.url.replace('http', 'ws')}/ocpp/{CHARGER}",
                                   protocols=("ocpp1.6",),
                                   headers=auth_header(CHARGER), heartbeat=None)
        n = 0

        async def call(action: str, payload: dict[str, Any]) -> None:
            nonlocal n
            n += 1
            await ws.send_str(orjson.dumps([2, str(n), action, payload]).decode())
            while True:
                frame = orjson.loads((await ws.receive()).data)
                if frame[0] == 2:  # a CALL from the gateway: accept it
                    await ws.send_str(orjson.dumps([3, frame[1], {"status": "Accepted"}])
                                      .decode())
                elif frame[1] == str(n):
                    return

        def status(value: str) -> dict[str, Any]:
            return {"connectorId": 1, "errorCode": "NoError", "status": value,
                    "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}

        await call("BootNotification", {"chargePointModel": "Fan", "chargePointVendor": "Fan"})
        await call("StatusNotification", status("Available"))
        registered = 0
        results: list[tuple[int, list[float]]] = []
        for count in partner_counts:
            await add_partners(gateway, registered, count - registered, receiver_base)
            # New partners get every Location PUT first (the welcome loop, every 2 s).
            await collect(arrivals, {f"p{i}" for i in range(registered, count)}, "PUT", 60)
            registered = count
            samples: list[float] = []
            ocpp, ocpi = "Available", "AVAILABLE"
            for _ in range(changes):
                ocpp, ocpi = ("Charging", "CHARGING") if ocpp == "Available" else (
                    "Available", "AVAILABLE")
                started = time.perf_counter()
                await call("StatusNotification", status(ocpp))
                last = await collect(arrivals, {f"p{i}" for i in range(count)}, ocpi)
                samples.append((last - started) * 1000)
            results.append((count, samples))
        print(f"status fan-out: one StatusNotification -> EVSE PATCH at every partner "
              f"({changes} changes each; receivers in another process)")
        for count, samples in results:
            p50 = percentile(samples, 50)
            print(f"{count:>4} partners: p50 {p50:7.1f} ms  p99 {percentile(samples, 99):7.1f} ms"
                  f"  per partner {p50 / count:5.2f} ms"
                  + ("   (goal at 100: p50 <= 50 ms)" if count == 100 else ""))
        await ws.close()
        await http.close()
        await gateway.stop()
    process.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", default="1,20,100")
    parser.add_argument("--changes", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main([int(c) for c in args.partners.split(",")], args.changes))
