"""OCPI 2.3.0 Token: TokenType is an OpenEnum (EMAID is new; an unknown type is kept)."""

from __future__ import annotations

from typing import Any

from ocpi_gateway.ocpi.shared.tokens import SharedTokens
from ocpi_gateway.tokens import models as internal
from ocpi_gateway.tokens.models import TokenType


class Token(internal.Token):
    """Identical to the internal Token, whose ``type`` is open."""


class Mapping230(SharedTokens):
    def token_type(self, raw: str) -> TokenType | str:
        if not 0 < len(raw) <= 255:
            raise ValueError("a TokenType is a non-empty string")
        return TokenType(raw) if raw in TokenType._value2member_map_ else raw

    def to_internal(self, raw: Any) -> internal.Token:
        return internal.Token.model_validate(raw)

    def from_internal(self, token: internal.Token) -> Token:
        return Token.model_validate(token.model_dump())


MAPPING = Mapping230()
