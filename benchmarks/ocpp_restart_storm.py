"""A gateway restart with thousands of chargers reconnecting at once (issue 13, "restart storm").

    .venv/bin/python benchmarks/ocpp_restart_storm.py [--count 5000] [--cold-count 300]
        [--heartbeaters 50] [--log2-n 14] [--redis-url URL]

Each case starts a fresh gateway process (OcppServer on aiohttp, with Redis: presence, login
limits and the verified-password fingerprints live there), pinned to CPU 0; this process (the
chargers) and redis-server run on CPU 1. ``--heartbeaters`` chargers connect first and send an
OCPP Heartbeat every 0.25 s; then every other charger opens its websocket at the same moment
(one asyncio.gather, raw websocket clients, no client-side limit) and sends one Heartbeat once
admitted. The heartbeating chargers run in a process of their own (also CPU 1), so that their
round trips measure the gateway, not the storm's client loop. Printed: time until the last
charger is admitted, chargers refused, Heartbeat round trips of the connected chargers during
the storm (p50 / p99 / max) and of each newly admitted one, scrypt runs and CPU seconds of
the gateway.

Cases:

- warm: ``--count`` chargers sharing one password hash (what the other OCPP benchmarks use):
  one scrypt for all.
- cold, no shared fingerprints: ``--cold-count`` chargers each with its own production-cost
  hash (log2 N = ``--log2-n``) and no ``verified_password_key``: every charger pays scrypt, as
  every charger did on every restart before fingerprints were shared.
- cold restart, shared fingerprints: ``--count`` chargers each with its own production-cost
  hash, the gateway started with a ``verified_password_key`` and Redis holding the
  fingerprints a previous run left (written here with the gateway's own PasswordChecker and
  key, one per distinct credential: running 5,000 scrypts first would only repeat the
  previous case).
  The gateway must report 0 scrypt runs.

The distinct hashes are made once in two processes and kept in $TMPDIR for later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import multiprocessing
import os
import resource
import secrets
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from ocpp_bench_common import (
    free_port,
    percentile,
    quiet_logs,
    raise_fd_limit,
    redis_server,
    run_site,
    spawn_self,
    wait_ready,
)

from ocpi_gateway.domain.authorization import AcceptAllAuthorizer
from ocpi_gateway.listening import ACCEPT_BATCH
from ocpi_gateway.ocpp_adapter.auth import PasswordChecker, hash_password
from ocpi_gateway.ocpp_adapter.auth_redis import verified_key
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig
from ocpi_gateway.ocpp_adapter.server import OcppServer, OcppTimings

SERVER_CPU, CLIENT_CPU = 0, 1
HEARTBEAT_PERIOD = 0.25
LOST_AFTER = 20.0  # a Heartbeat unanswered this long counts as lost


def pin(cpu: int) -> None:
    if len(os.sched_getaffinity(0)) > cpu:
        os.sched_setaffinity(0, {cpu})


# -- the gateway side ------------------------------------------------------------------------


class CountingPublisher:
    async def publish(self, event: Any) -> None:
        return None


async def serve(port: int, redis_url: str, chargers: ChargersConfig, key: str) -> None:
    server = OcppServer(chargers, CountingPublisher(), AcceptAllAuthorizer(),
                        instance_id="storm", redis_url=redis_url,
                        timings=OcppTimings(ws_ping_interval=None, presence_ttl=60.0,
                                            stream_block_ms=1000),
                        password_key=key.encode() if key != "-" else None)

    async def stats(request: web.Request) -> web.Response:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return web.json_response({"connections": len(server.registry),
                                  "scrypt_runs": server.passwords.scrypt_runs,
                                  "cpu_s": usage.ru_utime + usage.ru_stime})

    routes = [web.get("/stats", stats)]
    if os.environ.get("STORM_STALLS"):
        from loop_stalls import StallSampler

        sampler = StallSampler(stacks=bool(os.environ.get("STORM_STACKS")),
                               threshold=float(os.environ.get("STORM_STALL_S", "0.05")))
        sampler.start()

        import cProfile

        profile = cProfile.Profile()

        async def stalls(request: web.Request) -> web.Response:
            report = sampler.report()
            target = os.environ.get("STORM_PROFILE")
            if request.query.get("reset"):
                sampler.reset()
                if target:
                    profile.enable()
            elif target:
                profile.disable()
                profile.dump_stats(target)
            return web.json_response(report)

        routes.append(web.get("/stalls", stalls))
    await run_site(server, port, routes,
                   accept_batch=int(os.environ.get("STORM_ACCEPT_BATCH", ACCEPT_BATCH)))
    print("READY", flush=True)
    await asyncio.Event().wait()


# -- the chargers ----------------------------------------------------------------------------


def _hash(password: str, log2_n: int) -> str:
    return hash_password(password, log2_n=log2_n)


def distinct_credentials(count: int, log2_n: int) -> list[tuple[str, str]]:
    """(password, hash) per charger, made once and kept in $TMPDIR."""
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


def charger_ids(count: int) -> list[str]:
    return [f"CP-STORM-{n:05d}" for n in range(count)]


def write_chargers(ids: list[str], hashes: list[str]) -> str:
    path = Path(tempfile.gettempdir()) / f"ocpp-storm-chargers-{os.getpid()}.json"
    path.write_text(json.dumps({"chargers": [
        {"id": cp, "ocpp_version": "1.6", "password_hash": stored}
        for cp, stored in zip(ids, hashes, strict=True)]}))
    return str(path)


class RawCharger:
    """A minimal websocket client (as in ocpp_messages.py): the chargers must cost less CPU
    than the gateway they measure. Sends pre-masked frames, reads unmasked ones."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, charge_point_id: str, password: str) -> RawCharger:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
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


class RefusedError(Exception):
    """The gateway answered the handshake with something other than 101."""


def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))


HEARTBEAT_FRAME = masked_text_frame('[2,"hb","Heartbeat",{}]')


async def stats(port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/stats") as response:
        data: dict[str, float] = await response.json()
        return data


async def stalls_report(port: int, *, reset: bool) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/stalls",
                     params={"reset": "1"} if reset else {}) as response:
        data: dict[str, Any] = await response.json()
        return data


async def beat(port: int, pairs: list[tuple[str, str]]) -> None:
    """The chargers connected before the storm: a Heartbeat every HEARTBEAT_PERIOD each,
    round trips printed as JSON when a line arrives on stdin."""
    chargers = [await RawCharger.connect(port, cp, password) for cp, password in pairs]
    rtts: list[float] = []
    stop = asyncio.Event()

    lost: list[str] = []

    async def one(charger: RawCharger) -> None:
        while not stop.is_set():
            try:
                rtts.append(await asyncio.wait_for(charger.heartbeat(), LOST_AFTER))
            except (TimeoutError, asyncio.IncompleteReadError, OSError) as exc:
                lost.append(type(exc).__name__)
                if os.environ.get("STORM_DEBUG"):
                    print(f"lost at {time.perf_counter() - t0:.1f} s: {exc!r}", file=sys.stderr)
                return
            await asyncio.sleep(HEARTBEAT_PERIOD)

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(one(charger)) for charger in chargers]
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stop.set()
    await asyncio.gather(*tasks)
    print(json.dumps({"rtts": rtts, "lost": lost}), flush=True)


async def storm(port: int, ids: list[str], passwords: list[str]) -> dict[str, Any]:
    before = await stats(port)
    if os.environ.get("STORM_STALLS"):
        await stalls_report(port, reset=True)
    admitted: list[float] = []
    first_rtts: list[float] = []
    refused: list[str] = []
    chargers: list[RawCharger] = []
    started = time.perf_counter()

    async def one(charge_point_id: str, password: str) -> None:
        try:
            charger = await RawCharger.connect(port, charge_point_id, password)
        except (RefusedError, OSError, asyncio.IncompleteReadError) as exc:
            refused.append(f"{type(exc).__name__} {exc}"[:60])
            return
        admitted.append(time.perf_counter() - started)
        chargers.append(charger)
        first_rtts.append(await charger.heartbeat())

    await asyncio.gather(*(one(cp, pw) for cp, pw in zip(ids, passwords, strict=True)))
    after = await stats(port)
    if os.environ.get("STORM_STALLS"):
        report = await stalls_report(port, reset=False)
        print(json.dumps(report, indent=1), file=sys.stderr)
    for charger in chargers:
        charger.close()
    return {"admitted_s": max(admitted) if admitted else float("nan"),
            "admitted": len(admitted), "refused": refused, "first_rtts": first_rtts,
            "scrypt_runs": after["scrypt_runs"] - before["scrypt_runs"],
            "cpu_s": after["cpu_s"] - before["cpu_s"], "held": after["connections"]}


async def prepopulate(redis_url: str, key: str, ids: list[str],
                      credentials: list[tuple[str, str]]) -> None:
    """The fingerprints a previous gateway run with this key would have left in Redis."""
    checker = PasswordChecker(key=key.encode(), threads=1)
    client = aioredis.from_url(redis_url)
    try:
        async with client.pipeline(transaction=False) as pipe:
            for password, stored in credentials:
                pipe.set(verified_key(checker.fingerprint(password, stored)), b"1", ex=86_400)
            await pipe.execute()
    finally:
        checker.close()
        await client.aclose()


async def flush(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    await client.flushall()
    await client.aclose()


def run_case(name: str, redis_url: str, ids: list[str], credentials: list[tuple[str, str]],
             heartbeaters: int, key: str | None) -> dict[str, Any]:
    asyncio.run(flush(redis_url))
    if key is not None:
        asyncio.run(prepopulate(redis_url, key, ids, credentials))
    chargers_file = write_chargers(ids, [stored for _, stored in credentials])
    beating_file = chargers_file + ".beating"
    Path(beating_file).write_text(json.dumps(
        [(cp, password) for cp, (password, _) in zip(ids[:heartbeaters], credentials,
                                                     strict=False)]))
    port = free_port()
    server = spawn_self("--serve", str(port), redis_url, chargers_file, key or "-")
    beater = None
    warnings: collections.Counter[str] = collections.Counter()
    try:
        wait_ready(server)
        # The gateway logs to stdout: read it, or a full pipe would stall its event loop.
        threading.Thread(target=count_log_events, args=(server, warnings), daemon=True).start()
        beater = subprocess.Popen([sys.executable, sys.argv[0], "--beat", str(port),
                                   beating_file], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        wait_ready(beater)
        result: dict[str, Any] = asyncio.run(storm(
            port, ids[heartbeaters:], [password for password, _ in credentials[heartbeaters:]]))
        out, _ = beater.communicate(b"STOP\n", timeout=LOST_AFTER * 2)
        beats = json.loads(out.decode().strip().splitlines()[-1])
        result["beat_rtts"], result["beats_lost"] = beats["rtts"], beats["lost"]
    finally:
        if beater is not None and beater.poll() is None:
            beater.kill()
        server.kill()
        server.wait(10)
        for path in (chargers_file, beating_file):
            os.unlink(path)
    result["warnings"] = warnings
    report(name, len(ids) - heartbeaters, result)
    return result


def count_log_events(server: subprocess.Popen[bytes], counts: collections.Counter[str]) -> None:
    assert server.stdout is not None
    for line in server.stdout:
        # structlog's console format: "<time> [<level>] <event> key=value ..."
        text = line.decode(errors="replace")
        after = text.split("] ", 1)[-1].split()
        counts[after[0] if after else "?"] += 1


def report(name: str, storming: int, result: dict[str, Any]) -> None:
    beats, firsts = result["beat_rtts"], result["first_rtts"]
    print(f"{name}:")
    print(f"  {result['admitted']} of {storming} admitted in {result['admitted_s']:.2f} s; "
          f"refused {len(result['refused'])}"
          + (f" ({', '.join(sorted(set(result['refused'])))})" if result["refused"] else ""))
    if beats:
        print(f"  heartbeats of the connected during the storm: {len(beats)}, "
              f"p50 {percentile(beats, 50) * 1000:.0f} ms, p99 {percentile(beats, 99) * 1000:.0f}"
              f" ms, max {max(beats) * 1000:.0f} ms; lost {len(result['beats_lost'])}"
              + (f" ({', '.join(sorted(set(result['beats_lost'])))})"
                 if result["beats_lost"] else ""))
    if firsts:
        print(f"  first heartbeat after admission: p50 {percentile(firsts, 50) * 1000:.0f} ms, "
              f"p99 {percentile(firsts, 99) * 1000:.0f} ms")
    print(f"  gateway during the storm: scrypt runs {result['scrypt_runs']}, "
          f"CPU {result['cpu_s']:.1f} s "
          f"({result['cpu_s'] / max(result['admitted'], 1) * 1000:.1f} ms per charger), "
          f"holds {result['held']} sockets")
    if result["warnings"]:
        print("  gateway warnings: " + ", ".join(
            f"{event} x{n}" for event, n in result["warnings"].most_common(5)))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        pin(SERVER_CPU)
        quiet_logs()
        raise_fd_limit()
        chargers = ChargersConfig.model_validate(json.loads(Path(sys.argv[4]).read_text()))
        asyncio.run(serve(int(sys.argv[2]), sys.argv[3], chargers, sys.argv[5]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--beat":
        pin(CLIENT_CPU)
        asyncio.run(beat(int(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text())))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--cold-count", type=int, default=300)
    parser.add_argument("--heartbeaters", type=int, default=50)
    parser.add_argument("--log2-n", type=int, default=14)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--cases", default="warm,cold,restart")
    args = parser.parse_args()
    pin(CLIENT_CPU)
    limit = raise_fd_limit()
    count = min(args.count, limit - 500)
    cases = set(args.cases.split(","))
    print(f"{count} chargers ({args.heartbeaters} heartbeating), gateway on CPU {SERVER_CPU}, "
          f"chargers and Redis on CPU {CLIENT_CPU}")
    with redis_server(args.redis_url) as redis_url:
        if "warm" in cases:
            shared = hash_password("bench-shared-password", log2_n=args.log2_n)
            run_case("warm: one shared hash", redis_url, charger_ids(count),
                     [("bench-shared-password", shared)] * count, args.heartbeaters, None)
        if "cold" in cases:
            cold = distinct_credentials(args.cold_count, args.log2_n)
            result = run_case(f"cold, no shared fingerprints: {args.cold_count} distinct hashes",
                              redis_url, charger_ids(args.cold_count), cold,
                              min(args.heartbeaters, args.cold_count // 10), None)
            per = result["cpu_s"] / max(result["admitted"], 1)
            print(f"  extrapolated to {count} chargers: {per * count:.0f} CPU-seconds, "
                  f"about {per * count:.0f} s with the gateway's one core")
        if "restart" in cases:
            credentials = distinct_credentials(count, args.log2_n)
            run_case(f"cold restart, shared fingerprints: {count} distinct hashes", redis_url,
                     charger_ids(count), credentials, args.heartbeaters,
                     secrets.token_urlsafe(32))


if __name__ == "__main__":
    main()
