"""The internal Locations model: what the CPO publishes, in every supported OCPI version.

The operator's YAML (``locations.yaml``) is validated against these models. They hold the
union of what the versions can say (2.3.0's ``help_phone``, ``parking_places``, EVSE
``parking`` and ``accepted_service_providers``, connector ``capabilities``, MCS...): each
version's package under ``ocpi_gateway/ocpi/`` maps them to its own typed objects, leaving out
what its version cannot hold. The gateway-only fields (which charger, which OCPP
evse/connector) never reach a partner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from ocpi_gateway.locations.enums import (
    Capability,
    ConnectorCapability,
    ConnectorFormat,
    ConnectorType,
    EnergySourceCategory,
    EnvironmentalImpactCategory,
    EVSEPosition,
    Facility,
    ImageCategory,
    ParkingDirection,
    ParkingRestriction,
    ParkingType,
    PowerType,
    TokenType,
    VehicleType,
)
from ocpi_gateway.reservation_policy.availability.base import EvseStatus

# CiString: printable ASCII only; string: printable UTF-8 (no control characters).
_CI = r"^[\x20-\x7e]*$"
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


CiString4 = Annotated[str, StringConstraints(min_length=1, max_length=4, pattern=_CI)]
String4 = Annotated[str, StringConstraints(max_length=4, pattern=_PRINTABLE)]
String16 = Annotated[str, StringConstraints(max_length=16, pattern=_PRINTABLE)]
String45 = Annotated[str, StringConstraints(min_length=1, max_length=45, pattern=_PRINTABLE)]
String64 = Annotated[str, StringConstraints(max_length=64, pattern=_PRINTABLE)]
String100 = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_PRINTABLE)]
String255 = Annotated[str, StringConstraints(max_length=255, pattern=_PRINTABLE)]
String512 = Annotated[str, StringConstraints(max_length=512, pattern=_PRINTABLE)]
String10 = Annotated[str, StringConstraints(max_length=10, pattern=_PRINTABLE)]


CiString2 = Annotated[str, StringConstraints(min_length=2, max_length=2, pattern=_CI)]
CiString3 = Annotated[str, StringConstraints(min_length=3, max_length=3, pattern=_CI)]
CiString36 = Annotated[str, StringConstraints(min_length=1, max_length=36, pattern=_CI)]
CiString48 = Annotated[str, StringConstraints(max_length=48, pattern=_CI)]
Url = Annotated[str, StringConstraints(max_length=255, pattern=r"^https?://\S+$")]
Latitude = Annotated[str, StringConstraints(max_length=10, pattern=r"^-?[0-9]{1,2}\.[0-9]{5,7}$")]
Longitude = Annotated[
    str, StringConstraints(max_length=11, pattern=r"^-?[0-9]{1,3}\.[0-9]{5,7}$")
]
HourMinute = Annotated[str, StringConstraints(pattern=r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$")]
# eMI3 EVSE ID: <country><S><operator><S>E<id>, separator '*' optional (e.g. NL*EXA*E1234*1).
EvseIdEmi3 = Annotated[
    str,
    StringConstraints(
        max_length=48, pattern=r"^[A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?E[A-Za-z0-9*]{1,30}$"
    ),
]


T = TypeVar("T")

Listed = Annotated[list[T] | None, BeforeValidator(lambda value: value or None)]
"""An optional list inside a nested object, None when absent or empty: what is published
leaves out an empty list, and serializing objects without the work of ``exclude_unset``
needs absent to be None (``ocpi/shared/locations.py``)."""


class _Model(BaseModel):
    # Unknown keys are an error: a typo in the operator's YAML must not be silently dropped.
    # Lists default by a factory: a default of [] is deep-copied into every object that
    # leaves it out (29 copies a sample location, a quarter of validating a catalog).
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class DisplayText(_Model):
    language: Annotated[str, StringConstraints(min_length=2, max_length=2)]
    text: String512


class GeoLocation(_Model):
    latitude: Latitude
    longitude: Longitude


class AdditionalGeoLocation(GeoLocation):
    name: DisplayText | None = None


class Image(_Model):
    url: Url
    thumbnail: Url | None = None
    category: ImageCategory
    type: CiString4
    width: int | None = Field(default=None, ge=0, le=99999)
    height: int | None = Field(default=None, ge=0, le=99999)


class BusinessDetails(_Model):
    name: String100
    website: Url | None = None
    logo: Image | None = None


class RegularHours(_Model):
    weekday: int = Field(ge=1, le=7)
    period_begin: HourMinute
    period_end: HourMinute

    @model_validator(mode="after")
    def _ordered(self) -> RegularHours:
        if self.period_end <= self.period_begin:
            raise ValueError("period_end must be later than period_begin")
        return self


class ExceptionalPeriod(_Model):
    period_begin: datetime
    period_end: datetime


class Hours(_Model):
    twentyfourseven: bool
    regular_hours: Listed[RegularHours] = None
    exceptional_openings: Listed[ExceptionalPeriod] = None
    exceptional_closings: Listed[ExceptionalPeriod] = None

    @model_validator(mode="after")
    def _regular_when_not_247(self) -> Hours:
        if not self.twentyfourseven and not self.regular_hours:
            raise ValueError("regular_hours is required when twentyfourseven is false")
        if self.twentyfourseven and self.regular_hours:
            raise ValueError("regular_hours may only be used when twentyfourseven is false")
        return self


class EnergySource(_Model):
    source: EnergySourceCategory
    percentage: float = Field(ge=0, le=100)


class EnvironmentalImpact(_Model):
    category: EnvironmentalImpactCategory
    amount: float = Field(ge=0)


class EnergyMix(_Model):
    is_green_energy: bool
    energy_sources: Listed[EnergySource] = None
    environ_impact: Listed[EnvironmentalImpact] = None
    supplier_name: String64 | None = None
    energy_product_name: String64 | None = None


class PublishTokenType(_Model):
    uid: CiString36 | None = None
    type: TokenType | None = None
    visual_number: String64 | None = None
    issuer: String64 | None = None
    group_id: CiString36 | None = None

    @model_validator(mode="after")
    def _identifies(self) -> PublishTokenType:
        if not (self.uid or self.visual_number or self.group_id):
            raise ValueError("one of uid, visual_number or group_id is required")
        if self.uid and self.type is None:
            raise ValueError("type is required when uid is set")
        if self.visual_number and not self.issuer:
            raise ValueError("issuer is required when visual_number is set")
        return self


class StatusSchedule(_Model):
    period_begin: datetime
    period_end: datetime | None = None
    status: EvseStatus


class Parking(_Model):
    """2.3.0 (AFIR): a parking place of the location; EVSEs refer to it by id."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=36, pattern=_PRINTABLE)]
    physical_reference: Annotated[str, StringConstraints(max_length=12)] | None = None
    vehicle_types: list[VehicleType] = Field(min_length=1)
    max_vehicle_weight: float | None = None
    max_vehicle_height: float | None = None
    max_vehicle_length: float | None = None
    max_vehicle_width: float | None = None
    parking_space_length: float | None = None
    parking_space_width: float | None = None
    dangerous_goods_allowed: bool | None = None
    direction: ParkingDirection | None = None
    drive_through: bool | None = None
    restricted_to_type: bool
    reservation_required: bool
    time_limit: float | None = None
    roofed: bool | None = None
    images: Listed[Image] = None
    lighting: bool | None = None
    refrigeration_outlet: bool | None = None
    standards: Listed[Annotated[str, StringConstraints(max_length=36)]] = None
    apds_reference: Annotated[str, StringConstraints(max_length=36)] | None = None


class EVSEParking(_Model):
    parking_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    evse_position: EVSEPosition | None = None


class ConnectorConfig(_Model):
    """An OCPI Connector as the operator describes it (``last_updated`` is live)."""

    id: CiString36
    standard: ConnectorType
    format: ConnectorFormat
    power_type: PowerType
    max_voltage: int = Field(gt=0)
    max_amperage: int = Field(gt=0)
    max_electric_power: int | None = Field(default=None, gt=0)
    tariff_ids: list[CiString36] = Field(default_factory=list)
    terms_and_conditions: Url | None = None
    capabilities: list[ConnectorCapability] = Field(default_factory=list)
    """2.3.0 only."""


class OperatorConnector(ConnectorConfig):
    """A connector of the operator's file: the OCPI Connector plus its OCPP connector id."""

    ocpp_connector_id: int | None = Field(
        default=None, ge=1,
        description="1.6 connectorId, or the 2.0.1 connectorId within the EVSE (default 1)",
    )


class EvseConfig(_Model):
    """An OCPI EVSE as the operator describes it (``status`` and ``last_updated`` are live).
    What is published; an EVSE gone from the file is published from this alone."""

    uid: CiString36
    evse_id: EvseIdEmi3 | None = None
    status_schedule: list[StatusSchedule] = Field(default_factory=list)
    capabilities: list[Capability] = Field(default_factory=list)
    connectors: Sequence[ConnectorConfig] = Field(min_length=1)
    floor_level: String4 | None = None
    coordinates: GeoLocation | None = None
    physical_reference: String16 | None = None
    directions: list[DisplayText] = Field(default_factory=list)
    parking_restrictions: list[ParkingRestriction] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)
    parking: list[EVSEParking] = Field(default_factory=list)
    """2.3.0 only: the location's parking places this EVSE serves."""
    accepted_service_providers: list[Annotated[str, StringConstraints(max_length=50)]] = Field(
        default_factory=list)
    """2.3.0 only: the eMSPs whose contracts this EVSE accepts (empty: any)."""

    @model_validator(mode="after")
    def _unique_connectors(self) -> EvseConfig:
        twice = _repeated(c.id for c in self.connectors)
        if twice:
            raise ValueError(f"connector id {twice[0]!r} appears twice: connector ids must be "
                             "unique within an EVSE")
        return self

    @property
    def reservable(self) -> bool:
        return Capability.RESERVABLE in self.capabilities


class OperatorEvse(EvseConfig):
    """An EVSE of the operator's file: the OCPI EVSE plus the charger it is."""

    connectors: list[OperatorConnector] = Field(min_length=1)
    charge_point_id: Annotated[str, StringConstraints(min_length=1, max_length=48)]
    ocpp_evse_id: int | None = Field(
        default=None, ge=1, description="2.0.1 evseId; absent for an OCPP 1.6 charger"
    )

    @model_validator(mode="after")
    def _mapping(self) -> OperatorEvse:
        if self.ocpp_evse_id is None and any(c.ocpp_connector_id is None
                                             for c in self.connectors):
            raise ValueError("an OCPP 1.6 EVSE (no ocpp_evse_id) needs ocpp_connector_id "
                             "on every connector")
        return self


class OperatorLocation(_Model):
    country_code: CiString2
    party_id: CiString3
    id: CiString36
    publish: bool = True
    publish_allowed_to: list[PublishTokenType] = Field(default_factory=list)
    name: String255 | None = None
    address: String255
    city: String45
    postal_code: String10 | None = None
    state: String45 | None = None
    country: Annotated[str, StringConstraints(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")]
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] = Field(default_factory=list)
    parking_type: ParkingType | None = None
    evses: list[OperatorEvse] = Field(default_factory=list)
    directions: list[DisplayText] = Field(default_factory=list)
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[Facility] = Field(default_factory=list)
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=255,
                                                pattern=r"^[A-Za-z_]+(/[A-Za-z0-9_+\-]+)*$")]
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] = Field(default_factory=list)
    energy_mix: EnergyMix | None = None
    parking_places: list[Parking] = Field(default_factory=list)
    """2.3.0 only."""
    help_phone: Annotated[str, StringConstraints(max_length=25, pattern=_PRINTABLE)] | None = None
    """2.3.0 only: a telephone number for the driver's support."""

    @model_validator(mode="after")
    def _consistent(self) -> OperatorLocation:
        twice = _repeated(e.uid for e in self.evses)
        if twice:
            raise ValueError(f"EVSE uid {twice[0]!r} appears twice: EVSE uids must be unique "
                             "within a location")
        if self.publish and self.publish_allowed_to:
            raise ValueError("publish_allowed_to may only be used when publish is false")
        places = {p.id for p in self.parking_places}
        for evse in self.evses:
            for parking in evse.parking:
                if parking.parking_id not in places:
                    raise ValueError(f"EVSE {evse.uid}: parking {parking.parking_id!r} is not "
                                     "one of the location's parking_places")
        return self


class OperatorLocations(_Model):
    """The root of ``locations.yaml``."""

    locations: list[OperatorLocation] = Field(default_factory=list)


# Fields that exist only for the gateway; never in what is sent to a partner.
GATEWAY_ONLY_EVSE_FIELDS = frozenset(OperatorEvse.model_fields) - set(EvseConfig.model_fields)
GATEWAY_ONLY_CONNECTOR_FIELDS = (frozenset(OperatorConnector.model_fields)
                                 - set(ConnectorConfig.model_fields))


def _repeated(values: Iterable[str]) -> list[str]:
    """The values that appear more than once, in the order they first repeat."""
    seen: set[str] = set()
    repeated: list[str] = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    return repeated
