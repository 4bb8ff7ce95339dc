"""What the operator allows a partner to be: its granted roles, the parties a hub may forward
for, and extra permissions (help desk).

The credentials handshake (either direction) stores only roles that are granted; routing lets a
hub act only for the parties it was granted. OCPI 2.3.0's HubClientInfo (the parties a hub
reports) is a separate, additional check beside :meth:`Grants.may_forward_for`: a party must be
granted by the operator *and* (once implemented) reported by the hub.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

HUB = "HUB"
ROLES = frozenset({"CPO", "EMSP", HUB, "NAP", "NSP", "OTHER", "SCSP"})


class GrantError(ValueError):
    """A grant the operator wrote cannot be read (CLI input)."""


class GrantedParty(BaseModel):
    country_code: str = Field(min_length=2, max_length=2)
    party_id: str = Field(min_length=3, max_length=3)

    @property
    def key(self) -> str:
        return f"{self.country_code}-{self.party_id}"

    def matches(self, country_code: str, party_id: str) -> bool:
        return (self.country_code.upper(), self.party_id.upper()) == (
            country_code.upper(), party_id.upper())


class GrantedRole(GrantedParty):
    role: str

    @property
    def label(self) -> str:
        """``EMSP:DE-ABC``, the form the CLI takes."""
        return f"{self.role}:{self.key}"


class Grants(BaseModel):
    roles: list[GrantedRole] = []
    any_role: bool = False
    """Lab use: every role the partner declares is accepted, and a hub forwards for anyone."""
    forwards_for: list[GrantedParty] = []
    """The parties a partner holding a HUB role may name in OCPI-from-* headers."""
    helpdesk: bool = False
    """May unlock any connector (UNLOCK_CONNECTOR without a session or reservation there)."""
    migrated: bool = False
    """Filled from the roles a record held before grants existed (one-time migration)."""

    def allows(self, role: str, country_code: str, party_id: str) -> bool:
        return self.any_role or any(
            granted.role == role and granted.matches(country_code, party_id)
            for granted in self.roles)

    def refused(self, declared: Iterable[tuple[str, str, str]]) -> list[str]:
        """The declared (role, country_code, party_id) that are not granted, as ``EMSP:DE-ABC``."""
        return [f"{role}:{country}-{party}".upper() for role, country, party in declared
                if not self.allows(role, country, party)]

    def may_forward_for(self, country_code: str, party_id: str) -> bool:
        """Whether a hub may act for this party (granted by the operator)."""
        return self.any_role or any(p.matches(country_code, party_id) for p in self.forwards_for)

    def merged(self, other: Grants) -> Grants:
        """These grants plus ``other``'s (``partners grant`` adds, never removes)."""
        roles = list(self.roles) + [r for r in other.roles if r not in self.roles]
        parties = list(self.forwards_for) + [p for p in other.forwards_for
                                             if p not in self.forwards_for]
        return Grants(roles=roles, any_role=self.any_role or other.any_role,
                      forwards_for=parties, helpdesk=self.helpdesk or other.helpdesk)

    def describe(self) -> str:
        parts = ["any role"] if self.any_role else [r.label for r in self.roles]
        if self.forwards_for:
            parts.append("forwards for " + ",".join(p.key for p in self.forwards_for))
        if self.helpdesk:
            parts.append("helpdesk")
        return "; ".join(parts) or "nothing"


def parse_party(text: str) -> GrantedParty:
    """``DE-ABC`` → the party (CC-PARTY, case-insensitive)."""
    country, sep, party = text.strip().upper().partition("-")
    if not sep or len(country) != 2 or len(party) != 3 or not (country + party).isalnum():
        raise GrantError(f"{text!r}: expected COUNTRY-PARTY, e.g. DE-ABC")
    return GrantedParty(country_code=country, party_id=party)


def parse_role(text: str) -> GrantedRole:
    """``EMSP:DE-ABC`` → the role (ROLE:CC-PARTY)."""
    role, sep, party = text.strip().upper().partition(":")
    if not sep or role not in ROLES:
        raise GrantError(f"{text!r}: expected ROLE:COUNTRY-PARTY with ROLE one of "
                         f"{', '.join(sorted(ROLES))}, e.g. EMSP:DE-ABC")
    parsed = parse_party(party)
    return GrantedRole(role=role, country_code=parsed.country_code, party_id=parsed.party_id)


def grants_from_options(*, roles: Sequence[str] = (), hubs: Sequence[str] = (),
                        forwards_for: Sequence[str] = (), any_role: bool = False,
                        helpdesk: bool = False) -> Grants:
    """Grants from the CLI's flags: ``--role EMSP:DE-ABC`` (repeatable), ``--hub DE-HUB``
    (repeatable), ``--forwards-for DE-ABC,NL-XYZ`` (repeatable), ``--any-role``, ``--helpdesk``."""
    granted = [parse_role(r) for r in roles]
    granted += [GrantedRole(role=HUB, country_code=p.country_code, party_id=p.party_id)
                for p in map(parse_party, hubs)]
    parties = [parse_party(item) for text in forwards_for for item in text.split(",")
               if item.strip()]
    return Grants(roles=granted, any_role=any_role, forwards_for=parties, helpdesk=helpdesk)
