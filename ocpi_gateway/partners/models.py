"""A partner as the gateway remembers it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from ocpi_gateway.partners.grants import Grants


class PartnerState(StrEnum):
    INVITED = "invited"
    """We issued token A; the partner has not registered yet."""
    REGISTERED = "registered"
    UNREGISTERED = "unregistered"
    """Credentials DELETEd by either side: no traffic in either direction."""
    REVOKED = "revoked"
    """Offboarded by the operator (``partners revoke``): its tokens are dead, no pushes."""


class TokenKind(StrEnum):
    INVITE = "invite"
    """Token A: valid on versions and credentials only, until registration succeeds."""
    CREDENTIALS = "credentials"
    """The token the partner uses for every module once registered."""


class _Sent(BaseModel):
    """What a partner sent about itself, as lenient as the Credentials of every version: a
    record must load whatever a partner once registered with."""

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Stored (and sent) as it came: fields the partner left out stay out, not null.
        dumped: dict[str, Any] = handler(self)
        return {k: v for k, v in dumped.items() if v is not None}


class Image(_Sent):
    url: str = Field(max_length=255)
    thumbnail: str | None = Field(default=None, max_length=255)
    category: str = Field(max_length=32)
    type: str = Field(max_length=4)
    width: int | None = None
    height: int | None = None


class BusinessDetails(_Sent):
    name: str = Field(max_length=100)
    website: str | None = Field(default=None, max_length=255)
    logo: Image | None = None


class PartnerRole(BaseModel):
    role: str
    country_code: str = Field(min_length=2, max_length=2)
    party_id: str = Field(min_length=3, max_length=3)
    business_details: BusinessDetails | None = None

    def matches(self, country_code: str, party_id: str) -> bool:
        return (self.country_code.upper() == country_code.upper()
                and self.party_id.upper() == party_id.upper())


class PartnerCredentials(BaseModel):
    """A partner's Credentials in the internal model, whatever version they came in: a hub is
    a platform with a HUB role (2.2.1 sends it as a role, 2.3.0 as ``hub_party_id``)."""

    token: str
    url: str
    roles: list[PartnerRole]
    hub_party_id: str | None = None
    reachable: list[PartnerRole] = []
    """2.3.0: the parties a hub lists in its roles (reachable through it)."""

    def partner_roles(self) -> list[PartnerRole]:
        return list(self.roles)


class PartnerEndpoint(BaseModel):
    identifier: str
    role: str
    url: str


class Partner(BaseModel):
    id: str
    name: str
    state: PartnerState
    roles: list[PartnerRole] = []
    versions_url: str | None = None
    version: str | None = None
    endpoints: list[PartnerEndpoint] = []
    token_to_send: str | None = None
    """The token the partner gave us for calling it (B or C), stored as given: we must send it."""
    send_base64: bool = True
    """Whether the partner wants our Authorization tokens base64-encoded (2.2.1) or plain."""
    created_at: str
    updated_at: str
    revision: int = 0
    """Bumped by every handshake; concurrent handshakes compare-and-set on it."""
    grants: Grants = Grants()
    """What the operator allows; ``roles`` holds only granted roles."""

    @model_validator(mode="before")
    @classmethod
    def _grants_of_an_old_record(cls, data: Any) -> Any:
        """A record written before grants existed keeps its roles as its granted roles (see
        PartnerRegistry.migrate_grants, which rewrites such records once)."""
        if isinstance(data, dict) and "grants" not in data:
            roles = [{"role": r["role"], "country_code": r["country_code"],
                      "party_id": r["party_id"]}
                     for r in data.get("roles") or [] if isinstance(r, dict)]
            data = {**data, "grants": {"roles": roles, "migrated": True}}
        return data

    @property
    def registered(self) -> bool:
        return self.state is PartnerState.REGISTERED

    def endpoint(self, identifier: str, role: str | None = None) -> str | None:
        """URL of the partner's module endpoint, e.g. ``endpoint("locations", "RECEIVER")``."""
        for endpoint in self.endpoints:
            if endpoint.identifier == identifier and (role is None or endpoint.role == role):
                return endpoint.url
        return None

    def has_party(self, country_code: str, party_id: str) -> bool:
        return any(role.matches(country_code, party_id) for role in self.roles)
