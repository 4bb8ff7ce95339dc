"""What CDRs and Sessions share across versions: CdrToken, CdrDimension, ChargingPeriod,
CdrLocation and the fields of a CDR as every version has them, and the steps of building
them. A version adds its Price and Tariff (and 2.3.0 ``booking_id``) and says which
dimension types and token types it can name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ocpi_gateway import money
from ocpi_gateway.cdrs.models import Cdr
from ocpi_gateway.ocpi.shared.objects import Number, OcpiObject
from ocpi_gateway.sessions.models import CdrLocationInfo, SessionToken
from ocpi_gateway.tariffs.models import Tariff
from ocpi_gateway.tariffs.pricing import CdrDimensionType, PricedPeriod
from ocpi_gateway.transport.envelope import ocpi_timestamp

DimensionMap = Callable[[CdrDimensionType], str | None]
"""A dimension type in a version's CdrDimensionType (None: the version has none for it)."""

TokenTypeMap = Callable[[str], str]
"""A token's type as a version's TokenType names it."""


class CdrToken(OcpiObject):
    country_code: str
    party_id: str
    uid: str
    type: str
    contract_id: str


class CdrDimension(OcpiObject):
    type: str
    volume: Number


class ChargingPeriod(OcpiObject):
    start_date_time: str
    dimensions: list[CdrDimension]
    tariff_id: str | None = None


def cdr_token(token: SessionToken, token_type: TokenTypeMap) -> CdrToken:
    return CdrToken(country_code=token.country_code, party_id=token.party_id, uid=token.uid,
                    type=token_type(token.type), contract_id=token.contract_id)


def charging_period(period: PricedPeriod, dimension: DimensionMap) -> ChargingPeriod:
    dims = []
    for d in period.dimensions:
        kind = dimension(d.type)
        if kind is not None:
            dims.append(CdrDimension(type=kind, volume=d.volume))
    if period.tariff_id:
        return ChargingPeriod(start_date_time=ocpi_timestamp(period.start), dimensions=dims,
                              tariff_id=period.tariff_id)
    return ChargingPeriod(start_date_time=ocpi_timestamp(period.start), dimensions=dims)


class GeoLocation(OcpiObject):
    latitude: str
    longitude: str


class CdrLocation(OcpiObject):
    id: str
    name: str | None = None
    address: str
    city: str
    postal_code: str | None = None
    state: str | None = None
    country: str
    coordinates: GeoLocation
    evse_uid: str
    evse_id: str
    connector_id: str
    connector_standard: str
    connector_format: str
    connector_power_type: str


class CdrFields(OcpiObject):
    """A CDR's fields but its prices, tariffs and what a version adds (each version's)."""

    country_code: str
    party_id: str
    id: str
    start_date_time: str
    end_date_time: str
    session_id: str | None = None
    cdr_token: CdrToken
    auth_method: str
    authorization_reference: str | None = None
    cdr_location: CdrLocation
    meter_id: str | None = None
    currency: str
    charging_periods: list[ChargingPeriod]
    total_energy: Number
    total_time: Number
    total_parking_time: Number | None = None
    remark: str | None = None
    invoice_reference_id: str | None = None
    credit: bool | None = None
    credit_reference_id: str | None = None
    home_charging_compensation: bool | None = None
    last_updated: str


_TARIFFS_KEPT = 256
_PRICES = ("total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost",
           "total_parking_cost", "total_reservation_cost")

C = TypeVar("C", bound=CdrFields)


def cdr_location(info: CdrLocationInfo) -> CdrLocation:
    return CdrLocation.model_validate(
        {**info.model_dump(exclude={"latitude", "longitude"}, exclude_none=True),
         "coordinates": GeoLocation(latitude=info.latitude, longitude=info.longitude)})


class CdrsMapping(Generic[C]):
    """A version's CdrsMapping, from its CDR object, its Price, its Tariff mapping and the
    dimension and token types it names."""

    def __init__(self, cdr: type[C], price: Callable[[money.Price], OcpiObject],
                 tariff: Callable[[Tariff], OcpiObject | None], dimension: DimensionMap,
                 token_type: TokenTypeMap, *, booking_id: bool) -> None:
        self._cdr, self._price, self._tariff = cdr, price, tariff
        self._dimension, self._token_type, self._booking_id = dimension, token_type, booking_id
        # Most CDRs show one of a few tariffs: (id, last_updated) → the internal tariff, its
        # version object and that object's JSON, reused while the tariff is equal (a reload
        # that changed it under the same id and date is not).
        self._tariffs: dict[tuple[str, object], _ShownTariff] = {}

    def _shown_tariff(self, tariff: Tariff) -> _ShownTariff:
        key = (tariff.id, tariff.last_updated)
        cached = self._tariffs.get(key)
        if cached is not None and (cached.tariff is tariff or cached.tariff == tariff):
            return cached
        shown = self._tariff(tariff)
        made = _ShownTariff(tariff, shown, None if shown is None else _jsonable(shown))
        if len(self._tariffs) >= _TARIFFS_KEPT:
            self._tariffs.clear()
        self._tariffs[key] = made
        return made

    def cdr(self, cdr: Cdr) -> C:
        return self._build(cdr, with_tariffs=True)

    def body(self, cdr: Cdr) -> dict[str, Any]:
        # The tariffs' JSON is made once per tariff and shared by the bodies (read only: the
        # outbox stores and sends a body as it is).
        body = _jsonable(self._build(cdr, with_tariffs=False))
        tariffs = [shown.json for t in cdr.tariffs
                   if (shown := self._shown_tariff(t)).json is not None]
        if tariffs:
            body["tariffs"] = tariffs
        return body

    def _build(self, cdr: Cdr, *, with_tariffs: bool) -> C:
        fields: dict[str, Any] = {
            "country_code": cdr.country_code, "party_id": cdr.party_id, "id": cdr.id,
            "start_date_time": ocpi_timestamp(cdr.start_date_time),
            "end_date_time": ocpi_timestamp(cdr.end_date_time),
            "cdr_token": cdr_token(cdr.token, self._token_type),
            "auth_method": cdr.auth_method.value, "cdr_location": cdr_location(cdr.location),
            "currency": cdr.currency,
            "charging_periods": [self._period(p) for p in cdr.periods],
            "total_energy": cdr.total_energy, "total_time": cdr.total_time,
            "last_updated": ocpi_timestamp(cdr.last_updated)}
        for name in ("session_id", "authorization_reference", "total_parking_time", "remark",
                     "credit_reference_id"):
            value = getattr(cdr, name)
            if value is not None:
                fields[name] = value
        if self._booking_id and cdr.booking_id is not None:
            fields["booking_id"] = cdr.booking_id
        if cdr.credit:
            fields["credit"] = True
        for name in _PRICES:
            value = getattr(cdr, name)
            if value is not None:
                fields[name] = self._price(value)
        if with_tariffs:
            tariffs = [shown.shown for t in cdr.tariffs
                       if (shown := self._shown_tariff(t)).shown is not None]
            if tariffs:
                fields["tariffs"] = tariffs
        return self._cdr.model_validate(fields)

    def _period(self, period: PricedPeriod) -> ChargingPeriod:
        # Validating these two small objects costs half what model_construct does.
        dims = [CdrDimension(type=kind, volume=d.volume)
                for d in period.dimensions if (kind := self._dimension(d.type)) is not None]
        if period.tariff_id:
            return ChargingPeriod(start_date_time=ocpi_timestamp(period.start),
                                  dimensions=dims, tariff_id=period.tariff_id)
        return ChargingPeriod(start_date_time=ocpi_timestamp(period.start), dimensions=dims)


def _jsonable(model: OcpiObject) -> dict[str, Any]:
    """As ``seam.to_jsonable``: the fields that were set, none that are None."""
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True,
                                              exclude_unset=True)
    return dumped


@dataclass(frozen=True, slots=True)
class _ShownTariff:
    tariff: Tariff
    shown: OcpiObject | None
    """The version's Tariff (None: the version cannot show it)."""
    json: dict[str, Any] | None
