"""OCPI 2.2.1 Session and its PATCH, from the internal Session and its figures."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ocpi_gateway.ocpi import session_parts
from ocpi_gateway.ocpi.v2_2_1 import cdrs
from ocpi_gateway.ocpi.v2_2_1.prices import Number, Price, price
from ocpi_gateway.sessions import models
from ocpi_gateway.sessions.figures import SessionFigures
from ocpi_gateway.tariffs.pricing import PricedPeriod


class _Object(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Session(_Object):
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
    total_cost: Price | None = None
    status: str
    last_updated: str


class SessionPatch(_Object):
    start_date_time: str | None = None
    end_date_time: str | None = None
    kwh: Number | None = None
    auth_method: str | None = None
    evse_uid: str | None = None
    connector_id: str | None = None
    currency: str | None = None
    charging_periods: list[cdrs.ChargingPeriod] | None = None
    total_cost: Price | None = None
    status: str | None = None
    last_updated: str


class Mapping:
    def session(self, session: models.Session, figures: SessionFigures) -> Session:
        assert session.token is not None  # a session nobody owns is shown to nobody
        fields = session_parts.session_header(session, figures)
        fields["cdr_token"] = cdrs.cdr_token(session.token)
        fields["charging_periods"] = [cdrs.charging_period(p) for p in figures.periods]
        if figures.total_cost is not None:
            fields["total_cost"] = price(figures.total_cost)
        return Session.model_validate(fields)

    def session_patch(self, session: models.Session, figures: SessionFigures,
                      new_periods: tuple[PricedPeriod, ...]) -> SessionPatch:
        header = session_parts.session_header(session, figures)
        fields = {k: header[k] for k in session_parts.PATCHED if k in header}
        if new_periods:
            fields["charging_periods"] = [cdrs.charging_period(p) for p in new_periods]
        if figures.total_cost is not None:
            fields["total_cost"] = price(figures.total_cost)
        return SessionPatch.model_validate(fields)


MAPPING = Mapping()
