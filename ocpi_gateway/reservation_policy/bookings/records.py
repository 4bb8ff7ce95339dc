"""Booking records (the durable store's ``bookings`` collection) in the internal model.

A record holds what the eMSP asked (``BookingAsk``, every request kept with its status), what
the gateway promised (the period, the terms accepted, the capacity promise) and, once bound,
the EVSE and the OCPP reservation. The OCPI 2.3.0 objects are built from it by
``ocpi/v2_3_0/bookings.py``; nothing here knows OCPI's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.domain.store import Document
from ocpi_gateway.reservation_policy.bookings.states import (
    LIVE_STATES,
    BookingState,
    CanceledBy,
    CancelReason,
    RequestStatus,
)
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.policy import BookingTerms

COLLECTION = "bookings"


def _dt(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _opt_dt(value: str | None) -> datetime | None:
    return _dt(value) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class BookingToken:
    country_code: str
    party_id: str
    uid: str
    type: str
    contract_id: str

    def to_doc(self) -> Document:
        return {"country_code": self.country_code, "party_id": self.party_id,
                "uid": self.uid, "type": self.type, "contract_id": self.contract_id}

    @classmethod
    def from_doc(cls, doc: Document) -> BookingToken:
        return cls(doc["country_code"], doc["party_id"], doc["uid"], doc["type"],
                   doc["contract_id"])


@dataclass(frozen=True, slots=True)
class Access:
    """An AccessInformation: how the driver gets in (``method`` an AccessMethod)."""

    method: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Cancellation:
    reason: CancelReason
    by: CanceledBy


@dataclass(frozen=True, slots=True)
class BookingChoice:
    """The BookingOption an eMSP selected: what it must be able to charge with. The
    parking attributes (vehicle sizes, drive through...) are kept to be echoed back."""

    evse_uid: str | None = None
    connector_id: str | None = None
    parking_id: str | None = None
    connector_types: tuple[str, ...] = ()
    power_types: tuple[str, ...] = ()
    connector_format: tuple[str, ...] = ()
    evse_position: tuple[str, ...] = ()
    vehicle_types: tuple[str, ...] = ()
    parking: tuple[tuple[str, float | bool], ...] = ()

    def to_doc(self) -> Document:
        return {"evse_uid": self.evse_uid, "connector_id": self.connector_id,
                "parking_id": self.parking_id, "connector_types": list(self.connector_types),
                "power_types": list(self.power_types),
                "connector_format": list(self.connector_format),
                "evse_position": list(self.evse_position),
                "vehicle_types": list(self.vehicle_types),
                "parking": dict(self.parking)}

    @classmethod
    def from_doc(cls, doc: Document) -> BookingChoice:
        return cls(doc.get("evse_uid"), doc.get("connector_id"), doc.get("parking_id"),
                   tuple(doc.get("connector_types", ())), tuple(doc.get("power_types", ())),
                   tuple(doc.get("connector_format", ())), tuple(doc.get("evse_position", ())),
                   tuple(doc.get("vehicle_types", ())),
                   tuple(sorted(doc.get("parking", {}).items())))


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingAsk:
    """One BookingRequest as received (the first, a change, or a cancellation)."""

    request_id: str
    location_id: str
    booking_location_id: str
    start: datetime
    end: datetime
    authorization_reference: str
    country_code: str
    """The requesting eMSP, as the body names it."""
    party_id: str
    tokens: tuple[BookingToken, ...] = ()
    access: tuple[Access, ...] = ()
    choice: BookingChoice | None = None
    power_required_kw: int | None = None
    canceled: Cancellation | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))

    @property
    def is_cancellation(self) -> bool:
        return self.canceled is not None

    def to_doc(self) -> Document:
        return {"request_id": self.request_id, "location_id": self.location_id,
                "booking_location_id": self.booking_location_id,
                "start": self.start.isoformat(), "end": self.end.isoformat(),
                "authorization_reference": self.authorization_reference,
                "country_code": self.country_code, "party_id": self.party_id,
                "tokens": [t.to_doc() for t in self.tokens],
                "access": [{"method": a.method, "value": a.value} for a in self.access],
                "choice": self.choice.to_doc() if self.choice is not None else None,
                "power_required_kw": self.power_required_kw,
                "canceled": ({"reason": self.canceled.reason.value,
                              "by": self.canceled.by.value}
                             if self.canceled is not None else None)}

    @classmethod
    def from_doc(cls, doc: Document) -> BookingAsk:
        canceled = doc.get("canceled")
        return cls(request_id=doc["request_id"], location_id=doc["location_id"],
                   booking_location_id=doc["booking_location_id"], start=_dt(doc["start"]),
                   end=_dt(doc["end"]), authorization_reference=doc["authorization_reference"],
                   country_code=doc["country_code"], party_id=doc["party_id"],
                   tokens=tuple(BookingToken.from_doc(t) for t in doc.get("tokens", ())),
                   access=tuple(Access(a["method"], a.get("value"))
                                for a in doc.get("access", ())),
                   choice=(BookingChoice.from_doc(doc["choice"])
                           if doc.get("choice") is not None else None),
                   power_required_kw=doc.get("power_required_kw"),
                   canceled=(Cancellation(CancelReason(canceled["reason"]),
                                          CanceledBy(canceled["by"]))
                             if canceled is not None else None))


@dataclass(frozen=True, slots=True)
class RequestEntry:
    """A BookingRequestStatus: a request and what became of it."""

    status: RequestStatus
    ask: BookingAsk
    received: datetime
    decided: datetime | None = None
    message: str | None = None
    """Why it was declined (the term it breaks, the instant it is full)."""

    def to_doc(self) -> Document:
        return {"status": self.status.value, "ask": self.ask.to_doc(),
                "received": self.received.isoformat(), "decided": _iso(self.decided),
                "message": self.message}

    @classmethod
    def from_doc(cls, doc: Document) -> RequestEntry:
        return cls(RequestStatus(doc["status"]), BookingAsk.from_doc(doc["ask"]),
                   _dt(doc["received"]), _opt_dt(doc.get("decided")), doc.get("message"))


def booking_key(partner: Partner, request_id: str) -> str:
    # request_id is a CiString chosen by the eMSP: case-insensitive, scoped per eMSP role, so
    # another partner's request id never reaches this partner's booking.
    return f"{partner.key}/{request_id.upper()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Booking:
    key: str
    id: str
    """Booking.id, the CPO's id (the push URL's last segment)."""
    country_code: str
    """The eMSP that booked (the owner of ``key``)."""
    party_id: str
    request_id: str
    location_id: str
    booking_location_id: str
    start: datetime
    end: datetime
    authorization_reference: str
    terms: BookingTerms
    """The terms accepted (fixed at booking time: a later policy edit does not move them)."""
    state: BookingState
    tokens: tuple[BookingToken, ...] = ()
    access: tuple[Access, ...] = ()
    choice: BookingChoice | None = None
    power_required_kw: int | None = None
    canceled: Cancellation | None = None
    requests: tuple[RequestEntry, ...] = ()
    tariff_ids: tuple[str, ...] = ()
    message: str | None = None
    """Why it is REJECTED / FAILED / CANCELED, or what a waiting request waits for."""
    waiting_until: datetime | None = None
    """PENDING on the waiting list until then (first come, first served)."""
    evse_uid: str | None = None
    """Bound to this EVSE (set at binding, shortly before the start)."""
    charge_point_id: str | None = None
    ocpp_reservation_id: int | None = None
    bound_at: datetime | None = None
    version: int = 0
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)
    history: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))

    @property
    def partner(self) -> Partner:
        return Partner(self.country_code, self.party_id)

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def bound(self) -> bool:
        return self.evse_uid is not None

    @property
    def promise_id(self) -> str:
        """Its promise on the capacity timeline."""
        return f"booking|{self.key}"

    @property
    def bind_at(self) -> datetime:
        """When the scheduler binds it: ``start - activation_lead_minutes``."""
        return self.start - timedelta(minutes=self.terms.activation_lead_minutes)

    @property
    def noshow_at(self) -> datetime:
        """Unused by then, it is a no-show: ``start + noshow_timeout_minutes``."""
        return self.start + timedelta(minutes=self.terms.noshow_timeout_minutes)

    @property
    def use_window(self) -> tuple[datetime, datetime]:
        """A session started with a booking token in here fulfils it."""
        return (self.start - timedelta(minutes=self.terms.early_start_minutes),
                self.noshow_at)

    @property
    def pending_request(self) -> RequestEntry | None:
        return next((r for r in reversed(self.requests)
                     if r.status is RequestStatus.PENDING), None)

    @property
    def ids(self) -> dict[str, Any]:
        """The ids every log line about this booking carries."""
        return {"booking_key": self.key, "booking_id": self.id, "request_id": self.request_id,
                "location_id": self.location_id, "evse_uid": self.evse_uid,
                "charge_point_id": self.charge_point_id,
                "ocpp_reservation_id": self.ocpp_reservation_id}

    def to_doc(self) -> Document:
        doc: Document = {
            "key": self.key, "id": self.id, "country_code": self.country_code,
            "party_id": self.party_id, "request_id": self.request_id,
            "location_id": self.location_id, "booking_location_id": self.booking_location_id,
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "authorization_reference": self.authorization_reference,
            "terms": self.terms.model_dump(), "state": self.state.value,
            "tokens": [t.to_doc() for t in self.tokens],
            "access": [{"method": a.method, "value": a.value} for a in self.access],
            "choice": self.choice.to_doc() if self.choice is not None else None,
            "power_required_kw": self.power_required_kw,
            "canceled": ({"reason": self.canceled.reason.value, "by": self.canceled.by.value}
                         if self.canceled is not None else None),
            "requests": [r.to_doc() for r in self.requests],
            "tariff_ids": list(self.tariff_ids), "message": self.message,
            "waiting_until": _iso(self.waiting_until), "evse_uid": self.evse_uid,
            "charge_point_id": self.charge_point_id,
            "ocpp_reservation_id": self.ocpp_reservation_id, "bound_at": _iso(self.bound_at),
            "version": self.version, "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(), "history": list(self.history)}
        # Query fields (store/indexes.py): never read back into the record.
        doc["partner_key"] = self.partner.key
        doc["live"] = self.live
        doc["updated_ts"] = self.updated_at.timestamp()
        doc["created_ts"] = self.created_at.timestamp()
        doc["start_ts"] = self.start.timestamp()
        # The admin API's token filter: the first token (a booking names one, rarely more).
        doc["token_uid"] = self.tokens[0].uid if self.tokens else None
        doc["waiting"] = self.state is BookingState.PENDING and self.waiting_until is not None
        doc["awaiting_bind"] = self.state is BookingState.RESERVED and not self.bound
        # A RESERVED booking with a change or cancellation not decided yet (the sweeper
        # fails one a crash left open).
        doc["open_request"] = self.state is BookingState.RESERVED and any(
            r.status is RequestStatus.PENDING for r in self.requests)
        doc["bind_ts"] = self.bind_at.timestamp()
        doc["noshow_ts"] = self.noshow_at.timestamp()
        return doc

    @classmethod
    def from_doc(cls, doc: Document) -> Booking:
        canceled = doc.get("canceled")
        return cls(
            key=doc["key"], id=doc["id"], country_code=doc["country_code"],
            party_id=doc["party_id"], request_id=doc["request_id"],
            location_id=doc["location_id"], booking_location_id=doc["booking_location_id"],
            start=_dt(doc["start"]), end=_dt(doc["end"]),
            authorization_reference=doc["authorization_reference"],
            terms=BookingTerms(**doc["terms"]), state=BookingState(doc["state"]),
            tokens=tuple(BookingToken.from_doc(t) for t in doc.get("tokens", ())),
            access=tuple(Access(a["method"], a.get("value")) for a in doc.get("access", ())),
            choice=(BookingChoice.from_doc(doc["choice"])
                    if doc.get("choice") is not None else None),
            power_required_kw=doc.get("power_required_kw"),
            canceled=(Cancellation(CancelReason(canceled["reason"]), CanceledBy(canceled["by"]))
                      if canceled is not None else None),
            requests=tuple(RequestEntry.from_doc(r) for r in doc.get("requests", ())),
            tariff_ids=tuple(doc.get("tariff_ids", ())), message=doc.get("message"),
            waiting_until=_opt_dt(doc.get("waiting_until")), evse_uid=doc.get("evse_uid"),
            charge_point_id=doc.get("charge_point_id"),
            ocpp_reservation_id=doc.get("ocpp_reservation_id"),
            bound_at=_opt_dt(doc.get("bound_at")), version=doc["version"],
            created_at=_dt(doc["created_at"]), updated_at=_dt(doc["updated_at"]),
            history=tuple(doc.get("history", ())))

    def with_request(self, entry: RequestEntry) -> Booking:
        return replace(self, requests=(*self.requests, entry))
