"""A gateway restart with thousands of chargers reconnecting at once (issue 13, "restart storm").

    .venv/bin/python benchmarks/ocpp_restart_storm.py [--count 5000] [--rounds 2]
        [--cases warm,cold] [--scrypt-count 300] [--heartbeaters 50] [--log2-n 14]
        [--redis-url URL]

The script runs itself under ``taskset -c 1`` (the chargers, and redis-server, which it
starts); each case starts a fresh gateway process (benchmarks/storm_gateway.py: OcppServer on
Redis, listening as ``ocpi-gateway serve`` does) under ``taskset -c 0``. ``--heartbeaters``
chargers connect first, from a process of their own (benchmarks/storm_chargers.py, CPU 1), and
send an OCPP Heartbeat every 0.25 s; then every other charger opens its websocket at the same
moment (one asyncio.gather of raw websocket clients, no client-side limit) and sends one
Heartbeat once admitted.

Printed per case and round: chargers admitted and refused; the time to admit them all,
counted from the first charger's TCP connection (the client needs seconds to start thousands
of connections on a loaded core: that delay is printed apart); the heartbeaters' round trips
sent during the storm (p50 / p99 / max); the gateway's CPU seconds, and the seconds it waited
for its core (Linux schedstat: the machine's load, not the gateway); the load average. Then,
per case, min and median over the rounds. Cases, interleaved in each round:

- warm: ``--count`` chargers sharing one password hash: one scrypt, then each login is a
  fingerprint this process remembers;
- cold: a restart, ``--count`` chargers each with its own production-cost hash (log2 N =
  ``--log2-n``), the gateway started with a ``verified_password_key`` and Redis holding the
  fingerprints a previous run left (written here with the gateway's own PasswordChecker and
  key): the gateway must report 0 scrypt runs;
- scrypt (only when listed): ``--scrypt-count`` chargers with their own hashes and no key:
  each pays scrypt, what every restart cost before fingerprints were shared.

The distinct hashes are made once in two processes and kept in $TMPDIR for later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from ocpp_bench_common import free_port, percentile, raise_fd_limit, redis_server, wait_ready
from storm_chargers import LOST_AFTER, RawCharger, RefusedError, distinct_credentials

from ocpi_gateway.ocpp_adapter.auth import PasswordChecker, hash_password
from ocpi_gateway.ocpp_adapter.auth_redis import verified_key

SERVER_CPU, CLIENT_CPU = 0, 1
HERE = Path(__file__).resolve().parent


def charger_ids(count: int) -> list[str]:
    return [f"CP-STORM-{n:05d}" for n in range(count)]


def write_chargers(ids: list[str], hashes: list[str]) -> str:
    path = Path(tempfile.gettempdir()) / f"ocpp-storm-chargers-{os.getpid()}.json"
    path.write_text(json.dumps({"chargers": [
        {"id": cp, "ocpp_version": "1.6", "password_hash": stored}
        for cp, stored in zip(ids, hashes, strict=True)]}))
    return str(path)


async def get_json(port: int, path: str, **params: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}{path}", params=params) as response:
        data: dict[str, Any] = await response.json()
        return data


async def storm(port: int, ids: list[str], passwords: list[str]) -> dict[str, Any]:
    before = await get_json(port, "/stats")
    diagnose = bool(os.environ.get("STORM_STALLS"))
    if diagnose:
        await get_json(port, "/stalls", reset="1")
    admitted: list[float] = []
    opened: list[float] = []
    refused: list[str] = []
    chargers: list[RawCharger] = []
    started, wall_started = time.perf_counter(), time.time()

    async def one(charge_point_id: str, password: str) -> None:
        try:
            charger = await RawCharger.connect(port, charge_point_id, password, opened)
        except (RefusedError, OSError, asyncio.IncompleteReadError) as exc:
            refused.append(f"{type(exc).__name__} {exc}"[:60])
            return
        admitted.append(time.perf_counter())
        chargers.append(charger)
        await charger.heartbeat()

    await asyncio.gather(*(one(cp, pw) for cp, pw in zip(ids, passwords, strict=True)))
    after = await get_json(port, "/stats")
    if diagnose:
        print(json.dumps(await get_json(port, "/stalls")), file=sys.stderr)
    for charger in chargers:
        charger.close()
    first_open = min(opened) if opened else started
    last = max(admitted) if admitted else float("nan")
    return {"admitted": len(admitted), "refused": refused,
            "admit_s": last - first_open, "client_start_s": first_open - started,
            "window": (wall_started + first_open - started, wall_started + last - started),
            "scrypt_runs": after["scrypt_runs"] - before["scrypt_runs"],
            "cpu_s": after["cpu_s"] - before["cpu_s"], "held": after["connections"],
            "runqueue_s": after["runqueue_s"] - before["runqueue_s"],
            "slowest_lag_s": after["slowest_lag_s"]}


async def prepopulate(redis_url: str, key: str, credentials: list[tuple[str, str]]) -> None:
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


def pinned(cpu: int, *args: str) -> list[str]:
    return ["taskset", "-c", str(cpu), sys.executable, *args]


def run_case(redis_url: str, credentials: list[tuple[str, str]], heartbeaters: int,
             key: str | None, reference: str | None = None) -> dict[str, Any]:
    ids = charger_ids(len(credentials))
    asyncio.run(flush(redis_url))
    if key is not None:
        asyncio.run(prepopulate(redis_url, key, credentials))
    chargers_file = write_chargers(ids, [stored for _, stored in credentials])
    beating_file = chargers_file + ".beating"
    Path(beating_file).write_text(json.dumps(
        [(cp, password) for cp, (password, _) in zip(ids[:heartbeaters], credentials,
                                                     strict=False)]))
    port = free_port()
    load = os.getloadavg()[0]
    env = {**os.environ, **({"STORM_REFERENCE_SRC": reference} if reference else {})}
    server = subprocess.Popen(pinned(SERVER_CPU, str(HERE / "storm_gateway.py"), str(port),
                                     redis_url, chargers_file, key or "-"),
                              stdout=subprocess.PIPE, env=env)
    beater = None
    warnings: collections.Counter[str] = collections.Counter()
    try:
        wait_ready(server)
        # The gateway logs to stdout: read it, or a full pipe would stall its event loop.
        threading.Thread(target=count_log_events, args=(server, warnings), daemon=True).start()
        beater = subprocess.Popen(pinned(CLIENT_CPU, str(HERE / "storm_chargers.py"),
                                         str(port), beating_file),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        wait_ready(beater)
        result: dict[str, Any] = asyncio.run(storm(
            port, ids[heartbeaters:], [password for password, _ in credentials[heartbeaters:]]))
        out, _ = beater.communicate(b"STOP\n", timeout=LOST_AFTER * 2)
        beats = json.loads(out.decode().strip().splitlines()[-1])
        start, end = result["window"]
        result["beat_rtts"] = [rtt for sent, rtt in beats["beats"] if start <= sent <= end]
        result["beats_lost"] = beats["lost"]
    finally:
        if beater is not None and beater.poll() is None:
            beater.kill()
        server.kill()
        server.wait(10)
        for path in (chargers_file, beating_file):
            os.unlink(path)
    result["warnings"] = warnings
    result["storming"] = len(ids) - heartbeaters
    result["load"] = (load + os.getloadavg()[0]) / 2
    return result


def count_log_events(server: subprocess.Popen[bytes], counts: collections.Counter[str]) -> None:
    assert server.stdout is not None
    for line in server.stdout:
        # structlog's console format: "<time> [<level>] <event> key=value ..."
        text = line.decode(errors="replace")
        after = text.split("] ", 1)[-1].split()
        counts[after[0] if after else "?"] += 1


def figures(result: dict[str, Any]) -> dict[str, float]:
    beats = result["beat_rtts"] or [float("nan")]
    return {"admit_s": result["admit_s"], "hb_p50_ms": percentile(beats, 50) * 1000,
            "hb_p99_ms": percentile(beats, 99) * 1000,
            "cpu_ms_per_charger": result["cpu_s"] / max(result["admitted"], 1) * 1000,
            "runqueue_s": result["runqueue_s"], "load": result["load"]}


def report(name: str, round_no: int, result: dict[str, Any]) -> None:
    beats = result["beat_rtts"]
    refused = result["refused"]
    print(f"{name}, round {round_no} (load average {result['load']:.1f}):")
    print(f"  {result['admitted']} of {result['storming']} admitted in "
          f"{result['admit_s']:.2f} s from the first connection (the client took "
          f"{result['client_start_s']:.2f} s to open it); refused {len(refused)}"
          + (f" ({', '.join(sorted(set(refused)))})" if refused else ""))
    if beats:
        print(f"  heartbeats of the connected during the storm: {len(beats)}, "
              f"p50 {percentile(beats, 50) * 1000:.0f} ms, p99 {percentile(beats, 99) * 1000:.0f}"
              f" ms, max {max(beats) * 1000:.0f} ms; lost {len(result['beats_lost'])}")
    print(f"  gateway: scrypt runs {result['scrypt_runs']}, CPU {result['cpu_s']:.1f} s "
          f"({figures(result)['cpu_ms_per_charger']:.2f} ms per charger), waited "
          f"{result['runqueue_s']:.1f} s for its core, longest loop lag "
          f"{result['slowest_lag_s'] * 1000:.0f} ms, holds {result['held']} sockets")
    if result["warnings"]:
        print("  gateway warnings: " + ", ".join(
            f"{event} x{n}" for event, n in result["warnings"].most_common(5)))


def summary(name: str, results: list[dict[str, Any]]) -> None:
    rows = [figures(result) for result in results]
    admitted = [result["admitted"] for result in results]
    refused = sum(len(result["refused"]) for result in results)
    print(f"{name}: {len(rows)} rounds, admitted {min(admitted)}-{max(admitted)} of "
          f"{results[0]['storming']}, refused {refused} in all")
    for field, unit in (("admit_s", "s"), ("hb_p50_ms", "ms"), ("hb_p99_ms", "ms"),
                        ("cpu_ms_per_charger", "ms"), ("runqueue_s", "s"), ("load", "")):
        values = [row[field] for row in rows]
        print(f"  {field:<20} min {min(values):8.2f} {unit:<2}  median "
              f"{statistics.median(values):8.2f} {unit}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cases", default="warm,cold")
    parser.add_argument("--scrypt-count", type=int, default=300)
    parser.add_argument("--heartbeaters", type=int, default=50)
    parser.add_argument("--log2-n", type=int, default=14)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--reference-src", default=None,
                        help="another checkout (e.g. main's): its gateway runs each case too, "
                             "interleaved, as the same-run reference")
    args = parser.parse_args()
    if os.sched_getaffinity(0) != {CLIENT_CPU} and len(os.sched_getaffinity(0)) > CLIENT_CPU:
        os.execvp("taskset", ["taskset", "-c", str(CLIENT_CPU), sys.executable, *sys.argv])
    count = min(args.count, raise_fd_limit() - 500)
    cases = args.cases.split(",")
    print(f"{count} chargers ({args.heartbeaters} heartbeating), gateway on CPU {SERVER_CPU}, "
          f"chargers and Redis on CPU {CLIENT_CPU} (taskset); {args.rounds} rounds")
    shared = hash_password("bench-shared-password", log2_n=args.log2_n)
    credentials = {
        "warm": [("bench-shared-password", shared)] * count,
        "cold": distinct_credentials(count, args.log2_n) if "cold" in cases else [],
        "scrypt": distinct_credentials(args.scrypt_count, args.log2_n)
        if "scrypt" in cases else []}
    names = {"warm": "warm: one shared hash",
             "cold": f"cold restart: {count} distinct hashes, fingerprints in Redis",
             "scrypt": f"scrypt: {args.scrypt_count} distinct hashes, no fingerprints"}
    runs = [(case, None) for case in cases]
    if args.reference_src:
        runs = [run for case in cases for run in ((case, None), (case, args.reference_src))]
    results: dict[tuple[str, str | None], list[dict[str, Any]]] = {run: [] for run in runs}
    with redis_server(args.redis_url) as redis_url:
        for round_no in range(1, args.rounds + 1):
            for case, reference in runs:
                key = secrets.token_urlsafe(32) if case == "cold" else None
                beating = args.heartbeaters if case != "scrypt" \
                    else min(args.heartbeaters, args.scrypt_count // 10)
                result = run_case(redis_url, credentials[case], beating, key, reference)
                report(label(names[case], reference), round_no, result)
                results[(case, reference)].append(result)
    print()
    for case, reference in runs:
        summary(label(names[case], reference), results[(case, reference)])
    if args.reference_src:
        for case in cases:
            ratios(names[case], results[(case, None)], results[(case, args.reference_src)])


def label(name: str, reference: str | None) -> str:
    return f"{name} [reference {reference}]" if reference else name


def ratios(name: str, ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    """This tree over the reference, round by round (each pair ran one after the other)."""
    print(f"{name}: this tree / reference, per round")
    for field in ("admit_s", "hb_p99_ms", "cpu_ms_per_charger"):
        values = [figures(a)[field] / figures(b)[field] for a, b in zip(ours, theirs,
                                                                           strict=True)]
        print(f"  {field:<20} min {min(values):6.2f}x  median {statistics.median(values):6.2f}x")


if __name__ == "__main__":
    main()
