"""Where a session happens, in the operator's catalogs: the OCPI EVSE and connector of what a
charger reports, the CdrLocation as it is now (kept on the session: a CDR shows it as it was
at the start), and the tariff that applies to a connector for an eMSP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.models import OperatorConnector, OperatorEvse, OperatorLocation
from ocpi_gateway.sessions.models import NOT_AVAILABLE, CdrLocationInfo
from ocpi_gateway.tariffs.catalog import TariffsCatalog
from ocpi_gateway.tariffs.models import Tariff

_CDR_ADDRESS = 45
_CDR_CITY = 45
_CDR_STATE = 20


@dataclass(frozen=True, slots=True)
class Place:
    location: OperatorLocation
    evse: OperatorEvse | None = None
    connector: OperatorConnector | None = None

    @property
    def evse_uid(self) -> str:
        return self.evse.uid if self.evse is not None else NOT_AVAILABLE

    @property
    def connector_id(self) -> str:
        return self.connector.id if self.connector is not None else NOT_AVAILABLE


class Places:
    def __init__(self, locations: Callable[[], LocationsCatalog],
                 tariffs: Callable[[], TariffsCatalog | None]) -> None:
        self._locations = locations
        self._tariffs = tariffs

    def at_charger(self, charge_point_id: str, evse_id: int | None,
                   connector_id: int | None) -> Place | None:
        """The place a charger's (2.0.1 EVSE, connector) or (1.6 connector) report names."""
        catalog = self._locations()
        found = catalog.evse_at(charge_point_id, evse_id, connector_id)
        if found is None:
            return None
        location = catalog.get(found[0])
        evse = catalog.evse(*found)
        if location is None or evse is None:
            return None
        connector_ocpi = catalog.connector_of(charge_point_id, evse_id, connector_id)
        connector = next((c for c in evse.connectors if c.id == connector_ocpi), None)
        if connector is None and len(evse.connectors) == 1:
            connector = evse.connectors[0]
        return Place(location, evse, connector)

    def of_evse(self, location_id: str, evse_uid: str | None) -> Place | None:
        """A location, and the EVSE (and its connector, when it has one only) when named."""
        catalog = self._locations()
        location = catalog.get(location_id)
        if location is None:
            return None
        evse = catalog.evse(location_id, evse_uid) if evse_uid is not None else None
        connector = evse.connectors[0] if evse is not None and len(evse.connectors) == 1 \
            else None
        return Place(location, evse, connector)

    def tariff(self, place: Place, party: tuple[str, str] | None, at: datetime
               ) -> Tariff | None:
        """The first tariff of the connector (else of the EVSE's first connector, else of the
        location's first connector with tariffs) that ``party`` may see and that is valid
        ``at``; None when none applies."""
        catalog = self._tariffs()
        if catalog is None:
            return None
        visible = {t.id.casefold(): t for t in catalog.visible_to([party] if party else [])}
        for tariff_id in _tariff_ids(place):
            tariff = visible.get(tariff_id.casefold())
            if tariff is not None and _valid(tariff, at):
                return tariff
        return None


def _tariff_ids(place: Place) -> list[str]:
    if place.connector is not None:
        return list(place.connector.tariff_ids)
    evses = [place.evse] if place.evse is not None else place.location.evses
    for evse in evses:
        for connector in evse.connectors:
            if connector.tariff_ids:
                return list(connector.tariff_ids)
    return []


def _valid(tariff: Tariff, at: datetime) -> bool:
    return ((tariff.start_date_time is None or tariff.start_date_time <= at)
            and (tariff.end_date_time is None or at < tariff.end_date_time))


def cdr_location(place: Place) -> CdrLocationInfo:
    """The CdrLocation of ``place``; an EVSE or connector not bound yet is ``#NA`` (its
    connector type fields then describe the first connector: any value is allowed)."""
    location = place.location
    evse = place.evse
    connector = place.connector
    if connector is None:
        first = evse or (location.evses[0] if location.evses else None)
        connector = first.connectors[0] if first is not None else None
    return CdrLocationInfo(
        id=location.id, name=location.name, address=location.address[:_CDR_ADDRESS],
        city=location.city[:_CDR_CITY], postal_code=location.postal_code,
        state=location.state[:_CDR_STATE] if location.state else None,
        country=location.country, latitude=location.coordinates.latitude,
        longitude=location.coordinates.longitude,
        evse_uid=evse.uid if evse is not None else NOT_AVAILABLE,
        evse_id=(evse.evse_id or evse.uid) if evse is not None else NOT_AVAILABLE,
        connector_id=place.connector.id if place.connector is not None else NOT_AVAILABLE,
        connector_standard=connector.standard.value if connector else "IEC_62196_T2",
        connector_format=connector.format.value if connector else "SOCKET",
        connector_power_type=connector.power_type.value if connector else "AC_3_PHASE")
