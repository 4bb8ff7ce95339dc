"""CDRs through the outbox to 20 eMSPs, end to end: finished sessions (one hour, 12 meter
readings, after a 10-minute reservation, a 4-element tariff) handed to the CDR service, which
prices each, stores it (SQLite), builds the eMSP's version of it (half the eMSPs on 2.2.1,
half on 2.3.0) and queues a POST; until every eMSP accepted every CDR (201). The eMSPs are
aiohttp servers in another process, answering like a CDRs receiver.

The same run measures, interleaved with it, the outbox alone POSTing the same bodies already
built (the reference: what the machine gives the outbox just now), so the figure of CDRs/s
can be read against it. Prints min and median of ``--rounds`` rounds each, with the CPU time
per item and the part of it the garbage collector took.

Before each timed round what exists (the imported code, the sessions or bodies made for the
round) is frozen out of the collector's reach (``gc.freeze``), as a gateway with a big
catalog freezes its heap once loaded (``locations/heap.py``): otherwise every full collection
walks the 5,000 prepared sessions, which a gateway receives one at a time, and that walk was
a fifth of the CPU per CDR. ``--no-freeze`` measures without.

    .venv/bin/python benchmarks/cdrs_outbox.py [--count 5000] [--rounds 3] [--no-freeze]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import structlog
from aiohttp import web

from ocpi_gateway.cdrs.builder import session_cdr
from ocpi_gateway.cdrs.models import CdrKind
from ocpi_gateway.cdrs.publisher import CdrsPublisher
from ocpi_gateway.cdrs.repository import CdrRepository
from ocpi_gateway.cdrs.service import CdrService
from ocpi_gateway.deliveries.engine import DeliveryEngine, DeliveryPolicy
from ocpi_gateway.ocpi import package
from ocpi_gateway.ocpi.seam import to_jsonable
from ocpi_gateway.partners.models import Partner, PartnerEndpoint, PartnerRole, PartnerState
from ocpi_gateway.partners.registry import PartnerRegistry
from ocpi_gateway.sessions.models import (
    AuthMethod,
    CdrLocationInfo,
    Hold,
    HoldEnd,
    MeterReading,
    Session,
    SessionStatus,
    SessionToken,
)
from ocpi_gateway.store import open_store
from ocpi_gateway.tariffs.models import Tariff

PARTNERS = 20
ENVELOPE = orjson.dumps({"status_code": 1000, "timestamp": "2026-12-01T12:00:00Z"})
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TARIFF = Tariff.model_validate({
    "id": "BENCH", "currency": "EUR", "country_code": "NL", "party_id": "EXA",
    "last_updated": "2026-11-30T00:00:00Z", "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.5, "vat": 21, "step_size": 1},
                              {"type": "TIME", "price": 1.2, "vat": 21, "step_size": 60}],
         "restrictions": {"reservation": "RESERVATION"}},
        {"price_components": [{"type": "ENERGY", "price": 0.45, "vat": 21, "step_size": 1}],
         "restrictions": {"start_time": "08:00", "end_time": "20:00"}},
        {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 21, "step_size": 1}]},
        {"price_components": [{"type": "TIME", "price": 2.0, "vat": 21, "step_size": 60}]},
    ]})
LOCATION = CdrLocationInfo(id="LOC-1", address="Teststraat 1", city="Amsterdam",
                           country="NLD", latitude="52.300000", longitude="4.800000",
                           evse_uid="E1", evse_id="NL*EXA*E1", connector_id="1",
                           connector_standard="IEC_62196_T2", connector_format="SOCKET",
                           connector_power_type="AC_3_PHASE")


def session(n: int) -> Session:
    party = f"E{n % PARTNERS:02d}"
    start = T0 + timedelta(minutes=10)
    readings = tuple(MeterReading(at=start + timedelta(minutes=5 * i), wh=Decimal(900 * i))
                     for i in range(13))
    return Session(
        id=uuid.uuid4().hex, country_code="NL", party_id="EXA",
        status=SessionStatus.COMPLETED,
        token=SessionToken(country_code="DE", party_id=party, uid=f"TOKEN{n:06d}",
                           type="RFID", contract_id=f"DE-{party}-C{n:08d}"),
        auth_method=AuthMethod.COMMAND, location_id="LOC-1", evse_uid="E1", connector_id="1",
        time_zone="Europe/Amsterdam", cdr_location=LOCATION, charge_point_id="CP-1",
        transaction_id=str(n), created_at=T0, start_date_time=start,
        end_date_time=readings[-1].at, readings=readings, currency="EUR", tariff=TARIFF,
        hold=Hold(key=f"DE-{party}/R{n}", start=T0, end=start, ended=HoldEnd.USED),
        last_updated=readings[-1].at)


# ---------------------------------------------------------------------- the eMSPs


def serve_receivers(queue: Any, stop: Any) -> None:
    """20 CDRs receivers in their own process (not sharing the gateway's core)."""
    async def post(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        return web.Response(body=ENVELOPE, status=201, content_type="application/json",
                            headers={"Location": f"{request.url}/{body['id']}"})

    async def run() -> None:
        runners, urls = [], []
        for i in range(PARTNERS):
            version = "2.2.1" if i % 2 else "2.3.0"
            app = web.Application()
            app.router.add_post(f"/emsp/{version}/cdrs", post)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            runners.append(runner)
            urls.append(f"http://127.0.0.1:{port}/emsp/{version}/cdrs")
        queue.put(urls)
        await asyncio.to_thread(stop.wait)
        for runner in runners:
            await runner.cleanup()

    asyncio.run(run())


async def register(registry: PartnerRegistry, urls: list[str]) -> None:
    now = T0.isoformat()
    for i, url in enumerate(urls):
        await registry.save(Partner(
            id=f"p{i}", name=f"eMSP {i}", state=PartnerState.REGISTERED,
            roles=[PartnerRole(role="EMSP", country_code="DE", party_id=f"E{i:02d}")],
            version=url.split("/")[-2], token_to_send=f"token-{i}",
            endpoints=[PartnerEndpoint(identifier="cdrs", role="RECEIVER", url=url)],
            created_at=now, updated_at=now))


# ---------------------------------------------------------------------- the rounds


Round = tuple[float, float, int, float]
"""Items/s (wall clock), this process's CPU time per item (s), items delivered, CPU time in
garbage collections per item (s)."""

FREEZE = True


class CollectorClock:
    """CPU time spent in garbage collections while ``running``."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._since = 0.0
        self.running = False
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, _info: dict[str, Any]) -> None:
        if not self.running:
            return
        if phase == "start":
            self._since = time.thread_time()
        else:
            self.spent += time.thread_time() - self._since

    def start(self) -> None:
        if FREEZE:
            gc.collect()
            gc.freeze()
        self.spent, self.running = 0.0, True

    def stop(self) -> float:
        self.running = False
        if FREEZE:
            gc.unfreeze()
        return self.spent


COLLECTOR = CollectorClock()


async def cdr_round(urls: list[str], count: int, in_flight: int) -> Round:
    """Sessions → CDRs accepted by the eMSPs."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite:///{tmp}/gateway.db")
        registry = PartnerRegistry(store)
        await register(registry, urls)
        outbox = DeliveryEngine(store, registry.headers_for,
                                policy=DeliveryPolicy(concurrency_per_partner=4))
        await outbox.start()
        publisher = CdrsPublisher(registry.registered_now)
        publisher.attach(outbox)
        service = CdrService(CdrRepository(store), publisher, clock=lambda: T0,
                             evse_at=lambda *_: None)
        sessions = [session(n) for n in range(count)]
        gate = asyncio.Semaphore(in_flight)

        async def finish(s: Session) -> None:
            async with gate:
                await service.on_session(s, None)

        COLLECTOR.start()
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(finish(s) for s in sessions))
        assert await outbox.drain(300)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        collecting = COLLECTOR.stop()
        delivered = outbox.delivered
        await outbox.stop()
        await store.close()
        return count / elapsed, cpu / count, delivered, collecting / count


async def outbox_round(urls: list[str], count: int, in_flight: int) -> Round:
    """The reference: the same CDR bodies, built beforehand, through the outbox alone."""
    built = []
    for n in range(count):
        cdr = session_cdr(session(n), CdrKind.SESSION, now=T0)
        version = urls[n % PARTNERS].split("/")[-2]
        built.append((n % PARTNERS, to_jsonable(package(version).cdrs.cdr(cdr)), cdr.id))
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite:///{tmp}/gateway.db")
        registry = PartnerRegistry(store)
        await register(registry, urls)
        outbox = DeliveryEngine(store, registry.headers_for,
                                policy=DeliveryPolicy(concurrency_per_partner=4))
        await outbox.start()
        gate = asyncio.Semaphore(in_flight)

        async def send(partner: int, body: dict[str, Any], cdr_id: str) -> None:
            async with gate:
                await outbox.enqueue(f"p{partner}", "POST", urls[partner], body,
                                     ordering_key=f"cdr:{cdr_id}")

        COLLECTOR.start()
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(send(*b) for b in built))
        assert await outbox.drain(300)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        collecting = COLLECTOR.stop()
        delivered = outbox.delivered
        await outbox.stop()
        await store.close()
        return count / elapsed, cpu / count, delivered, collecting / count


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=64,
                        help="sessions finishing at once")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the prepared inputs to the garbage collector")
    args = parser.parse_args()
    global FREEZE
    FREEZE = not args.no_freeze
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    stop = ctx.Event()
    child = ctx.Process(target=serve_receivers, args=(queue, stop), daemon=True)
    child.start()
    urls: list[str] = queue.get(timeout=30)
    results: dict[str, list[Round]] = {"cdrs": [], "outbox": []}
    try:
        await cdr_round(urls, 200, args.in_flight)  # warm-up: imports, connections
        for _ in range(args.rounds):
            for name, run in (("cdrs", cdr_round), ("outbox", outbox_round)):
                found = await run(urls, args.count, args.in_flight)
                assert found[2] == args.count, found
                results[name].append(found)
    finally:
        stop.set()
        child.join(timeout=10)
    print(f"{args.count} CDRs to {PARTNERS} eMSPs (2.2.1 and 2.3.0), {args.in_flight} sessions "
          f"finishing at once, {args.rounds} interleaved rounds, inputs "
          f"{'frozen' if FREEZE else 'not frozen'}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
    for name, label in (("cdrs", "sessions -> CDRs accepted"),
                        ("outbox", "outbox alone (reference)")):
        rates = [r[0] for r in results[name]]
        cpus = [r[1] * 1e6 for r in results[name]]
        collecting = [r[3] * 1e6 for r in results[name]]
        print(f"  {label:27s} min {min(rates):6.0f}/s  median {statistics.median(rates):6.0f}/s"
              f"   CPU per item min {min(cpus):5.0f} us  median {statistics.median(cpus):5.0f} us"
              f" (collector median {statistics.median(collecting):4.0f} us)")


if __name__ == "__main__":
    asyncio.run(main())
