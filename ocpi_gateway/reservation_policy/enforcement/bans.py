"""Bans of tokens in the DocumentStore: one document per token of an eMSP (keyed as the
no-show records are), holding the current or last ban and the history of earlier ones.

Every change is a compare-and-set on ``version``, so that two instances recording a no-show
of the same token at once, or an operator lifting a ban while a no-show arrives, never
overwrite each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from ocpi_gateway.domain.store import Document, DocumentStore
from ocpi_gateway.reservation_policy.enforcement.records import token_key
from ocpi_gateway.reservation_policy.models import Partner

BANS = "token_bans"


class BanSource(StrEnum):
    NO_SHOWS = "no_shows"
    """The token reached the policy's ``no_show_strikes``."""
    OPERATOR = "operator"
    """Set by the operator (CLI, admin API)."""


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _moment(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ban:
    country_code: str
    party_id: str
    token_uid: str
    since: datetime
    until: datetime
    source: BanSource
    reason: str
    """Why, in words the eMSP is told: the strikes, or the operator's text."""
    by: str
    """Who set it: ``policy`` or the operator's name."""
    no_shows: tuple[str, ...] = ()
    """The no-show records that caused it (``NoShow.key``)."""
    lifted_at: datetime | None = None
    lifted_by: str | None = None
    lift_reason: str | None = None
    strikes_from: datetime | None = None
    """No-shows recorded at or before this moment no longer count as strikes: consumed by a
    ban they caused, or forgiven by a lift."""
    version: int = 0
    history: tuple[dict[str, Any], ...] = field(default=())
    """Earlier bans of the token, oldest first."""

    @property
    def partner(self) -> Partner:
        return Partner(self.country_code, self.party_id)

    @property
    def key(self) -> str:
        return token_key(self.partner, self.token_uid)

    def active(self, now: datetime) -> bool:
        return self.lifted_at is None and now < self.until

    @property
    def ids(self) -> dict[str, Any]:
        return {"ban_key": self.key, "partner_key": self.partner.key,
                "token_uid": self.token_uid, "source": self.source.value,
                "until": self.until.isoformat()}

    def summary(self) -> dict[str, Any]:
        """The ban as a history entry."""
        return {"since": self.since.isoformat(), "until": self.until.isoformat(),
                "source": self.source.value, "reason": self.reason, "by": self.by,
                "no_shows": list(self.no_shows), "lifted_at": _iso(self.lifted_at),
                "lifted_by": self.lifted_by, "lift_reason": self.lift_reason}

    def succeeded_by(self, new: Ban) -> Ban:
        """``new`` in this document's place: this ban goes to the history."""
        return replace(new, version=self.version + 1,
                       history=(*self.history, self.summary()))

    def to_doc(self) -> Document:
        return {"key": self.key, "country_code": self.country_code,
                "party_id": self.party_id, "token_uid": self.token_uid,
                "since": self.since.isoformat(), "until": self.until.isoformat(),
                "until_ts": self.until.timestamp(), "source": self.source.value,
                "reason": self.reason, "by": self.by, "no_shows": list(self.no_shows),
                "lifted_at": _iso(self.lifted_at), "lifted_by": self.lifted_by,
                "lift_reason": self.lift_reason, "strikes_from": _iso(self.strikes_from),
                "version": self.version, "history": list(self.history),
                "partner_key": self.partner.key}

    @classmethod
    def from_doc(cls, doc: Document) -> Ban:
        return cls(country_code=doc["country_code"], party_id=doc["party_id"],
                   token_uid=doc["token_uid"], since=datetime.fromisoformat(doc["since"]),
                   until=datetime.fromisoformat(doc["until"]), source=BanSource(doc["source"]),
                   reason=doc["reason"], by=doc["by"], no_shows=tuple(doc["no_shows"]),
                   lifted_at=_moment(doc["lifted_at"]), lifted_by=doc["lifted_by"],
                   lift_reason=doc["lift_reason"], strikes_from=_moment(doc["strikes_from"]),
                   version=doc["version"], history=tuple(doc["history"]))


class BanRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def get(self, partner: Partner, token_uid: str) -> Ban | None:
        doc = await self._store.get(BANS, token_key(partner, token_uid))
        return Ban.from_doc(doc) if doc is not None else None

    async def write(self, ban: Ban, previous: Ban | None) -> bool:
        """Store ``ban`` in place of ``previous`` (None: the token had no document); False
        when another writer changed it meanwhile."""
        if previous is None:
            return await self._store.insert(BANS, ban.key, ban.to_doc())
        return await self._store.replace_if(BANS, ban.key, ban.to_doc(),
                                            expected={"version": previous.version})

    async def all(self, partner: Partner | None = None) -> list[Ban]:
        """Every token's document (of one eMSP), the latest ``until`` first."""
        where = {"partner_key": partner.key} if partner is not None else None
        docs = await self._store.find(BANS, where, order_by="until_ts")
        return [Ban.from_doc(d) for d in reversed(docs)]
