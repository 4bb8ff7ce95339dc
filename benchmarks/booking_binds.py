"""10,000 bookings due for binding in the same minute: are all their ReserveNows sent within
that minute?

    .venv/bin/python benchmarks/booking_binds.py [--rounds 3] [--sites 100] [--evses 100]
                                                 [--connectors 10] [--spread 0]
                                                 [--profile FILE]

Per round, a fresh gateway on its embedded defaults (SQLite store in a file, in-process
availability and capacity timeline), its real reservation service, booking service and
``bookings-bind`` loop (every 5 s), with ``--sites`` x ``--evses`` EVSEs (10,000 by default)
on raw OCPP 1.6 chargers of ``--connectors`` connectors each, which answer every CALL
Accepted at once. One booking per EVSE is admitted for the same slot (18:00-19:00 of a day
ahead, activation lead 10 min), each with its own token; ``--spread S`` spreads their starts
over S seconds instead (0: every binding due at the same instant, the worst burst).

The gateway's clock is the wall clock plus an offset: bookings are admitted two hours
ahead, then the offset jumps so that the gateway's time is the binding minute's first
instant. From then on it runs at real speed; a ReserveNow received by a charger is counted
at the charger. Printed per round: how many were sent by 10, 20, ... 60 s after the minute
began (counted from the jump, so the loop's phase of up to 5 s is included), the seconds
for all, and the bookings bound in the store; then min and median over the rounds.

Everything shares one event loop (the chargers' work is counted in), on one core: the
machine is shared. ``--profile FILE`` writes a cProfile of the last round's binding.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from ocpp_bench_common import auth_header, hash_password, quiet_logs, raise_fd_limit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocpi_gateway.bookings.context import BOOKINGS  # noqa: E402
from ocpi_gateway.reservation_policy.bookings.records import (  # noqa: E402
    BookingAsk,
    BookingToken,
)
from ocpi_gateway.reservation_policy.bookings.states import BookingState  # noqa: E402
from ocpi_gateway.reservation_policy.models import Partner  # noqa: E402
from tests.peers.gateway import gateway_settings, start_gateway  # noqa: E402

PASSWORD = "bench-password"
EMSP = Partner("NL", "EMS")
LEAD_MINUTES = 10
MARKS = (10, 20, 30, 40, 50, 60)


class OffsetClock:
    """The wall clock plus an offset the benchmark moves (``jump_to``)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def jump_to(self, when: datetime) -> None:
        self.offset = when - datetime.now(UTC)


def charger_id(n: int) -> str:
    return f"CP-BIND-{n:05d}"


def write_configs(workdir: Path, sites: int, evses: int, connectors: int) -> dict[str, Path]:
    def connector(n: int) -> dict[str, Any]:
        return {"id": "1", "ocpp_connector_id": n, "standard": "IEC_62196_T2",
                "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 230,
                "max_amperage": 32, "max_electric_power": 22000}

    chargers_per_site = -(-evses // connectors)
    locations = []
    for s in range(sites):
        site_evses = []
        for e in range(evses):
            cp = charger_id(s * chargers_per_site + e // connectors)
            site_evses.append({"uid": f"S{s:03d}-E{e:03d}", "charge_point_id": cp,
                               "capabilities": ["RESERVABLE", "REMOTE_START_STOP_CAPABLE"],
                               "connectors": [connector(e % connectors + 1)]})
        locations.append({
            "country_code": "NL", "party_id": "EXA", "id": f"SITE-{s:03d}",
            "address": f"Benchweg {s + 1}", "city": "Amsterdam", "country": "NLD",
            "time_zone": "Europe/Amsterdam",
            "coordinates": {"latitude": "52.300000", "longitude": "4.800000"},
            "evses": site_evses})
    stored = hash_password(PASSWORD, log2_n=10)
    docs = {
        "locations_file": {"locations": locations},
        "policy_file": {"defaults": {
            "enabled": True, "min_duration_minutes": 1, "max_duration_minutes": 240,
            "walk_in_reserve": 0, "max_concurrent_per_emsp": None,
            "ordering": ["spread_across_chargers", "least_recently_reserved"],
            "bookings": {"enabled": True, "max_advance_days": 7,
                         "activation_lead_minutes": LEAD_MINUTES,
                         "noshow_timeout_minutes": 15, "early_start_minutes": 5,
                         "turnover_buffer_minutes": 10,
                         # Seconds, so that --spread can spread the starts.
                         "timeslot_increment_minutes": 1 / 60}}},
        "chargers_file": {"chargers": [
            {"id": charger_id(n), "ocpp_version": "1.6", "password_hash": stored}
            for n in range(sites * chargers_per_site)]},
    }
    paths: dict[str, Path] = {}
    for key, doc in docs.items():
        paths[key] = workdir / f"{key}.yaml"
        paths[key].write_text(yaml.safe_dump(doc), encoding="utf-8")
    return paths


class Charger:
    """A raw OCPP 1.6 websocket: boots, reports its connectors Available, answers every CALL
    Accepted (a ReserveNow after ``rtt`` seconds, the network and charger a real one has)
    and notes when each ReserveNow arrived."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, seen: list[float],
                 rtt: float, all_in: Callable[[], None], expected: int) -> None:
        self.ws = ws
        self.seen = seen
        self.rtt = rtt
        self.all_in = all_in
        self.expected = expected
        self._answers: set[asyncio.Task[None]] = set()
        self._replies: dict[str, asyncio.Future[Any]] = {}
        self._n = 0
        self.task = asyncio.create_task(self._read())

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        self._n += 1
        uid = str(self._n)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[uid] = future
        await self.ws.send_str(orjson.dumps([2, uid, action, payload]).decode())
        return await asyncio.wait_for(future, 60)

    async def _answer(self, uid: str, reply: dict[str, Any]) -> None:
        await asyncio.sleep(self.rtt)
        await self.ws.send_str(orjson.dumps([3, uid, reply]).decode())

    async def _read(self) -> None:
        async for msg in self.ws:
            frame = orjson.loads(msg.data)
            if frame[0] == 2:
                if frame[2] == "ReserveNow":
                    self.seen.append(time.perf_counter())
                    if len(self.seen) >= self.expected:
                        self.all_in()
                    task = asyncio.create_task(self._answer(frame[1], {"status": "Accepted"}))
                    self._answers.add(task)
                    task.add_done_callback(self._answers.discard)
                    continue
                reply = ({"configurationKey": []} if frame[2] == "GetConfiguration"
                         else {"status": "Accepted"})
                await self.ws.send_str(orjson.dumps([3, frame[1], reply]).decode())
            elif frame[0] in (3, 4):
                future = self._replies.pop(frame[1], None)
                if future is not None and not future.done():
                    future.set_result(frame[2])


async def fleet(base: str, count: int, connectors: int, rtt: float, expected: int,
                conn: Connection) -> None:
    """The chargers' process: connect them all, say "ready", then send the ReserveNow arrival
    times once ``expected`` arrived or when asked ("report")."""
    seen: list[float] = []
    done = asyncio.Event()
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def one(n: int) -> Charger:
        cp = charger_id(n)
        ws = await http.ws_connect(f"{base}/ocpp/{cp}", protocols=("ocpp1.6",),
                                   headers=auth_header(cp), heartbeat=None)
        charger = Charger(ws, seen, rtt, done.set, expected)
        await charger.call("BootNotification", {"chargePointModel": "Bench",
                                                "chargePointVendor": "Bench"})
        for c in range(1, connectors + 1):
            await charger.call("StatusNotification", {
                "connectorId": c, "errorCode": "NoError", "status": "Available",
                "timestamp": stamp})
        return charger

    chargers: list[Charger] = []
    for first in range(0, count, 50):
        chargers += await asyncio.gather(*(one(n) for n in range(first, min(count, first + 50))))
    conn.send("ready")
    asyncio.get_running_loop().add_reader(conn.fileno(), done.set)  # "report"
    await done.wait()
    conn.send(seen)
    conn.recv()  # "close"
    for charger in chargers:
        await charger.ws.close()
    await http.close()


def fleet_process(base: str, count: int, connectors: int, rtt: float, expected: int,
                  conn: Connection) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load on the other core than the gateway
    quiet_logs()
    raise_fd_limit()
    asyncio.run(fleet(base, count, connectors, rtt, expected, conn))


def ask_for(i: int, location_id: str, start: datetime, minutes: int) -> BookingAsk:
    rid = f"BIND-{i:05d}"
    tok = BookingToken(EMSP.country_code, EMSP.party_id, f"TOK{i:05d}", "RFID",
                       f"C-TOK{i:05d}")
    return BookingAsk(request_id=rid, location_id=location_id,
                      booking_location_id=location_id, start=start,
                      end=start + timedelta(minutes=minutes), authorization_reference=rid,
                      country_code=EMSP.country_code, party_id=EMSP.party_id, tokens=(tok,))


async def one_round(args: argparse.Namespace, concurrency: int, profile: str | None
                    ) -> tuple[list[float], int, float]:
    """Seconds after the jump at which each ReserveNow reached its charger, the bookings
    bound, and the CPU seconds this process spent until the last ReserveNow."""
    clock = OffsetClock()
    total = args.sites * args.evses
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        settings = gateway_settings(
            workdir, **write_configs(workdir, args.sites, args.evses, args.connectors),
            command_timeouts={"charger_seconds": 5.0, "ocpi_result_seconds": 10},
            instance_id="gw-bench")
        gateway = await start_gateway(settings, clock=clock)
        chargers_per_site = -(-args.evses // args.connectors)
        ours, theirs = multiprocessing.Pipe()
        proc = multiprocessing.get_context("spawn").Process(
            target=fleet_process, args=(gateway.url.replace("http://", "ws://"),
                                        args.sites * chargers_per_site, args.connectors,
                                        args.rtt / 1000, total, theirs))
        proc.start()
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, ours.poll, 600), "the chargers never came up"
        assert ours.recv() == "ready"
        await asyncio.sleep(0.5)  # statuses settle into the availability store
        bookings = gateway.app[BOOKINGS]
        slot = (clock() + timedelta(hours=2)).replace(second=0, microsecond=0)

        async def admit(i: int) -> None:
            start = slot + timedelta(seconds=args.spread * i / total)
            answer = await bookings.intake.submit(
                EMSP, ask_for(i, f"SITE-{i % args.sites:03d}", start, 60))
            assert answer.booking.state is BookingState.RESERVED, answer

        for first in range(0, total, 100):
            await asyncio.gather(*(admit(i) for i in range(first, min(total, first + 100))))
        assert bookings.binder is not None
        bookings.binder.concurrency = concurrency
        # CPU time, not wall time: on a shared machine a wall-clock profile charges whatever
        # was running when the process was descheduled (a store write, mostly).
        profiler = cProfile.Profile(time.process_time) if profile else None
        clock.jump_to(slot - timedelta(minutes=LEAD_MINUTES))
        go, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        if not await loop.run_in_executor(None, ours.poll, args.give_up):
            ours.send("report")
        seen: list[float] = ours.recv()
        cpu = time.process_time() - cpu
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        arrived = sorted(t - go for t in seen)
        await asyncio.sleep(0.5)
        bound = 0
        async for page in bookings.ledger._walk({"live": True}, "bind_ts", 500):
            bound += sum(1 for b in page if b.bound)
        ours.send("close")
        await loop.run_in_executor(None, proc.join, 30)
        await gateway.stop()
    return arrived, bound, cpu


def line(label: str, arrived: list[float], total: int, bound: int, cpu: float) -> str:
    marks = " ".join(f"{sum(1 for t in arrived if t <= m):>6,}@{m}s" for m in MARKS)
    last = f"{arrived[-1]:5.1f} s" if len(arrived) == total else " not all"
    return f"{label:<16} {marks}  all: {last}  cpu {cpu:5.1f} s  bound {bound:,}"


async def main(args: argparse.Namespace) -> None:
    quiet_logs()
    raise_fd_limit()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})  # the gateway on one core, the chargers on the other
    total = args.sites * args.evses
    print(f"{total:,} bookings ({args.sites} sites x {args.evses} EVSEs, "
          f"{args.connectors} connectors a charger) due for binding "
          + ("at the same instant" if not args.spread else f"over {args.spread:g} s")
          + f"; chargers answer after {args.rtt:g} ms; ReserveNows at the chargers by "
          "seconds after the minute began")
    kinds = [("binder", args.concurrency)] + ([("one at a time", 1)] if args.reference
                                                else [])
    alls: dict[str, list[float]] = {k: [] for k, _ in kinds}
    cpus: dict[str, list[float]] = {k: [] for k, _ in kinds}
    for r in range(args.rounds):
        for kind, concurrency in kinds if r % 2 == 0 else kinds[::-1]:
            last = r == args.rounds - 1 and kind == "binder"
            arrived, bound, cpu = await one_round(args, concurrency,
                                                  args.profile if last else None)
            print(line(f"{r + 1} {kind}", arrived, total, bound, cpu), flush=True)
            alls[kind].append(arrived[-1] if len(arrived) == total else float("inf"))
            cpus[kind].append(cpu)
    for kind, concurrency in kinds:
        print(f"{kind} (concurrency {concurrency}): seconds for all {total:,}: min "
              f"{min(alls[kind]):.1f}  median {statistics.median(alls[kind]):.1f}; cpu s min "
              f"{min(cpus[kind]):.1f} median {statistics.median(cpus[kind]):.1f}"
              + ("  (goal: < 60)" if kind == "binder" else ""))
    print(f"load average during the run: {os.getloadavg()[0]:.1f} (2 cores, shared)")
    if args.profile:
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--evses", type=int, default=100)
    parser.add_argument("--connectors", type=int, default=10)
    parser.add_argument("--spread", type=float, default=0.0)
    parser.add_argument("--give-up", type=float, default=180.0,
                        help="stop waiting for the ReserveNows after this many seconds")
    parser.add_argument("--rtt", type=float, default=50.0,
                        help="ms a charger takes to answer a ReserveNow (network + charger)")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="BookingBinder.concurrency (the gateway's default: 32)")
    parser.add_argument("--reference", action="store_true",
                        help="interleave rounds binding one booking at a time")
    parser.add_argument("--profile", default=None, help="write a cProfile to this file")
    asyncio.run(main(parser.parse_args()))
