"""Partners and what the operator granted them."""

from __future__ import annotations

from pydantic import BaseModel

from ocpi_gateway.partners.models import Partner, PartnerState
from ocpi_gateway.partners.registry import PartnerRegistry


class PartnerRoleView(BaseModel):
    role: str
    party: str
    """``CC-PID``."""


class PartnerEndpointView(BaseModel):
    identifier: str
    role: str
    url: str


class PartnerView(BaseModel):
    id: str
    name: str
    state: PartnerState
    version: str | None
    roles: list[PartnerRoleView]
    """The roles it registered with (only granted ones are kept)."""
    granted: str
    """What the operator allows (``partners grant``), in words."""
    helpdesk: bool
    endpoints: list[PartnerEndpointView]
    created_at: str
    updated_at: str


class PartnersPage(BaseModel):
    items: list[PartnerView]


def view(partner: Partner) -> PartnerView:
    return PartnerView(
        id=partner.id, name=partner.name, state=partner.state, version=partner.version,
        roles=[PartnerRoleView(role=r.role, party=f"{r.country_code}-{r.party_id}")
               for r in partner.roles],
        granted=partner.grants.describe(), helpdesk=partner.grants.helpdesk,
        endpoints=[PartnerEndpointView(identifier=e.identifier, role=e.role, url=e.url)
                   for e in partner.endpoints],
        created_at=partner.created_at, updated_at=partner.updated_at)


async def list_partners(registry: PartnerRegistry) -> PartnersPage:
    return PartnersPage(items=[view(p) for p in await registry.list()])
