"""Answers the OCPP adapter's authorization questions from the tokens eMSPs pushed."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.authorization import AuthorizationDecision, AuthorizationStatus
from ocpi_gateway.tokens.models import Token, WhitelistType
from ocpi_gateway.tokens.repository import TokenRepository


def decide(token: Token) -> AuthorizationDecision:
    if not token.valid:
        return AuthorizationDecision(status=AuthorizationStatus.BLOCKED, group_id=token.group_id)
    if token.whitelist is WhitelistType.NEVER:
        # Real-time authorization at the eMSP is required for these and is not offered yet.
        return AuthorizationDecision(status=AuthorizationStatus.UNKNOWN, group_id=token.group_id)
    return AuthorizationDecision(status=AuthorizationStatus.ACCEPTED, group_id=token.group_id)


class TokenStoreAuthorizer:
    """Whitelist authorization from the Tokens module's cache.

    Tokens sent in RESERVE_NOW or START_SESSION need no push (mod_commands: the eMSP authorized
    them already); the Commands module remembers them and they are accepted while remembered.
    """

    def __init__(self, tokens: TokenRepository) -> None:
        self._tokens = tokens

    async def authorize(self, charge_point_id: str, id_token: str) -> AuthorizationDecision:
        candidates = await self._tokens.find_by_presented_id(id_token)
        if candidates:
            # Several eMSPs may have pushed the same card uid; any valid one admits the driver.
            decisions = [decide(token) for token in candidates]
            return next((d for d in decisions if d.accepted), decisions[0])
        until = await self._tokens.command_token_valid_until(id_token)
        if until is not None and until > datetime.now(UTC):
            return AuthorizationDecision(status=AuthorizationStatus.ACCEPTED)
        return AuthorizationDecision(status=AuthorizationStatus.INVALID)
