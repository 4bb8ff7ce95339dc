"""POSTs each new CDR to the CDRs RECEIVER of the eMSP owning its token, through the outbox,
in the version that eMSP speaks; a Credit CDR goes after the CDR it credits (one ordering key
per session). An eMSP without a CDRs receiver reads them with GET {cdrs}."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from ocpi_gateway.cdrs.models import Cdr
from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.ocpi import package
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.partners.receivers import ReceiverIndex


class CdrsPublisher:
    def __init__(self, registered: Callable[[], Awaitable[Sequence[Partner]]]) -> None:
        self._registered = registered
        self._receivers = ReceiverIndex("cdrs")
        self._outbox: DeliveryEngine | None = None

    def attach(self, outbox: DeliveryEngine) -> None:
        self._outbox = outbox

    async def send(self, cdr: Cdr) -> bool:
        """Queue ``cdr`` for its eMSP; False when it has no CDRs receiver (or no outbox)."""
        if self._outbox is None:
            return False
        receiver = self._receivers.find(await self._registered(), cdr.token.country_code,
                                        cdr.token.party_id)
        if receiver is None:
            return False
        body = package(receiver.version).cdrs.body(cdr)
        await self._outbox.enqueue(
            receiver.partner_id, "POST", receiver.url, body,
            ordering_key=f"cdr:{cdr.session_id or cdr.credit_reference_id or cdr.id}",
            headers={"OCPI-from-country-code": cdr.country_code,
                     "OCPI-from-party-id": cdr.party_id,
                     "OCPI-to-country-code": receiver.to_party[0],
                     "OCPI-to-party-id": receiver.to_party[1]})
        return True
