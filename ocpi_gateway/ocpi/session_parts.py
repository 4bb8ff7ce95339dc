"""The Session and CDR fields every OCPI version shares, in the form their typed objects take
(the version packages add what differs: prices, dimension types, token types, booking_id)."""

from __future__ import annotations

from collections.abc import Callable

from ocpi_gateway.sessions.figures import SessionFigures
from ocpi_gateway.sessions.models import Session, SessionToken
from ocpi_gateway.tariffs.pricing import CdrDimensionType, PricedPeriod
from ocpi_gateway.transport.envelope import ocpi_timestamp

DimensionMap = Callable[[CdrDimensionType], str | None]
"""A dimension type in a version's CdrDimensionType (None: the version has none for it)."""


def cdr_token(token: SessionToken, token_type: str) -> dict[str, object]:
    return {"country_code": token.country_code, "party_id": token.party_id,
            "uid": token.uid, "type": token_type, "contract_id": token.contract_id}


def charging_period(period: PricedPeriod, dimension: DimensionMap) -> dict[str, object]:
    dims = []
    for d in period.dimensions:
        kind = dimension(d.type)
        if kind is not None:
            dims.append({"type": kind, "volume": d.volume})
    fields: dict[str, object] = {"start_date_time": ocpi_timestamp(period.start),
                                 "dimensions": dims}
    if period.tariff_id:
        fields["tariff_id"] = period.tariff_id
    return fields


def session_header(session: Session, figures: SessionFigures) -> dict[str, object]:
    """The fields of a Session every version shares (not cdr_token, charging_periods,
    total_cost)."""
    fields: dict[str, object] = {
        "country_code": session.country_code, "party_id": session.party_id,
        "id": session.id, "start_date_time": ocpi_timestamp(session.start_date_time),
        "kwh": figures.kwh, "auth_method": session.auth_method.value,
        "location_id": session.location_id, "evse_uid": session.evse_uid,
        "connector_id": session.connector_id, "currency": session.currency,
        "status": session.status.value, "last_updated": ocpi_timestamp(session.last_updated)}
    if session.end_date_time is not None:
        fields["end_date_time"] = ocpi_timestamp(session.end_date_time)
    if session.authorization_reference:
        fields["authorization_reference"] = session.authorization_reference
    return fields


PATCHED = ("start_date_time", "end_date_time", "kwh", "evse_uid", "connector_id", "currency",
           "status", "last_updated", "auth_method")
"""What a Session PATCH carries beside new charging periods and total_cost: every field that
can change after the PUT."""
