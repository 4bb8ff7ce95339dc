"""OCPI 2.3.0 Token: TokenType is an OpenEnum (EMAID is new; an unknown type is kept)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ocpi_gateway.tokens import models as internal
from ocpi_gateway.tokens.models import TokenType


class Token(internal.Token):
    """Identical to the internal Token, whose ``type`` is open."""


class LocationReferences(BaseModel):
    """The body of POST {token_uid}/authorize (a real-time authorization)."""

    model_config = ConfigDict(frozen=True)

    location_id: internal.CiString36
    evse_uids: list[internal.CiString36] | None = None


class Mapping230:
    def token_type(self, raw: str) -> TokenType | str:
        if not 0 < len(raw) <= 255:
            raise ValueError("a TokenType is a non-empty string")
        return TokenType(raw) if raw in TokenType._value2member_map_ else raw

    def to_internal(self, raw: Any) -> internal.Token:
        return internal.Token.model_validate(raw)

    def from_internal(self, token: internal.Token) -> Token:
        return Token.model_validate(token.model_dump())


    def location_references(self, refs: internal.LocationReferences) -> LocationReferences:
        return LocationReferences(location_id=refs.location_id,
                                  evse_uids=list(refs.evse_uids) or None)


MAPPING = Mapping230()
