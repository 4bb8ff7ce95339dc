"""What Sessions share across versions: the fields of a Session and of its PATCH, and the
mapping from the internal Session and its figures. A version adds its Price (``total_cost``)
and says which dimension and token types it can name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ocpi_gateway import money
from ocpi_gateway.ocpi.shared import cdrs
from ocpi_gateway.ocpi.shared.objects import Number, OcpiObject
from ocpi_gateway.sessions.figures import SessionFigures
from ocpi_gateway.sessions.models import Session
from ocpi_gateway.tariffs.pricing import PricedPeriod
from ocpi_gateway.transport.envelope import ocpi_timestamp


class SessionFields(OcpiObject):
    """A Session's fields but ``total_cost`` (each version's Price)."""

    country_code: str
    party_id: str
    id: str
    start_date_time: str
    end_date_time: str | None = None
    kwh: Number
    cdr_token: cdrs.CdrToken
    auth_method: str
    authorization_reference: str | None = None
    location_id: str
    evse_uid: str
    connector_id: str
    meter_id: str | None = None
    currency: str
    charging_periods: list[cdrs.ChargingPeriod] | None = None
    status: str
    last_updated: str


class SessionPatchFields(OcpiObject):
    start_date_time: str | None = None
    end_date_time: str | None = None
    kwh: Number | None = None
    auth_method: str | None = None
    evse_uid: str | None = None
    connector_id: str | None = None
    currency: str | None = None
    charging_periods: list[cdrs.ChargingPeriod] | None = None
    status: str | None = None
    last_updated: str


PATCHED = ("start_date_time", "end_date_time", "kwh", "evse_uid", "connector_id", "currency",
           "status", "last_updated", "auth_method")
"""What a Session PATCH carries beside new charging periods and total_cost: every field that
can change after the PUT."""


def session_header(session: Session, figures: SessionFigures) -> dict[str, Any]:
    """The fields of a Session every version shares (not cdr_token, charging_periods,
    total_cost)."""
    fields: dict[str, Any] = {
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


S = TypeVar("S", bound=SessionFields)
P = TypeVar("P", bound=SessionPatchFields)


class SessionsMapping(Generic[S, P]):
    """A version's SessionsMapping, from its Session and SessionPatch objects, its Price and
    the dimension and token types it names."""

    def __init__(self, session: type[S], patch: type[P],
                 price: Callable[[money.Price], OcpiObject], dimension: cdrs.DimensionMap,
                 token_type: cdrs.TokenTypeMap) -> None:
        self._session, self._patch = session, patch
        self._price, self._dimension, self._token_type = price, dimension, token_type

    def session(self, session: Session, figures: SessionFigures) -> S:
        assert session.token is not None  # a session nobody owns is shown to nobody
        fields = session_header(session, figures)
        fields["cdr_token"] = cdrs.cdr_token(session.token, self._token_type)
        fields["charging_periods"] = [cdrs.charging_period(p, self._dimension)
                                      for p in figures.periods]
        if figures.total_cost is not None:
            fields["total_cost"] = self._price(figures.total_cost)
        return self._session.model_validate(fields)

    def session_patch(self, session: Session, figures: SessionFigures,
                      new_periods: tuple[PricedPeriod, ...]) -> P:
        header = session_header(session, figures)
        fields = {k: header[k] for k in PATCHED if k in header}
        if new_periods:
            fields["charging_periods"] = [cdrs.charging_period(p, self._dimension)
                                          for p in new_periods]
        if figures.total_cost is not None:
            fields["total_cost"] = self._price(figures.total_cost)
        return self._patch.model_validate(fields)
