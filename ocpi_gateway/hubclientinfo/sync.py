"""Initial sync: GET every ClientInfo from a hub's HubClientInfo SENDER once it registered (or
re-registered: a new revision), as mod_hub_client_info asks of a newly connected party."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from pydantic import ValidationError

from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry
from ocpi_gateway.hubclientinfo.repository import HubClients
from ocpi_gateway.ocpi import package
from ocpi_gateway.partners.client import OcpiClient, OcpiClientError
from ocpi_gateway.partners.grants import HUB
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.partners.registry import PartnerRegistry

log = structlog.get_logger(__name__)

PAGE = 100
MAX_PAGES = 100


class HubClientSync:
    def __init__(self, partners: PartnerRegistry, client: OcpiClient, clients: HubClients,
                 on_report: Callable[[], Awaitable[object]] | None = None,
                 interval: float = 2.0, loops: LoopRegistry | None = None) -> None:
        self._partners, self._client, self._clients = partners, client, clients
        self._on_report = on_report
        self._synced: set[tuple[str, int]] = set()
        self._loop = BackgroundLoop("hubclientinfo-sync", self.sync_new_hubs,
                                    interval=interval, registry=loops)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def sync_new_hubs(self) -> int:
        """Sync every registered hub not synced at its current revision; how many were."""
        done = 0
        for partner in await self._partners.registered_now():
            key = (partner.id, partner.revision)
            if key in self._synced or not any(r.role == HUB for r in partner.roles):
                continue
            if await self.sync(partner):
                self._synced.add(key)
                done += 1
        if done and self._on_report is not None:
            await self._on_report()
        return done

    async def sync(self, partner: Partner) -> bool:
        url = partner.endpoint("hubclientinfo", "SENDER")
        if url is None or partner.token_to_send is None:
            return True  # nothing to fetch: a hub without the module
        mapping = package(partner.version).hubclientinfo
        for page in range(MAX_PAGES):
            try:
                reply = await self._client.request(
                    "GET", f"{url}?offset={page * PAGE}&limit={PAGE}", partner.token_to_send,
                    base64_token=partner.send_base64)
            except OcpiClientError as exc:
                log.warning("hub_client_sync_unreachable", partner_id=partner.id, error=str(exc))
                return False
            if not reply.ok or not isinstance(reply.data, list):
                log.warning("hub_client_sync_refused", partner_id=partner.id,
                            http_status=reply.http_status, status_code=reply.status_code)
                return False
            for raw in reply.data:
                try:
                    await self._clients.put(partner.id, mapping.to_internal(raw))
                except ValidationError as exc:
                    log.warning("hub_client_info_invalid", partner_id=partner.id,
                                error=str(exc.errors()[0]["loc"]))
            if len(reply.data) < PAGE:
                break
        log.info("hub_clients_synced", partner_id=partner.id,
                 parties=len(await self._clients.reported(partner.id)))
        return True
