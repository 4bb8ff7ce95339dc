"""OCPI 2.2.1 Token: TokenType is closed (no EMAID, no value of an OpenEnum)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from ocpi_gateway.ocpi.shared.tokens import SharedTokens
from ocpi_gateway.tokens import models as internal
from ocpi_gateway.tokens.models import TokenType

NOT_IN_2_2_1 = frozenset({TokenType.EMAID})


def _closed(value: TokenType) -> TokenType:
    if value in NOT_IN_2_2_1:
        raise ValueError(f"{value.value} is not an OCPI 2.2.1 TokenType")
    return value


TokenType221 = Annotated[TokenType, AfterValidator(_closed)]


class Token(internal.Token):
    type: TokenType221


class Mapping221(SharedTokens):
    def token_type(self, raw: str) -> TokenType:
        """The ``type`` query parameter; ValueError for what 2.2.1 does not list."""
        return _closed(TokenType(raw))

    def to_internal(self, raw: Any) -> internal.Token:
        """A Token received in 2.2.1; pydantic's ValidationError when it is not one."""
        return internal.Token.model_validate(Token.model_validate(raw).model_dump())

    def from_internal(self, token: internal.Token) -> Token:
        # A token stored through 2.3.0 with a type 2.2.1 lacks reads as OTHER.
        fields = token.model_dump()
        if fields["type"] not in TokenType._value2member_map_ or fields["type"] in NOT_IN_2_2_1:
            fields["type"] = TokenType.OTHER
        return Token.model_validate(fields)


MAPPING = Mapping221()
