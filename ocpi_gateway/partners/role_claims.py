"""One partner per role: a claim per ``ROLE:CC-PARTY`` (collection ``partner_role_claims``),
taken with an atomic insert before a handshake stores its roles.

Reading the registered partners first is not enough when two partners the operator granted the
same role register at the same instant: both would see nobody holding it. The insert lets
exactly one of them have it. A claim whose owner is gone (unregistered, revoked, deleted) is
taken over at once; one whose owner has not finished registering lapses after
:data:`PENDING_CLAIM_SECONDS`, so a handshake that died midway does not block the role.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum

from ocpi_gateway.domain.store import DocumentStore

CLAIMS = "partner_role_claims"
PENDING_CLAIM_SECONDS = 120.0


class OwnerState(Enum):
    HOLDS = "holds"
    """A registered partner holding the role."""
    PENDING = "pending"
    """A partner whose handshake may still be storing the role."""
    GONE = "gone"


OwnerLookup = Callable[[str, str], Awaitable[OwnerState]]
"""(owner partner id, claim key) → what the owner is to that role."""


class RoleClaims:
    def __init__(self, store: DocumentStore, owner_state: OwnerLookup, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._owner_state = owner_state
        self._clock = clock

    async def claim(self, partner_id: str, keys: Iterable[str]) -> list[str]:
        """Claim every key for ``partner_id``; returns the keys another partner holds (the
        others are claimed, also when some are taken)."""
        return [key for key in keys if not await self._claim_one(partner_id, key)]

    async def _claim_one(self, partner_id: str, key: str) -> bool:
        mine = {"key": key, "partner_id": partner_id, "claimed_at": self._clock()}
        for _ in range(3):  # the holder may release or lose it between our reads
            if await self._store.insert(CLAIMS, key, mine):
                return True
            current = await self._store.get(CLAIMS, key)
            if current is None:
                continue
            owner = str(current["partner_id"])
            if owner == partner_id:
                return True
            state = await self._owner_state(owner, key)
            if state is OwnerState.HOLDS or (
                    state is OwnerState.PENDING
                    and self._clock() - float(current["claimed_at"]) < PENDING_CLAIM_SECONDS):
                return False
            if await self._store.replace_if(CLAIMS, key, mine, expected={
                    "partner_id": owner, "claimed_at": current["claimed_at"]}):
                return True
        return False

    async def release(self, partner_id: str, *, keep: Iterable[str] = ()) -> None:
        """Drop the partner's claims, but those in ``keep``."""
        kept = set(keep)
        for doc in await self._store.find(CLAIMS, {"partner_id": partner_id}):
            if doc["key"] not in kept:
                await self._store.delete(CLAIMS, str(doc["key"]))


def claim_key(role: str, country_code: str, party_id: str) -> str:
    return f"{role}:{country_code}-{party_id}".upper()
