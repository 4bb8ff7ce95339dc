"""Published OCPI Locations: live EVSE status from OCPP events, last_updated bookkeeping, the
sender's read model (with serialized page cache) and the pushes to partners' receivers.

``on_event`` (called in the OCPP handler's task) only updates in-memory state and the
availability store, so the policy sees a status the moment the charger reported it; publishing,
snapshots and the pushes to partners go through an in-memory queue that one consumer task
applies in order, writing the pushes to the durable outbox. No HTTP ever runs in an OCPP
handler.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from pydantic import BaseModel

from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.deliveries.models import Delivery
from ocpi_gateway.domain.events import (
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatus,
    ConnectorStatusChanged,
    DomainEvent,
)
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.heap import collector_paused, freeze_published, release_gradually
from ocpi_gateway.locations.models import (
    GATEWAY_ONLY_CONNECTOR_FIELDS,
    GATEWAY_ONLY_EVSE_FIELDS,
    OperatorLocation,
)
from ocpi_gateway.locations.status import (
    CHARGER_WIDE_OVERRIDES,
    evse_status,
    map_ocpp_status,
    published_status,
)
from ocpi_gateway.ocpi import DEFAULT_VERSION, package
from ocpi_gateway.ocpi.seam import to_json, to_jsonable
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore, EvseStatus
from ocpi_gateway.transport.envelope import ocpi_timestamp

log = structlog.get_logger(__name__)

SNAPSHOTS = "locations_published"
SNAPSHOT_INTERVAL = 2.0
"""Status snapshots are written at most this often: a restart corrects what partners were told
(it is not on the path of a push), and the store's writes stay few under bursts."""
RESYNC_KIND = "locations"


@dataclass(frozen=True, slots=True)
class Receiver:
    """A partner's Locations RECEIVER endpoint (``.../locations``, without a trailing slash)."""

    partner_id: str
    url: str
    to_party: tuple[str, str] | None = None
    """(country_code, party_id) for OCPI-to-*: the partner's party when it has only one (an
    eMSP, or a hub that then broadcasts); None leaves routing to the receiver."""
    version: str = DEFAULT_VERSION
    """The OCPI version the partner negotiated: what it is sent is in that version's form."""


def _routing_headers(doc: dict[str, Any], receiver: Receiver) -> dict[str, str]:
    """transport_and_format: a push is sent from the CPO owning the location."""
    headers = {"OCPI-from-country-code": doc["country_code"],
               "OCPI-from-party-id": doc["party_id"]}
    if receiver.to_party is not None:
        headers["OCPI-to-country-code"], headers["OCPI-to-party-id"] = receiver.to_party
    return headers


ReceiversProvider = Callable[[], Awaitable[list[Receiver]]]
StatusTrigger = Callable[[str, list[tuple[int | None, int | None]]], Awaitable[None]]
"""Asks a charger to report its statuses now: (charge point, [(evse_id, connector_id), ...])."""


def _ordering_key(receiver: Receiver, url: str) -> str:
    """Pushes to one object are ordered (and coalesced) per receiving party: two eMSPs behind
    one hub share its URL but not their queues."""
    if receiver.to_party is None:
        return url
    return f"{url}#{receiver.to_party[0]}{receiver.to_party[1]}"


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _config_doc(location: OperatorLocation) -> dict[str, Any]:
    """The operator's part of the OCPI object (no status/last_updated, no gateway fields)."""
    doc = location.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    for evse in doc.get("evses", []):
        for name in GATEWAY_ONLY_EVSE_FIELDS:
            evse.pop(name, None)
        for connector in evse.get("connectors", []):
            for name in GATEWAY_ONLY_CONNECTOR_FIELDS:
                connector.pop(name, None)
    # OCPI lists that are empty are better left out than sent as [] (optional, card. *).
    cleaned: dict[str, Any] = _drop_empty(doc)
    return cleaned


PreparedConfig = dict[str, tuple[dict[str, Any], dict[str, str]]]
"""location id → (operator's part of the OCPI object, its digests: "" the location's own
fields, each EVSE uid that EVSE's)."""

YIELD_EVERY = 0.005
"""Seconds of publishing work between two hand-backs of the event loop."""


def prepare_config(catalog: LocationsCatalog) -> PreparedConfig:
    """The pure part of publishing a catalog (no live status), safe to run in a thread."""
    prepared: PreparedConfig = {}
    for location in catalog.locations():
        config = _config_doc(location)
        hashes = {"": _digest({k: v for k, v in config.items() if k != "evses"})}
        for evse_config in config.get("evses", []):
            hashes[evse_config["uid"]] = _digest(evse_config)
        prepared[location.id] = (config, hashes)
    return prepared


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


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
        self._syncer: asyncio.Task[None] | None = None
        self._welcomer: asyncio.Task[None] | None = None
        self._known_receivers: set[tuple[str, str, tuple[str, str] | None]] | None = None
        self.welcome_interval = 2.0
        """How often to look for newly registered partners to send every Location to."""
        self._availability = availability
        self._store = store
        self._outbox = outbox
        self._receivers = receivers
        self.offline_grace = offline_grace
        # Published objects: location id -> OCPI dict (evses carry status + last_updated).
        self._docs: dict[str, dict[str, Any]] = {}
        self._config_hash: dict[str, dict[str, str]] = {}
        self._connectors: dict[tuple[str, str], dict[str, EvseStatus]] = {}
        self._charger_override: dict[str, ConnectorStatus] = {}
        self._offline: set[str] = set()
        self._connected: set[str] = set()
        """Chargers connected to this instance (their events come here)."""
        self.trigger: StatusTrigger | None = None
        """Set by the app: how to ask a charger for its statuses (OCPP TriggerMessage)."""
        self.trigger_delay = 2.0
        """Seconds after a connection before asking a charger that reported nothing: one that
        (re)boots reports by itself meanwhile."""
        self._trigger_timers: dict[str, asyncio.TimerHandle] = {}
        self._triggering: set[asyncio.Task[None]] = set()
        self._grace: dict[str, asyncio.TimerHandle] = {}
        self._hold_timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._order: list[tuple[str, str]] = []  # (last_updated, id), sorted
        self._version = 0
        self._dirty: set[str] = set()
        self._flushed_at = 0.0
        self._flush_timer: asyncio.TimerHandle | None = None
        self._page_cache: dict[tuple[Any, ...], tuple[int, bytes, int]] = {}
        self._releasing: set[asyncio.Task[None]] = set()
        # One serialized form per (location, version in use), not per partner.
        self._serialized: dict[tuple[str, str], bytes] = {}
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
    ) -> None:
        """Services that exist only once the app started (the app builds the publisher early
        so that its routes can be mounted)."""
        self._store, self._outbox, self._receivers = store, outbox, receivers
        if outbox is not None:
            outbox.register_resync(RESYNC_KIND, self._resync_body)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        snapshots: dict[str, dict[str, Any]] = {}
        if self._store is not None:
            for doc in await self._store.find(SNAPSHOTS):
                snapshots[doc["id"]] = doc
        for snapshot in snapshots.values():
            self._docs[snapshot["id"]] = snapshot["doc"]
            self._config_hash[snapshot["id"]] = snapshot["hashes"]
        await self._apply_catalog(self.catalog, push=True)
        self._consumer = asyncio.create_task(self._consume(), name="locations-publisher")
        if self.shared_sync_interval:
            self._syncer = asyncio.create_task(self._sync_loop(self.shared_sync_interval),
                                               name="locations-shared-sync")
        if self._outbox is not None and self._receivers is not None:
            self._known_receivers = {_identity(r) for r in await self._receivers()}
            self._welcomer = asyncio.create_task(self._welcome_loop(), name="locations-welcome")
        freeze_published(len(self._docs))

    async def stop(self) -> None:
        for task in self._releasing:
            task.cancel()
        if self._welcomer is not None:
            self._welcomer.cancel()
            await asyncio.gather(self._welcomer, return_exceptions=True)
            self._welcomer = None
        for timer in [*self._grace.values(), *self._hold_timers.values(),
                      *self._trigger_timers.values()]:
            timer.cancel()
        for task in list(self._triggering):
            task.cancel()
        await asyncio.gather(*self._triggering, return_exceptions=True)
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._syncer is not None:
            self._syncer.cancel()
            await asyncio.gather(self._syncer, return_exceptions=True)
            self._syncer = None
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
            self._consumer = None
        await self._flush_snapshots()

    async def settle(self) -> None:
        """Wait until every queued event is applied (tests, reload, shutdown)."""
        await self._queue.join()

    async def reload(self) -> list[str]:
        """Re-read the operator file; returns the ids of locations that changed (pushed)."""
        # Parsing and validating a big file takes seconds: off the loop, which goes on serving
        # chargers and partners. Raises LocationsConfigError, keeping the old catalog.
        with collector_paused(len(self._docs)):
            catalog, prepared = await asyncio.to_thread(self._read_catalog)
            done: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(("reload", (catalog, prepared, done)))
            del catalog, prepared
            return await done

    def _read_catalog(self) -> tuple[LocationsCatalog, PreparedConfig]:
        catalog = self.catalog.reload()
        return catalog, prepare_config(catalog)

    # -- event intake (never blocks) -------------------------------------------------------

    async def on_event(self, event: DomainEvent) -> None:
        """Record the charger's view in the availability store at once (the reservation policy
        must see a status as soon as the charger's StatusNotification is answered); everything
        slower — publishing and the pushes to partners — is queued."""
        if isinstance(event, ConnectorStatusChanged | ChargerConnected | ChargerDisconnected):
            await self._apply_event(event)

    def _hold_changed(self, location_id: str, evse_uid: str) -> None:
        self._queue.put_nowait(("refresh", (location_id, evse_uid)))

    def hold_changed(self, location_id: str, evse_uid: str) -> None:
        """A reservation hold on the EVSE was placed or dropped: republish its status (a
        charger reserved as a whole, or one that does not report Reserved, says nothing)."""
        self._hold_changed(location_id, evse_uid)

    async def _consume(self) -> None:
        while True:
            kind, payload = await self._queue.get()
            try:
                if kind == "event":
                    await self._apply_event(payload)
                elif kind == "refresh":
                    await self._refresh(*payload)
                elif kind == "flush":
                    self._flush_timer = None
                    await self._flush_snapshots()
                elif kind == "sync":
                    done_sync: asyncio.Future[int] = payload
                    done_sync.set_result(await self._sync_shared())
                elif kind == "welcome":
                    await self._push_all_to(payload)
                elif kind == "reload":
                    catalog, prepared, done = payload
                    try:
                        changed = await self._apply_catalog(catalog, push=True,
                                                            prepared=prepared)
                        old, self.catalog = self.catalog, catalog
                        if old is not catalog:
                            self._releasing.add(asyncio.create_task(release_gradually(old)))
                            self._releasing = {t for t in self._releasing if not t.done()}
                        del old, catalog, prepared
                        done.set_result(changed)
                    except Exception as exc:
                        done.set_exception(exc)
                        raise
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("locations_event_failed", kind=kind)
            finally:
                if (self._dirty and self._queue.qsize() == 0
                        and time.monotonic() - self._flushed_at >= SNAPSHOT_INTERVAL):
                    await self._flush_snapshots()
                elif self._dirty and self._flush_timer is None:
                    self._flush_timer = asyncio.get_running_loop().call_later(
                        SNAPSHOT_INTERVAL, self._queue.put_nowait, ("flush", None))
                self._queue.task_done()

    # -- live status -----------------------------------------------------------------------

    async def _apply_event(self, event: DomainEvent) -> None:
        cp = event.charge_point_id
        if isinstance(event, ChargerConnected):
            self._connected.add(cp)
            timer = self._grace.pop(cp, None)
            if timer is not None:
                timer.cancel()
            if not self._knows(cp) and self.trigger is not None and cp not in self._trigger_timers:
                self._trigger_timers[cp] = asyncio.get_running_loop().call_later(
                    self.trigger_delay, self._trigger_if_unknown, cp)
            if cp in self._offline:
                self._offline.discard(cp)
                await self._recompute_charger(cp, event.timestamp)
        elif isinstance(event, ChargerDisconnected):
            self._connected.discard(cp)
            pending = self._trigger_timers.pop(cp, None)
            if pending is not None:
                pending.cancel()
            if cp not in self._grace and cp not in self._offline:
                loop = asyncio.get_running_loop()
                self._grace[cp] = loop.call_later(
                    self.offline_grace, self._queue.put_nowait,
                    ("event", _GraceOver(charge_point_id=cp)))
        elif isinstance(event, _GraceOver):
            self._grace.pop(cp, None)
            self._offline.add(cp)
            await self._recompute_charger(cp, _now())
        elif isinstance(event, ConnectorStatusChanged):
            if event.evse_id is None and event.connector_id == 0:
                if event.status in CHARGER_WIDE_OVERRIDES:
                    self._charger_override[cp] = event.status
                else:
                    self._charger_override.pop(cp, None)
                await self._recompute_charger(cp, event.timestamp)
                return
            found = self.catalog.evse_at(cp, event.evse_id, event.connector_id)
            connector = self.catalog.connector_of(cp, event.evse_id, event.connector_id)
            if found is None or connector is None:
                log.info("status_for_unpublished_evse", charge_point_id=cp,
                         evse_id=event.evse_id, connector_id=event.connector_id)
                return
            self._connectors.setdefault(found, {})[connector] = map_ocpp_status(event.status)
            await self._recompute(found, event.timestamp)

    # -- statuses the gateway does not know ----------------------------------------------

    def _knows(self, cp: str) -> bool:
        """Whether this process has a status report of the charger (any of its EVSEs)."""
        return cp in self._charger_override or any(
            key in self._connectors for key in self.catalog.evses_of_charger(cp))

    def _trigger_if_unknown(self, cp: str) -> None:
        self._trigger_timers.pop(cp, None)
        if cp in self._connected and not self._knows(cp):
            self.ask_for_statuses(cp)

    def ask_for_statuses(self, cp: str) -> None:
        """TriggerMessage StatusNotification for each of the charger's EVSEs (in background)."""
        trigger = self.trigger
        if trigger is None:
            return
        targets: list[tuple[int | None, int | None]] = []
        for location_id, evse_uid in self.catalog.evses_of_charger(cp):
            address = self.catalog.address_of(location_id, evse_uid)
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

    async def restore_statuses(self) -> None:
        """After the shared availability lost its data: write what this instance knows of its
        own chargers, UNKNOWN for every EVSE nobody wrote yet, and ask the chargers whose
        statuses it does not know."""
        now = _now()
        for cp in sorted(self._connected):
            await self._recompute_charger(cp, now)
        for location in self.catalog.locations():
            for evse in location.evses:
                await self._availability_if_absent(location.id, evse.uid, now)
        for cp in sorted(self._connected):
            if not self._knows(cp):
                self.ask_for_statuses(cp)

    async def _availability_if_absent(self, location_id: str, evse_uid: str,
                                      at: datetime) -> None:
        write = getattr(self._availability, "set_status_if_absent", None)
        if write is not None:
            await write(location_id, evse_uid, EvseStatus.UNKNOWN, at)

    async def _recompute_charger(self, cp: str, at: datetime) -> None:
        for key in self.catalog.evses_of_charger(cp):
            await self._recompute(key, at)

    async def _recompute(self, key: tuple[str, str], at: datetime) -> None:
        location_id, evse_uid = key
        evse = self.catalog.evse(location_id, evse_uid)
        if evse is None:
            return
        charger_view = evse_status(
            self._connectors.get(key, {}).values(),
            charger_override=self._charger_override.get(evse.charge_point_id),
            offline=evse.charge_point_id in self._offline,
        )
        await self._availability.set_status(location_id, evse_uid, charger_view, at)
        self._queue.put_nowait(("refresh", (location_id, evse_uid, at)))

    async def _refresh(self, location_id: str, evse_uid: str, at: datetime | None = None) -> None:
        """Publish the EVSE's status as partners must see it (charger view + hold overlay)."""
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
        await self._set_published_status(location_id, evse_uid, status, at or _now())

    async def _set_published_status(
        self, location_id: str, evse_uid: str, status: EvseStatus, at: datetime
    ) -> None:
        doc = self._docs.get(location_id)
        evse_doc = _find_evse(doc, evse_uid)
        if doc is None or evse_doc is None or evse_doc["status"] == status.value:
            return
        # last_updated must never go back, even if a charger's clock lags ours.
        stamp = max(ocpi_timestamp(at), evse_doc["last_updated"])
        evse_doc["status"] = status.value
        evse_doc["last_updated"] = stamp
        self._touch_location(location_id, max(stamp, doc["last_updated"]))
        self._stale(location_id)
        # What partners were told survives a restart, so a status lost meanwhile is corrected;
        # written when the queue runs dry, so a burst of changes costs one write per location.
        self._dirty.add(location_id)
        await self._push_patch(location_id, evse_uid, status.value, stamp)

    # -- several instances ----------------------------------------------------------------

    async def sync_shared(self) -> int:
        """Adopt statuses that other gateway instances wrote to the shared availability store
        (their chargers' events never reach this instance); returns how many EVSEs changed.
        No push: the instance that saw the change pushed it."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(("sync", done))
        return await done

    async def _sync_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync_shared()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("locations_shared_sync_failed")

    async def _sync_shared(self) -> int:
        changed = 0
        for location_id, doc in self._docs.items():
            view = await self._availability.location(location_id)
            for evse_doc in doc.get("evses", []):
                seen = view.get(evse_doc["uid"])
                if seen is None or evse_doc["status"] == EvseStatus.REMOVED.value:
                    continue
                status = published_status(seen.status, held=seen.holder is not None)
                if status.value == evse_doc["status"]:
                    continue
                stamp = max(ocpi_timestamp(seen.updated_at), evse_doc["last_updated"])
                evse_doc["status"], evse_doc["last_updated"] = status.value, stamp
                doc["last_updated"] = max(stamp, doc["last_updated"])
                self._stale(location_id)
                changed += 1
        if changed:
            self._reindex()
        return changed

    # -- operator config -------------------------------------------------------------------

    async def _apply_catalog(self, catalog: LocationsCatalog, *, push: bool,
                             prepared: PreparedConfig | None = None) -> list[str]:
        """Publish ``catalog``; ``prepared`` is ``prepare_config(catalog)`` when it was
        computed off the loop (reload). Hands the loop back every few milliseconds: a reload
        of 10,000 locations must not stall chargers and partners."""
        if prepared is None:
            prepared = prepare_config(catalog)
        yielded_at = time.perf_counter()
        now = ocpi_timestamp()
        changed: list[str] = []
        status_changes: list[tuple[str, str]] = []
        present = {loc.id for loc in catalog.locations()}
        for location in catalog.locations():
            if time.perf_counter() - yielded_at > YIELD_EVERY:
                await asyncio.sleep(0)
                yielded_at = time.perf_counter()
            config, hashes = prepared[location.id]
            old_doc = self._docs.get(location.id)
            old_hashes = self._config_hash.get(location.id, {})
            old_evses = {e["uid"]: e for e in (old_doc or {}).get("evses", [])}
            known_evses = await self._availability.location(location.id)
            evses = []
            for evse_config in config.get("evses", []):
                uid = evse_config["uid"]
                previous = old_evses.pop(uid, None)
                known = known_evses.get(uid)
                if known is None:
                    await self._availability.set_status(location.id, uid, EvseStatus.UNKNOWN,
                                                        _now())
                status = published_status(known.status, held=known.holder is not None) \
                    if known else EvseStatus.UNKNOWN
                if previous is not None and old_hashes.get(uid) == hashes[uid]:
                    evse_doc = previous
                    if evse_doc["status"] != status.value:
                        evse_doc["status"] = status.value
                        evse_doc["last_updated"] = now
                        status_changes.append((location.id, uid))
                else:
                    evse_doc = {**evse_config, "status": status.value, "last_updated": now}
                    for connector in evse_doc["connectors"]:
                        connector["last_updated"] = now
                evses.append(evse_doc)
            newly_removed = False
            for removed in old_evses.values():
                # OCPI never deletes an EVSE: it stays with status REMOVED.
                if removed["status"] != EvseStatus.REMOVED.value:
                    removed = {**removed, "status": EvseStatus.REMOVED.value, "last_updated": now}
                    newly_removed = True
                evses.append(removed)
            doc = {**config, "evses": evses}
            unchanged = old_doc is not None and old_hashes == hashes and not newly_removed
            if old_doc is not None and unchanged:
                # A child's newer last_updated (status seen at start) still bumps the parent.
                doc["last_updated"] = max([old_doc["last_updated"],
                                           *(e["last_updated"] for e in evses)])
            else:
                doc["last_updated"] = now
            self._docs[location.id] = doc
            self._config_hash[location.id] = hashes
            if not unchanged:
                changed.append(location.id)
        for location_id, doc in list(self._docs.items()):
            if location_id in present:
                continue
            # A location gone from the file: its EVSEs become REMOVED, the location stays.
            if any(e["status"] != EvseStatus.REMOVED.value for e in doc.get("evses", [])):
                for evse_doc in doc.get("evses", []):
                    evse_doc["status"] = EvseStatus.REMOVED.value
                    evse_doc["last_updated"] = now
                doc["last_updated"] = now
                changed.append(location_id)
        self._serialized.clear()
        self._reindex()
        for location_id in changed:
            if time.perf_counter() - yielded_at > YIELD_EVERY:
                await asyncio.sleep(0)
                yielded_at = time.perf_counter()
            await self._save_snapshot(location_id)
            if push:
                await self._push_location(location_id)
        for location_id, evse_uid in status_changes:
            # Status moved while we were down (e.g. no longer known): tell the partners, who
            # still hold what we pushed before.
            evse_doc = _find_evse(self._docs[location_id], evse_uid)
            if push and location_id not in changed and evse_doc is not None:
                await self._push_patch(location_id, evse_uid, evse_doc["status"],
                                       evse_doc["last_updated"])
        if changed:
            log.info("locations_applied", changed=changed)
        return changed

    async def _flush_snapshots(self) -> None:
        dirty, self._dirty = self._dirty, set()
        self._flushed_at = time.monotonic()
        for location_id in dirty:
            try:
                await self._save_snapshot(location_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Only the correction after a restart depends on it; keep serving.
                log.exception("locations_snapshot_failed", location_id=location_id)

    async def _save_snapshot(self, location_id: str) -> None:
        if self._store is None:
            return
        await self._store.put(SNAPSHOTS, location_id, {
            "id": location_id, "doc": self._docs[location_id],
            "hashes": self._config_hash.get(location_id, {})})

    # -- read model for the sender interface -----------------------------------------------

    def _touch_location(self, location_id: str, stamp: str) -> None:
        self._docs[location_id]["last_updated"] = stamp
        self._reindex()

    def _reindex(self) -> None:
        self._order = sorted((d["last_updated"], d["id"]) for d in self._docs.values())
        self._version += 1
        self._page_cache.clear()

    def _stale(self, location_id: str) -> None:
        for version in [v for (loc, v) in self._serialized if loc == location_id]:
            del self._serialized[(location_id, version)]

    def location_doc(self, location_id: str) -> dict[str, Any] | None:
        """The published Location in the internal model (any version's form derives from it)."""
        doc = self._docs.get(location_id)
        if doc is None:
            # Ids are CiString(36) (mod_locations): an id in another case is the same object.
            # Only a miss pays for the scan.
            folded = location_id.casefold()
            doc = next((d for key, d in self._docs.items() if key.casefold() == folded), None)
        return doc

    def evse_doc(self, location_id: str, evse_uid: str) -> dict[str, Any] | None:
        doc = self.location_doc(location_id)
        found = _find_evse(doc, evse_uid)
        if found is None:
            folded = evse_uid.casefold()
            found = next((e for e in (doc or {}).get("evses", [])
                          if e["uid"].casefold() == folded), None)
        return found

    def location_object(self, location_id: str, version: str) -> BaseModel | None:
        doc = self.location_doc(location_id)
        return package(version).locations.location(doc) if doc is not None else None

    def evse_object(self, location_id: str, evse_uid: str, version: str) -> BaseModel | None:
        doc = self.location_doc(location_id)
        return package(version).locations.evse(doc, evse_uid) if doc is not None else None

    def connector_object(
        self, location_id: str, evse_uid: str, connector_id: str, version: str
    ) -> BaseModel | None:
        doc = self.location_doc(location_id)
        if doc is None:
            return None
        return package(version).locations.connector(doc, evse_uid, connector_id)

    def _location_json(self, location_id: str, version: str) -> bytes:
        key = (location_id, version)
        found = self._serialized.get(key)
        if found is None:
            found = self._serialized[key] = to_json(
                package(version).locations.location(self._docs[location_id]))
        return found

    def page(
        self, offset: int, limit: int, date_from: str | None, date_to: str | None,
        version: str = DEFAULT_VERSION,
    ) -> tuple[bytes, int]:
        """Serialized JSON array of the page and the total matching count, oldest first.

        Bounds compare OCPI timestamps as strings: all are UTC ``...Z`` with milliseconds, so
        lexical order is time order. Pages are cached until the next change.
        """
        cache_key = (offset, limit, date_from, date_to, version)
        cached = self._page_cache.get(cache_key)
        if cached is not None:
            return cached[1], cached[2]
        order = self._order
        start = bisect_left(order, (date_from, "")) if date_from else 0
        end = bisect_left(order, (date_to, "")) if date_to else len(order)
        end = max(start, end)
        total = end - start
        chosen = order[start + offset: min(end, start + offset + limit)]
        body = b"[" + b",".join(self._location_json(location_id, version)
                                for _, location_id in chosen) + b"]"
        if len(self._page_cache) > 1024:
            self._page_cache.clear()
        self._page_cache[cache_key] = (self._version, body, total)
        return body, total

    # -- pushes ----------------------------------------------------------------------------

    async def _targets(self) -> list[Receiver]:
        if self._outbox is None or self._receivers is None:
            return []
        return await self._receivers()

    def _location_url(self, receiver: Receiver, location_id: str) -> str:
        doc = self._docs[location_id]
        return f"{receiver.url.rstrip('/')}/{doc['country_code']}/{doc['party_id']}/{location_id}"

    async def _push_location(self, location_id: str) -> None:
        outbox = self._outbox
        if outbox is None:
            return
        # One outbox write per partner, issued together: the store pipelines them. The body is
        # built once per version in use.
        doc = self._docs[location_id]
        targets = await self._targets()
        bodies = {v: to_jsonable(package(v).locations.location(doc))
                  for v in {r.version for r in targets}}
        await asyncio.gather(*(
            outbox.enqueue(r.partner_id, "PUT", url, bodies[r.version],
                           ordering_key=_ordering_key(r, url),
                           headers=_routing_headers(doc, r))
            for r in targets for url in (self._location_url(r, location_id),)))

    async def _welcome_loop(self) -> None:
        """A partner that registered since (through either side of the credentials handshake,
        possibly on another instance or from the CLI) gets every Location PUT once: later
        changes reach it as PATCHes, which need the object to be there."""
        while True:
            await asyncio.sleep(self.welcome_interval)
            try:
                await self.welcome_new_receivers()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("locations_welcome_failed")

    async def welcome_new_receivers(self) -> list[str]:
        """Queue every Location PUT to partners registered (or switched version) since."""
        if self._receivers is None:
            return []
        receivers = await self._receivers()
        known = self._known_receivers or set()
        # A partner that switched OCPI version (credentials PUT) is new in that version: it
        # gets every Location in its new form before any PATCH. So is a party behind a hub
        # reported CONNECTED again after OFFLINE/SUSPENDED (it missed what changed meanwhile).
        new = [r for r in receivers if _identity(r) not in known]
        self._known_receivers = {_identity(r) for r in receivers}
        for receiver in new:
            self._queue.put_nowait(("welcome", receiver))
        return [r.partner_id for r in new]

    async def _push_all_to(self, receiver: Receiver) -> None:
        outbox = self._outbox
        if outbox is None:
            return
        mapping = package(receiver.version).locations
        for location_id, doc in list(self._docs.items()):
            url = self._location_url(receiver, location_id)
            await outbox.enqueue(receiver.partner_id, "PUT", url,
                                 to_jsonable(mapping.location(doc)),
                                 ordering_key=_ordering_key(receiver, url),
                                 headers=_routing_headers(doc, receiver))
        log.info("locations_welcomed_partner", partner_id=receiver.partner_id,
                 locations=len(self._docs))

    async def _push_patch(
        self, location_id: str, evse_uid: str, status: str, last_updated: str
    ) -> None:
        outbox = self._outbox
        if outbox is None:
            return
        doc = self._docs[location_id]
        targets = await self._targets()
        bodies: dict[str, dict[str, Any] | None] = {}
        for version in {r.version for r in targets}:
            mapping = package(version).locations
            # An EVSE the version cannot show (2.2.1: only MCS connectors) gets no PATCH.
            bodies[version] = (to_jsonable(mapping.evse_patch(status, last_updated))
                               if mapping.evse(doc, evse_uid) is not None else None)
        await asyncio.gather(*(
            outbox.enqueue(r.partner_id, "PATCH", f"{location_url}/{evse_uid}", body,
                           ordering_key=_ordering_key(r, location_url), coalesce=True,
                           resync={"kind": RESYNC_KIND, "location_id": location_id,
                                   "location_url": location_url, "version": r.version},
                           headers=_routing_headers(doc, r))
            for r in targets
            if (body := bodies[r.version]) is not None
            for location_url in (self._location_url(r, location_id),)))

    async def _resync_body(self, delivery: Delivery) -> tuple[str, Any] | None:
        """The receiver refused a PATCH: PUT it the whole current Location."""
        assert delivery.resync is not None
        doc = self._docs.get(str(delivery.resync["location_id"]))
        if doc is None:
            return None
        version = str(delivery.resync.get("version") or DEFAULT_VERSION)
        return (str(delivery.resync["location_url"]),
                to_jsonable(package(version).locations.location(doc)))


@dataclass(frozen=True, slots=True, kw_only=True)
class _GraceOver(DomainEvent):
    """Internal: a disconnected charger's grace period ran out."""


def _identity(receiver: Receiver) -> tuple[str, str, tuple[str, str] | None]:
    return (receiver.partner_id, receiver.version, receiver.to_party)


def _find_evse(doc: dict[str, Any] | None, evse_uid: str) -> dict[str, Any] | None:
    for evse in (doc or {}).get("evses", []):
        if evse["uid"] == evse_uid:
            found: dict[str, Any] = evse  # the publisher updates it in place
            return found
    return None
