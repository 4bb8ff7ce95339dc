"""The published tariffs: the current ``TariffsCatalog``, reloaded with the locations file
(a ``ReloadHook``: a connector naming an unknown tariff refuses both), and the pushes of
what changed to every partner with a Tariffs RECEIVER (PUT, DELETE for a tariff gone or no
longer meant for it) through the outbox, in the version each partner speaks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.locations.models import OperatorLocation
from ocpi_gateway.ocpi import DEFAULT_VERSION, package
from ocpi_gateway.ocpi.seam import to_jsonable
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.tariffs.catalog import TariffsCatalog
from ocpi_gateway.tariffs.models import Tariff

log = structlog.get_logger(__name__)


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


def tariffs_receivers(registered: Callable[[], Awaitable[Sequence[Partner]]]
                      ) -> Callable[[], Awaitable[list[TariffsReceiver]]]:
    """Every registered partner with a Tariffs RECEIVER, read on every push."""

    async def receivers() -> list[TariffsReceiver]:
        return [TariffsReceiver(p.id, url.rstrip("/"),
                                tuple((r.country_code, r.party_id) for r in p.roles),
                                p.version or DEFAULT_VERSION)
                for p in await registered() if (url := p.endpoint("tariffs", "RECEIVER"))]

    return receivers


class TariffsPublisher:
    """Holds the current catalog; ``name``/``prepare``/``commit``/``abandon`` make it a
    ``locations.module.ReloadHook``."""

    name = "tariffs"

    def __init__(self, catalog: TariffsCatalog) -> None:
        self.catalog = catalog
        self._pending: TariffsCatalog | None = None
        self._outbox: DeliveryEngine | None = None
        self._receivers: Callable[[], Awaitable[list[TariffsReceiver]]] | None = None

    def attach(self, outbox: DeliveryEngine | None,
               receivers: Callable[[], Awaitable[list[TariffsReceiver]]] | None) -> None:
        self._outbox, self._receivers = outbox, receivers

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
        old, self.catalog = self.catalog, new
        changed, gone = new.changed_since(old)
        if changed or gone:
            log.info("tariffs_reloaded", changed=changed, gone=gone)
            await self._push(old, new, changed)
        return sorted(changed + gone)

    async def _push(self, old: TariffsCatalog, new: TariffsCatalog,
                    changed: list[str]) -> None:
        if self._outbox is None or self._receivers is None:
            return
        outbox = self._outbox
        for receiver in await self._receivers():
            before = {t.id for t in old.visible_to(receiver.parties)}
            now = {t.id: t for t in new.visible_to(receiver.parties)}
            mapping = package(receiver.version).tariffs
            for tariff_id in changed:
                tariff = now.get(tariff_id)
                body = mapping.tariff(tariff) if tariff is not None else None
                if tariff is not None and body is not None:
                    url = self._url(receiver, tariff)
                    await outbox.enqueue(receiver.partner_id, "PUT", url, to_jsonable(body),
                                         ordering_key=url, headers=_headers(tariff, receiver))
            for tariff_id in sorted(before - set(now)):
                gone = old.get(tariff_id)
                assert gone is not None
                url = self._url(receiver, gone)
                await outbox.enqueue(receiver.partner_id, "DELETE", url, ordering_key=url,
                                     headers=_headers(gone, receiver))

    @staticmethod
    def _url(receiver: TariffsReceiver, tariff: Tariff) -> str:
        return f"{receiver.url}/{tariff.country_code}/{tariff.party_id}/{tariff.id}"


def _headers(tariff: Tariff, receiver: TariffsReceiver) -> dict[str, str]:
    """transport_and_format: a push is sent from the CPO owning the tariff."""
    assert tariff.country_code and tariff.party_id
    headers = {"OCPI-from-country-code": tariff.country_code,
               "OCPI-from-party-id": tariff.party_id}
    if receiver.to_party is not None:
        headers["OCPI-to-country-code"], headers["OCPI-to-party-id"] = receiver.to_party
    return headers
