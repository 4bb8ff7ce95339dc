"""Partners and what the operator granted them; revoking one (offboarding)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from ocpi_gateway.admin.service.errors import NotFound
from ocpi_gateway.admin.service.query import party as party_key
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.partners.models import Partner, PartnerState
from ocpi_gateway.partners.offboarding import revoke_partner
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
    granted_roles: list[PartnerRoleView]
    """The roles the operator granted (``partners grant --role``)."""
    any_role: bool
    """Lab use: whatever roles it declares."""
    forwards_for: list[str]
    """The parties a hub may act for, ``CC-PID``."""
    helpdesk: bool
    endpoints: list[PartnerEndpointView]
    created_at: str
    updated_at: str


class PartnersPage(BaseModel):
    items: list[PartnerView]
    total: int
    """Partners in all, whatever the filter."""


class PartnerFilter(BaseModel):
    """The query of ``GET /admin/api/partners`` (partners are few: no pages)."""

    state: PartnerState | None = None
    role: str | None = Field(default=None, description="holds or was granted this role "
                             "(EMSP, HUB, ...)")
    party: str | None = Field(default=None, description="holds or was granted a role of "
                              "this party, e.g. DE-ABC")

    @field_validator("role")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @field_validator("party")
    @classmethod
    def _party(cls, value: str | None) -> str | None:
        return party_key(value)

    def matches(self, p: PartnerView) -> bool:
        roles = [*p.roles, *p.granted_roles]
        return (self.state is None or p.state is self.state) \
            and (self.role is None or any(r.role == self.role for r in roles)) \
            and (self.party is None or any(r.party == self.party for r in roles))


class RevokedPartner(BaseModel):
    partner: PartnerView
    dead_lettered: int
    """Deliveries to it that were pending, now dead letters."""


def view(partner: Partner) -> PartnerView:
    return PartnerView(
        id=partner.id, name=partner.name, state=partner.state, version=partner.version,
        roles=[PartnerRoleView(role=r.role, party=f"{r.country_code}-{r.party_id}")
               for r in partner.roles],
        granted=partner.grants.describe(),
        granted_roles=[PartnerRoleView(role=r.role, party=r.key) for r in partner.grants.roles],
        any_role=partner.grants.any_role,
        forwards_for=[p.key for p in partner.grants.forwards_for],
        helpdesk=partner.grants.helpdesk,
        endpoints=[PartnerEndpointView(identifier=e.identifier, role=e.role, url=e.url)
                   for e in partner.endpoints],
        created_at=partner.created_at, updated_at=partner.updated_at)


async def list_partners(registry: PartnerRegistry, query: PartnerFilter | None = None
                        ) -> PartnersPage:
    views = [view(p) for p in await registry.list()]
    wanted = query or PartnerFilter()
    return PartnersPage(items=[v for v in views if wanted.matches(v)], total=len(views))


async def get_partner(registry: PartnerRegistry, partner_id: str) -> PartnerView:
    partner = await registry.get(partner_id)
    if partner is None:
        raise NotFound(f"no partner {partner_id}")
    return view(partner)


async def revoke(store: DocumentStore, registry: PartnerRegistry, partner_id: str
                 ) -> RevokedPartner:
    """``partners revoke``: its tokens dead on every instance at once, its pending deliveries
    dead letters, the record kept REVOKED (the same function the CLI runs)."""
    done = await revoke_partner(store, registry, partner_id)
    if done is None:
        raise NotFound(f"no partner {partner_id}")
    return RevokedPartner(partner=view(done.partner), dead_lettered=done.dead_lettered)
