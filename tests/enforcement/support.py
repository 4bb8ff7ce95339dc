"""Enforcement over the real SQLite store, a clock the test moves and an observer that
remembers what it was told."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.enforcement.bans import Ban
from ocpi_gateway.reservation_policy.enforcement.records import NoShow, UnusedKind
from ocpi_gateway.reservation_policy.enforcement.service import Enforcement
from ocpi_gateway.reservation_policy.engine import Refusal
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.policy import PolicySource, parse_policy

EMSP = Partner("DE", "EMS")
OTHER = Partner("NL", "OTH")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Seen:
    refused: list[Refusal] = field(default_factory=list)
    no_shows: list[NoShow] = field(default_factory=list)
    banned: list[Ban] = field(default_factory=list)
    lifted: list[Ban] = field(default_factory=list)

    def refusal(self, refusal: Refusal) -> None:
        self.refused.append(refusal)

    def no_show(self, record: NoShow) -> None:
        self.no_shows.append(record)

    def ban(self, ban: Ban) -> None:
        self.banned.append(ban)

    def lift(self, ban: Ban) -> None:
        self.lifted.append(ban)


class Observer:
    """The EnforcementObserver protocol, recording into ``Seen``."""

    def __init__(self, seen: Seen) -> None:
        self._seen = seen

    def refused(self, refusal: Refusal) -> None:
        self._seen.refusal(refusal)

    def no_show(self, record: NoShow) -> None:
        self._seen.no_show(record)

    def banned(self, ban: Ban) -> None:
        self._seen.ban(ban)

    def lifted(self, ban: Ban) -> None:
        self._seen.lift(ban)


def policy(**defaults: Any) -> PolicySource:
    extra = {k: defaults.pop(k) for k in ("partners", "locations") if k in defaults}
    return PolicySource(policy=parse_policy({"defaults": defaults, **extra}))


def strikes(count: int = 3, within_days: float = 7, ban_days: float = 2) -> dict[str, Any]:
    return {"count": count, "within_days": within_days, "ban_days": ban_days}


@dataclass
class Setup:
    enforcement: Enforcement
    clock: Clock
    seen: Seen
    store: DocumentStore
    counter: int = 0

    async def no_show(self, token: str = "TOKEN1", *, partner: Partner = EMSP,
                      location: str = "LOC1", kind: UnusedKind = UnusedKind.RESERVATION
                      ) -> NoShow | None:
        self.counter += 1
        return await self.enforcement.record_no_show(
            kind=kind, partner=partner, token_uid=token, reference=f"R{self.counter}",
            location_id=location, evse_uid="E1",
            reserved_at=self.clock() - timedelta(minutes=30),
            expired_at=self.clock() - timedelta(minutes=5))

    async def refusal(self, token: str = "TOKEN1", *, partner: Partner = EMSP,
                      location: str = "LOC1") -> Refusal | None:
        return await self.enforcement.refusal(partner, token, location)


def setup(store: DocumentStore, source: PolicySource, clock: Clock | None = None) -> Setup:
    clock = clock or Clock()
    seen = Seen()
    return Setup(Enforcement(store, source, clock=clock, observer=Observer(seen)), clock,
                 seen, store)
