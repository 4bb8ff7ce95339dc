"""The chargers of benchmarks/ocpp_restart_storm.py: raw websocket clients (cheaper than the
gateway they measure), the distinct credentials, and the heartbeating chargers' process.

    python benchmarks/storm_chargers.py PORT PAIRS_JSON   # heartbeaters; STOP on stdin ends

The heartbeaters connect, print READY, send a Heartbeat every HEARTBEAT_PERIOD each and, when a
line arrives on stdin, print one JSON line: every round trip with the wall-clock time it was
sent at, and the heartbeats lost.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import os
import secrets
import struct
import sys
import tempfile
import time
from pathlib import Path

from ocpi_gateway.ocpp_adapter.auth import hash_password

HEARTBEAT_PERIOD = 0.25
LOST_AFTER = 20.0  # a Heartbeat unanswered this long counts as lost


class RefusedError(Exception):
    """The gateway answered the handshake with something other than 101."""


def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))


HEARTBEAT_FRAME = masked_text_frame('[2,"hb","Heartbeat",{}]')


class RawCharger:
    """A minimal websocket client (as in ocpp_messages.py): sends pre-masked frames, reads
    unmasked ones."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, charge_point_id: str, password: str,
                      opened: list[float] | None = None) -> RawCharger:
        """``opened`` gets the perf_counter time the TCP connection was established."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if opened is not None:
            opened.append(time.perf_counter())
        credentials = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode()
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((
            f"GET /ocpp/{charge_point_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n"
            f"Authorization: Basic {credentials}\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            raise RefusedError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        return cls(reader, writer)

    async def heartbeat(self) -> float:
        started = time.perf_counter()
        self.writer.write(HEARTBEAT_FRAME)
        header = await self.reader.readexactly(2)
        length = header[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self.reader.readexactly(2))[0]
        answer = await self.reader.readexactly(length)
        if not answer.startswith(b"[3,"):
            raise RuntimeError(f"no Heartbeat answer: {answer[:80]!r}")
        return time.perf_counter() - started

    def close(self) -> None:
        self.writer.close()


def _hash(password: str, log2_n: int) -> str:
    return hash_password(password, log2_n=log2_n)


def distinct_credentials(count: int, log2_n: int) -> list[tuple[str, str]]:
    """(password, scrypt hash) per charger, made once and kept in $TMPDIR."""
    cache = Path(tempfile.gettempdir()) / f"ocpp-storm-credentials-{count}-{log2_n}.json"
    if cache.exists():
        stored: list[tuple[str, str]] = [tuple(pair) for pair in json.loads(cache.read_text())]
        return stored
    passwords = [secrets.token_urlsafe(18) for _ in range(count)]
    started = time.perf_counter()
    with multiprocessing.Pool(2) as pool:
        hashes = pool.starmap(_hash, [(password, log2_n) for password in passwords])
    print(f"  (made {count} scrypt hashes, log2 N = {log2_n}, in "
          f"{time.perf_counter() - started:.0f} s; kept in {cache})")
    pairs = list(zip(passwords, hashes, strict=True))
    cache.write_text(json.dumps(pairs))
    return pairs


async def beat(port: int, pairs: list[tuple[str, str]]) -> None:
    chargers = [await RawCharger.connect(port, cp, password) for cp, password in pairs]
    beats: list[tuple[float, float]] = []  # (sent at, wall clock; round trip)
    lost: list[str] = []
    stop = asyncio.Event()

    async def one(charger: RawCharger) -> None:
        while not stop.is_set():
            sent = time.time()
            try:
                beats.append((sent, await asyncio.wait_for(charger.heartbeat(), LOST_AFTER)))
            except (TimeoutError, asyncio.IncompleteReadError, OSError) as exc:
                lost.append(type(exc).__name__)
                return
            await asyncio.sleep(HEARTBEAT_PERIOD)

    tasks = [asyncio.create_task(one(charger)) for charger in chargers]
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stop.set()
    await asyncio.gather(*tasks)
    print(json.dumps({"beats": beats, "lost": lost}), flush=True)


if __name__ == "__main__":
    asyncio.run(beat(int(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())))
