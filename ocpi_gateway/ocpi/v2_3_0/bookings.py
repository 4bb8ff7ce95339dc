"""OCPI 2.3.0 Bookings (mod_bookings, the official OpenAPI's names): BookingRequest as an eMSP
sends it, Booking / BookingLocation / Calendar as the CPO answers and pushes them, and their
mapping to and from the internal booking records (``reservation_policy/bookings``).

2.2.1 has no Bookings module: nothing here has a 2.2.1 counterpart.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from ocpi_gateway.bookings.calendars import BookingSite, CalendarView
from ocpi_gateway.locations.enums import ConnectorFormat, EVSEPosition, PowerType
from ocpi_gateway.locations.models import CiString2, CiString3, CiString36, Url
from ocpi_gateway.ocpi.shared.objects import Number, OcpiObject
from ocpi_gateway.reservation_policy.bookings import records as internal
from ocpi_gateway.reservation_policy.bookings.states import (
    BookingState,
    CanceledBy,
    CancelReason,
    RequestStatus,
)
from ocpi_gateway.reservation_policy.policy import BookingTerms as InternalTerms
from ocpi_gateway.transport.datetimes import OcpiDateTime

OpenEnum = Annotated[str, StringConstraints(min_length=1, max_length=255)]
"""A 2.3.0 OpenEnum value (ConnectorType, VehicleType, TokenType...): any string is kept."""


class AccessMethod(StrEnum):
    OPEN = "OPEN"
    TOKEN = "TOKEN"
    LICENSE_PLATE = "LICENSE_PLATE"
    ACCESS_CODE = "ACCESS_CODE"
    INTERCOM = "INTERCOM"
    PARKING_TICKET = "PARKING_TICKET"


class Role(StrEnum):
    CPO = "CPO"
    EMSP = "EMSP"
    HUB = "HUB"
    NAP = "NAP"
    NSP = "NSP"
    OTHER = "OTHER"
    SCSP = "SCSP"
    PTP = "PTP"


class Period(OcpiObject):
    start_date_time: OcpiDateTime
    end_date_time: OcpiDateTime


class Timeslot(Period):
    min_power: Number | None = None
    max_power: Number | None = None
    green_energy_support: bool | None = None


class BookingToken(OcpiObject):
    country_code: CiString2
    party_id: CiString3
    uid: CiString36
    type: OpenEnum
    contract_id: CiString36


class AccessInformation(OcpiObject):
    method: AccessMethod
    value: str | None = Field(default=None, max_length=255)


class Cancellation(OcpiObject):
    cancellation_reason: CancelReason
    who_canceled: Role


class BookingOption(OcpiObject):
    evse_uid: CiString36 | None = None
    connector_id: CiString36 | None = None
    parking_id: CiString36 | None = None
    evse_position: list[EVSEPosition] | None = None
    vehicle_types: list[OpenEnum] | None = None
    connector_format: list[ConnectorFormat] | None = None
    connector_types: list[OpenEnum] | None = None
    power_types: list[PowerType] | None = None
    max_vehicle_weight: Number | None = None
    max_vehicle_height: Number | None = None
    max_vehicle_length: Number | None = None
    max_vehicle_width: Number | None = None
    min_parking_space_length: Number | None = None
    min_parking_space_width: Number | None = None
    dangerous_goods_allowed: bool | None = None
    drive_through: bool | None = None
    refrigeration_outlet: bool | None = None


_PARKING_FIELDS = ("max_vehicle_weight", "max_vehicle_height", "max_vehicle_length",
                   "max_vehicle_width", "min_parking_space_length", "min_parking_space_width",
                   "dangerous_goods_allowed", "drive_through", "refrigeration_outlet")


class BookingRequest(OcpiObject):
    country_code: CiString2
    party_id: CiString3
    request_id: CiString36
    booking_option: BookingOption | None = None
    location_id: CiString36
    booking_location_id: CiString36
    tokens: list[BookingToken] | None = None
    access_information: list[AccessInformation] | None = None
    period: Period
    authorization_reference: CiString36
    power_required: int | None = Field(default=None, ge=0)
    canceled: Cancellation | None = None


class BookingRequestStatus(OcpiObject):
    request_status: RequestStatus
    booking_request: BookingRequest
    request_received: OcpiDateTime


class BookingTerms(OcpiObject):
    rfid_auth_required: bool | None = None
    token_groups_supported: bool | None = None
    remote_auth_supported: bool | None = None
    supported_access_methods: list[AccessMethod] = Field(min_length=1)
    change_until_minutes: Number
    cancel_until_minutes: Number
    change_not_allowed: bool | None = None
    early_start_allowed: bool | None = None
    early_start_time: Number | None = None
    noshow_timeout: Number | None = None
    noshow_fee: bool | None = None
    late_stop_allowed: bool | None = None
    late_stop_time: Number | None = None
    overlapping_bookings_allowed: bool | None = None
    min_booking_duration: Number | None = None
    max_booking_duration: Number | None = None
    booking_terms: Url | None = None


class Booking(OcpiObject):
    id: CiString36
    country_code: CiString2
    party_id: CiString3
    request_id: CiString36
    booking_option: BookingOption | None = None
    location_id: CiString36
    booking_tokens: list[BookingToken] | None = None
    tariff_ids: list[CiString36] | None = None
    period: Timeslot
    reservation_status: BookingState
    canceled: Cancellation | None = None
    access_information: list[AccessInformation] | None = None
    authorization_reference: CiString36
    booking_terms: BookingTerms
    booking_requests: list[BookingRequestStatus] = Field(min_length=1)
    last_updated: OcpiDateTime


class Calendar(OcpiObject):
    id: CiString36
    begin_from: OcpiDateTime
    end_before: OcpiDateTime
    timeslot_increment: int | None = None
    available_timeslots: list[Timeslot] = Field(min_length=1)
    last_updated: OcpiDateTime


class Policy(OcpiObject):
    reservation_required: bool
    ad_hoc: Number | None = None


class BookingLocation(OcpiObject):
    country_code: CiString2
    party_id: CiString3
    id: CiString36
    location_id: CiString36
    booking_option: BookingOption | None = None
    policy: Policy | None = None
    tariff_ids: list[CiString36] | None = None
    booking_terms: BookingTerms | None = None
    calendars: list[Calendar] | None = None
    last_updated: OcpiDateTime


# --- mapping --------------------------------------------------------------------------------


def ask_of(request: BookingRequest) -> internal.BookingAsk:
    """The internal form of a BookingRequest an eMSP sent."""
    option = request.booking_option
    choice = None
    if option is not None:
        parking = tuple(sorted(
            (name, float(value) if not isinstance(value, bool) else value)
            for name in _PARKING_FIELDS if (value := getattr(option, name)) is not None))
        choice = internal.BookingChoice(
            option.evse_uid, option.connector_id, option.parking_id,
            tuple(option.connector_types or ()), tuple(p.value for p in option.power_types or ()),
            tuple(f.value for f in option.connector_format or ()),
            tuple(p.value for p in option.evse_position or ()),
            tuple(option.vehicle_types or ()), parking)
    canceled = request.canceled
    return internal.BookingAsk(
        request_id=request.request_id, location_id=request.location_id,
        booking_location_id=request.booking_location_id,
        start=request.period.start_date_time, end=request.period.end_date_time,
        authorization_reference=request.authorization_reference,
        country_code=request.country_code, party_id=request.party_id,
        tokens=tuple(internal.BookingToken(t.country_code, t.party_id, t.uid, t.type,
                                           t.contract_id) for t in request.tokens or ()),
        access=tuple(internal.Access(a.method.value, a.value)
                     for a in request.access_information or ()),
        choice=choice, power_required_kw=request.power_required,
        canceled=(internal.Cancellation(canceled.cancellation_reason,
                                        CanceledBy.CPO if canceled.who_canceled is Role.CPO
                                        else CanceledBy.EMSP)
                  if canceled is not None else None))


def _option(choice: internal.BookingChoice | None, *, evse_uid: str | None = None
            ) -> BookingOption | None:
    if choice is None:
        return BookingOption(evse_uid=evse_uid) if evse_uid is not None else None
    values: dict[str, object] = {
        "evse_uid": evse_uid or choice.evse_uid, "connector_id": choice.connector_id,
        "parking_id": choice.parking_id,
        "connector_types": list(choice.connector_types) or None,
        "power_types": list(choice.power_types) or None,
        "connector_format": list(choice.connector_format) or None,
        "evse_position": list(choice.evse_position) or None,
        "vehicle_types": list(choice.vehicle_types) or None, **dict(choice.parking)}
    return BookingOption.model_validate({k: v for k, v in values.items() if v is not None})


def _tokens(tokens: tuple[internal.BookingToken, ...]) -> list[BookingToken] | None:
    return [BookingToken(country_code=t.country_code, party_id=t.party_id, uid=t.uid,
                         type=t.type, contract_id=t.contract_id) for t in tokens] or None


def _access(access: tuple[internal.Access, ...]) -> list[AccessInformation] | None:
    return [AccessInformation(method=AccessMethod(a.method), value=a.value)
            for a in access] or None


def _cancellation(c: internal.Cancellation | None) -> Cancellation | None:
    if c is None:
        return None
    return Cancellation(cancellation_reason=c.reason, who_canceled=Role(c.by.value))


def request_of(ask: internal.BookingAsk) -> BookingRequest:
    return BookingRequest(
        country_code=ask.country_code, party_id=ask.party_id, request_id=ask.request_id,
        booking_option=_option(ask.choice), location_id=ask.location_id,
        booking_location_id=ask.booking_location_id, tokens=_tokens(ask.tokens),
        access_information=_access(ask.access),
        period=Period(start_date_time=ask.start, end_date_time=ask.end),
        authorization_reference=ask.authorization_reference,
        power_required=ask.power_required_kw, canceled=_cancellation(ask.canceled))


def terms_of(terms: InternalTerms, *, access_methods: tuple[str, ...] = ("OPEN",),
             terms_url: str | None = None) -> BookingTerms:
    """The policy's booking terms as OCPI BookingTerms (the keys OCPI has; the others —
    lead, increment, buffer, waiting list — shape the Calendars instead)."""
    return BookingTerms(
        supported_access_methods=[AccessMethod(m) for m in access_methods],
        change_until_minutes=terms.change_until_minutes,
        cancel_until_minutes=terms.cancel_until_minutes,
        early_start_allowed=terms.early_start_minutes > 0,
        early_start_time=terms.early_start_minutes,
        noshow_timeout=terms.noshow_timeout_minutes,
        min_booking_duration=terms.min_duration_minutes,
        max_booking_duration=terms.max_duration_minutes,
        remote_auth_supported=True, booking_terms=terms_url)


def booking_of(b: internal.Booking, party: tuple[str, str], *,
               access_methods: tuple[str, ...] = ("OPEN",),
               terms_url: str | None = None) -> Booking:
    """A booking record as the CPO ``party`` (country code, party id) publishes it."""
    # Once bound, the option names the EVSE the driver goes to (mod_bookings: set later).
    option = _option(b.choice, evse_uid=b.evse_uid)
    return Booking(
        id=b.id, country_code=party[0], party_id=party[1], request_id=b.request_id,
        booking_option=option, location_id=b.location_id, booking_tokens=_tokens(b.tokens),
        tariff_ids=list(b.tariff_ids) or None,
        period=Timeslot(start_date_time=b.start, end_date_time=b.end),
        reservation_status=b.state, canceled=_cancellation(b.canceled),
        access_information=_access(b.access),
        authorization_reference=b.authorization_reference,
        booking_terms=terms_of(b.terms, access_methods=access_methods, terms_url=terms_url),
        booking_requests=[BookingRequestStatus(request_status=r.status,
                                               booking_request=request_of(r.ask),
                                               request_received=r.received)
                          for r in b.requests],
        last_updated=b.updated_at)


def calendar_view(view: CalendarView, last_updated: datetime) -> Calendar | None:
    """None when no timeslot is free (a Calendar holds at least one)."""
    if not view.slots:
        return None
    power = view.cls.power_w
    return Calendar(
        id=view.id, begin_from=view.begin, end_before=view.end,
        timeslot_increment=round(view.increment_minutes)
        if float(view.increment_minutes).is_integer() else None,
        available_timeslots=[Timeslot(start_date_time=s.start, end_date_time=s.end,
                                      max_power=power) for s in view.slots],
        last_updated=last_updated)


def booking_location_of(site: BookingSite, *, access_methods: tuple[str, ...] = ("OPEN",),
                        terms_url: str | None = None) -> BookingLocation:
    location = site.location
    calendars = [c for view in site.calendars
                 if (c := calendar_view(view, site.last_updated)) is not None]
    return BookingLocation(
        country_code=location.country_code, party_id=location.party_id, id=location.id,
        location_id=location.id,
        policy=Policy(reservation_required=site.reservation_required,
                      ad_hoc=site.walk_in_evses),
        tariff_ids=list(site.tariff_ids) or None,
        booking_terms=terms_of(site.settings.bookings, access_methods=access_methods,
                               terms_url=terms_url),
        calendars=calendars, last_updated=site.last_updated)
