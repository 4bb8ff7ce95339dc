"""Tokens pushed by eMSPs, kept in the durable store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocpi_gateway.domain.ids import ocpp16_id_tag
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.tokens.models import OpenTokenType, Token

COLLECTION = "tokens"
COMMAND_TOKENS = "command_tokens"


def token_key(country_code: str, party_id: str, uid: str, token_type: OpenTokenType) -> str:
    # CiStrings compare case-insensitively, uid included (mod_tokens: CiString(36)); the
    # token itself keeps the uid as sent (card readers differ on case).
    return f"{country_code.upper()}/{party_id.upper()}/{token_type}/{uid.upper()}"


class TokenRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def get(
        self, country_code: str, party_id: str, uid: str, token_type: OpenTokenType
    ) -> Token | None:
        doc = await self._store.get(COLLECTION, token_key(country_code, party_id, uid, token_type))
        return Token.model_validate(doc["token"]) if doc else None

    async def put(self, token: Token) -> None:
        doc: dict[str, Any] = {
            "token": token.model_dump(mode="json"),
            # Upper-cased: a charger's idTag is case-insensitive too (1.6 CiString20Type).
            "uid": token.uid.upper(),
            # 1.6 chargers know long uids only by their digest; index it for Authorize.
            "id_tag_16": ocpp16_id_tag(token.uid).upper(),
        }
        key = token_key(token.country_code, token.party_id, token.uid, token.type)
        await self._store.put(COLLECTION, key, doc)

    async def find_by_presented_id(self, id_token: str) -> list[Token]:
        """Tokens a charger may mean by ``id_token``: the uid itself or its 1.6 digest."""
        presented = id_token.upper()
        docs = await self._store.find(COLLECTION, {"uid": presented})
        if not docs:
            docs = await self._store.find(COLLECTION, {"id_tag_16": presented})
        return [Token.model_validate(doc["token"]) for doc in docs]

    async def remember_command_token(self, uid: str, until: datetime) -> None:
        """A token an eMSP used in RESERVE_NOW or START_SESSION: authorized by the eMSP already
        (mod_commands), so the charger's Authorize for it is accepted until ``until``."""
        doc = {"uid": uid.upper(), "id_tag_16": ocpp16_id_tag(uid).upper(),
               "until": until.isoformat()}
        await self._store.put(COMMAND_TOKENS, uid.upper(), doc)

    async def forget_expired_command_tokens(self, now: datetime) -> int:
        forgotten = 0
        for doc in await self._store.find(COMMAND_TOKENS):
            if datetime.fromisoformat(doc["until"]) < now:
                forgotten += await self._store.delete(COMMAND_TOKENS, str(doc["uid"]))
        return forgotten

    async def command_token_valid_until(self, id_token: str) -> datetime | None:
        presented = id_token.upper()
        docs = await self._store.find(COMMAND_TOKENS, {"uid": presented})
        if not docs:
            docs = await self._store.find(COMMAND_TOKENS, {"id_tag_16": presented})
        if not docs:
            return None
        return max(datetime.fromisoformat(doc["until"]) for doc in docs)
