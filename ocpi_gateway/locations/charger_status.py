"""What this instance's chargers report, turned into each EVSE's charger view in the
availability store: connector statuses, charger-wide overrides (1.6 connectorId 0), the
offline grace of a disconnected charger, and a TriggerMessage to a charger that connected
without reporting. Every change of a view is handed on (``refresh``) to be published."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from ocpi_gateway.domain.events import (
    AvailabilityChanged,
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatus,
    ConnectorStatusChanged,
    DomainEvent,
)
from ocpi_gateway.domain.tasks import cancel_all
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.service_marks import EvseKey, ServiceMarks, marked_status
from ocpi_gateway.locations.status import CHARGER_WIDE_OVERRIDES, evse_status, map_ocpp_status
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore, EvseStatus

log = structlog.get_logger(__name__)

RESTORE_CHUNK = 500
"""Locations whose EVSEs nobody wrote are recorded UNKNOWN in one request."""

StatusTrigger = Callable[[str, list[tuple[int | None, int | None]]], Awaitable[None]]
"""Asks a charger to report its statuses now: (charge point, [(evse_id, connector_id), ...])."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GraceOver(DomainEvent):
    """Internal: a disconnected charger's grace period ran out."""


def _now() -> datetime:
    return datetime.now(UTC)


class ChargerStatuses:
    def __init__(
        self,
        catalog: Callable[[], LocationsCatalog],
        availability: AvailabilityStore,
        *,
        refresh: Callable[[str, str, datetime], None],
        later: Callable[[DomainEvent], None],
        offline_grace: float = 300.0,
    ) -> None:
        self._catalog = catalog
        self._availability = availability
        self._refresh = refresh
        self._later = later
        self.offline_grace = offline_grace
        self.trigger: StatusTrigger | None = None
        """Set by the app: how to ask a charger for its statuses (OCPP TriggerMessage)."""
        self.trigger_delay = 2.0
        """Seconds after a connection before asking a charger that reported nothing: one that
        (re)boots reports by itself meanwhile."""
        self.marks = ServiceMarks()
        """EVSEs the operator took out of service (the app gives it the store)."""
        self.shared = False
        """Other instances share the chargers (Redis): their marks are read again when a
        charger connects here. Alone, this instance wrote every mark it holds."""
        self._connectors: dict[tuple[str, str], dict[str, EvseStatus]] = {}
        self._charger_override: dict[str, ConnectorStatus] = {}
        self._offline: set[str] = set()
        self._connected: set[str] = set()
        """Chargers connected to this instance (their events come here)."""
        self._grace: dict[str, asyncio.TimerHandle] = {}
        self._trigger_timers: dict[str, asyncio.TimerHandle] = {}
        self._triggering: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        for timer in [*self._grace.values(), *self._trigger_timers.values()]:
            timer.cancel()
        await cancel_all(self._triggering, name="status-trigger")

    async def apply(self, event: DomainEvent) -> None:
        cp = event.charge_point_id
        if isinstance(event, AvailabilityChanged):
            await self._availability_changed(event)
        elif isinstance(event, ChargerConnected):
            self._connected.add(cp)
            if self.shared:
                # Marks written while another instance held it.
                await self.refresh_marks()
            timer = self._grace.pop(cp, None)
            if timer is not None:
                timer.cancel()
            if not self.knows(cp) and self.trigger is not None and cp not in self._trigger_timers:
                self._trigger_timers[cp] = asyncio.get_running_loop().call_later(
                    self.trigger_delay, self._trigger_if_unknown, cp)
            if cp in self._offline:
                self._offline.discard(cp)
                await self.recompute_charger(cp, event.timestamp)
        elif isinstance(event, ChargerDisconnected):
            self._connected.discard(cp)
            pending = self._trigger_timers.pop(cp, None)
            if pending is not None:
                pending.cancel()
            if cp not in self._grace and cp not in self._offline:
                self._grace[cp] = asyncio.get_running_loop().call_later(
                    self.offline_grace, self._later, GraceOver(charge_point_id=cp))
        elif isinstance(event, GraceOver):
            self._grace.pop(cp, None)
            self._offline.add(cp)
            await self.recompute_charger(cp, _now())
        elif isinstance(event, ConnectorStatusChanged):
            if event.evse_id is None and event.connector_id == 0:
                if event.status in CHARGER_WIDE_OVERRIDES:
                    self._charger_override[cp] = event.status
                else:
                    self._charger_override.pop(cp, None)
                await self.recompute_charger(cp, event.timestamp)
                return
            catalog = self._catalog()
            found = catalog.evse_at(cp, event.evse_id, event.connector_id)
            connector = catalog.connector_of(cp, event.evse_id, event.connector_id)
            if found is None or connector is None:
                log.info("status_for_unpublished_evse", charge_point_id=cp,
                         evse_id=event.evse_id, connector_id=event.connector_id)
                return
            self._connectors.setdefault(found, {})[connector] = map_ocpp_status(event.status)
            await self._recompute(found, event.timestamp)

    # -- the operator's out-of-service marks ---------------------------------------------

    def evses_targeted(self, event: AvailabilityChanged) -> list[EvseKey]:
        """The EVSEs a ChangeAvailability's target covers."""
        catalog = self._catalog()
        if event.whole_charger:
            return catalog.evses_of_charger(event.charge_point_id)
        found = catalog.evse_at(event.charge_point_id, event.evse_id,
                                None if event.evse_id is not None else event.connector_id)
        return [found] if found is not None else []

    async def _availability_changed(self, event: AvailabilityChanged) -> None:
        targeted = self.evses_targeted(event)
        await self.marks.set(targeted, out=not event.operative,
                             charge_point_id=event.charge_point_id, scheduled=event.scheduled)
        for key in targeted:
            await self._recompute(key, event.timestamp)

    async def refresh_marks(self) -> list[EvseKey]:
        """Read the marks again; republish the changed EVSEs of chargers connected here (an
        instance knows only its own chargers' connector statuses)."""
        changed = await self.marks.refresh()
        catalog = self._catalog()
        for key in changed:
            evse = catalog.evse(*key)
            if evse is not None and evse.charge_point_id in self._connected:
                await self._recompute(key, _now())
        return changed

    # -- statuses the gateway does not know ----------------------------------------------

    def knows(self, cp: str) -> bool:
        """Whether this process has a status report of the charger (any of its EVSEs)."""
        return cp in self._charger_override or any(
            key in self._connectors for key in self._catalog().evses_of_charger(cp))

    def _trigger_if_unknown(self, cp: str) -> None:
        self._trigger_timers.pop(cp, None)
        if cp in self._connected and not self.knows(cp):
            self.ask_for_statuses(cp)

    def ask_for_statuses(self, cp: str) -> None:
        """TriggerMessage StatusNotification for each of the charger's EVSEs (in background)."""
        trigger = self.trigger
        if trigger is None:
            return
        catalog = self._catalog()
        targets: list[tuple[int | None, int | None]] = []
        for location_id, evse_uid in catalog.evses_of_charger(cp):
            address = catalog.address_of(location_id, evse_uid)
            if address is not None and (address.evse_id, address.connector_id) not in targets:
                targets.append((address.evse_id, address.connector_id))
        if (None, None) in targets or not targets:
            targets = [(None, None)]

        async def run() -> None:
            try:
                await trigger(cp, targets)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("status_trigger_failed", charge_point_id=cp)

        task = asyncio.get_running_loop().create_task(run())
        self._triggering.add(task)
        task.add_done_callback(self._triggering.discard)

    async def restore(self) -> None:
        """After the shared availability lost its data: write what this instance knows of its
        own chargers, UNKNOWN for every EVSE nobody wrote yet, and ask the chargers whose
        statuses it does not know."""
        now = _now()
        for cp in sorted(self._connected):
            await self.recompute_charger(cp, now)
        # A few hundred locations to a request: one by one, 40,000 EVSEs were as many round
        # trips (at every first start on an empty Redis too).
        locations = self._catalog().locations()
        for start in range(0, len(locations), RESTORE_CHUNK):
            await self._availability.initialise_locations(
                {location.id: [evse.uid for evse in location.evses]
                 for location in locations[start:start + RESTORE_CHUNK]}, now)
        for cp in sorted(self._connected):
            if not self.knows(cp):
                self.ask_for_statuses(cp)

    async def recompute_charger(self, cp: str, at: datetime) -> None:
        for key in self._catalog().evses_of_charger(cp):
            await self._recompute(key, at)

    async def _recompute(self, key: tuple[str, str], at: datetime) -> None:
        location_id, evse_uid = key
        evse = self._catalog().evse(location_id, evse_uid)
        if evse is None:
            return
        charger_view = marked_status(evse_status(
            self._connectors.get(key, {}).values(),
            charger_override=self._charger_override.get(evse.charge_point_id),
            offline=evse.charge_point_id in self._offline,
        ), self.marks.is_out(location_id, evse_uid))
        await self._availability.set_status(location_id, evse_uid, charger_view, at)
        self._refresh(location_id, evse_uid, at)
