"""Published OCPI Locations: the live state (``live.py``, typed) fed by the operator's catalog
(``catalog_publish.py``) and the chargers' statuses (``charger_status.py``, published by
``live_status.py``), read by the sender (``reads.py``, ``pages.py``) and pushed to partners
(``pushes.py``). This module holds them together: lifecycle, the intake and the queue.

``on_event`` (called in the OCPP handler's task) only updates in-memory state and the
availability store, so the policy sees a status the moment the charger reported it; publishing,
snapshots and the pushes to partners go through an in-memory queue that one consumer task
applies in order, writing the pushes to the durable outbox. No HTTP ever runs in an OCPP
handler.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import structlog

from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.deliveries.models import Delivery
from ocpi_gateway.domain.events import (
    AvailabilityChanged,
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatusChanged,
    DomainEvent,
)
from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.domain.tasks import cancel_and_wait
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.catalog_publish import known_digests, publish_catalog
from ocpi_gateway.locations.charger_capabilities import KnownCapabilities, advertise
from ocpi_gateway.locations.charger_status import ChargerStatuses, StatusTrigger
from ocpi_gateway.locations.config_apply import Prepared, Yielder
from ocpi_gateway.locations.heap import collector_paused, freeze_published, release_gradually
from ocpi_gateway.locations.live import LiveLocations
from ocpi_gateway.locations.live_status import LiveStatuses, StatusListener
from ocpi_gateway.locations.pushes import (
    RESYNC_KIND,
    Pushes,
    Receiver,
    ReceiversProvider,
    resync_body,
)
from ocpi_gateway.locations.reads import PublishedReads
from ocpi_gateway.locations.reread import reread
from ocpi_gateway.locations.snapshots import SNAPSHOT_INTERVAL, SNAPSHOTS, Snapshots
from ocpi_gateway.ocpp_adapter.capabilities import ReservationCapabilities
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore

log = structlog.get_logger(__name__)

__all__ = ["SNAPSHOTS", "LocationsPublisher", "Receiver", "ReceiversProvider", "StatusListener",
           "StatusTrigger"]


class LocationsPublisher(PublishedReads):
    def __init__(
        self,
        catalog: LocationsCatalog,
        availability: AvailabilityStore,
        *,
        store: DocumentStore | None = None,
        outbox: DeliveryEngine | None = None,
        receivers: ReceiversProvider | None = None,
        offline_grace: float = 300.0,
        shared_sync_interval: float | None = None,
    ) -> None:
        self.catalog = catalog
        self.shared_sync_interval = shared_sync_interval
        self.welcome_interval = 2.0
        """How often to look for newly registered partners to send every Location to."""
        self._availability = availability
        super().__init__(LiveLocations())
        self._snapshots = Snapshots(self._live, store)
        self._pushes = Pushes()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._statuses = LiveStatuses(self._live, self._pages, self._snapshots, self._pushes,
                                      availability, self._hold_changed)
        self.chargers = ChargerStatuses(
            lambda: self.catalog, availability, offline_grace=offline_grace,
            refresh=self._queue_refresh,
            later=lambda event: self._queue.put_nowait(("event", event)))
        self.capabilities = KnownCapabilities()
        """What the chargers said of their reservation support (the app gives it the store)."""
        self.chargers.shared = bool(shared_sync_interval)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._loops: dict[str, BackgroundLoop] = {}
        self._loop_registry: LoopRegistry | None = None
        self._known_receivers: set[tuple[str, str, tuple[str, str] | None]] | None = None
        self._flush_timer: asyncio.TimerHandle | None = None
        self._releasing: set[asyncio.Task[None]] = set()
        self.status_listeners: list[StatusListener] = self._statuses.listeners
        """Told of every EVSE status this instance published (the console's live feed);
        called in the consumer task, so each must return at once."""
        self.attach(store=store, outbox=outbox, receivers=receivers)
        listen = getattr(availability, "add_hold_listener", None)
        if listen is not None:
            listen(self._hold_changed)

    def attach(
        self,
        *,
        store: DocumentStore | None,
        outbox: DeliveryEngine | None,
        receivers: ReceiversProvider | None,
        loops: LoopRegistry | None = None,
    ) -> None:
        """Services that exist only once the app started (the app builds the publisher early
        so that its routes can be mounted)."""
        if loops is not None:
            self._loop_registry = loops
        self._snapshots.store = store
        self.chargers.marks.store = store
        self.capabilities.store = store
        self._pushes.outbox, self._pushes.receivers = outbox, receivers
        if outbox is not None:
            outbox.register_resync(RESYNC_KIND, self._resync_body)

    # The charger side's settings, set by the app and tests on the publisher.
    @property
    def offline_grace(self) -> float:
        return self.chargers.offline_grace

    @offline_grace.setter
    def offline_grace(self, value: float) -> None:
        self.chargers.offline_grace = value

    @property
    def trigger(self) -> StatusTrigger | None:
        return self.chargers.trigger

    @trigger.setter
    def trigger(self, value: StatusTrigger | None) -> None:
        self.chargers.trigger = value

    @property
    def trigger_delay(self) -> float:
        return self.chargers.trigger_delay

    @trigger_delay.setter
    def trigger_delay(self, value: float) -> None:
        self.chargers.trigger_delay = value

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self.chargers.marks.refresh()
        await self.capabilities.refresh()
        # Full collections walking a big catalog's millions of objects took half of a
        # restart's CPU: none while it is published, then it is frozen.
        with collector_paused(len(self.catalog)):
            await self._snapshots.restore(self.catalog)
            await self._apply_catalog(self.catalog, None)
        self._tasks["consumer"] = asyncio.create_task(self._consume(),
                                                      name="locations-publisher")
        if self.shared_sync_interval:
            self._loops["sync"] = BackgroundLoop(
                "locations-shared-sync", self.sync_shared, interval=self.shared_sync_interval,
                registry=self._loop_registry, run_at_start=False)
        if self._pushes.outbox is not None and self._pushes.receivers is not None:
            self._known_receivers = {r.identity for r in await self._pushes.receivers()}
            # A partner that registered since (through either side of the credentials
            # handshake, possibly on another instance or from the CLI) gets every Location PUT
            # once: later changes reach it as PATCHes, which need the object to be there.
            self._loops["welcome"] = BackgroundLoop(
                "locations-welcome", self.welcome_new_receivers, interval=self.welcome_interval,
                registry=self._loop_registry, run_at_start=False)
        for loop in self._loops.values():
            loop.start()
        freeze_published(len(self._live))

    async def stop(self) -> None:
        for releasing in self._releasing:
            releasing.cancel()
        for name in ("welcome", "sync"):
            if (loop := self._loops.pop(name, None)) is not None:
                await loop.stop()
        for name in ("consumer",):
            if (task := self._tasks.pop(name, None)) is not None:
                await cancel_and_wait(task, name=f"locations-{name}")
        self._statuses.stop()
        await self.chargers.stop()
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        await self._snapshots.flush()

    async def settle(self) -> None:
        """Wait until every queued event is applied (tests, reload, shutdown)."""
        await self._queue.join()

    async def reload(self) -> list[str]:
        """Re-read the operator file; returns the ids of locations that changed (pushed).
        Raises LocationsConfigError, keeping the old catalog."""
        # Reading a big file takes seconds: in a child process, the rest in slices of the
        # loop, which goes on serving chargers and partners (locations/reread.py).
        with collector_paused(len(self._live)):
            pause = Yielder()
            catalog = await reread(self.catalog, pause)
            prepared = await known_digests(self._live, catalog, pause)
            done: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(("reload", (catalog, prepared, done)))
            del catalog, prepared
            return await done

    # -- event intake (never blocks) -------------------------------------------------------

    async def on_event(self, event: DomainEvent) -> None:
        """Record the charger's view in the availability store at once (the reservation policy
        must see a status as soon as the charger's StatusNotification is answered); everything
        slower — publishing and the pushes to partners — is queued."""
        if isinstance(event, ConnectorStatusChanged | ChargerConnected | ChargerDisconnected
                      | AvailabilityChanged):
            await self.chargers.apply(event)

    def _queue_refresh(self, location_id: str, evse_uid: str, at: datetime | None) -> None:
        self._statuses.queued[(location_id, evse_uid)] += 1
        self._queue.put_nowait(("refresh", (location_id, evse_uid, at)))

    def _hold_changed(self, location_id: str, evse_uid: str) -> None:
        self._queue_refresh(location_id, evse_uid, None)

    def hold_changed(self, location_id: str, evse_uid: str) -> None:
        """A reservation hold on the EVSE was placed or dropped: republish its status (a
        charger reserved as a whole, or one that does not report Reserved, says nothing)."""
        self._hold_changed(location_id, evse_uid)

    def ask_for_statuses(self, cp: str) -> None:
        self.chargers.ask_for_statuses(cp)

    async def restore_statuses(self) -> None:
        await self.chargers.restore()

    async def _consume(self) -> None:
        while True:
            kind, payload = await self._queue.get()
            try:
                await self._handle(kind, payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("locations_event_failed", kind=kind)
            finally:
                if self._snapshots.due and self._queue.qsize() == 0:
                    await self._snapshots.flush()
                elif self._snapshots.pending and self._flush_timer is None:
                    self._flush_timer = asyncio.get_running_loop().call_later(
                        SNAPSHOT_INTERVAL, self._queue.put_nowait, ("flush", None))
                self._queue.task_done()

    async def _handle(self, kind: str, payload: Any) -> None:
        if kind == "event":
            await self.chargers.apply(payload)
        elif kind == "refresh":
            await self._statuses.refresh(*payload)
        elif kind == "flush":
            self._flush_timer = None
            await self._snapshots.flush()
        elif kind == "sync":
            adopted = await self._sync_shared()
            if not payload.done():  # its caller (the sync loop, stopping) may have given up
                payload.set_result(adopted)
        elif kind == "capabilities":
            cp, read = payload
            if await self.capabilities.record(cp, read):
                await self._advertise([cp], push=True)
        elif kind == "welcome":
            await self._pushes.everything_to(payload, self._live)
        elif kind == "reload":
            catalog, prepared, done = payload
            try:
                changed = await self._apply_catalog(catalog, prepared)
                old, self.catalog = self.catalog, catalog
                if old is not catalog:
                    self._releasing.add(asyncio.create_task(release_gradually(old)))
                    self._releasing = {t for t in self._releasing if not t.done()}
                del old, catalog, prepared
                done.set_result(changed)
            except Exception as exc:
                done.set_exception(exc)
                raise

    # -- several instances ----------------------------------------------------------------

    async def sync_shared(self) -> int:
        """Adopt statuses that other gateway instances wrote to the shared availability store
        (their chargers' events never reach this instance); returns how many EVSEs changed.
        No push: the instance that saw the change pushed it."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(("sync", done))
        return await done

    async def _sync_shared(self) -> int:
        # Out-of-service marks another instance wrote: the policy and the capacity here
        # must see them too (their statuses come with the availability below).
        await self.chargers.refresh_marks()
        await self._advertise(await self.capabilities.refresh(), push=False)
        return await self._statuses.adopt_shared()

    # -- the chargers' reservation capabilities --------------------------------------------

    def capabilities_read(self, charge_point_id: str, read: ReservationCapabilities) -> None:
        """A charger said what it can reserve: stored, and its EVSEs advertised accordingly
        (in the queue's order, after whatever the catalog did before)."""
        self._queue.put_nowait(("capabilities", (charge_point_id, read)))

    async def _advertise(self, chargers: list[str], *, push: bool,
                         catalog: LocationsCatalog | None = None) -> None:
        """RESERVABLE only on EVSEs whose charger can reserve. ``push``: this instance saw
        the change (the others adopt it from the store without a push)."""
        for location in advertise(self._live, catalog or self.catalog, self.capabilities,
                                  chargers):
            self._pages.changed(location.id)
            self._snapshots.mark(location.id)
            if push:
                await self._pushes.location(location)

    # -- operator config -------------------------------------------------------------------

    async def _apply_catalog(self, catalog: LocationsCatalog,
                             prepared: Prepared | None) -> list[str]:
        """Publish ``catalog`` (``prepared``: its digests, computed off the loop on a reload;
        None at a start, to take them as it is published);
        saves and pushes what changed. Hands the loop back every few milliseconds."""
        changed = await publish_catalog(self._live, self._pages, self._snapshots, self._pushes,
                                        self._availability, catalog, prepared)
        # The catalog's objects advertise what the file says: not for chargers that said
        # they cannot reserve.
        await self._advertise(self.capabilities.chargers, push=True, catalog=catalog)
        if changed:
            log.info("locations_applied", changed=changed)
        return changed

    # -- pushes ----------------------------------------------------------------------------

    async def welcome_new_receivers(self) -> list[str]:
        """Queue every Location PUT to partners registered (or switched version) since.

        A partner that registered (through either side of the credentials handshake, possibly
        on another instance or from the CLI) gets every Location PUT once: later changes reach
        it as PATCHes, which need the object to be there. So does a partner that switched
        OCPI version (credentials PUT): it is new in that version. So is a party behind a hub
        reported CONNECTED again after OFFLINE/SUSPENDED (it missed what changed meanwhile)."""
        if self._pushes.receivers is None:
            return []
        receivers = await self._pushes.receivers()
        known = self._known_receivers or set()
        new = [r for r in receivers if r.identity not in known]
        self._known_receivers = {r.identity for r in receivers}
        for receiver in new:
            self._queue.put_nowait(("welcome", receiver))
        return [r.partner_id for r in new]

    async def _resync_body(self, delivery: Delivery) -> tuple[str, Any] | None:
        return resync_body(delivery, self._live.get)
