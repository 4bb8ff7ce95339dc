"""Deciding whether a token presented at a charger may charge.

The OCPP adapter asks a :class:`TokenAuthorizer` on Authorize, StartTransaction (1.6) and
TransactionEvent (2.0.1); the OCPI side implements it from the Tokens module. The adapter
hands over the id token exactly as the charger sent it: for OCPP 1.6 that is the idTag, which
for an OCPI uid longer than 20 characters is :func:`domain.ids.ocpp16_id_tag` of the uid, so
an implementation must match a token by its uid and by that digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class AuthorizationStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizationDecision:
    status: AuthorizationStatus
    group_id: str | None = None
    """The group (OCPP 1.6 parentIdTag, 2.0.1 groupIdToken) the token belongs to, if any."""

    @property
    def accepted(self) -> bool:
        return self.status is AuthorizationStatus.ACCEPTED


class TokenAuthorizer(Protocol):
    async def authorize(self, charge_point_id: str, id_token: str) -> AuthorizationDecision: ...


class AcceptAllAuthorizer:
    """The in-process default until a real token source is wired: every token is accepted."""

    async def authorize(self, charge_point_id: str, id_token: str) -> AuthorizationDecision:
        return AuthorizationDecision(status=AuthorizationStatus.ACCEPTED)
