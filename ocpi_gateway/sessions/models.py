"""The internal Session model: one charging session (or the reservation or booking that may
become one), as the gateway keeps it, in every supported OCPI version's terms.

A session begins as a reservation (``RESERVATION``: the driver holds an EVSE), as a
START_SESSION the charger accepted (``PENDING``) or as a transaction a charger started
(``ACTIVE``); it becomes ``ACTIVE`` once bound to a transaction and ``COMPLETED`` when that
ends or when its reservation ends unused. The version packages (``ocpi/v*/sessions.py``)
turn it into each version's Session object; ``cdrs/`` prices a finished one into a CDR.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from ocpi_gateway.tariffs.models import Tariff

NOT_AVAILABLE = "#NA"
"""transport_and_format: a required field with no value yet (an EVSE not bound)."""


class SessionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    INVALID = "INVALID"
    PENDING = "PENDING"
    RESERVATION = "RESERVATION"


FINAL_STATUSES = frozenset({SessionStatus.COMPLETED, SessionStatus.INVALID})


class AuthMethod(StrEnum):
    AUTH_REQUEST = "AUTH_REQUEST"
    COMMAND = "COMMAND"
    WHITELIST = "WHITELIST"


class HoldKind(StrEnum):
    RESERVATION = "RESERVATION"
    """A ReserveNow (OCPI RESERVE_NOW)."""
    BOOKING = "BOOKING"
    """An OCPI 2.3.0 booking."""


class HoldEnd(StrEnum):
    """How the reservation or booking a session began with ended."""

    USED = "USED"
    """A transaction started on it."""
    EXPIRED = "EXPIRED"
    """Not used before its end: a no-show."""
    CANCELLED = "CANCELLED"
    """Cancelled by the driver's eMSP."""
    CPO_CANCELLED = "CPO_CANCELLED"
    """Ended by the CPO's side (a fault, no EVSE left): never charged."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SessionToken(_Model):
    """The CdrToken: the token the session was started (or reserved) with."""

    country_code: str
    party_id: str
    uid: str
    type: str
    contract_id: str


class CdrLocationInfo(_Model):
    """The location as it was when the session was bound to an EVSE (mod_cdrs: a CDR shows
    the location, EVSE and connector as they were at the start)."""

    id: str
    name: str | None = None
    address: str
    city: str
    postal_code: str | None = None
    state: str | None = None
    country: str
    latitude: str
    longitude: str
    evse_uid: str = NOT_AVAILABLE
    evse_id: str = NOT_AVAILABLE
    connector_id: str = NOT_AVAILABLE
    connector_standard: str
    connector_format: str
    connector_power_type: str


class MeterReading(_Model):
    """A reading of the energy register (Wh) at a moment; ``charging`` False from then on the
    EV was not taking energy (OCPI PARKING_TIME), unless a ``ChargingState`` says otherwise."""

    at: datetime
    wh: Decimal
    charging: bool = True


class ChargingState(_Model):
    """From ``at`` on, the EV asked for energy (``charging``) or not (parking time)."""

    at: datetime
    charging: bool


class Hold(_Model):
    """The reservation or booking a session began with."""

    key: str
    """The reservation's (or booking's) key in its own records."""
    kind: HoldKind = HoldKind.RESERVATION
    start: datetime
    end: datetime | None = None
    ended: HoldEnd | None = None
    expiry: datetime | None = None
    booking_id: str | None = None
    slot_end: datetime | None = None
    """A booking's end of the booked slot (session time past it is BOOKING_OVERTIME)."""
    free_until: datetime | None = None
    """A cancellation by the eMSP until then costs nothing, later it is billed; None: a
    cancellation is never billed."""
    charge_point_id: str | None = None
    ocpp_reservation_id: int | None = None


class Session(_Model):
    id: str
    country_code: str
    """The CPO party owning the location."""
    party_id: str
    status: SessionStatus
    token: SessionToken | None = None
    """None: a transaction with a token no eMSP told us about (nobody to tell or bill)."""
    auth_method: AuthMethod = AuthMethod.WHITELIST
    authorization_reference: str | None = None
    location_id: str
    evse_uid: str = NOT_AVAILABLE
    connector_id: str = NOT_AVAILABLE
    time_zone: str = "UTC"
    cdr_location: CdrLocationInfo | None = None
    charge_point_id: str | None = None
    ocpp_evse_id: int | None = None
    ocpp_connector_id: int | None = None
    transaction_id: str | None = None
    id_token: str | None = None
    """The token as the charger presented it (a 1.6 idTag may be a uid's digest)."""
    created_at: datetime
    start_date_time: datetime
    end_date_time: datetime | None = None
    readings: tuple[MeterReading, ...] = ()
    states: tuple[ChargingState, ...] = ()
    """Changes of whether the EV asks for energy, in order (none: it always did)."""
    currency: str
    tariff: Tariff | None = None
    """The tariff that applies, as it was when the session was bound (None: not priced)."""
    hold: Hold | None = None
    last_updated: datetime
    version: int = 0
    billed: bool = False
    """Set once a finished session was billed (its CDR made and queued, or none due): until
    then a sweep bills it again, so a crash between its end and its CDR loses nothing."""

    @property
    def emsp_key(self) -> str | None:
        return party_key(self.token.country_code, self.token.party_id) if self.token else None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def transaction_key(self) -> str | None:
        if self.charge_point_id is None or self.transaction_id is None:
            return None
        return f"{self.charge_point_id}/{self.transaction_id}"

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.model_dump(mode="json")
        # Query fields: by eMSP ordered by last_updated (GET, pages), by transaction (the
        # charger's events), by charger (UNLOCK_CONNECTOR's permission).
        doc["emsp_key"] = self.emsp_key
        doc["transaction_key"] = self.transaction_key
        doc["last_updated_ts"] = self.last_updated.timestamp()
        doc["open"] = not self.final
        doc["unbilled"] = self.final and not self.billed
        doc["hold_key"] = self.hold.key if self.hold else None
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Session:
        return cls.model_validate(doc)


def party_key(country_code: str, party_id: str) -> str:
    """CiStrings: one key in any case."""
    return f"{country_code.upper()}/{party_id.upper()}"
