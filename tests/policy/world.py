"""A reservation service over the real SQLite store, in-process availability and simulated
chargers, for the lifecycle and recovery tests (closed by the autouse fixture in conftest)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.reservation_policy.engine import PolicyEngine
from ocpi_gateway.reservation_policy.lifecycle import ReservationService, ReserveResult
from ocpi_gateway.reservation_policy.models import EvseCandidate, Partner, ReservationRequest
from ocpi_gateway.reservation_policy.policy import PolicySource, parse_policy
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.store.sqlite import SqliteStore
from tests.policy.support import SimChargers, StaticCandidates, set_all

EMSP = Partner("NL", "EXA")

OPEN: list[World] = []


class ManualClock:
    """A service clock the test moves."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class World:
    def __init__(self, candidates: list[EvseCandidate], *,
                 clock: Callable[[], datetime] = utc_now, **policy: Any) -> None:
        self.clock = clock
        self.avail = MemoryAvailability(clock=clock)
        self.chargers = SimChargers()
        self.candidates = candidates
        self.policy = PolicySource(policy=parse_policy(
            {"defaults": {"min_duration_minutes": 1, "walk_in_reserve": 0,
                          "ordering": [], **policy}}))
        self.seen: list[tuple[str, ReservationState, ReservationState]] = []
        self.services: list[ReservationService] = []

    def new_service(self, *, charger_timeout: float = 0.2) -> ReservationService:
        service = ReservationService(
            engine=PolicyEngine(self.policy, self.avail, clock=self.clock), store=self.store,
            commands=self.chargers, candidates=StaticCandidates(self.candidates),
            charger_timeout=charger_timeout, reroute_timeout=1.0, clock=self.clock)
        self.services.append(service)
        return service

    async def _listen(self, r: Reservation, previous: ReservationState) -> None:
        self.seen.append((r.reservation_id, previous, r.state))

    async def ready(self) -> World:
        # The real SQLite backend: CAS and insert-if-absent are the store's, not a fake's.
        self.store = await SqliteStore.open(":memory:")
        OPEN.append(self)
        self.service = self.new_service()
        self.service.add_listener(self._listen)
        await set_all(self.avail, self.candidates)
        return self

    def request(self, *, evse_uid: str | None = None, token: str = "04A1B2C3D4",
                partner: Partner = EMSP, minutes: float = 30) -> ReservationRequest:
        return ReservationRequest("LOC1", evse_uid, partner, token,
                                  self.clock() + timedelta(minutes=minutes))

    async def reserve(self, rid: str = "R1", *, evse_uid: str | None = None,
                      token: str = "04A1B2C3D4", partner: Partner = EMSP,
                      minutes: float = 30, budget: float = 2.0) -> ReserveResult:
        request = self.request(evse_uid=evse_uid, token=token, partner=partner,
                               minutes=minutes)
        return await self.service.reserve(request, rid, time_budget=budget)

    async def holders(self) -> dict[str, str]:
        return {uid: a.holder for uid, a in (await self.avail.location("LOC1")).items()
                if a.holder}

    async def close(self) -> None:
        for service in self.services:
            await service.aclose()
        await self.store.close()
