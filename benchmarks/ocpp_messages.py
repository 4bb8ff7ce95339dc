"""Inbound OCPP message rate one gateway process sustains.

    .venv/bin/python benchmarks/ocpp_messages.py [--chargers 100] [--seconds 5] [--version 1.6]

The gateway runs in its own process. Each charger (a raw websocket here, so the client side
costs little) sends StatusNotification CALLs back to back, one outstanding at a time as
OCPP-J requires, and waits for each CALLRESULT. Every message is schema-validated both ways,
turned into a ConnectorStatusChanged event and published (to a counting publisher).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import aiohttp
import orjson
from ocpp_bench_common import (
    charger_ids,
    free_port,
    make_server,
    open_charger,
    quiet_logs,
    raise_fd_limit,
    run_site,
    spawn_self,
    wait_ready,
)

STATUSES = ("Available", "Preparing", "Charging", "Finishing")


async def serve(port: int, count: int) -> None:
    quiet_logs()
    raise_fd_limit()
    server, _ = make_server(count, ping=None)
    if os.environ.get("OCPP_BENCH_PROFILE"):
        import cProfile
        import pstats
        profiler = cProfile.Profile()
        profiler.enable()
        loop = asyncio.get_running_loop()

        def dump() -> None:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        loop.call_later(float(os.environ["OCPP_BENCH_PROFILE"]), dump)
    await run_site(server, port)
    print("READY", flush=True)
    await asyncio.Event().wait()


def frame(version: str, n: int) -> str:
    status = STATUSES[n % len(STATUSES)]
    if version == "1.6":
        payload = {"connectorId": 1 + n % 2, "errorCode": "NoError", "status": status,
                   "timestamp": "2026-11-23T19:00:00.000Z"}
    else:
        payload = {"timestamp": "2026-11-23T19:00:00.000Z", "connectorStatus":
                   "Occupied" if status == "Charging" else "Available", "evseId": 1,
                   "connectorId": 1}
    return orjson.dumps([2, f"m{n}", "StatusNotification", payload]).decode()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(base: str, chargers: int, seconds: float, version: str, pid: int) -> None:
    protocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    ids = charger_ids(chargers, version)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        sockets = [await open_charger(http, base, cp, protocol) for cp in ids]
        counts = [0] * chargers
        errors = 0
        stop_at = 0.0

        async def loop(index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal errors
            n = 0
            while time.perf_counter() < stop_at:
                await ws.send_str(frame(version, n))
                reply = orjson.loads((await ws.receive()).data)
                if reply[0] != 3:
                    errors += 1
                n += 1
            counts[index] = n

        # Warm up (schema validators load lazily), then measure.
        stop_at = time.perf_counter() + 1.0
        await asyncio.gather(*(loop(i, ws) for i, ws in enumerate(sockets)))
        counts = [0] * chargers
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(loop(i, ws) for i, ws in enumerate(sockets)))
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds(pid) - cpu_before
        total = sum(counts)
        print(f"OCPP {version}: {chargers} chargers, {total} StatusNotification CALLs answered "
              f"in {elapsed:.1f} s")
        print(f"inbound rate: {total / elapsed:,.0f} msg/s (CALLERRORs: {errors})")
        print(f"gateway process CPU: {server_cpu / elapsed:.0%} of one core, "
              f"{server_cpu / max(total, 1) * 1e6:.0f} us per message")
        for ws in sockets:
            await ws.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve(int(sys.argv[2]), int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--chargers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--version", choices=("1.6", "2.0.1"), default="1.6")
    args = parser.parse_args()
    raise_fd_limit()
    port = free_port()
    server = spawn_self("--serve", str(port), str(args.chargers))
    try:
        wait_ready(server)
        asyncio.run(drive(f"http://127.0.0.1:{port}", args.chargers, args.seconds,
                          args.version, server.pid))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
