"""The chargers' reservation capabilities as they said them when they connected
(``ocpp_adapter/capabilities.py``), kept in the store (collection ``charger_capabilities``)
so that every instance and a restarted one know them; in memory on each instance, read again
at start and with the shared sync.

What a charger said wins over ``chargers.yaml``; what it did not say is taken from there (a
charger never read, or whose read failed, reserves as configured)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import structlog

from ocpi_gateway.domain.charger_commands import ChargerQueries
from ocpi_gateway.domain.events import (
    ChargerBooted,
    ChargerConnected,
    ChargerDisconnected,
    DomainEvent,
)
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.domain.tasks import cancel_all
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.enums import Capability
from ocpi_gateway.locations.live import LiveLocations
from ocpi_gateway.locations.models import OperatorEvse
from ocpi_gateway.locations.published import PublishedLocation
from ocpi_gateway.ocpp_adapter import capabilities
from ocpi_gateway.ocpp_adapter.capabilities import ReservationCapabilities
from ocpi_gateway.transport.envelope import ocpi_timestamp

log = structlog.get_logger(__name__)

COLLECTION = "charger_capabilities"


class KnownCapabilities:
    def __init__(self, store: DocumentStore | None = None) -> None:
        self.store = store
        self._known: dict[str, ReservationCapabilities] = {}
        self.generation = 0
        """Moves whenever what is known changes (caches of policy candidates compare it)."""

    @property
    def chargers(self) -> list[str]:
        """The chargers whose capabilities are known."""
        return sorted(self._known)

    def get(self, charge_point_id: str) -> ReservationCapabilities | None:
        return self._known.get(charge_point_id)

    def can_reserve(self, charge_point_id: str) -> bool:
        """False only when the charger said it cannot reserve."""
        known = self._known.get(charge_point_id)
        return known is None or known.can_reserve is not False

    def whole_charger(self, charge_point_id: str, configured: bool) -> bool:
        known = self._known.get(charge_point_id)
        if known is None or known.whole_charger is None:
            return configured
        return known.whole_charger

    def as_view(self, charge_point_id: str) -> dict[str, bool | None] | None:
        known = self._known.get(charge_point_id)
        if known is None:
            return None
        return {"reservations": known.can_reserve, "reserve_whole_charger":
                known.whole_charger}

    async def record(self, charge_point_id: str, read: ReservationCapabilities) -> bool:
        """Store what the charger said; whether it changed what is known."""
        if self.store is not None:
            await self.store.put(COLLECTION, charge_point_id, {
                **read.to_doc(), "charge_point_id": charge_point_id,
                "read_at": datetime.now(UTC).isoformat()})
        if self._known.get(charge_point_id) == read:
            return False
        self._known[charge_point_id] = read
        self.generation += 1
        log.info("charger_capabilities_changed", charge_point_id=charge_point_id,
                 can_reserve=read.can_reserve, whole_charger=read.whole_charger)
        return True

    async def refresh(self) -> list[str]:
        """Read what every charger said (another instance may have read one); the chargers
        whose capabilities changed."""
        if self.store is None:
            return []
        stored = {str(d["charge_point_id"]): ReservationCapabilities.from_doc(d)
                  for d in await self.store.find(COLLECTION)}
        changed = sorted(cp for cp in stored.keys() | self._known.keys()
                         if stored.get(cp) != self._known.get(cp))
        if changed:
            self._known = stored
            self.generation += 1
        return changed


def _without_reservable(config: OperatorEvse) -> OperatorEvse:
    return config.model_copy(update={"capabilities": [
        c for c in config.capabilities if c is not Capability.RESERVABLE]})


def advertise(live: LiveLocations, catalog: LocationsCatalog, known: KnownCapabilities,
              chargers: Iterable[str]) -> list[PublishedLocation]:
    """Publish the EVSEs of ``chargers`` with RESERVABLE only where their charger can
    reserve (the operator's file says what it offers; a charger that said it cannot reserve
    is not advertised as reservable); the locations whose EVSEs changed (their EVSEs'
    ``last_updated`` moved)."""
    changed: dict[str, PublishedLocation] = {}
    stamp = ocpi_timestamp()
    for cp in chargers:
        for location_id, uid in catalog.evses_of_charger(cp):
            location = live.get(location_id)
            configured = catalog.evse(location_id, uid)
            evse = location.evse(uid) if location is not None else None
            if location is None or evse is None or configured is None \
                    or evse.config.uid != uid:
                continue
            wanted = configured if known.can_reserve(cp) or not configured.reservable \
                else _without_reservable(configured)
            if evse.config is wanted or evse.config == wanted:
                continue
            evse.config = wanted
            evse.last_updated = max(stamp, evse.last_updated)
            live.touch(location, evse.last_updated)
            changed[location_id] = location
    return list(changed.values())


Sink = Callable[[str, ReservationCapabilities], None]


class CapabilityReader:
    """Reads a charger's reservation capabilities on the instance it connected to: at its
    BootNotification, or ``delay`` seconds after a connection that brings none (a charger
    that reconnects without rebooting); one read at a time per charger."""

    def __init__(self, queries: ChargerQueries, sink: Sink, *, timeout: float,
                 delay: float = 2.0) -> None:
        self._queries = queries
        self._sink = sink
        self.timeout = timeout
        self.delay = delay
        self._versions: dict[str, str] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._reading: dict[str, asyncio.Task[None]] = {}

    async def on_event(self, event: DomainEvent) -> None:
        cp = event.charge_point_id
        if isinstance(event, ChargerConnected):
            self._versions[cp] = event.ocpp_version.value
            self._cancel_timer(cp)
            self._timers[cp] = asyncio.get_running_loop().call_later(
                self.delay, self._start, cp)
        elif isinstance(event, ChargerBooted):
            self._cancel_timer(cp)
            self._start(cp)
        elif isinstance(event, ChargerDisconnected):
            self._cancel_timer(cp)
            self._versions.pop(cp, None)

    def _cancel_timer(self, cp: str) -> None:
        timer = self._timers.pop(cp, None)
        if timer is not None:
            timer.cancel()

    def _start(self, cp: str) -> None:
        self._timers.pop(cp, None)
        version = self._versions.get(cp)
        if version is None or cp in self._reading:
            return
        task = asyncio.get_running_loop().create_task(self._read(cp, version))
        self._reading[cp] = task
        task.add_done_callback(lambda _: self._reading.pop(cp, None))

    async def _read(self, cp: str, version: str) -> None:
        try:
            read = await capabilities.read(self._queries, cp, version, self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("charger_capabilities_read_failed", charge_point_id=cp)
            return
        if read is None:
            # Nothing learnt: chargers.yaml stands (and what was read before, if anything).
            log.info("charger_capabilities_unknown", charge_point_id=cp, ocpp_version=version)
            return
        log.info("charger_capabilities_read", charge_point_id=cp, can_reserve=read.can_reserve,
                 whole_charger=read.whole_charger)
        self._sink(cp, read)

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        await cancel_all(set(self._reading.values()), name="capability-read")
