"""Wiring of the Locations module into the gateway: which partners receive pushes, the admin
reload endpoint, SIGHUP, and the routes the app mounts."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog
from aiohttp import web

from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.domain.events import EventBus
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.locations.catalog import LocationsCatalog, LocationsConfigError
from ocpi_gateway.locations.handlers import DEFAULT_MAX_LIMIT, LocationsSender
from ocpi_gateway.locations.publisher import LocationsPublisher, Receiver, ReceiversProvider
from ocpi_gateway.locations.reread import read_catalog
from ocpi_gateway.ocpi import DEFAULT_VERSION
from ocpi_gateway.partners.grants import HUB
from ocpi_gateway.reservation_policy.availability.base import AvailabilityStore
from ocpi_gateway.transport.envelope import ocpi_response
from ocpi_gateway.transport.status_codes import OcpiStatus

log = structlog.get_logger(__name__)


class _Endpoints(Protocol):
    @property
    def id(self) -> str: ...

    def endpoint(self, identifier: str, role: str | None = None) -> str | None: ...


def _single_party(partner: _Endpoints) -> tuple[str, str] | None:
    roles = getattr(partner, "roles", None) or []
    if len(roles) != 1:
        return None  # several parties behind one platform: the receiver routes by the object
    return (roles[0].country_code, roles[0].party_id)


HubParties = Callable[[Any], Awaitable[list[tuple[str, str]] | None]]
"""The parties behind a hub (the partner) that may be pushed to now (reported CONNECTED); None
when the hub has no HubClientInfo: it then routes what it is sent by itself."""


def partner_receivers(
    registered: Callable[[], Awaitable[Sequence[_Endpoints]]], *, ttl: float = 0.0,
    hub_parties: HubParties | None = None,
) -> ReceiversProvider:
    """Every registered partner whose endpoints include a Locations RECEIVER; a hub that
    reports its parties gives one receiver per connected party (OCPI-to-* that party). Read on
    every push by default: a partner that registers must get the very next change (a PATCH
    missed is not repaired by a resync). ``ttl`` > 0 trades that for fewer reads. A list
    ``registered`` answers again (the same object) is taken as unchanged."""
    cache: list[Receiver] = []
    fetched_at = -1.0e9

    def _is_hub(partner: _Endpoints) -> bool:
        return hub_parties is not None and any(
            r.role == HUB for r in getattr(partner, "roles", None) or [])

    async def of(partner: _Endpoints, url: str) -> list[Receiver]:
        version = getattr(partner, "version", None) or DEFAULT_VERSION
        parties = None
        if hub_parties is not None and _is_hub(partner):
            parties = await hub_parties(partner)
        if parties is None:
            return [Receiver(partner.id, url, _single_party(partner), version=version)]
        return [Receiver(partner.id, url, party, version=version) for party in parties]

    # Per partner of the last list: its receivers, or None for a hub (its connected parties
    # change on their own, so it is asked on every read). ``registered`` answers the same list
    # object while no partner changed (PartnerRegistry.registered_now): then nothing else is
    # built again.
    known: Sequence[_Endpoints] | None = None
    rows: list[tuple[_Endpoints, str, list[Receiver] | None]] = []

    async def receivers() -> list[Receiver]:
        nonlocal cache, fetched_at, known, rows
        if ttl <= 0 or time.monotonic() - fetched_at > ttl:
            partners = await registered()
            if partners is not known:
                rows = [(p, url, None if _is_hub(p) else await of(p, url)) for p in partners
                        if (url := p.endpoint("locations", "RECEIVER"))]
                known = partners
                cache = [r for _, _, fixed in rows for r in fixed or ()]
            if any(fixed is None for _, _, fixed in rows):
                cache = [r for p, url, fixed in rows
                         for r in (fixed if fixed is not None else await of(p, url))]
            fetched_at = time.monotonic()
        return cache

    return receivers


class ReloadHook(Protocol):
    """Another operator file reloaded with the locations (``/admin/reload``, SIGHUP): read
    first (``prepare`` raises LocationsConfigError to refuse the whole reload), then kept or
    dropped as the locations reload succeeds or fails."""

    name: str

    async def prepare(self) -> None: ...

    def abandon(self) -> None: ...

    async def commit(self) -> list[str]:
        """Make the prepared file current; the ids of what changed."""


class LocationsModule:
    """Owns the publisher and the sender; the app calls ``start``/``stop`` and mounts
    ``routes()``."""

    def __init__(
        self,
        locations_file: Path | None,
        availability: AvailabilityStore,
        *,
        store: DocumentStore | None,
        outbox: DeliveryEngine | None,
        receivers: ReceiversProvider | None,
        bus: EventBus | None = None,
        public_url: str | None = None,
        max_limit: int = DEFAULT_MAX_LIMIT,
        offline_grace: float = 300.0,
        shared_sync_interval: float | None = None,
    ) -> None:
        catalog = read_catalog(locations_file) if locations_file else LocationsCatalog([])
        self.catalog_source = locations_file
        self.publisher = LocationsPublisher(catalog, availability, store=store, outbox=outbox,
                                            receivers=receivers, offline_grace=offline_grace,
                                            shared_sync_interval=shared_sync_interval)
        self.sender = LocationsSender(self.publisher, max_limit=max_limit, public_url=public_url)
        self.reload_hooks: list[ReloadHook] = []
        if bus is not None:
            bus.subscribe(self.publisher.on_event)

    @property
    def catalog(self) -> LocationsCatalog:
        """The current read model (replaced on reload); see LocationsCatalog."""
        return self.publisher.catalog

    async def start(self) -> None:
        await self.publisher.start()

    async def stop(self) -> None:
        await self.publisher.stop()

    def routes(self, prefix: str = "/ocpi/2.2.1/locations",
               version: str = "2.2.1") -> list[web.RouteDef]:
        return self.sender.routes(prefix, version)

    async def reload(self) -> list[str]:
        return (await self.reload_all())["locations"]

    async def reload_all(self) -> dict[str, list[str]]:
        """Re-read the locations file and the files hooked to it, all or none; per file
        (``locations``, each hook's name), the ids of what changed."""
        prepared: list[ReloadHook] = []
        try:
            for hook in self.reload_hooks:
                await hook.prepare()
                prepared.append(hook)
            changed = {"locations": await self.publisher.reload()}
        except BaseException:
            for hook in prepared:
                hook.abandon()
            raise
        for hook in self.reload_hooks:
            changed[hook.name] = await hook.commit()
        return changed

    async def admin_reload(self, request: web.Request) -> web.Response:
        """``POST /admin/reload``'s answer (an OCPI envelope, as it has always been); who may
        call it is the admin API's business (ocpi_gateway/admin/api/reload.py)."""
        try:
            changed = await self.reload_all()
        except LocationsConfigError as exc:
            log.warning("locations_reload_refused", error=str(exc))
            return ocpi_response({"errors": str(exc).splitlines()},
                                 OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                                 "locations file invalid; the previous one stays in force",
                                 http_status=400)
        return ocpi_response({f"changed_{name}": ids for name, ids in changed.items()})

    def install_sighup(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """``kill -HUP`` reloads the locations file (``serve`` calls this)."""
        loop = loop or asyncio.get_running_loop()

        def on_hup() -> None:
            task = loop.create_task(self._reload_logged())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

        self._pending: set[asyncio.Task[None]] = set()
        loop.add_signal_handler(signal.SIGHUP, on_hup)

    async def _reload_logged(self) -> None:
        try:
            changed = await self.reload_all()
            log.info("locations_reloaded", trigger="SIGHUP", changed=changed)
        except LocationsConfigError as exc:
            log.error("locations_reload_refused", trigger="SIGHUP", error=str(exc))
