"""RESERVE_NOW latency on embedded defaults (SQLite store, in-process availability).

    .venv/bin/python benchmarks/reserve_now.py [--reservations 400] [--chargers 10]
                                               [--connectors 4] [--profile FILE]
                                               [--live 100000] [--redis] [--serve]

``--redis``: availability, holds and presence in a private redis-server instead.

One process: the real gateway app on loopback, a registered eMSP (the tests' loopback peer)
that POSTs location-level RESERVE_NOW with its own aiohttp session, a result receiver for the
CommandResults, and N simulated OCPP 1.6 chargers (raw websockets that answer every CALL
with Accepted at once), each with M connectors = EVSEs of one location. Requests go one at a
time; after each result the reservation is cancelled in the reservation service, so EVSEs never
run out. Printed:

- sync: POST → CommandResponse received (goal p50 <= 3 ms, p99 <= 10 ms);
- loop: POST → ReserveNow at a charger → CommandResult at the receiver (goal p50 <= 10 ms,
  p99 <= 40 ms).

``--live N``: the same requests three times in one run, with 0, then N, then 0 again live
reservations of other eMSPs (1,000 of them, at other locations) in the store, and the ratio of
the loop's p50 with N to its p50 without (goal <= 1.2 at 100,000), and the CPU of an expiry
clock tick (nothing due) in each: the reservation path and the expiry clock must not read
every live reservation.

``--serve``: after the setup, one batch of reservations per count read on stdin, a line of
figures for each (``reserve_now_evses.py`` interleaves two such processes).

Everything shares one event loop (and the two cores of a small machine), so the figures
include the simulated parties' own work. ``--profile FILE`` writes a cProfile of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import functools
import gc
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
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

from ocpi_gateway import keys  # noqa: E402
from ocpi_gateway.reservation_policy.models import Partner  # noqa: E402
from ocpi_gateway.reservations.extension import RESERVATIONS  # noqa: E402
from tests.peers.emsp import EmspPeer  # noqa: E402
from tests.peers.gateway import gateway_settings, start_gateway  # noqa: E402

PASSWORD = "bench-password"
LOCATION = "LOC-BENCH"
OWNER = Partner("DE", "EMS")


def write_configs(workdir: Path, chargers: int, connectors: int, cap: int | None
                  ) -> dict[str, Path]:
    def connector(n: int) -> dict[str, Any]:
        return {"id": "1", "ocpp_connector_id": n, "standard": "IEC_62196_T2",
                "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 230,
                "max_amperage": 32, "max_electric_power": 22000}

    evses = [{"uid": f"E{c:03d}-{n}", "charge_point_id": f"CP-B{c:03d}",
              "capabilities": ["RESERVABLE", "REMOTE_START_STOP_CAPABLE"],
              "connectors": [connector(n)]}
             for c in range(chargers) for n in range(1, connectors + 1)]
    docs = {
        "locations_file": {"locations": [{
            "country_code": "NL", "party_id": "EXA", "id": LOCATION, "address": "Benchweg 1",
            "city": "Amsterdam", "country": "NLD", "time_zone": "Europe/Amsterdam",
            "coordinates": {"latitude": "52.300000", "longitude": "4.800000"},
            "evses": evses}]},
        "policy_file": {"defaults": {
            "enabled": True, "min_duration_minutes": 1, "max_duration_minutes": 120,
            "walk_in_reserve": 0, "max_concurrent_per_emsp": cap,
            "ordering": ["spread_across_chargers", "least_recently_reserved"]}},
        "chargers_file": {"chargers": [
            {"id": f"CP-B{c:03d}", "ocpp_version": "1.6",
             "password_hash": hash_password(PASSWORD)} for c in range(chargers)]},
    }
    paths: dict[str, Path] = {}
    for key, doc in docs.items():
        paths[key] = workdir / f"{key}.yaml"
        paths[key].write_text(yaml.safe_dump(doc), encoding="utf-8")
    return paths


class Charger:
    """A raw OCPP 1.6 websocket: boots, reports its connectors Available, accepts every CALL."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, reserve_seen: dict[str, float]
                 ) -> None:
        self.ws = ws
        self.reserve_seen = reserve_seen
        self._replies: dict[str, asyncio.Future[Any]] = {}
        self._n = 0
        self.task = asyncio.create_task(self._read())

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        self._n += 1
        uid = str(self._n)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[uid] = future
        await self.ws.send_str(orjson.dumps([2, uid, action, payload]).decode())
        return await asyncio.wait_for(future, 5)

    async def _read(self) -> None:
        async for msg in self.ws:
            frame = orjson.loads(msg.data)
            if frame[0] == 2:
                if frame[2] == "ReserveNow":
                    self.reserve_seen[f"{id(self)}/{frame[1]}"] = time.perf_counter()
                # A charger that does not say what it can reserve: chargers.yaml holds.
                answer = ({"unknownKey": frame[3].get("key", [])}
                          if frame[2] == "GetConfiguration" else {"status": "Accepted"})
                await self.ws.send_str(orjson.dumps([3, frame[1], answer]).decode())
            elif frame[0] in (3, 4):
                future = self._replies.pop(frame[1], None)
                if future is not None and not future.done():
                    future.set_result(frame[2])


async def connect_chargers(http: aiohttp.ClientSession, base: str, count: int,
                           connectors: int, reserve_seen: dict[str, float]) -> list[Charger]:
    chargers: list[Charger] = []
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for c in range(count):
        cp_id = f"CP-B{c:03d}"
        ws = await http.ws_connect(f"{base}/ocpp/{cp_id}", protocols=("ocpp1.6",),
                                   headers=auth_header(cp_id), heartbeat=None)
        charger = Charger(ws, reserve_seen)
        await charger.call("BootNotification", {"chargePointModel": "Bench",
                                                "chargePointVendor": "Bench"})
        for n in range(1, connectors + 1):
            await charger.call("StatusNotification", {"connectorId": n, "errorCode": "NoError",
                                                      "status": "Available", "timestamp": now})
        chargers.append(charger)
    return chargers


async def result_receiver(arrived: dict[str, float], events: dict[str, asyncio.Event]
                          ) -> tuple[web.AppRunner, str]:
    async def result(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await request.read()
        arrived[name] = time.perf_counter()
        if name in events:
            events[name].set()
        return web.json_response({"status_code": 1000, "status_message": "Success",
                                  "timestamp": datetime.now(UTC).isoformat()})

    app = web.Application()
    app.router.add_post("/results/{name}", result)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/results"


def report(label: str, samples: list[float], goal: str) -> None:
    print(f"{label:<44} p50 {percentile(samples, 50):6.2f} ms"
          f"   p99 {percentile(samples, 99):6.2f} ms"
          f"   mean {sum(samples) / len(samples):6.2f} ms   (n={len(samples)}; goal {goal})")


Phase = tuple[list[float], list[float], list[float], list[float], dict[str, int], float, float]
"""sync, loop, to the charger, to the result (ms each), the states seen, the process's CPU
milliseconds per reservation (everything in it: gateway, eMSP, chargers) and of those the
garbage collector's."""


class CollectorTime:
    """CPU time spent in CPython's garbage collections while installed (a profile does not
    show them: they are charged to whatever allocated at that moment)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> CollectorTime:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started


async def measure(http: aiohttp.ClientSession, url: str, headers: dict[str, str],
                  results_url: str, arrived: dict[str, float],
                  events: dict[str, asyncio.Event], reserve_seen: dict[str, float],
                  service: Any, reservations: int, warmup: int, profile: str | None,
                  prefix: str) -> Phase:
    expiry = (datetime.now(UTC) + timedelta(minutes=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sync_ms: list[float] = []
    loop_ms: list[float] = []
    to_charger_ms: list[float] = []
    to_result_ms: list[float] = []
    token = {"country_code": "DE", "party_id": "EMS", "uid": "DEEMS0001", "type": "RFID",
             "contract_id": "DE-EMS-C00000001-X", "issuer": "Bench eMSP", "valid": True,
             "whitelist": "ALWAYS", "last_updated": "2026-11-23T10:00:00Z"}
    # CPU time, not wall time: on a shared machine a wall-clock profile mostly measures the
    # other processes.
    profiler = cProfile.Profile(time.process_time) if profile else None
    outcomes: dict[str, int] = {}
    cpu_started = time.process_time()
    collector = CollectorTime()
    for n in range(warmup + reservations):
        if n == warmup:
            cpu_started = time.process_time()
            collector.__enter__()
        if profiler is not None and n == warmup:
            profiler.enable()
        name = f"{prefix}b{n}"
        events[name] = asyncio.Event()
        payload = orjson.dumps({"response_url": f"{results_url}/{name}", "token": token,
                                "expiry_date": expiry, "reservation_id": name,
                                "location_id": LOCATION})
        started = time.perf_counter()
        async with http.post(url, data=payload, headers={
                **headers, "Content-Type": "application/json"}) as response:
            reply = await response.json()
        answered = time.perf_counter()
        if reply["data"]["result"] != "ACCEPTED":
            raise RuntimeError(f"refused: {reply}")
        await asyncio.wait_for(events[name].wait(), 10)
        if n >= warmup:
            sync_ms.append((answered - started) * 1000)
            loop_ms.append((arrived[name] - started) * 1000)
            at_charger = max(reserve_seen.values())
            to_charger_ms.append((at_charger - started) * 1000)
            to_result_ms.append((arrived[name] - at_charger) * 1000)
        reservation = await service.get(OWNER, name)
        state = reservation.state.value if reservation else "missing"
        outcomes[state] = outcomes.get(state, 0) + 1
        await service.cancel(OWNER, name, charger_wait=2.0)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / reservations
    collector.__exit__()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)  # type: ignore[arg-type]

    return (sync_ms, loop_ms, to_charger_ms, to_result_ms, outcomes, cpu_ms,
            collector.seconds * 1000 / reservations)


async def serve_batches(run: Callable[..., Awaitable[Phase]], warmup: int, emsp: EmspPeer
                        ) -> None:
    """``--serve``: after the setup, one batch of reservations per line read on stdin (its
    count), one line of figures printed for each, until stdin closes. A parent interleaves
    two such processes (``reserve_now_evses.py``), each set up once."""
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    batch = 0
    while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
        # The first batch warms up the process; later ones only its caches after idling.
        phase = await run(int(line), warmup if batch == 0 else 3, None, f"s{batch}-")
        _, loop_ms, _, _, _, cpu_ms, gc_ms = phase
        # Whole-location PUTs after the first would be resyncs: the eMSP refused a PATCH.
        puts = sum(1 for r in emsp.received if r.method == "PUT" and "/locations/" in r.path)
        print(f"batch: p50 {percentile(loop_ms, 50):.3f} p99 {percentile(loop_ms, 99):.3f} "
              f"cpu {cpu_ms:.3f} gc {gc_ms:.3f} location_puts {puts} "
              f"samples {','.join(f'{v:.3f}' for v in loop_ms)}", flush=True)
        batch += 1


OTHER_PARTNERS = 1_000
TICKS = 200


async def expiry_tick_cpu(service: Any) -> float:
    """CPU microseconds of one expiry clock tick when nothing is due (what it costs every
    second whatever the count of live reservations)."""
    started = time.process_time()
    for _ in range(TICKS):
        await service.expire_due()
    return (time.process_time() - started) * 1e6 / TICKS


async def add_live_reservations(store: Any, count: int) -> None:
    """Live reservations of other eMSPs at other locations, as the repository writes them."""
    from ocpi_gateway.reservation_policy.records import COLLECTION

    expiry = datetime.now(UTC) + timedelta(hours=3)
    for i in range(count):
        partner = Partner("NL", f"{i % OTHER_PARTNERS:03d}")
        key = f"{partner.key}/LIVE-{i}"
        await store.put(COLLECTION, key, {
            "key": key, "partner_key": partner.key, "live": True, "state": "RESERVED",
            "location_id": f"LOC-OTHER-{i % 5000}", "evse_uid": f"E-{i}",
            "charge_point_id": f"CP-OTHER-{i % 5000}", "expiry_ts": expiry.timestamp()
            + i % 3600, "version": 1, "history": [{"at": expiry.isoformat(), "to": "RESERVED",
                                                   "reason": "created"}]})


async def remove_live_reservations(store: Any, count: int) -> None:
    from ocpi_gateway.reservation_policy.records import COLLECTION

    for i in range(count):
        await store.delete(COLLECTION, f"NL-{i % OTHER_PARTNERS:03d}/LIVE-{i}")


async def main(reservations: int, chargers: int, connectors: int, warmup: int,
               profile: str | None, cap: int | None, live: int = 0,
               profile_setup: str | None = None, serve: bool = False,
               redis: bool = False) -> None:
    quiet_logs()
    with tempfile.TemporaryDirectory() as tmp, (
            redis_server(None) if redis else contextlib.nullcontext(None)) as redis_url:
        workdir = Path(tmp)
        settings = gateway_settings(
            workdir, **write_configs(workdir, chargers, connectors, cap),
            command_timeouts={"charger_seconds": 2.0, "ocpi_result_seconds": 10},
            instance_id="gw-bench", **({"redis_url": redis_url} if redis_url else {}))
        gateway = await start_gateway(settings)
        emsp = EmspPeer()
        await emsp.start()
        _, token_a = await gateway.partners.invite("bench emsp", emsp.grants())
        status, body = await emsp.register_with(gateway.versions_url, token_a)
        assert status == 200 and body["status_code"] == 1000, body
        assert emsp.token_for_gateway is not None
        headers = {"Authorization": "Token "
                   + base64.b64encode(emsp.token_for_gateway.encode()).decode()}

        arrived: dict[str, float] = {}
        events: dict[str, asyncio.Event] = {}
        reserve_seen: dict[str, float] = {}
        receiver, results_url = await result_receiver(arrived, events)
        # No pool limit: every charger holds its websocket (the default 100 connections made
        # the 101st charger wait for ever).
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        base = gateway.url.replace("http://", "ws://")
        setup_started = time.perf_counter()
        setup_profiler = cProfile.Profile(time.process_time) if profile_setup else None
        if setup_profiler is not None:
            setup_profiler.enable()
        fleet = await connect_chargers(http, base, chargers, connectors, reserve_seen)
        if setup_profiler is not None:
            setup_profiler.disable()
            setup_profiler.dump_stats(profile_setup)
        print(f"setup: {chargers} chargers x {connectors} connectors booted and reported in "
              f"{time.perf_counter() - setup_started:.1f} s", flush=True)
        await asyncio.sleep(0.3)  # statuses settle into the availability store

        service = gateway.app[RESERVATIONS]
        url = f"{gateway.url}/ocpi/2.2.1/commands/RESERVE_NOW"
        store = gateway.app[keys.STORE]
        if serve:
            await serve_batches(functools.partial(
                measure, http, url, headers, results_url, arrived, events, reserve_seen,
                service), warmup, emsp)
        else:
            phases = [0] if not live else [0, live, 0]
            results: list[tuple[int, Phase]] = []
            ticks: list[float] = []
            for index, live_count in enumerate(phases):
                if live_count:
                    await add_live_reservations(store, live_count)
                results.append((live_count, await measure(
                    http, url, headers, results_url, arrived, events, reserve_seen, service,
                    reservations, warmup, profile if index == len(phases) - 1 else None,
                    f"p{index}-")))
                if live:
                    ticks.append(await expiry_tick_cpu(service))
                if live_count:
                    await remove_live_reservations(store, live_count)
            sync_ms, loop_ms, to_charger_ms, to_result_ms, outcomes, cpu_ms, gc_ms = results[-1][1]
            print(f"RESERVE_NOW on {'Redis' if redis else 'embedded defaults'}: {chargers} "
                  f"chargers x {connectors} EVSEs at "
                  f"one location, {reservations} reservations one at a time (+{warmup} warm-up), "
                  f"cancelled after each result; per-eMSP cap {cap}")
            print(f"reservation states before cancel: {outcomes}; ReserveNow calls seen by the "
                  f"chargers: {len(reserve_seen)}")
            for live_count, phase in results:
                report(f"loop with {live_count:,} other live reservations", phase[1],
                       f"-; CPU {phase[5]:.2f} ms per reservation")
            if live:
                without = [percentile(phase[1], 50) for n, phase in results if n == 0]
                with_live = percentile(results[1][1][1], 50)
                print(f"loop p50 with {live:,} live / without (mean of the two runs without): "
                      f"{with_live / (sum(without) / len(without)):.2f} (goal <= 1.2)")
                print(f"expiry clock tick, nothing due, CPU: {ticks[0]:.0f} / {ticks[1]:.0f} / "
                      f"{ticks[2]:.0f} us with 0 / {live:,} / 0 live; with / without "
                      f"{2 * ticks[1] / (ticks[0] + ticks[2]):.2f} (goal: independent of the "
                      "count)")
            report("sync: POST -> CommandResponse", sync_ms, "p50<=3, p99<=10")
            report("loop: POST -> ReserveNow -> CommandResult", loop_ms, "p50<=10, p99<=40")
            report("  of which POST -> ReserveNow at the charger", to_charger_ms, "-")
            report("  of which ReserveNow -> CommandResult", to_result_ms, "-")
            print(f"process CPU per reservation (gateway, eMSP, chargers): {cpu_ms:.2f} ms, of "
                  f"which garbage collection {gc_ms:.2f} ms")
            if profile:
                stats = pstats.Stats(profile)
                stats.sort_stats("cumulative").print_stats(30)

        for charger in fleet:
            await charger.ws.close()
            charger.task.cancel()
        await http.close()
        await receiver.cleanup()
        await emsp.close()
        await gateway.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reservations", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--chargers", type=int, default=10)
    parser.add_argument("--connectors", type=int, default=4)
    parser.add_argument("--cap", type=int, default=20,
                        help="max_concurrent_per_emsp (config/policy.yaml ships 20); 0 = none")
    parser.add_argument("--profile", default=None, help="write a cProfile to this file")
    parser.add_argument("--profile-setup", default=None,
                        help="write a cProfile of the chargers' setup to this file")
    parser.add_argument("--redis", action="store_true",
                        help="availability, holds and presence in a private redis-server")
    parser.add_argument("--serve", action="store_true",
                        help="after the setup, run one batch per count read on stdin")
    parser.add_argument("--live", type=int, default=0,
                        help="also measure with this many other live reservations")
    args = parser.parse_args()
    asyncio.run(main(args.reservations, args.chargers, args.connectors, args.warmup,
                     args.profile, args.cap or None, args.live, args.profile_setup,
                     args.serve, args.redis))
