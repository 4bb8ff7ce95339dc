"""Status fan-out: one StatusNotification → the EVSE PATCH at every registered partner.

    .venv/bin/python benchmarks/fanout.py [--partners 1,20,100] [--changes 40]
                                          [--rounds 3] [--profile FILE] [--redis]

The real gateway app (embedded defaults: SQLite store, in-process availability; ``--redis``:
availability, presence and the locations feed on a private redis-server) with one
location; an OCPP 1.6 charger (raw websocket) reports its connector Charging, then Available,
and so on, one change at a time. The partners' Locations receivers live in another process
(one aiohttp server, one URL per partner, on the other half of the cores), so that their
work is not the gateway's; each PATCH's arrival is timed there (CLOCK_MONOTONIC, shared by
both processes), and only the last arrival is reported back, once per change. Per partner
count: the time from sending the StatusNotification to the last partner's PATCH (min, p50,
p99), that time divided by the number of partners (which should not grow with it), and the
gateway process's CPU time per change and partner (what a shared machine disturbs least).
Each partner has its own loopback address, as 100 partners have 100 hosts. Each partner
count is measured in ``--rounds`` rounds of ``--changes`` changes: per round its p50, p99 and
CPU per partner, printed as the min and the median over the rounds, with the machine's load
average at each round (partners once registered stay, so the counts run in increasing order,
not interleaved). The reference, interleaved round by round: the same PATCHes at the same
receivers from a bare aiohttp client in the gateway's process, its figures and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web
from ocpp_bench_common import (
    auth_header,
    free_port,
    hash_password,
    percentile,
    quiet_logs,
    redis_server,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.peers.gateway import gateway_settings, start_gateway  # noqa: E402

PASSWORD = "bench-password"
CHARGER = "CP-FAN-1"
OK = orjson.dumps({"status_code": 1000, "timestamp": "2026-12-01T12:00:00Z"})


def address(partner: int) -> str:
    """Each partner its own loopback address (all of 127/8 is loopback on Linux): 100
    partners are 100 receivers, not one host that the outbox's per-host connection limit
    (32) would queue them behind."""
    return f"127.0.{1 + partner // 250}.{1 + partner % 250}"


def receivers(port: int, partners: int, ready: Any) -> None:
    """The partners' Locations receivers. The benchmark announces what it waits for (``POST
    /expect``: a status and how many partners), then asks when the last of them arrived
    (``GET /arrived``): the bookkeeping per PATCH stays in this process, not the gateway's."""
    state: dict[str, Any] = {"status": None, "wanted": set(), "last": 0.0,
                             "done": asyncio.Event()}

    def arrived(partner: str, status: str) -> None:
        if status == state["status"] and partner in state["wanted"]:
            state["wanted"].discard(partner)
            state["last"] = max(state["last"], time.perf_counter())
            if not state["wanted"]:
                state["done"].set()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if request.method == "PATCH":
            arrived(request.match_info["partner"], orjson.loads(body).get("status"))
        elif request.method == "PUT":
            arrived(request.match_info["partner"], "PUT")
        return web.Response(body=OK, content_type="application/json")

    async def expect(request: web.Request) -> web.Response:
        wanted = orjson.loads(await request.read())
        state.update(status=wanted["status"], wanted=set(wanted["partners"]), last=0.0,
                     done=asyncio.Event())
        return web.Response(text="ok")

    async def wait(request: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(state["done"].wait(), float(request.query["seconds"]))
        except TimeoutError:
            return web.Response(status=504, text=f"{len(state['wanted'])} partners missing")
        return web.Response(body=orjson.dumps({"last": state["last"]}))

    async def run() -> None:
        app = web.Application()
        app.router.add_post("/expect", expect)
        app.router.add_get("/arrived", wait)
        app.router.add_route("*", "/{partner}/2.2.1/locations/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in {"127.0.0.1", *(address(i) for i in range(partners))}:
            await web.TCPSite(runner, host, port).start()
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


async def add_partners(gateway: Any, first: int, count: int, port: int) -> None:
    from ocpi_gateway.partners.grants import Grants
    from ocpi_gateway.partners.models import PartnerEndpoint, PartnerRole

    registry = gateway.partners
    for i in range(first, first + count):
        partner = await registry.create(f"fan eMSP {i}", Grants(any_role=True))
        await registry.register(
            partner, roles=[PartnerRole(role="EMSP", country_code="DE", party_id=f"{i:03d}")],
            versions_url=f"http://{address(i)}:{port}/p{i}/versions", version="2.2.1",
            endpoints=[PartnerEndpoint(identifier="locations", role="RECEIVER",
                                       url=f"http://{address(i)}:{port}/p{i}/2.2.1/"
                                                           "locations")],
            token_to_send=f"token-{i}", send_base64=True)


async def expect(control: aiohttp.ClientSession, base: str, partners: set[str],
                 status: str) -> None:
    async with control.post(f"{base}/expect", data=orjson.dumps(
            {"status": status, "partners": sorted(partners)})) as response:
        response.raise_for_status()


async def arrived(control: aiohttp.ClientSession, base: str, wait: float = 30.0) -> float:
    """Time of the last expected PATCH (or PUT), as the receivers saw it."""
    async with control.get(f"{base}/arrived", params={"seconds": str(wait)}) as response:
        if response.status != 200:
            raise TimeoutError(await response.text())
        return float(orjson.loads(await response.read())["last"])


@dataclass(frozen=True, slots=True)
class Round:
    fastest: float
    p50: float
    p99: float
    cpu_per_partner: float
    load: float


def per_change(rounds: list[Round], count: int) -> float:
    """Median gateway CPU per change, in ms."""
    return statistics.median(r.cpu_per_partner for r in rounds) * count


def ratio(rounds: list[Round], references: list[Round], figure: str) -> str:
    """The medians' ratio, and the range of the ratios round by round (interleaved)."""
    pairs = [getattr(r, figure) / getattr(ref, figure) for r, ref in zip(rounds, references,
                                                                           strict=True)]
    medians = (statistics.median(getattr(r, figure) for r in rounds)
               / statistics.median(getattr(r, figure) for r in references))
    return f"{medians:.2f}x ({min(pairs):.2f}-{max(pairs):.2f})"


async def bare_fanout(session: aiohttp.ClientSession, port: int, count: int,
                      mark: str) -> None:
    """The reference: each partner's PATCH sent at once by a plain aiohttp client, with the
    headers the gateway sends."""
    body = orjson.dumps({"status": mark, "last_updated": "2026-12-01T12:00:00Z"})

    async def one(i: int) -> None:
        async with session.patch(
                f"http://{address(i)}:{port}/p{i}/2.2.1/locations/NL/EXA/LOC-FAN/FAN-1",
                data=body, headers={"Authorization": f"Token token-{i}",
                                    "OCPI-from-country-code": "NL",
                                    "OCPI-from-party-id": "EXA",
                                    "X-Request-ID": str(i), "X-Correlation-ID": str(i),
                                    "Content-Type": "application/json"}) as response:
            await response.read()

    await asyncio.gather(*(one(i) for i in range(count)))


def spread(values: list[float], digits: int) -> str:
    return f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f}"


async def main(partner_counts: list[int], changes: int, rounds_per_count: int,
               profile: str | None = None, redis: bool = False) -> None:
    quiet_logs()
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    port = free_port()
    process = ctx.Process(target=receivers, args=(port, max(partner_counts), ready), daemon=True)
    process.start()
    ready.wait(30)
    cores = sorted(os.sched_getaffinity(0))
    gateway_cores = receiver_cores = cores
    if len(cores) >= 2 and process.pid is not None:
        # The gateway on one half of the cores, the receivers on the other (taskset's call).
        half = len(cores) // 2
        gateway_cores, receiver_cores = cores[:half], cores[half:]
        os.sched_setaffinity(0, gateway_cores)
        os.sched_setaffinity(process.pid, receiver_cores)
    receiver_base = f"http://127.0.0.1:{port}"
    control = aiohttp.ClientSession()
    # CPU time, not wall time: on a shared machine a wall-clock profile mostly measures
    # the other processes.
    profiler = cProfile.Profile(time.process_time) if profile else None
    with tempfile.TemporaryDirectory() as tmp, (
            redis_server(None) if redis else contextlib.nullcontext(None)) as redis_url:
        workdir = Path(tmp)
        gateway = await start_gateway(gateway_settings(
            workdir, **write_configs(workdir), instance_id="gw-fan",
            **({"redis_url": redis_url} if redis_url else {})))
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
        results: list[tuple[int, list[Round], list[Round]]] = []
        reference = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        for count in partner_counts:
            await add_partners(gateway, registered, count - registered, port)
            # New partners get every Location PUT first (the welcome loop, every 2 s).
            await expect(control, receiver_base, {f"p{i}" for i in range(registered, count)},
                         "PUT")
            await arrived(control, receiver_base, 60)
            registered = count
            rounds: list[Round] = []
            references: list[Round] = []
            ocpp = "Available"
            for round_number in range(rounds_per_count):
                samples: list[float] = []
                cpu = 0.0
                for _ in range(changes):
                    ocpp, ocpi = ("Charging", "CHARGING") if ocpp == "Available" else (
                        "Available", "AVAILABLE")
                    await expect(control, receiver_base, {f"p{i}" for i in range(count)},
                                 ocpi)
                    if profiler is not None and count == partner_counts[-1]:
                        profiler.enable()
                    started, cpu_started = time.perf_counter(), time.process_time()
                    await call("StatusNotification", status(ocpp))
                    last = await arrived(control, receiver_base)
                    cpu += time.process_time() - cpu_started
                    if profiler is not None:
                        profiler.disable()
                    samples.append((last - started) * 1000)
                rounds.append(Round(min(samples), percentile(samples, 50),
                                  percentile(samples, 99), cpu / changes * 1000 / count,
                                  os.getloadavg()[0]))
                # The reference, interleaved: the same PATCHes at the same receivers from a
                # bare aiohttp client in the same process (no store, no OCPP, no queue).
                samples, cpu = [], 0.0
                for change in range(changes):
                    mark = f"REF-{round_number}-{change}"
                    await expect(control, receiver_base, {f"p{i}" for i in range(count)},
                                 mark)
                    started, cpu_started = time.perf_counter(), time.process_time()
                    await bare_fanout(reference, port, count, mark)
                    last = await arrived(control, receiver_base)
                    cpu += time.process_time() - cpu_started
                    samples.append((last - started) * 1000)
                references.append(Round(min(samples), percentile(samples, 50),
                                        percentile(samples, 99),
                                        cpu / changes * 1000 / count, os.getloadavg()[0]))
            results.append((count, rounds, references))
        print(f"status fan-out: one StatusNotification -> EVSE PATCH at every partner "
              f"({rounds_per_count} rounds of {changes} changes per partner count; gateway "
              f"on cores {gateway_cores}, receivers in another process on cores "
              f"{receiver_cores}); each figure: min / median over the rounds")
        for count, rounds, references in results:
            print(f"{count:>4} partners: p50 {spread([r.p50 for r in rounds], 1)} ms  "
                  f"p99 {spread([r.p99 for r in rounds], 1)} ms  "
                  f"fastest {spread([r.fastest for r in rounds], 1)} ms  "
                  f"gateway CPU per partner {spread([r.cpu_per_partner for r in rounds], 3)}"
                  f" ms  load {', '.join(f'{r.load:.1f}' for r in rounds)}"
                  + ("   (goal at 100: p50 <= 50 ms)" if count == 100 else ""))
            print(f"      reference (bare aiohttp client, the same PATCHes): "
                  f"p50 {spread([r.p50 for r in references], 1)} ms  "
                  f"p99 {spread([r.p99 for r in references], 1)} ms  "
                  f"CPU per partner {spread([r.cpu_per_partner for r in references], 3)} ms;"
                  f"  gateway / reference: p50 {ratio(rounds, references, 'p50')}  "
                  f"CPU {ratio(rounds, references, 'cpu_per_partner')}")
        # What one more partner costs, the change's own cost (OCPP, publishing) taken out.
        for (low, low_rounds, _), (high, high_rounds, _) in itertools.pairwise(results):
            marginal = (per_change(high_rounds, high) - per_change(low_rounds, low)) / (
                high - low)
            print(f"marginal gateway CPU per partner {low} -> {high}: {marginal:.3f} ms "
                  "(medians)")
        await ws.close()
        await http.close()
        await reference.close()
        await control.close()
        if profiler is not None:
            profiler.dump_stats(profile)  # type: ignore[arg-type]
            pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
        await gateway.stop()
    process.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", default="1,20,100")
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="cProfile of the gateway's process while the "
                        "last partner count is measured, written to this file")
    parser.add_argument("--redis", action="store_true",
                        help="availability, presence and the feed on a private redis-server")
    args = parser.parse_args()
    asyncio.run(main([int(c) for c in args.partners.split(",")], args.changes, args.rounds,
                     args.profile, args.redis))
