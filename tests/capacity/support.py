"""Shared by the capacity tests: a controllable clock, a site's supply, both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpi_gateway.reservation_policy.capacity.classes import SupplyConnector, SupplyEvse

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
T2 = "IEC_62196_T2"
CCS = "IEC_62196_T2_COMBO"
AC = "AC_3_PHASE"
DC = "DC"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def evse(uid: str, *connectors: tuple[str, str, int]) -> SupplyEvse:
    return SupplyEvse(uid, tuple(SupplyConnector(s, t, p) for s, t, p in connectors))


def ac(uid: str, power_w: int = 22000) -> SupplyEvse:
    return evse(uid, (T2, AC, power_w))


def dc(uid: str, power_w: int = 150000) -> SupplyEvse:
    return evse(uid, (CCS, DC, power_w))
