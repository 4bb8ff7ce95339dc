"""/health and another eMSP's RESERVE_NOW latency while one eMSP's receiver hangs.

    .venv/bin/python benchmarks/failing_receiver.py [--rounds 6] [--commands 40]
                                                    [--reservations 15]

The real gateway (``ocpi-gateway serve``, SQLite, in-process availability) runs as its own
process pinned to core 0; everything else runs on core 1: 4 simulated OCPP 1.6 chargers
(2 connectors each), two eMSPs registered over the real handshake (tests/peers), and wrk.

Each round, eMSP A sends ``--commands`` CANCEL_RESERVATION commands at once (each gets its
CommandResult at once: there is nothing to cancel), then, while those results are out,
``wrk`` loads ``/health`` for 3 s and eMSP B makes ``--reservations`` RESERVE_NOWs one after
the other (POST → ReserveNow at a charger → CommandResult at B's receiver), cancelling each.
Rounds alternate between the reference (A's receiver answers at once) and the failure (A's
receiver never answers: every worker the outbox has for A waits until the results expire),
so both see the same machine. Printed per mode: min and median over its rounds of the
/health p50/p99 and requests/s, and of B's RESERVE_NOW p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from ocpp_bench_common import percentile, quiet_logs
from reserve_now import LOCATION, connect_chargers, write_configs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocpi_gateway.deliveries import DeliveryPolicy  # noqa: E402
from tests.peers.emsp import EmspPeer  # noqa: E402
from tests.peers.gateway import ROLE_NL  # noqa: E402
from tests.peers.gateway_process import GatewayProcess  # noqa: E402

CHARGERS = 4
CONNECTORS = 2
RESULT_SECONDS = 10
GATEWAY_CORE, LOAD_CORE = 0, 1
OUTBOX_WORKERS = DeliveryPolicy().concurrency_per_partner
TOKEN_B = {"country_code": "DE", "party_id": "EMS", "uid": "DEEMS0001", "type": "RFID",
           "contract_id": "DE-EMS-C00000001-X", "issuer": "Bench eMSP", "valid": True,
           "whitelist": "ALWAYS", "last_updated": "2026-11-23T10:00:00Z"}


def wrk_health(url: str, seconds: int = 3) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, requests/s) of /health under wrk on the load core."""
    out = subprocess.run(
        ["taskset", "-c", str(LOAD_CORE), "wrk", "-t1", "-c8", f"-d{seconds}s", "--latency",
         f"{url}/health"], capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        found = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert found, out
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rate, out
    return latency("50"), latency("99"), float(rate.group(1))


async def command(emsp: EmspPeer, gateway: GatewayProcess, name: str, body: dict[str, Any]
                  ) -> dict[str, Any]:
    status, reply, _ = await emsp.call(
        "POST", f"{gateway.url}/ocpi/2.2.1/commands/{name}", json=body)
    if status != 200:
        raise RuntimeError(f"{name}: HTTP {status} {reply}")
    return dict(reply["data"])


async def result_of(emsp: EmspPeer, name: str, within: float = 30.0) -> dict[str, Any]:
    for _ in range(int(within / 0.001)):
        got = emsp.command_results.get(name)
        if got:
            return dict(got[0])
        await asyncio.sleep(0.001)
    raise RuntimeError(f"no CommandResult {name}")


async def b_reservations(gateway: GatewayProcess, b: EmspPeer, count: int, tag: str
                         ) -> list[float]:
    expiry = (datetime.now(UTC) + timedelta(minutes=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    samples: list[float] = []
    for n in range(count):
        name = f"{tag}-r{n}"
        started = time.perf_counter()
        reply = await command(b, gateway, "RESERVE_NOW", {
            "response_url": b.response_url(name), "token": TOKEN_B, "expiry_date": expiry,
            "reservation_id": name, "location_id": LOCATION})
        if reply["result"] != "ACCEPTED":
            raise RuntimeError(f"refused: {reply}")
        result = await result_of(b, name)
        samples.append((time.perf_counter() - started) * 1000)
        if result["result"] != "ACCEPTED":
            raise RuntimeError(f"{name}: {result}")
        await command(b, gateway, "CANCEL_RESERVATION", {
            "response_url": b.response_url(f"{name}-c"), "reservation_id": name})
        await result_of(b, f"{name}-c")
    return samples


async def round_(gateway: GatewayProcess, a: EmspPeer, b: EmspPeer, *, hanging: bool,
                 commands: int, reservations: int, tag: str) -> dict[str, float]:
    a.results_delay = 3600.0 if hanging else 0.0
    expired_before = await expired_total(gateway)
    await asyncio.gather(*(command(a, gateway, "CANCEL_RESERVATION", {
        "response_url": a.response_url(f"{tag}-a{n}"), "reservation_id": f"NONE-{tag}-{n}"})
        for n in range(commands)))
    for _ in range(30_000):  # A's results are out: held at its receiver, or delivered
        if (a.results_in_flight >= min(commands, OUTBOX_WORKERS) if hanging
                else all(a.command_results.get(f"{tag}-a{n}") for n in range(commands))):
            break
        await asyncio.sleep(0.001)
    in_flight = a.results_in_flight
    health = await asyncio.to_thread(wrk_health, gateway.url)
    loop_ms = await b_reservations(gateway, b, reservations, tag)
    still_hanging = a.results_in_flight > 0 if hanging else True
    given_up = 0.0
    if hanging:
        for _ in range(int((RESULT_SECONDS + 30) / 0.1)):  # until the outbox gave up on A
            given_up = await expired_total(gateway) - expired_before
            if given_up >= commands:
                break
            await asyncio.sleep(0.1)
        a.results_delay = 0.0
        a.release_delayed()
    return {"health_p50": health[0], "health_p99": health[1], "health_rps": health[2],
            "b_p50": percentile(loop_ms, 50), "b_p99": percentile(loop_ms, 99),
            "a_in_flight": float(in_flight), "hung_throughout": float(still_hanging),
            "given_up": given_up}


async def expired_total(gateway: GatewayProcess) -> float:
    """ocpi_deliveries_failed_total{reason="expired"} as the gateway's /metrics says."""
    async with aiohttp.ClientSession() as http, http.get(f"{gateway.url}/metrics") as reply:
        text = await reply.text()
    found = re.search(r'^ocpi_deliveries_failed_total\{reason="expired"\} ([\d.e+]+)$', text,
                      re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def main(rounds: int, commands: int, reservations: int) -> None:
    os.sched_setaffinity(0, {LOAD_CORE})
    workdir = Path(tempfile.mkdtemp(prefix="failing-receiver-"))
    configs = write_configs(workdir, CHARGERS, CONNECTORS, None)
    gateway = GatewayProcess(workdir, cpo_roles=[ROLE_NL], instance_id="bench",
                             command_timeouts={"charger_seconds": 5,
                                               "ocpi_result_seconds": RESULT_SECONDS},
                             **configs)
    a = EmspPeer(party_id="EMA", name="Hanging eMSP")
    b = EmspPeer()
    http = aiohttp.ClientSession()
    try:
        await gateway.start()
        os.sched_setaffinity(gateway.pid, {GATEWAY_CORE})
        for peer, role in ((a, "EMSP:DE-EMA"), (b, "EMSP:DE-EMS")):
            await peer.start()
            status, body = await peer.register_with(gateway.versions_url,
                                                    await gateway.invite(peer.name, role))
            if status != 200 or body["status_code"] != 1000:
                raise RuntimeError(f"registration failed: {body}")
        ws_base = gateway.url.replace("http://", "ws://")
        chargers = await connect_chargers(http, ws_base, CHARGERS, CONNECTORS, {})
        await b_reservations(gateway, b, 3, "warmup")
        by_mode: dict[str, list[dict[str, float]]] = {"reference": [], "hanging": []}
        for n in range(rounds):
            mode = "hanging" if n % 2 else "reference"
            by_mode[mode].append(await round_(
                gateway, a, b, hanging=mode == "hanging", commands=commands,
                reservations=reservations, tag=f"{n}"))
        print(f"gateway on core {GATEWAY_CORE}, load on core {LOAD_CORE}; {rounds} rounds "
              f"interleaved; A: {commands} results per round; B: {reservations} RESERVE_NOW")
        for mode, rows in by_mode.items():
            print(f"{mode}: A's results held at its receiver when measured: "
                  f"{[int(r['a_in_flight']) for r in rows]}"
                  + (f", still held after B's run: {[bool(r['hung_throughout']) for r in rows]}"
                     f", given up by the gateway (expired): {[int(r['given_up']) for r in rows]}"
                     if mode == "hanging" else ""))
        print(f"{'':<24}{'reference min':>14}{'median':>9}{'hanging min':>13}{'median':>9}")
        for key, label in (("health_p50", "/health p50 ms"), ("health_p99", "/health p99 ms"),
                           ("health_rps", "/health req/s"), ("b_p50", "B RESERVE_NOW p50 ms"),
                           ("b_p99", "B RESERVE_NOW p99 ms")):
            ref = [r[key] for r in by_mode["reference"]]
            hang = [r[key] for r in by_mode["hanging"]]
            print(f"{label:<24}{min(ref):>14.2f}{statistics.median(ref):>9.2f}"
                  f"{min(hang):>13.2f}{statistics.median(hang):>9.2f}")
        for charger in chargers:
            await charger.ws.close()
    finally:
        await http.close()
        await a.close()
        await b.close()
        await gateway.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--commands", type=int, default=40)
    parser.add_argument("--reservations", type=int, default=15)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk (Debian: apt-get install -y wrk)")
    quiet_logs()
    asyncio.run(main(args.rounds, args.commands, args.reservations))
