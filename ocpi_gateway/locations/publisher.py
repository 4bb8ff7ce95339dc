"""Published OCPI Locations: the live state (``live.py``, typed) fed by the operator's catalog
(``config_apply.py``) and the chargers' statuses (``charger_status.py``), the sender's pages
(``pages.py``) and the pushes to partners (``pushes.py``).

``on_event`` (called in the OCPP handler's task) only updates in-memory state and the
availability store, so the policy sees a status the moment the charger reported it; publishing,
snapshots and the pushes to partners go through an in-memory queue that one consumer task
applies in order, writing the pushes to the durable outbox. No HTTP ever runs in an OCPP
handler.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import BaseModel

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
from ocpi_gateway.locations.charger_capabilities import KnownCapabilities, advertise
from ocpi_gateway.locations.charger_status import ChargerStatuses, StatusTrigger
from ocpi_gateway.locations.config_apply import (
    Prepared,
    Yielder,
    apply_catalog,
    digests,
    prepare,
)
from ocpi_gateway.locations.heap import collector_paused, freeze_published, release_gradually
from ocpi_gateway.locations.live import LiveLocations
from ocpi_gateway.locations.pages import Pages
from ocpi_gateway.locations.published import PublishedEvse, PublishedLocation, published_doc
from ocpi_gateway.locations.pushes import (
    RESYNC_KIND,
    Pushes,
    Receiver,
    ReceiversProvider,
    resync_body,
)
from ocpi_gateway.locations.reread import reread
from ocpi_gateway.locations.snapshots import SNAPSHOT_INTERVAL, SNAPSHOTS, Snapshots
from ocpi_gateway.locations.status import published_status
from ocpi_gateway.ocpi import DEFAULT_VERSION, package
from ocpi_gateway.ocpp_adapter.capabilities import ReservationCapabilities
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore, EvseStatus
from ocpi_gateway.transport.envelope import ocpi_timestamp

log = structlog.get_logger(__name__)

__all__ = ["SNAPSHOTS", "LocationsPublisher", "Receiver", "ReceiversProvider", "StatusListener",
           "StatusTrigger"]


StatusListener = Callable[[str, str, EvseStatus, str], None]
"""(location id, EVSE uid, published status, last_updated as published)."""


def _now() -> datetime:
    return datetime.now(UTC)


class LocationsPublisher:
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
        self._live = LiveLocations()
        self._snapshots = Snapshots(self._live, store)
        self._pages = Pages(self._live)
        self._pushes = Pushes()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._refreshes_queued: Counter[tuple[str, str]] = Counter()
        """EVSEs whose own refresh (with its push) is queued: the shared sync leaves them to it."""
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
        self._hold_timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._flush_timer: asyncio.TimerHandle | None = None
        self._releasing: set[asyncio.Task[None]] = set()
        self.status_listeners: list[StatusListener] = []
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
        await self._snapshots.restore(self.catalog)
        await self._apply_catalog(self.catalog, prepare(self.catalog))
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
        for timer in self._hold_timers.values():
            timer.cancel()
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
            prepared = await self._prepare(catalog, pause)
            done: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(("reload", (catalog, prepared, done)))
            del catalog, prepared
            return await done

    async def _prepare(self, catalog: LocationsCatalog, pause: Yielder) -> Prepared:
        """The new catalog's digests: those already published for the objects it kept."""
        prepared: Prepared = {}
        for location in catalog.locations():
            live = self._live.get(location.id)
            known = self._live.digests(location.id)
            prepared[location.id] = known if live is not None and live.config is location \
                and known else digests(location)
            await pause()
        return prepared

    # -- event intake (never blocks) -------------------------------------------------------

    async def on_event(self, event: DomainEvent) -> None:
        """Record the charger's view in the availability store at once (the reservation policy
        must see a status as soon as the charger's StatusNotification is answered); everything
        slower — publishing and the pushes to partners — is queued."""
        if isinstance(event, ConnectorStatusChanged | ChargerConnected | ChargerDisconnected
                      | AvailabilityChanged):
            await self.chargers.apply(event)

    def _queue_refresh(self, location_id: str, evse_uid: str, at: datetime | None) -> None:
        self._refreshes_queued[(location_id, evse_uid)] += 1
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
            await self._refresh(*payload)
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

    # -- live status -----------------------------------------------------------------------

    async def _refresh(self, location_id: str, evse_uid: str,
                       at: datetime | None = None) -> None:
        """Publish the EVSE's status as partners must see it (charger view + hold overlay)."""
        key = (location_id, evse_uid)
        self._refreshes_queued[key] -= 1
        if self._refreshes_queued[key] <= 0:
            del self._refreshes_queued[key]
        current = await self._availability.get(location_id, evse_uid)
        if current is None:
            return
        held = current.holder is not None
        timer = self._hold_timers.pop((location_id, evse_uid), None)
        if timer is not None:
            timer.cancel()
        if held and current.hold_until is not None:
            delay = (current.hold_until - _now()).total_seconds() + 0.01
            self._hold_timers[(location_id, evse_uid)] = asyncio.get_running_loop().call_later(
                max(delay, 0.0), self._hold_changed, location_id, evse_uid)
        status = published_status(current.status, held=held)
        location = self._live.get(location_id)
        evse = location.evse(evse_uid) if location is not None else None
        if location is None or evse is None or evse.config.uid != evse_uid:
            return
        if evse.status is status:
            return
        # last_updated must never go back, even if a charger's clock lags ours.
        self._set_status(location, evse, status, ocpi_timestamp(at or _now()))
        # What partners were told survives a restart, so a status lost meanwhile is corrected;
        # written when the queue runs dry, so a burst of changes costs one write per location.
        self._snapshots.mark(location_id)
        for listener in self.status_listeners:
            listener(location_id, evse_uid, status, evse.last_updated)
        await self._pushes.evse_status(location, evse)

    def _set_status(self, location: PublishedLocation, evse: PublishedEvse,
                    status: EvseStatus, stamp: str) -> None:
        evse.status = status
        evse.last_updated = max(stamp, evse.last_updated)
        self._live.touch(location, evse.last_updated)
        self._pages.changed(location.id)

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
        changed = 0
        for location in self._live:
            view = await self._availability.location(location.id)
            for evse in location.evses:
                seen = view.get(evse.config.uid)
                if seen is None or evse.status is EvseStatus.REMOVED:
                    continue
                if (location.id, evse.config.uid) in self._refreshes_queued:
                    continue  # our own change: its queued refresh publishes and pushes it
                status = published_status(seen.status, held=seen.holder is not None)
                if status is not evse.status:
                    self._set_status(location, evse, status, ocpi_timestamp(seen.updated_at))
                    changed += 1
        return changed

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

    async def _apply_catalog(self, catalog: LocationsCatalog, prepared: Prepared) -> list[str]:
        """Publish ``catalog`` (``prepared``: its digests, computed off the loop on a reload);
        saves and pushes what changed. Hands the loop back every few milliseconds."""
        pause = Yielder()
        applied = await apply_catalog(self._live, catalog, prepared, self._availability, pause)
        self._pages.clear()
        for location_id in applied.changed:
            await pause()
            location = self._live.get(location_id)
            assert location is not None
            await self._snapshots.save(location)
            await self._pushes.location(location)
        for location_id, evse_uid in applied.status_changes:
            # Status moved while we were down (e.g. no longer known): tell the partners, who
            # still hold what we pushed before.
            location = self._live.get(location_id)
            evse = location.evse(evse_uid) if location is not None else None
            if location is not None and evse is not None and location_id not in applied.changed:
                await self._pushes.evse_status(location, evse)
        # The catalog's objects advertise what the file says: not for chargers that said
        # they cannot reserve.
        await self._advertise(self.capabilities.chargers, push=True, catalog=catalog)
        if applied.changed:
            log.info("locations_applied", changed=applied.changed)
        return applied.changed

    # -- read model for the sender interface -----------------------------------------------

    def location(self, location_id: str) -> PublishedLocation | None:
        """The published Location (any version's form derives from it); ids in any case."""
        return self._live.find(location_id)

    def published_doc(self, location_id: str) -> dict[str, Any] | None:
        """The same in its JSON form, as snapshots store it."""
        location = self._live.find(location_id)
        return published_doc(location) if location is not None else None

    def evse(self, location_id: str, evse_uid: str) -> PublishedEvse | None:
        location = self._live.find(location_id)
        return location.evse(evse_uid) if location is not None else None

    def location_object(self, location_id: str, version: str) -> BaseModel | None:
        location = self._live.find(location_id)
        return package(version).locations.location(location) if location is not None else None

    def evse_object(self, location_id: str, evse_uid: str, version: str) -> BaseModel | None:
        location = self._live.find(location_id)
        return package(version).locations.evse(location, evse_uid) if location else None

    def connector_object(
        self, location_id: str, evse_uid: str, connector_id: str, version: str
    ) -> BaseModel | None:
        location = self._live.find(location_id)
        if location is None:
            return None
        return package(version).locations.connector(location, evse_uid, connector_id)

    def page(
        self, offset: int, limit: int, date_from: str | None, date_to: str | None,
        version: str = DEFAULT_VERSION,
    ) -> tuple[bytes, int]:
        """Serialized JSON array of the page and the total matching count, oldest first.
        Pages are cached until the next change."""
        return self._pages.page(offset, limit, date_from, date_to, version)

    @property
    def pages(self) -> Pages:
        """The serialized pages; ``pages.generation`` moves on whenever any page may have
        changed."""
        return self._pages

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
