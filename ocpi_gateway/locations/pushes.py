"""Pushes of the published Locations to partners' Locations RECEIVERs, through the durable
outbox: a PUT of a whole Location, a PATCH of an EVSE's status, every Location once to a
partner that registered (or switched version) since. Each body is built once per OCPI
version in use, then queued for every partner of that version."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.deliveries.models import Delivery, Outgoing
from ocpi_gateway.locations.published import PublishedEvse, PublishedLocation
from ocpi_gateway.ocpi import DEFAULT_VERSION, package
from ocpi_gateway.ocpi.seam import to_jsonable

log = structlog.get_logger(__name__)

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

    @property
    def identity(self) -> tuple[str, str, tuple[str, str] | None]:
        """A receiver in another version, or for another party, is a new one."""
        return (self.partner_id, self.version, self.to_party)


ReceiversProvider = Callable[[], Awaitable[list[Receiver]]]


def routing_headers(location: PublishedLocation, receiver: Receiver) -> dict[str, str]:
    """transport_and_format: a push is sent from the CPO owning the location."""
    headers = {"OCPI-from-country-code": location.config.country_code,
               "OCPI-from-party-id": location.config.party_id}
    if receiver.to_party is not None:
        headers["OCPI-to-country-code"], headers["OCPI-to-party-id"] = receiver.to_party
    return headers


def ordering_key(receiver: Receiver, url: str) -> str:
    """Pushes to one object are ordered (and coalesced) per receiving party: two eMSPs behind
    one hub share its URL but not their queues."""
    if receiver.to_party is None:
        return url
    return f"{url}#{receiver.to_party[0]}{receiver.to_party[1]}"


def location_url(receiver: Receiver, location: PublishedLocation) -> str:
    config = location.config
    return f"{receiver.url.rstrip('/')}/{config.country_code}/{config.party_id}/{config.id}"


class Pushes:
    def __init__(self, outbox: DeliveryEngine | None = None,
                 receivers: ReceiversProvider | None = None) -> None:
        self.outbox, self.receivers = outbox, receivers

    async def targets(self) -> list[Receiver]:
        if self.outbox is None or self.receivers is None:
            return []
        return await self.receivers()

    async def location(self, location: PublishedLocation,
                       targets: list[Receiver] | None = None) -> None:
        """PUT the whole Location to every partner (``targets``: as ``targets()`` answered)."""
        outbox = self.outbox
        if outbox is None:
            return
        # One outbox commit for every partner.
        if targets is None:
            targets = await self.targets()
        bodies = {v: to_jsonable(package(v).locations.location(location))
                  for v in {r.version for r in targets}}
        await outbox.enqueue_many([
            Outgoing(partner_id=r.partner_id, method="PUT", url=url, body=bodies[r.version],
                     ordering_key=ordering_key(r, url), headers=routing_headers(location, r))
            for r in targets for url in (location_url(r, location),)])

    async def evse_status(self, location: PublishedLocation, evse: PublishedEvse,
                          targets: list[Receiver] | None = None) -> None:
        """PATCH the EVSE's status to every partner whose version can show the EVSE."""
        outbox = self.outbox
        if outbox is None:
            return
        if targets is None:
            targets = await self.targets()
        uid = evse.config.uid
        bodies: dict[str, dict[str, Any] | None] = {}
        for version in {r.version for r in targets}:
            mapping = package(version).locations
            # An EVSE the version cannot show (2.2.1: only MCS connectors) gets no PATCH.
            bodies[version] = (to_jsonable(mapping.evse_patch(evse.status, evse.last_updated))
                               if mapping.evse(location, uid) is not None else None)
        await outbox.enqueue_many([
            Outgoing(partner_id=r.partner_id, method="PATCH", url=f"{url}/{uid}", body=body,
                     ordering_key=ordering_key(r, url), coalesce=True,
                     resync={"kind": RESYNC_KIND, "location_id": location.id,
                             "location_url": url, "version": r.version},
                     headers=routing_headers(location, r))
            for r in targets
            if (body := bodies[r.version]) is not None
            for url in (location_url(r, location),)])

    async def everything_to(self, receiver: Receiver,
                            locations: Iterable[PublishedLocation]) -> int:
        """PUT every Location to one partner (new, or in a new version); how many."""
        outbox = self.outbox
        if outbox is None:
            return 0
        mapping = package(receiver.version).locations
        count = 0
        for location in locations:
            url = location_url(receiver, location)
            await outbox.enqueue(receiver.partner_id, "PUT", url,
                                 to_jsonable(mapping.location(location)),
                                 ordering_key=ordering_key(receiver, url),
                                 headers=routing_headers(location, receiver))
            count += 1
        log.info("locations_welcomed_partner", partner_id=receiver.partner_id,
                 locations=count)
        return count


def resync_body(delivery: Delivery,
                find: Callable[[str], PublishedLocation | None]) -> tuple[str, Any] | None:
    """The receiver refused a PATCH: PUT it the whole current Location, in its version."""
    assert delivery.resync is not None
    location = find(str(delivery.resync["location_id"]))
    if location is None:
        return None
    version = str(delivery.resync.get("version") or DEFAULT_VERSION)
    return (str(delivery.resync["location_url"]),
            to_jsonable(package(version).locations.location(location)))
