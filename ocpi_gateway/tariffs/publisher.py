"""The published tariffs: the current ``TariffsCatalog``, reloaded with the locations file
(a ``ReloadHook``: a connector naming an unknown tariff refuses both), and the pushes to
every partner with a Tariffs RECEIVER (PUT, DELETE for a tariff gone or no longer meant for
it) through the outbox, in the version each partner speaks.

What each receiver was sent is kept in the store (``tariffs_pushed``: per receiver, a digest
of every tariff body queued to it), so that one comparison serves every occasion: at startup
(the file changed while the gateway was down, a partner registered meanwhile), when a partner
registers or switches version (on any instance, through the CLI too: the welcome loop finds
it), and on reload. A receiver gets exactly what differs from what it was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.domain.digests import json_digest
from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.locations.models import OperatorLocation
from ocpi_gateway.ocpi import DEFAULT_VERSION, package
from ocpi_gateway.ocpi.seam import to_jsonable
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.tariffs.catalog import TariffsCatalog
from ocpi_gateway.tariffs.models import Tariff

log = structlog.get_logger(__name__)

PUSHED = "tariffs_pushed"


@dataclass(frozen=True, slots=True)
class TariffsReceiver:
    """A partner's Tariffs RECEIVER endpoint and the parties it may see tariffs for."""

    partner_id: str
    url: str
    parties: tuple[tuple[str, str], ...]
    version: str = DEFAULT_VERSION

    @property
    def to_party(self) -> tuple[str, str] | None:
        return self.parties[0] if len(self.parties) == 1 else None

    @property
    def key(self) -> str:
        """What was sent is kept per partner, version, URL and parties: a change of any of
        them is a receiver that has been sent nothing yet (in that form)."""
        parties = ",".join(f"{cc}-{pid}" for cc, pid in sorted(self.parties))
        return f"{self.partner_id}|{self.version}|{self.url}|{parties}"


def tariffs_receivers(registered: Callable[[], Awaitable[Sequence[Partner]]]
                      ) -> Callable[[], Awaitable[list[TariffsReceiver]]]:
    """Every registered partner with a Tariffs RECEIVER, read on every push (the registry's
    ``registered_now``: the list is built again only once a partner changed)."""

    async def receivers() -> list[TariffsReceiver]:
        return [TariffsReceiver(p.id, url.rstrip("/"),
                                tuple((r.country_code, r.party_id) for r in p.roles),
                                p.version or DEFAULT_VERSION)
                for p in await registered() if (url := p.endpoint("tariffs", "RECEIVER"))]

    return receivers


class TariffsPublisher:
    """Holds the current catalog; ``name``/``prepare``/``commit``/``abandon`` make it a
    ``locations.module.ReloadHook``; ``start``/``stop`` run the welcome loop."""

    name = "tariffs"

    def __init__(self, catalog: TariffsCatalog, *, welcome_interval: float = 2.0) -> None:
        self.catalog = catalog
        self._pending: TariffsCatalog | None = None
        self._outbox: DeliveryEngine | None = None
        self._receivers: Callable[[], Awaitable[list[TariffsReceiver]]] | None = None
        self._store: DocumentStore | None = None
        self._known: set[str] = set()
        self._bodies: dict[tuple[str, str], tuple[Any, str] | None] = {}
        """(version, tariff id) -> (body, digest) of the current catalog; None: the version
        cannot show it."""
        self._sync_lock = asyncio.Lock()
        self._welcome_interval = welcome_interval
        self._welcomer: BackgroundLoop | None = None

    @property
    def welcome_interval(self) -> float:
        """How often to look for partners registered since (or switched version)."""
        return self._welcome_interval

    @welcome_interval.setter
    def welcome_interval(self, seconds: float) -> None:
        self._welcome_interval = seconds
        if self._welcomer is not None:
            self._welcomer.interval = seconds

    def attach(self, outbox: DeliveryEngine | None,
               receivers: Callable[[], Awaitable[list[TariffsReceiver]]] | None,
               store: DocumentStore | None = None) -> None:
        self._outbox, self._receivers, self._store = outbox, receivers, store

    @property
    def _pushing(self) -> bool:
        return self._outbox is not None and self._receivers is not None \
            and self._store is not None

    async def start(self, loops: LoopRegistry | None = None) -> None:
        """Bring every receiver up to date, then look for new ones every
        ``welcome_interval`` (the ``tariffs-welcome`` loop, in ``loops``)."""
        if not self._pushing:
            return
        await self.sync_all()
        self._welcomer = BackgroundLoop("tariffs-welcome", self.welcome_new_receivers,
                                        interval=self._welcome_interval, registry=loops,
                                        run_at_start=False)
        self._welcomer.start()

    async def stop(self) -> None:
        loop, self._welcomer = self._welcomer, None
        if loop is not None:
            await loop.stop()

    # -- the reload hook ------------------------------------------------------------------

    def check_references(self, locations: Sequence[OperatorLocation],
                         source: Path | None) -> None:
        """A ``LocationsCheck``: against the tariffs being reloaded, else the current ones."""
        (self._pending or self.catalog).check_references(locations, source)

    async def prepare(self) -> None:
        self._pending = await asyncio.to_thread(self.catalog.reload)

    def abandon(self) -> None:
        self._pending = None

    async def commit(self) -> list[str]:
        new, self._pending = self._pending, None
        if new is None:
            return []
        old = self.catalog
        async with self._sync_lock:
            self.catalog, self._bodies = new, {}
        changed, gone = new.changed_since(old)
        if changed or gone:
            log.info("tariffs_reloaded", changed=changed, gone=gone)
            if self._pushing:
                await self.sync_all()
        return sorted(changed + gone)

    # -- pushes ---------------------------------------------------------------------------

    async def welcome_new_receivers(self) -> list[str]:
        """Bring receivers this instance has not synced yet up to date; their partner ids."""
        if self._receivers is None:
            return []
        new = [r for r in await self._receivers() if r.key not in self._known]
        for receiver in new:
            await self.sync(receiver)
        return [r.partner_id for r in new]

    async def sync_all(self) -> int:
        """Bring every receiver up to date; the number of pushes queued."""
        if self._receivers is None:
            return 0
        queued = 0
        for receiver in await self._receivers():
            queued += await self.sync(receiver)
        return queued

    async def sync(self, receiver: TariffsReceiver) -> int:
        """Queue to ``receiver`` every tariff meant for it whose body differs from what it
        was sent (PUT), and a DELETE for every one it was sent that is no longer meant for
        it; the number of pushes queued."""
        outbox, store = self._outbox, self._store
        if outbox is None or store is None:
            return 0
        async with self._sync_lock:
            doc = await store.get(PUSHED, receiver.key)
            sent: dict[str, dict[str, str]] = dict(doc["tariffs"]) if doc else {}
            now: dict[str, dict[str, str]] = {}
            queued = 0
            for tariff in self.catalog.visible_to(receiver.parties):
                shown = self._body(receiver.version, tariff)
                if shown is None:
                    continue
                body, digest = shown
                assert tariff.country_code and tariff.party_id  # the catalog completes them
                now[tariff.id] = {"digest": digest, "country_code": tariff.country_code,
                                  "party_id": tariff.party_id}
                if sent.get(tariff.id, {}).get("digest") != digest:
                    url = _url(receiver, tariff.country_code, tariff.party_id, tariff.id)
                    await outbox.enqueue(receiver.partner_id, "PUT", url, body,
                                         ordering_key=url,
                                         headers=_headers(tariff.country_code,
                                                          tariff.party_id, receiver))
                    queued += 1
            for tariff_id, was in sorted(sent.items()):
                if tariff_id not in now:
                    url = _url(receiver, was["country_code"], was["party_id"], tariff_id)
                    await outbox.enqueue(receiver.partner_id, "DELETE", url, ordering_key=url,
                                         headers=_headers(was["country_code"],
                                                          was["party_id"], receiver))
                    queued += 1
            if queued or doc is None:
                await store.put(PUSHED, receiver.key, {"partner_id": receiver.partner_id,
                                                       "tariffs": now})
            self._known.add(receiver.key)
        if queued:
            log.info("tariffs_pushed", partner_id=receiver.partner_id,
                     version=receiver.version, pushes=queued)
        return queued

    def _body(self, version: str, tariff: Tariff) -> tuple[Any, str] | None:
        key = (version, tariff.id)
        if key not in self._bodies:
            shown = package(version).tariffs.tariff(tariff)
            body = to_jsonable(shown) if shown is not None else None
            self._bodies[key] = (body, json_digest(body)) if body is not None else None
        return self._bodies[key]


def _url(receiver: TariffsReceiver, country_code: str, party_id: str, tariff_id: str) -> str:
    return f"{receiver.url}/{country_code}/{party_id}/{tariff_id}"


def _headers(country_code: str, party_id: str, receiver: TariffsReceiver) -> dict[str, str]:
    """transport_and_format: a push is sent from the CPO owning the tariff."""
    headers = {"OCPI-from-country-code": country_code, "OCPI-from-party-id": party_id}
    if receiver.to_party is not None:
        headers["OCPI-to-country-code"], headers["OCPI-to-party-id"] = receiver.to_party
    return headers
