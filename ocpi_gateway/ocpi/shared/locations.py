"""What Locations share across versions: the fields of Location, EVSE and Connector that
every version has, and the building of a version's objects from the published Locations
(``locations/published.py``).

Each object is validated once, from the values of the internal objects as they are: the
nested ones (GeoLocation, Hours, Image, BusinessDetails...) are the very classes the versions
declare, which pydantic takes as they are, without a copy or a second validation, so what is
checked is the version's own fields (2.2.1's closed enums among them) at a fraction of the
cost of validating a whole JSON tree. What a version cannot hold is taken out first (what
``SharedLocations`` is told it lacks); the tests check every body against the version's
official OpenAPI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from ocpi_gateway.locations.enums import (
    ConnectorFormat,
    ConnectorType,
    ParkingRestriction,
    ParkingType,
    PowerType,
)
from ocpi_gateway.locations.models import (
    AdditionalGeoLocation,
    BusinessDetails,
    CiString2,
    CiString3,
    CiString36,
    ConnectorConfig,
    DisplayText,
    EnergyMix,
    EvseConfig,
    EvseIdEmi3,
    GeoLocation,
    Hours,
    Image,
    OperatorLocation,
    PublishTokenType,
    StatusSchedule,
    String4,
    String10,
    String16,
    String45,
    String255,
    Url,
)
from ocpi_gateway.locations.published import PublishedEvse, PublishedLocation
from ocpi_gateway.ocpi.shared.objects import OcpiObject
from ocpi_gateway.reservation_policy.availability.base import EvseStatus


class ConnectorFields(OcpiObject):
    id: CiString36
    format: ConnectorFormat
    power_type: PowerType
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None = None
    tariff_ids: list[CiString36] | None = None
    terms_and_conditions: Url | None = None
    last_updated: str


class EvseFields(OcpiObject):
    uid: CiString36
    evse_id: EvseIdEmi3 | None = None
    status: EvseStatus
    status_schedule: list[StatusSchedule] | None = None
    floor_level: String4 | None = None
    coordinates: GeoLocation | None = None
    physical_reference: String16 | None = None
    directions: list[DisplayText] | None = None
    images: list[Image] | None = None
    last_updated: str


class EvsePatch(OcpiObject):
    status: EvseStatus
    last_updated: str


class LocationFields(OcpiObject):
    country_code: CiString2
    party_id: CiString3
    id: CiString36
    publish: bool
    publish_allowed_to: list[PublishTokenType] | None = None
    name: String255 | None = None
    address: String255
    city: String45
    postal_code: String10 | None = None
    state: String45 | None = None
    country: str
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] | None = None
    parking_type: ParkingType | None = None
    directions: list[DisplayText] | None = None
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    time_zone: str
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] | None = None
    energy_mix: EnergyMix | None = None
    last_updated: str


L = TypeVar("L", bound=BaseModel)
E = TypeVar("E", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)

_LIVE = frozenset({"evses", "connectors", "status", "last_updated"})


def _copied(version_type: type[BaseModel], internal_type: type[BaseModel]) -> tuple[str, ...]:
    """The fields a version's object takes as they are from the internal one."""
    return tuple(n for n in version_type.model_fields
                 if n in internal_type.model_fields and n not in _LIVE)


def _values(source: BaseModel, names: Iterable[str]) -> dict[str, Any]:
    # Absent (None) and empty lists are left out: optional in OCPI, better not sent as [].
    fields = source.__dict__
    return {name: value for name in names
            if (value := fields[name]) is not None and (value.__class__ is not list or value)}


class SharedLocations(Generic[L, E, C]):
    """A version's LocationsMapping: its Location, EVSE and Connector types and what it cannot
    hold: connector standards it has no name for (the connector is left out), standards it
    names otherwise, parking restrictions it lacks. An EVSE left without connectors is not
    shown (``connectors`` is 1..*). Written as data, not hooks: this runs for every EVSE of
    every Location serialized."""

    def __init__(self, location_type: type[L], evse_type: type[E], connector_type: type[C],
                 *, hidden_standards: Iterable[ConnectorType] = (),
                 renamed_standards: Mapping[ConnectorType, ConnectorType] | None = None,
                 hidden_restrictions: Iterable[ParkingRestriction] = ()) -> None:
        self.location_type, self.evse_type, self.connector_type = (
            location_type, evse_type, connector_type)
        self._location_fields = _copied(location_type, OperatorLocation)
        self._evse_fields = _copied(evse_type, EvseConfig)
        self._connector_fields = _copied(connector_type, ConnectorConfig)
        self._renamed = dict(renamed_standards or {})
        self._hidden = frozenset(hidden_standards) - set(self._renamed)
        self._hidden_restrictions = frozenset(hidden_restrictions)

    def _connector_values(self, connector: ConnectorConfig,
                          updated: str) -> dict[str, Any] | None:
        fields = connector.__dict__
        standard = fields["standard"]
        if standard in self._hidden:
            return None
        values = {name: value for name in self._connector_fields
                  if (value := fields[name]) is not None and (value.__class__ is not list
                                                             or value)}
        if standard in self._renamed:
            values["standard"] = self._renamed[standard]
        values["last_updated"] = updated
        return values

    def _evse_values(self, evse: PublishedEvse) -> dict[str, Any] | None:
        connectors = []
        for connector in evse.config.connectors:
            values = self._connector_values(connector, evse.connectors_updated)
            if values is not None:
                connectors.append(values)
        if not connectors:
            return None
        values = _values(evse.config, self._evse_fields)
        if self._hidden_restrictions and "parking_restrictions" in values:
            kept = [r for r in values.pop("parking_restrictions")
                    if r not in self._hidden_restrictions]
            if kept:
                values["parking_restrictions"] = kept
        values["status"] = evse.status
        values["connectors"] = connectors
        values["last_updated"] = evse.last_updated
        return values

    # One validation per object asked for, of the values as they are: the internal objects
    # inside (GeoLocation, Hours, Image...) are the classes declared, taken without a copy.

    def location(self, live: PublishedLocation) -> L:
        values = _values(live.config, self._location_fields)
        evses = [e for e in map(self._evse_values, live.evses) if e is not None]
        if evses:
            values["evses"] = evses
        values["last_updated"] = live.last_updated
        return self.location_type.model_validate(values)

    def evse(self, live: PublishedLocation, evse_uid: str) -> E | None:
        found = live.evse(evse_uid)
        values = self._evse_values(found) if found is not None else None
        return self.evse_type.model_validate(values) if values is not None else None

    def connector(self, live: PublishedLocation, evse_uid: str, connector_id: str) -> C | None:
        found = live.evse(evse_uid)
        if found is None:
            return None
        folded = connector_id.casefold()
        connector = next((c for c in found.config.connectors if c.id.casefold() == folded),
                         None)
        values = (self._connector_values(connector, found.connectors_updated)
                  if connector is not None else None)
        return self.connector_type.model_validate(values) if values is not None else None

    def json(self, built: BaseModel) -> bytes:
        """An object built here, as sent: what was left out is None (the nested internal
        objects leave out their lists with None too, ``locations.models.Listed``), so leaving
        out None is enough, at two thirds of the cost of also checking what was set."""
        return built.__pydantic_serializer__.to_json(built, exclude_none=True)

    def evse_patch(self, status: EvseStatus, last_updated: str) -> EvsePatch:
        return EvsePatch(status=status, last_updated=last_updated)
