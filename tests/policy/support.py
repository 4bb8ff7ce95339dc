"""Test-only parts for the policy tests: a simulated set of chargers behind the injected
ChargerCommands interface, and candidate builders."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ocpi_gateway.domain.charger_commands import (
    CancelReservation,
    ChargerCommand,
    CommandOutcome,
    ReserveNow,
)
from ocpi_gateway.domain.ids import ChargerAddress
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore, EvseStatus
from ocpi_gateway.reservation_policy.models import ConnectorInfo, EvseCandidate

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class SimChargers:
    """Chargers that hold reservations like OCPP says (replace by id, Occupied when the
    target is already reserved by another id), with scripted answers per target."""

    script: dict[tuple[str, int | None, int | None], list[CommandOutcome]] = field(
        default_factory=dict)
    offline: set[str] = field(default_factory=set)
    jitter: float = 0.0
    sent: list[ChargerCommand] = field(default_factory=list)
    reservations: dict[tuple[str, int], tuple[int | None, int | None]] = field(
        default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    answer_after: asyncio.Event | None = None
    """When set: a ReserveNow is accepted at the charger, but its answer waits for the event
    (a gateway that dies meanwhile never learns of it; one that waits gets TIMEOUT)."""
    cancel_answers: list[CommandOutcome] = field(default_factory=list)
    """Scripted answers to the next CancelReservations (the charger keeps its reservation)."""
    cancel_after: asyncio.Event | None = None
    """When set: a CancelReservation is answered once the event is set (TIMEOUT before)."""
    waits: list[float] = field(default_factory=list)
    """The timeout each command was sent with, in the order of ``sent``."""
    interrupted: list[ChargerCommand] = field(default_factory=list)
    """Commands whose sender stopped waiting for the answer (its task was cancelled)."""
    late: set[str] = field(default_factory=set)
    """Chargers whose answer comes only once the sender's wait is used up."""

    async def execute(self, command: ChargerCommand, timeout: float) -> CommandOutcome:  # noqa: ASYNC109 (the protocol says so)
        try:
            return await self._execute(command, timeout)
        except asyncio.CancelledError:
            self.interrupted.append(command)
            raise

    async def _execute(self, command: ChargerCommand, timeout: float) -> CommandOutcome:  # noqa: ASYNC109
        self.sent.append(command)
        self.waits.append(timeout)
        if command.charge_point_id in self.late:
            await asyncio.sleep(timeout + 0.001)
        if self.jitter:
            await asyncio.sleep(self.rng.random() * self.jitter)
        if command.charge_point_id in self.offline:
            return CommandOutcome.OFFLINE
        if isinstance(command, ReserveNow):
            target = (command.evse_id, command.connector_id)
            queue = self.script.get((command.charge_point_id, *target))
            if queue:
                outcome = queue.pop(0)
                if outcome is CommandOutcome.TIMEOUT:
                    await asyncio.sleep(timeout)
                if outcome is not CommandOutcome.ACCEPTED:
                    return outcome
            for (cp, rid), held in self.reservations.items():
                if cp == command.charge_point_id and held == target \
                        and rid != command.reservation_id and target != (None, None):
                    return CommandOutcome.OCCUPIED
            self.reservations[(command.charge_point_id, command.reservation_id)] = target
            if self.answer_after is not None:
                try:
                    await asyncio.wait_for(self.answer_after.wait(), timeout)
                except TimeoutError:
                    return CommandOutcome.TIMEOUT
            return CommandOutcome.ACCEPTED
        if isinstance(command, CancelReservation):
            if self.cancel_answers:
                return self.cancel_answers.pop(0)
            if self.cancel_after is not None:
                try:
                    await asyncio.wait_for(self.cancel_after.wait(), timeout)
                except TimeoutError:
                    return CommandOutcome.TIMEOUT
            key = (command.charge_point_id, command.reservation_id)
            if self.reservations.pop(key, None) is None:
                return CommandOutcome.REJECTED
            return CommandOutcome.ACCEPTED
        return CommandOutcome.NOT_SUPPORTED

    async def is_online(self, charge_point_id: str) -> bool:
        return charge_point_id not in self.offline

    def reserve_nows(self) -> list[ReserveNow]:
        return [c for c in self.sent if isinstance(c, ReserveNow)]

    def cancels(self) -> list[CancelReservation]:
        return [c for c in self.sent if isinstance(c, CancelReservation)]


T2 = ConnectorInfo("IEC_62196_T2", 22_000)
CCS = ConnectorInfo("IEC_62196_T2_COMBO", 150_000)


def evse(uid: str, cp: str, *, location: str = "LOC1", evse_id: int | None = 1,
         connector_id: int | None = None, connectors: tuple[ConnectorInfo, ...] = (T2,),
         reservable: bool = True, whole: bool = False) -> EvseCandidate:
    return EvseCandidate(location, uid, cp, ChargerAddress(cp, evse_id, connector_id),
                         reservable, connectors, whole)


def grid(n: int, *, location: str = "LOC1", per_charger: int = 2) -> list[EvseCandidate]:
    """``n`` reservable 2.0.1 EVSEs, ``per_charger`` to a charger."""
    return [evse(f"E{i:03d}", f"CP{i // per_charger:03d}", location=location,
                 evse_id=i % per_charger + 1) for i in range(n)]


async def set_all(store: AvailabilityStore, candidates: Sequence[EvseCandidate],
                  status: EvseStatus = EvseStatus.AVAILABLE) -> None:
    for c in candidates:
        await store.set_status(c.location_id, c.evse_uid, status, NOW)


class StaticCandidates:
    def __init__(self, candidates: Sequence[EvseCandidate]) -> None:
        self.items = list(candidates)

    async def candidates(self, location_id: str) -> Sequence[EvseCandidate]:
        return [c for c in self.items if c.location_id == location_id]
