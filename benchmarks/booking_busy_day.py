"""A busy day at one site with bookings: what share of the bookings is bound on time, and how
many are CANCELED because every fitting EVSE was still occupied at binding?

    .venv/bin/python benchmarks/booking_busy_day.py [--seeds 1,2,3] [--evses 20]
                                                    [--requests 260] [--walkins 60]

The real reservation service, policy engine, capacity timeline (in-process), booking intake,
booking service, binder and sessions in progress (``bookings/sessions.py``: each
transaction's EVSE busy on the timeline until its estimated end), over the SQLite store and
in-process availability, with chargers that accept every ReserveNow
(``tests/bookings/binding.py``'s site). The clock is the test
clock, moved by the simulation: 05:00 to 24:00 in 5 s steps (the gateway's binder runs every
5 s), so a day takes a minute or two, not a day.

What happens, from a fixed seed:

- booking requests arrive over the day (``--requests``) for slots 30 min to 8 h ahead, 30 to
  120 min long, on the 15 min grid, 06:00-22:00; each goes through the intake (the
  planner's admission: REJECTED when it does not fit);
- 20 % of the drivers never come (NO_SHOW); the others arrive between 5 min before and
  10 min after their start and charge on their bound EVSE (with the reservation id), or on a
  free one with their booking token when it is not bound; they leave at the slot's end
  plus an overrun: 70 % within [-20, +5] min, 25 % +5 to +20 min (the turnover buffer is
  15 min), 5 % +20 to +60 min;
- walk-ins (``--walkins``, 06:00-22:00) take any free EVSE for 20 to 150 min;
- every 5 s: the binder's run and the expiry clock.

Printed per seed: requests, admitted, bound on time (at most one binder interval after
``start - activation_lead``), bound late, CANCELED because occupied until the no-show time
(FULL), what occupied the EVSEs at a try that found none free, no-shows and fulfilled; then
the share bound on time, min and median over the seeds (goal >= 99 %).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocpi_gateway.domain.events import (  # noqa: E402
    ConnectorStatus,
    ConnectorStatusChanged,
    TransactionEnded,
    TransactionStarted,
)
from ocpi_gateway.reservation_policy.availability.base import EvseStatus  # noqa: E402
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability  # noqa: E402
from ocpi_gateway.reservation_policy.bookings.intake import BookingIntake  # noqa: E402
from ocpi_gateway.reservation_policy.bookings.records import BookingAsk  # noqa: E402
from ocpi_gateway.reservation_policy.bookings.states import BookingState  # noqa: E402
from ocpi_gateway.reservation_policy.capacity.memory import MemoryCapacity  # noqa: E402
from ocpi_gateway.store.sqlite import SqliteStore  # noqa: E402
from tests.bookings.binding import BindingSite, Instance  # noqa: E402
from tests.bookings.support import EMSP, Clock, token  # noqa: E402

DAY = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
TICK = timedelta(seconds=5)
"""The gateway's binder interval (bookings/extension.py BIND_SECONDS)."""
TERMS = {"activation_lead_minutes": 10, "noshow_timeout_minutes": 15, "early_start_minutes": 5,
         "turnover_buffer_minutes": 15, "min_duration_minutes": 30,
         "max_duration_minutes": 120, "timeslot_increment_minutes": 15,
         "max_advance_days": 2, "cancel_until_minutes": 0, "change_until_minutes": 0}
WALK_IN_RESERVE = 2


def at_hour(hours: float) -> datetime:
    return DAY.replace(hour=0) + timedelta(hours=hours)


@dataclass(order=True)
class Event:
    when: datetime
    seq: int
    kind: str = field(compare=False)
    data: dict[str, object] = field(compare=False, default_factory=dict)


@dataclass
class Session:
    kind: str
    """``walk-in`` or ``booked``."""
    tx: str
    slot_end: datetime | None = None


@dataclass
class Day:
    site: BindingSite
    gw: Instance
    intake: BookingIntake
    rng: random.Random
    clock: Clock
    verbose: bool = False
    events: list[Event] = field(default_factory=list)
    seq: int = 0
    sessions: dict[str, Session] = field(default_factory=dict)
    """EVSE uid → who charges there."""
    admitted: dict[str, datetime] = field(default_factory=dict)
    """Booking key → its start."""
    counts: Counter[str] = field(default_factory=Counter)
    occupiers: Counter[str] = field(default_factory=Counter)
    """At each booking's first try that found nothing free: what was on the EVSEs."""
    tried: set[str] = field(default_factory=set)

    def later(self, when: datetime, kind: str, **data: object) -> None:
        self.seq += 1
        heapq.heappush(self.events, Event(when, self.seq, kind, dict(data)))

    def free_evses(self, held: dict[str, str | None], statuses: dict[str, EvseStatus]
                   ) -> list[str]:
        return [uid for uid, s in statuses.items() if s is EvseStatus.AVAILABLE
                and held.get(uid) is None and uid not in self.sessions]

    async def location(self) -> tuple[dict[str, str | None], dict[str, EvseStatus]]:
        seen = await self.site.avail.location("LOC1")
        return ({u: a.holder for u, a in seen.items()}, {u: a.status for u, a in seen.items()})

    async def start(self, uid: str, who: Session, id_token: str, rid: int | None) -> None:
        c = next(c for c in self.site.candidates if c.evse_uid == uid)
        self.sessions[uid] = who
        await self.site.set_status(uid, EvseStatus.CHARGING)
        if rid is not None:
            self.site.chargers.consume(c.charge_point_id, rid)
        await self.gw.event(TransactionStarted(
            charge_point_id=c.charge_point_id, transaction_id=who.tx,
            evse_id=c.address.evse_id, connector_id=1, id_token=id_token, reservation_id=rid))
        await self.gw.event(ConnectorStatusChanged(
            charge_point_id=c.charge_point_id, evse_id=c.address.evse_id, connector_id=1,
            status=ConnectorStatus.CHARGING))

    async def leave(self, uid: str) -> None:
        c = next(c for c in self.site.candidates if c.evse_uid == uid)
        who = self.sessions.pop(uid)
        await self.site.set_status(uid, EvseStatus.AVAILABLE)
        await self.gw.event(TransactionEnded(charge_point_id=c.charge_point_id,
                                             transaction_id=who.tx))
        await self.gw.event(ConnectorStatusChanged(
            charge_point_id=c.charge_point_id, evse_id=c.address.evse_id, connector_id=1,
            status=ConnectorStatus.AVAILABLE))

    # ------------------------------------------------------------------ what happens

    def plan(self, requests: int, walkins: int) -> None:
        for i in range(requests):
            asked = at_hour(self.rng.uniform(5.0, 21.0))
            ahead = timedelta(minutes=self.rng.uniform(30, 8 * 60))
            start = _grid(asked + ahead)
            if not at_hour(6) <= start <= at_hour(22):
                start = _grid(at_hour(self.rng.uniform(max(6.0, _hours(asked) + 0.5), 22)))
            minutes = self.rng.choice([30, 45, 60, 60, 75, 90, 90, 120])
            self.later(asked, "request", i=i, start=start, minutes=minutes)
        for i in range(walkins):
            self.later(at_hour(self.rng.uniform(6, 22)), "walk-in", i=i,
                       minutes=self.rng.uniform(20, 150))

    async def handle(self, e: Event) -> None:
        if e.kind == "request":
            await self.request(e)
        elif e.kind == "walk-in":
            held, statuses = await self.location()
            free = self.free_evses(held, statuses)
            if not free:
                self.counts["walk-ins turned away (no free EVSE)"] += 1
                return
            uid = self.rng.choice(free)
            await self.start(uid, Session("walk-in", f"W{e.data['i']}"), f"WALK{e.data['i']}",
                             None)
            self.counts["walk-ins served"] += 1
            self.later(e.when + timedelta(minutes=float(str(e.data["minutes"]))), "leave",
                       uid=uid, tx=f"W{e.data['i']}")
        elif e.kind == "arrive":
            await self.arrive(e)
        elif e.kind == "leave":
            who = self.sessions.get(str(e.data["uid"]))
            if who is not None and who.tx == e.data["tx"]:
                await self.leave(str(e.data["uid"]))

    async def request(self, e: Event) -> None:
        i, start = int(str(e.data["i"])), e.data["start"]
        assert isinstance(start, datetime)
        if start - e.when < timedelta(minutes=TERMS["activation_lead_minutes"]):
            return
        minutes = int(str(e.data["minutes"]))
        rid = f"BK{i:04d}"
        ask = BookingAsk(request_id=rid, location_id="LOC1", booking_location_id="LOC1",
                         start=start, end=start + timedelta(minutes=minutes),
                         authorization_reference=rid, country_code=EMSP.country_code,
                         party_id=EMSP.party_id, tokens=(token(f"TOK{i:04d}"),))
        self.counts["requests"] += 1
        answer = await self.intake.submit(EMSP, ask)
        if answer.booking.state is not BookingState.RESERVED:
            self.counts["rejected (did not fit)"] += 1
            return
        self.admitted[answer.booking.key] = start
        if self.rng.random() < 0.2:
            self.counts["drivers who never come"] += 1
            return
        self.later(start + timedelta(minutes=self.rng.uniform(-5, 10)), "arrive",
                   key=answer.booking.key, uid=f"TOK{i:04d}", tx=f"T{i}", minutes=minutes)

    async def arrive(self, e: Event) -> None:
        b = await self.site.booking(str(e.data["key"]))
        tx, uid = str(e.data["tx"]), str(e.data["uid"])
        slot_end = b.end
        if b.state is not BookingState.RESERVED:
            self.counts[f"booked driver came, booking already {b.state.value}"] += 1
            return
        if b.bound and b.evse_uid is not None and b.evse_uid not in self.sessions:
            evse = b.evse_uid
            await self.start(evse, Session("booked", tx, slot_end), uid, b.ocpp_reservation_id)
        else:
            held, statuses = await self.location()
            free = self.free_evses(held, statuses)
            if not free:
                self.counts["booked driver came, nothing free"] += 1
                return
            evse = free[0]
            await self.start(evse, Session("booked", tx, slot_end), uid, None)
        self.later(slot_end + timedelta(minutes=self._overrun()), "leave", uid=evse, tx=tx)

    def _overrun(self) -> float:
        x = self.rng.random()
        if x < 0.70:
            return self.rng.uniform(-20, 5)
        if x < 0.95:
            return self.rng.uniform(5, 20)
        return self.rng.uniform(20, 60)

    async def tick(self) -> None:
        before = len(self.site.seen.occupied)
        await self.gw.binder.run()
        await self.gw.reservations.expire_due()
        await self.gw.reservations.drain()
        fresh = [k for k in self.site.seen.occupied[before:] if k not in self.tried]
        if fresh:
            self.tried.update(fresh)
            now = self.clock()
            held, _ = await self.location()
            on = Counter(who.kind + (" past its slot" if who.slot_end is not None
                                     and now > who.slot_end else "")
                         for who in self.sessions.values())
            on["held for a booking or reservation"] = sum(
                1 for u, h in held.items() if h is not None and u not in self.sessions)
            for _ in fresh:
                self.occupiers.update(on)
            if self.verbose:
                print(f"    {now:%H:%M:%S} nothing free for {fresh}: {dict(on)}")


def _grid(moment: datetime) -> datetime:
    minutes = (moment - DAY.replace(hour=0)).total_seconds() / 60
    return DAY.replace(hour=0) + timedelta(minutes=15 * round(minutes / 15))


def _hours(moment: datetime) -> float:
    return (moment - DAY.replace(hour=0)).total_seconds() / 3600


async def one_day(seed: int, args: argparse.Namespace) -> dict[str, float]:
    clock = Clock(DAY)
    with tempfile.TemporaryDirectory() as tmp:
        store = await SqliteStore.open(f"{tmp}/day.db")
        site = await BindingSite(store, MemoryAvailability(clock=clock), MemoryCapacity(
            clock=clock), clock, evses=args.evses, walk_in_reserve=WALK_IN_RESERVE,
            **TERMS).ready()
        gw = site.instance()
        gw.binder.early_within = timedelta(minutes=args.early_within)
        day = Day(site, gw, BookingIntake(gw.bookings), random.Random(seed), clock,
                  verbose=args.verbose)
        day.plan(args.requests, args.walkins)
        started = time.perf_counter()
        end = at_hour(24) + timedelta(hours=1)
        while clock.now < end:
            while day.events and day.events[0].when <= clock.now:
                await day.handle(heapq.heappop(day.events))
            await day.tick()
            clock.now += TICK
        for uid in list(day.sessions):
            await day.leave(uid)
        seconds = time.perf_counter() - started
        await site.close()
        await store.close()
    return report(seed, day, seconds)


def report(seed: int, day: Day, seconds: float) -> dict[str, float]:
    seen = day.site.seen
    admitted = len(day.admitted)
    first_bind = {}
    for key, late in seen.bound:
        first_bind.setdefault(key, late)
    on_time = sum(1 for late in first_bind.values() if late <= TICK.total_seconds())
    states: Counter[str] = Counter()
    share = on_time / admitted if admitted else 1.0
    print(f"seed {seed}: {day.counts['requests']} requests, {admitted} admitted "
          f"({day.counts['rejected (did not fit)']} rejected: did not fit); "
          f"simulated 05:00-25:00 in {seconds:.0f} s")
    print(f"  bound on time {on_time} ({100 * share:.2f} %), bound late "
          f"{len(first_bind) - on_time}"
          + (f" (latest {max(first_bind.values()) / 60:.1f} min)" if first_bind else "")
          + f", CANCELED FULL (occupied until the no-show time) {len(set(seen.gave_up))}, "
          f"tries that found every fitting EVSE occupied {len(seen.occupied)}")
    for key in day.admitted:
        states[key] = 0
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(day.counts.items())
                           if k not in ("requests", "rejected (did not fit)")))
    if day.occupiers:
        print("  on the EVSEs at each booking's first try that found none free (summed): "
              + ", ".join(f"{k} {v}" for k, v in day.occupiers.most_common()))
    return {"share": share, "canceled": float(len(set(seen.gave_up)))}


async def main(args: argparse.Namespace) -> None:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"One site, {args.evses} EVSEs (walk-in reserve {WALK_IN_RESERVE}), booking terms "
          f"{TERMS}; {args.requests} booking requests, {args.walkins} walk-ins, 20 % no-shows;"
          f" binder early_within {args.early_within:g} min")
    results = [await one_day(seed, args) for seed in args.seeds]
    shares = [r["share"] for r in results]
    print(f"bound on time: min {100 * min(shares):.2f} %  median "
          f"{100 * statistics.median(shares):.2f} %  (goal >= 99 %); CANCELED FULL: "
          f"{', '.join(str(int(r['canceled'])) for r in results)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 3])
    parser.add_argument("--evses", type=int, default=20)
    parser.add_argument("--requests", type=int, default=260)
    parser.add_argument("--walkins", type=int, default=60)
    parser.add_argument("--early-within", type=float, default=60.0,
                        help="BookingBinder.early_within, minutes (0: never bind early)")
    parser.add_argument("--verbose", action="store_true",
                        help="print each try that found no fitting EVSE free")
    asyncio.run(main(parser.parse_args()))
