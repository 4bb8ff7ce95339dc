"""Reservation records in the DocumentStore, with their state machine.

Every change is a compare-and-set on ``version`` (``DocumentStore.replace_if``), so that two
gateway instances, or an expiry and a use arriving together, never both win a transition.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.domain.store import Cursor, Document, DocumentStore, Range, Where
from ocpi_gateway.reservation_policy.models import Partner

log = structlog.get_logger(__name__)

COLLECTION = "reservations"


class ReservationState(StrEnum):
    PENDING = "PENDING"
    """Held in availability, ReserveNow sent, no answer yet."""
    ACTIVE = "ACTIVE"
    REROUTED = "REROUTED"
    """Alive at a replacement EVSE after the charger removed the original one."""
    USED = "USED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    REMOVED = "REMOVED"
    """Ended by the CPO's side: the charger (fault, unavailable) with no EVSE left to move
    it to, or an operator (its reason starts with ``OPERATOR_CANCELLED``)."""
    FAILED = "FAILED"
    """No charger accepted it: it never became active."""


OPERATOR_CANCELLED = "cancelled by the operator"
"""How a REMOVED reservation's last reason starts when an operator ended it."""

LIVE_STATES = frozenset({ReservationState.PENDING, ReservationState.ACTIVE,
                         ReservationState.REROUTED})

_ALLOWED: dict[ReservationState, frozenset[ReservationState]] = {
    ReservationState.PENDING: frozenset({
        ReservationState.PENDING, ReservationState.ACTIVE, ReservationState.REROUTED,
        ReservationState.FAILED, ReservationState.CANCELLED, ReservationState.EXPIRED,
        ReservationState.REMOVED,
        ReservationState.USED}),
    ReservationState.ACTIVE: frozenset({
        ReservationState.PENDING, ReservationState.ACTIVE, ReservationState.USED,
        ReservationState.EXPIRED, ReservationState.CANCELLED, ReservationState.REMOVED,
        ReservationState.REROUTED}),
}
_ALLOWED[ReservationState.REROUTED] = _ALLOWED[ReservationState.ACTIVE]


class TransitionError(Exception):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerTarget:
    """Where a ReserveNow went: stored on the record before it is sent, so that a crash
    while the charger is asked leaves the gateway knowing what to cancel there."""

    location_id: str
    evse_uid: str
    charge_point_id: str
    ocpp_reservation_id: int
    evse_id: int | None = None
    connector_id: int | None = None
    whole_charger: bool = False
    sent_at: datetime

    def to_doc(self) -> Document:
        doc = {name: getattr(self, name) for name in _TARGET_FIELDS}
        doc["sent_at"] = self.sent_at.isoformat()
        return doc

    @classmethod
    def from_doc(cls, doc: Document) -> ChargerTarget:
        data = {k: v for k, v in doc.items() if k in _TARGET_FIELDS}
        data["sent_at"] = datetime.fromisoformat(data["sent_at"])
        return cls(**data)


_TARGET_FIELDS = tuple(ChargerTarget.__dataclass_fields__)


BOOKED = "\u00a7BOOKING/"
"""The reservation id of a booking's binding starts so: "\u00a7" is no CiString character,
so no eMSP's RESERVE_NOW id can take it."""


def booked_reservation_id(booking_id: str) -> str:
    return f"{BOOKED}{booking_id}"


def reservation_key(partner: Partner, reservation_id: str) -> str:
    # OCPI reservation ids are CiString: case-insensitive, scoped per eMSP role.
    return f"{partner.key}/{reservation_id.upper()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    key: str
    country_code: str
    party_id: str
    reservation_id: str
    location_id: str
    token_uid: str
    token_type: str
    expiry: datetime
    """The expiry the eMSP asked for."""
    state: ReservationState
    requested_evse_uid: str | None = None
    connector_standard: str | None = None
    min_power_w: int | None = None
    group_id_token: str | None = None
    evse_uid: str | None = None
    """The EVSE held for it in availability."""
    charge_point_id: str | None = None
    ocpp_reservation_id: int | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    whole_charger: bool = False
    grace_seconds: float = 0.0
    """The grace period after ``expiry`` (the policy's ``grace_minutes`` when it was made)."""
    booking_key: str | None = None
    """The booking this reservation binds (its late binding); None for a RESERVE_NOW."""
    cap_slot: int | None = None
    """The partner-cap slot it holds (see partner_cap), when a cap applied."""
    attempt: ChargerTarget | None = None
    """A ReserveNow sent whose outcome is not on the record yet (in flight, or a late accept
    not yet withdrawn): recovery cancels it at the charger when no worker will."""
    version: int = 0
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)
    history: tuple[dict[str, Any], ...] = ()

    @property
    def partner(self) -> Partner:
        return Partner(self.country_code, self.party_id)

    @property
    def ends_at(self) -> datetime:
        """When it ends unused: the expiry and the grace period after it (the charger's
        ReserveNow expiry, the hold's end, the expiry clock's moment)."""
        return self.expiry + timedelta(seconds=self.grace_seconds)

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def unsettled(self) -> bool:
        """Whether recovery may have something to settle: a ReserveNow whose outcome is not
        on the record, or a record that never became active."""
        return self.attempt is not None or self.state is ReservationState.PENDING

    @property
    def ids(self) -> dict[str, Any]:
        """The ids every log line about this reservation carries."""
        return {"reservation_key": self.key, "location_id": self.location_id,
                "evse_uid": self.evse_uid, "charge_point_id": self.charge_point_id,
                "ocpp_reservation_id": self.ocpp_reservation_id}

    def to_doc(self) -> Document:
        # Field by field, not asdict(): asdict deep-copies the history on every transition.
        doc = {name: getattr(self, name) for name in _FIELD_NAMES}
        doc["state"] = self.state.value
        doc["live"] = self.live
        doc["unsettled"] = self.unsettled
        doc["attempt"] = self.attempt.to_doc() if self.attempt is not None else None
        doc["expiry"] = self.expiry.isoformat()
        doc["expiry_ts"] = self.ends_at.timestamp()
        doc["created_at"] = self.created_at.isoformat()
        doc["created_ts"] = self.created_at.timestamp()  # the admin API's range and order
        doc["updated_at"] = self.updated_at.isoformat()
        doc["history"] = list(self.history)
        doc["partner_key"] = self.partner.key
        return doc

    @classmethod
    def from_doc(cls, doc: Document) -> Reservation:
        # Derived query fields and any field a later version adds are not constructor args.
        data = {k: v for k, v in doc.items() if k in _FIELDS}
        data["state"] = ReservationState(data["state"])
        for name in ("expiry", "created_at", "updated_at"):
            data[name] = datetime.fromisoformat(data[name])
        data["history"] = tuple(data.get("history", ()))
        if data.get("attempt") is not None:
            data["attempt"] = ChargerTarget.from_doc(data["attempt"])
        return cls(**data)


_FIELDS = frozenset(Reservation.__dataclass_fields__)
_FIELD_NAMES = tuple(Reservation.__dataclass_fields__)


class ReservationRepository:
    def __init__(self, store: DocumentStore, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        # Stamps on the service's clock: recovery compares them with it (stale_after).
        self._clock = clock

    async def get(self, key: str) -> Reservation | None:
        doc = await self._store.get(COLLECTION, key)
        return Reservation.from_doc(doc) if doc else None

    async def start(self, reservation: Reservation, previous: Reservation | None
                    ) -> Reservation | None:
        """Store a new reservation under its key; ``previous`` is an ended one it overwrites
        (an eMSP may reuse an id once its reservation is over). None when another writer won."""
        version = previous.version + 1 if previous is not None else 0
        now = self._clock()
        fresh = _with_entry(replace(reservation, version=version, created_at=now,
                                    updated_at=now), None, "created")
        if previous is None:
            ok = await self._store.insert(COLLECTION, fresh.key, fresh.to_doc())
        else:
            ok = await self._store.replace_if(COLLECTION, fresh.key, fresh.to_doc(),
                                              expected={"version": previous.version})
        if not ok:
            return None
        log.info("reservation_transition", to=fresh.state.value, reason="created", **fresh.ids)
        return fresh

    async def transition(self, current: Reservation, state: ReservationState, *, reason: str,
                         **changes: Any) -> Reservation | None:
        """Move ``current`` to ``state`` with ``changes``; None when another writer won."""
        if state not in _ALLOWED.get(current.state, frozenset()):
            raise TransitionError(f"{current.state.value} -> {state.value} is not allowed")
        updated = replace(current, state=state, version=current.version + 1,
                          updated_at=self._clock(), **changes)
        updated = _with_entry(updated, current.state, reason)
        ok = await self._store.replace_if(COLLECTION, current.key, updated.to_doc(),
                                          expected={"version": current.version})
        if not ok:
            log.info("reservation_transition_lost", wanted=state.value, reason=reason,
                     **current.ids)
            return None
        log.info("reservation_transition", from_=current.state.value, to=state.value,
                 reason=reason, **updated.ids)
        return updated

    async def settle_attempt(self, current: Reservation, *, reason: str
                             ) -> Reservation | None:
        """Drop the record's attempt (its outcome is known now), whatever the state; None
        when another writer won."""
        updated = _with_entry(replace(current, attempt=None, version=current.version + 1,
                                      updated_at=self._clock()), current.state, reason)
        if not await self._store.replace_if(COLLECTION, current.key, updated.to_doc(),
                                            expected={"version": current.version}):
            return None
        log.info("reservation_attempt_settled", reason=reason, **updated.ids)
        return updated

    async def unsettled(self, *, written_before_the_field: bool = False
                        ) -> list[Reservation]:
        """Records recovery may have to settle (see ``Reservation.unsettled``).
        ``written_before_the_field``: also live PENDING records stored by a version that did
        not write ``unsettled`` (left by a crash before the upgrade)."""
        docs = await self._store.find(COLLECTION, {"unsettled": True})
        if written_before_the_field:
            seen = {d["key"] for d in docs}
            docs += [d for d in await self._store.find(
                COLLECTION, {"live": True, "state": ReservationState.PENDING.value})
                if "unsettled" not in d and d["key"] not in seen]
        return [Reservation.from_doc(d) for d in docs]

    async def live(self, **where: Any) -> list[Reservation]:
        docs = await self._store.find(COLLECTION, {"live": True, **where})
        return [Reservation.from_doc(d) for d in docs]

    async def count_live(self, partner: Partner) -> int:
        return await self._store.count(COLLECTION, {"live": True, "partner_key": partner.key})

    async def due(self, now: datetime, limit: int = 100) -> list[Reservation]:
        """Live reservations whose expiry and grace period have passed, earliest first: the
        first ``limit`` (``walk_due`` reads them all)."""
        async for page in self.walk_due(now, limit):
            return page
        return []

    async def walk_due(self, now: datetime, page_size: int = 100
                       ) -> AsyncIterator[list[Reservation]]:
        """Every reservation ``due``, page by page. Keyset pages: ending what was read takes
        it out of the query without shifting the next page, and one the caller leaves live
        (another writer won) does not fill the page the next ones would be on."""
        where: Where = {"live": True, "expiry_ts": Range(lte=now.timestamp())}
        after: Cursor | None = None
        while True:
            page = await self._store.find_page(COLLECTION, where, order_by="expiry_ts",
                                               limit=page_size, after=after)
            if page.docs:
                yield [Reservation.from_doc(d) for d in page.docs]
            if page.next is None:
                return
            after = page.next


def _with_entry(r: Reservation, previous: ReservationState | None, reason: str) -> Reservation:
    entry: dict[str, Any] = {
        "at": r.updated_at.isoformat(), "from": previous.value if previous else None,
        "to": r.state.value, "reason": reason, "evse_uid": r.evse_uid,
        "charge_point_id": r.charge_point_id, "ocpp_reservation_id": r.ocpp_reservation_id}
    if r.attempt is not None:
        entry["attempt"] = {"charge_point_id": r.attempt.charge_point_id,
                            "evse_uid": r.attempt.evse_uid,
                            "ocpp_reservation_id": r.attempt.ocpp_reservation_id}
    return replace(r, history=(*r.history, entry))
