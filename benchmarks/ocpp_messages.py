"""Inbound OCPP message rate one gateway process sustains.

    .venv/bin/python benchmarks/ocpp_messages.py [--chargers 100] [--seconds 5] [--version 1.6]

The gateway runs in its own process. Each charger (a minimal raw websocket client, so the load
generator costs little) sends StatusNotification CALLs back to back, one outstanding at a time as
OCPP-J requires, and waits for each CALLRESULT. Every message is schema-validated both ways,
turned into a ConnectorStatusChanged event and published (to a counting publisher).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import struct
import sys
import time

import orjson
from ocpp_bench_common import (
    auth_header,
    charger_ids,
    free_port,
    make_server,
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


class RawCharger:
    """A minimal websocket client: the load generator must cost less than the gateway.

    aiohttp's client spends about as much CPU per message as the gateway does, and both share
    two cores; this one sends pre-built masked frames and reads unmasked ones.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, charge_point_id: str, protocol: str) -> RawCharger:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ocpp/{charge_point_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n"
            f"Authorization: {auth_header(charge_point_id)['Authorization']}\r\n\r\n"
        )
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(head.decode(errors="replace"))
        return cls(reader, writer)

    async def call(self, frame: bytes) -> bytes:
        self.writer.write(frame)
        header = await self.reader.readexactly(2)
        length = header[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        header = struct.pack("!BB", 0x81, 0x80 | len(payload))
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
    return header + mask + body


async def drive(port: int, chargers: int, seconds: float, version: str, pid: int) -> None:
    protocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    frames = [masked_text_frame(frame(version, n)) for n in range(len(STATUSES))]
    sockets = [await RawCharger.connect(port, cp, protocol) for cp in charger_ids(chargers,
                                                                                 version)]
    counts = [0] * chargers
    errors = 0
    stop_at = 0.0

    async def loop(index: int, charger: RawCharger) -> None:
        nonlocal errors
        n = 0
        while time.perf_counter() < stop_at:
            reply = await charger.call(frames[n % len(frames)])
            if not reply.startswith(b"[3,"):
                errors += 1
            n += 1
        counts[index] = n

    # Warm up (validators compile lazily), then measure.
    stop_at = time.perf_counter() + 1.0
    await asyncio.gather(*(loop(i, c) for i, c in enumerate(sockets)))
    counts = [0] * chargers
    cpu_before = cpu_seconds(pid)
    own_before = time.process_time()
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(loop(i, c) for i, c in enumerate(sockets)))
    elapsed = time.perf_counter() - started
    server_cpu = cpu_seconds(pid) - cpu_before
    own_cpu = time.process_time() - own_before
    total = sum(counts)
    print(f"OCPP {version}: {chargers} chargers, {total} StatusNotification CALLs answered "
          f"in {elapsed:.1f} s")
    print(f"inbound rate: {total / elapsed:,.0f} msg/s (CALLERRORs: {errors})")
    print(f"gateway process CPU: {server_cpu / elapsed:.0%} of one core, "
          f"{server_cpu / max(total, 1) * 1e6:.0f} us per message "
          f"(load generator: {own_cpu / elapsed:.0%} of one core)")
    print(f"gateway capacity at one busy core: {total / max(server_cpu, 1e-9):,.0f} msg/s")
    for charger in sockets:
        charger.close()


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
        asyncio.run(drive(port, args.chargers, args.seconds, args.version, server.pid))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
