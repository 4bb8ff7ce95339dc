"""Internal Sessions built by hand for unit tests of the pricing glue and the CDR rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ocpi_gateway.sessions.models import (
    AuthMethod,
    CdrLocationInfo,
    Hold,
    MeterReading,
    Session,
    SessionStatus,
    SessionToken,
)
from ocpi_gateway.tariffs.models import Tariff

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

TARIFF = Tariff.model_validate({
    "id": "T1", "currency": "EUR", "country_code": "NL", "party_id": "EXA",
    "last_updated": "2026-11-30T00:00:00Z", "elements": [
        {"price_components": [{"type": "ENERGY", "price": "0.30", "vat": 21, "step_size": 1}]},
        {"price_components": [{"type": "TIME", "price": "2.00", "vat": 21, "step_size": 60}]},
        {"price_components": [{"type": "FLAT", "price": "5.00", "vat": 21, "step_size": 0}],
         "restrictions": {"reservation": "RESERVATION_EXPIRES"}},
        {"price_components": [{"type": "TIME", "price": "1.20", "vat": 21, "step_size": 60}],
         "restrictions": {"reservation": "RESERVATION"}},
    ]})

TOKEN = SessionToken(country_code="DE", party_id="EMS", uid="DEEMS0001", type="RFID",
                     contract_id="DE-EMS-C00000001-X")

LOCATION = CdrLocationInfo(id="LOC-1", address="Teststraat 1", city="Amsterdam", country="NLD",
                           latitude="52.300000", longitude="4.800000", evse_uid="E1",
                           evse_id="NL*EXA*E1", connector_id="1",
                           connector_standard="IEC_62196_T2", connector_format="SOCKET",
                           connector_power_type="AC_3_PHASE")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def readings(*points: tuple[float, float]) -> tuple[MeterReading, ...]:
    """(minutes after T0, Wh) each."""
    return tuple(MeterReading(at=at(m), wh=Decimal(str(wh))) for m, wh in points)


def session(**changes: Any) -> Session:
    """A COMPLETED charging session on E1 from T0+10 to T0+40, 6 kWh, under TARIFF."""
    fields: dict[str, Any] = {
        "id": "S1", "country_code": "NL", "party_id": "EXA",
        "status": SessionStatus.COMPLETED, "token": TOKEN, "auth_method": AuthMethod.COMMAND,
        "location_id": "LOC-1", "evse_uid": "E1", "connector_id": "1",
        "time_zone": "Europe/Amsterdam", "cdr_location": LOCATION, "charge_point_id": "CP-1",
        "transaction_id": "7", "created_at": T0, "start_date_time": at(10),
        "end_date_time": at(40), "readings": readings((10, 0), (25, 3000), (40, 6000)),
        "currency": "EUR", "tariff": TARIFF, "last_updated": at(40)}
    fields.update(changes)
    return Session(**fields)


def hold(**changes: Any) -> Hold:
    fields: dict[str, Any] = {"key": "DE-EMS/R1", "start": T0, "charge_point_id": "CP-1",
                              "ocpp_reservation_id": 3}
    fields.update(changes)
    return Hold(**fields)
