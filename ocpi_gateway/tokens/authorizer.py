"""Answers the OCPP adapter's authorization questions from the tokens eMSPs pushed, asking the
eMSP in real time where the token's whitelist says so."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ocpi_gateway.domain.authorization import AuthorizationDecision, AuthorizationStatus
from ocpi_gateway.tokens.models import Token, WhitelistType
from ocpi_gateway.tokens.realtime import RealtimeAuthorizer
from ocpi_gateway.tokens.repository import TokenRepository

_ASK_FIRST = frozenset({WhitelistType.NEVER, WhitelistType.ALLOWED_OFFLINE})


class TokenStoreAuthorizer:
    """Whitelist authorization from the Tokens module's cache, real-time where required.

    Tokens sent in RESERVE_NOW or START_SESSION were authorized by the eMSP already
    (mod_commands: no real-time authorization of them for 15 minutes); the Commands module
    remembers them and they are accepted while remembered.
    """

    def __init__(self, tokens: TokenRepository, realtime: RealtimeAuthorizer | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._tokens = tokens
        self._clock = clock
        self._realtime = realtime

    async def authorize(self, charge_point_id: str, id_token: str) -> AuthorizationDecision:
        candidates = await self._tokens.find_by_presented_id(id_token)
        until = await self._tokens.command_token_valid_until(id_token)
        commanded = until is not None and until > self._clock()
        if candidates:
            # Several eMSPs may have pushed the same card uid; any valid one admits the driver.
            decisions = [await self._decide(token, charge_point_id, commanded)
                         for token in candidates]
            return next((d for d in decisions if d.accepted), decisions[0])
        if commanded:
            return AuthorizationDecision(status=AuthorizationStatus.ACCEPTED)
        return AuthorizationDecision(status=AuthorizationStatus.INVALID)

    async def _decide(self, token: Token, charge_point_id: str, commanded: bool
                      ) -> AuthorizationDecision:
        if not token.valid:
            return AuthorizationDecision(status=AuthorizationStatus.BLOCKED,
                                         group_id=token.group_id)
        if token.whitelist in _ASK_FIRST and not commanded:
            answer = await self._realtime.ask(token, charge_point_id) if self._realtime else None
            if answer is not None:
                return AuthorizationDecision(status=answer, group_id=token.group_id)
            if token.whitelist is WhitelistType.NEVER:
                # No answer, and the eMSP forbids whitelisting: the driver cannot be admitted.
                return AuthorizationDecision(status=AuthorizationStatus.INVALID,
                                             group_id=token.group_id)
        return AuthorizationDecision(status=AuthorizationStatus.ACCEPTED, group_id=token.group_id)
