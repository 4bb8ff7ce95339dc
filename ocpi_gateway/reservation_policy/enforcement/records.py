"""Unused reservations and bookings in the DocumentStore, recorded against their token and
their eMSP, and per eMSP and UTC day how many ended and how many of those unused (the
no-show rate's window).

A token is its eMSP's: OCPI token uids are unique per eMSP role (and CiStrings), so every
record is keyed by the eMSP's party and the uid in upper case, never by the uid alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from ocpi_gateway.domain.store import Document, DocumentStore
from ocpi_gateway.reservation_policy.models import Partner

NO_SHOWS = "no_shows"
STATS = "no_show_stats"
STATS_KEPT_DAYS = 366
"""Daily counts older than this are dropped (the longest rate window is a year)."""
CAS_ATTEMPTS = 20
"""Compare-and-set retries of a daily count: every instance may count at once."""


class UnusedKind(StrEnum):
    RESERVATION = "reservation"
    """A RESERVE_NOW reservation that expired (past its grace period) unused."""
    BOOKING = "booking"
    """A booking that ended NO_SHOW."""


def token_key(partner: Partner, token_uid: str) -> str:
    """One eMSP's token: ``NL-ABC/04A1B2``."""
    return f"{partner.key}/{token_uid.upper()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NoShow:
    kind: UnusedKind
    country_code: str
    party_id: str
    token_uid: str
    reference: str
    """The eMSP's reservation id or booking id."""
    location_id: str
    evse_uid: str | None
    reserved_at: datetime
    """When the reservation was made; a booking's slot start."""
    expired_at: datetime
    """When it ended unused: the expiry the eMSP asked for (the grace period after it
    passed too), or a booking's no-show time."""
    recorded_at: datetime

    @property
    def partner(self) -> Partner:
        return Partner(self.country_code, self.party_id)

    @property
    def token_key(self) -> str:
        return token_key(self.partner, self.token_uid)

    @property
    def key(self) -> str:
        # An eMSP may reuse a reservation id once its reservation is over: the moment it was
        # made tells two uses apart, and the same end recorded twice is one record.
        key = (f"{self.kind.value}:{self.partner.key}/{self.reference.upper()}"
               f"@{self.reserved_at.isoformat()}")
        # A booking may name several tokens: one record each.
        return key if self.kind is UnusedKind.RESERVATION else f"{key}#{self.token_uid.upper()}"

    @property
    def ids(self) -> dict[str, str | None]:
        """What every log line about it carries."""
        return {"no_show_key": self.key, "partner_key": self.partner.key,
                "token_uid": self.token_uid, "location_id": self.location_id,
                "evse_uid": self.evse_uid}

    def to_doc(self) -> Document:
        return {"key": self.key, "kind": self.kind.value, "country_code": self.country_code,
                "party_id": self.party_id, "token_uid": self.token_uid,
                "reference": self.reference, "location_id": self.location_id,
                "evse_uid": self.evse_uid, "reserved_at": self.reserved_at.isoformat(),
                "expired_at": self.expired_at.isoformat(),
                "recorded_at": self.recorded_at.isoformat(),
                "recorded_ts": self.recorded_at.timestamp(),
                "partner_key": self.partner.key, "token_key": self.token_key}

    @classmethod
    def from_doc(cls, doc: Document) -> NoShow:
        return cls(kind=UnusedKind(doc["kind"]), country_code=doc["country_code"],
                   party_id=doc["party_id"], token_uid=doc["token_uid"],
                   reference=doc["reference"], location_id=doc["location_id"],
                   evse_uid=doc["evse_uid"],
                   reserved_at=datetime.fromisoformat(doc["reserved_at"]),
                   expired_at=datetime.fromisoformat(doc["expired_at"]),
                   recorded_at=datetime.fromisoformat(doc["recorded_at"]))


class NoShowRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def add(self, record: NoShow) -> bool:
        """False when this end was recorded already (two instances heard of it)."""
        return await self._store.insert(NO_SHOWS, record.key, record.to_doc())

    async def of_token(self, partner: Partner, token_uid: str) -> list[NoShow]:
        """The token's no-shows, oldest first."""
        docs = await self._store.find(NO_SHOWS, {"token_key": token_key(partner, token_uid)},
                                      order_by="recorded_ts")
        return [NoShow.from_doc(d) for d in docs]

    async def of_partner(self, partner: Partner, *, limit: int | None = None
                         ) -> list[NoShow]:
        """The eMSP's no-shows, oldest first."""
        docs = await self._store.find(NO_SHOWS, {"partner_key": partner.key},
                                      order_by="recorded_ts", limit=limit)
        return [NoShow.from_doc(d) for d in docs]


@dataclass(frozen=True, slots=True)
class EndedCounts:
    """What ended within a window: used and unused, and how many of them unused."""

    ended: int = 0
    no_shows: int = 0

    @property
    def share(self) -> float:
        return self.no_shows / self.ended if self.ended else 0.0


class DailyCounts:
    """Per eMSP and UTC day: how many reservations and bookings ended (used or unused) and
    how many unused. Counted by compare-and-set, so that instances count at once."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    @staticmethod
    def _key(partner: Partner, day: date) -> str:
        return f"{partner.key}/{day.isoformat()}"

    async def count(self, partner: Partner, at: datetime, *, unused: bool) -> bool:
        """One more ended on ``at``'s day (``unused``: as a no-show); False when every
        compare-and-set lost (logged by the caller, never raised: a count is not worth a
        failed transition)."""
        day = at.date()
        key = self._key(partner, day)
        for _ in range(CAS_ATTEMPTS):
            current = await self._store.get(STATS, key)
            if current is None:
                fresh = {"partner_key": partner.key, "day": day.isoformat(), "ended": 1,
                         "no_shows": int(unused), "version": 0}
                if await self._store.insert(STATS, key, fresh):
                    await self._prune(partner, day)
                    return True
                continue
            updated = {**current, "ended": current["ended"] + 1,
                       "no_shows": current["no_shows"] + int(unused),
                       "version": current["version"] + 1}
            if await self._store.replace_if(STATS, key, updated,
                                            expected={"version": current["version"]}):
                return True
        return False

    async def _prune(self, partner: Partner, today: date) -> None:
        oldest = (today - timedelta(days=STATS_KEPT_DAYS)).isoformat()
        for doc in await self._store.find(STATS, {"partner_key": partner.key}):
            if doc["day"] < oldest:
                await self._store.delete(STATS, self._key(partner, date.fromisoformat(
                    doc["day"])))

    async def window(self, partner: Partner, now: datetime, days: float) -> EndedCounts:
        """What ended from the UTC day ``days`` before ``now`` up to now."""
        first = (now - timedelta(days=days)).date().isoformat()
        ended = unused = 0
        for doc in await self._store.find(STATS, {"partner_key": partner.key}):
            if doc["day"] >= first:
                ended += doc["ended"]
                unused += doc["no_shows"]
        return EndedCounts(ended, unused)
