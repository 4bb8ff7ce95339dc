"""Adapts the operator's OCPI locations into the policy engine's candidates."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.charger_capabilities import KnownCapabilities
from ocpi_gateway.locations.models import OperatorConnector, OperatorEvse
from ocpi_gateway.locations.service_marks import ServiceMarks
from ocpi_gateway.reservation_policy.models import ConnectorInfo, EvseCandidate

CatalogProvider = Callable[[], LocationsCatalog]
"""The current catalog: a reload replaces it, so it is looked up on every request."""

WholeChargerCapable = Callable[[str], bool]

MarksProvider = Callable[[], ServiceMarks]
CapabilitiesProvider = Callable[[], KnownCapabilities]


def connector_power_w(connector: OperatorConnector) -> int:
    if connector.max_electric_power is not None:
        return connector.max_electric_power
    phases = 3 if connector.power_type.value == "AC_3_PHASE" else 1
    return connector.max_voltage * connector.max_amperage * phases


def to_candidate(
    location_id: str, evse: OperatorEvse, catalog: LocationsCatalog,
    whole_charger: WholeChargerCapable, *, every_evse_counts: bool = False,
    out_of_service: bool = False, known: KnownCapabilities | None = None,
) -> EvseCandidate | None:
    address = catalog.address_of(location_id, evse.uid)
    if address is None:
        return None
    return EvseCandidate(
        location_id=location_id,
        evse_uid=evse.uid,
        charge_point_id=evse.charge_point_id,
        address=address,
        # Out of service (the operator's mark): no reservation, no bookings' supply.
        # A charger that said it cannot reserve gets no ReserveNow.
        reservable=not out_of_service and (every_evse_counts or evse.reservable)
        and (known is None or known.can_reserve(evse.charge_point_id)),
        connectors=tuple(ConnectorInfo(c.standard.value, connector_power_w(c),
                                       c.power_type.value, c.format.value)
                         for c in evse.connectors),
        charger_can_reserve_whole=whole_charger(evse.charge_point_id) if known is None
        else known.whole_charger(evse.charge_point_id, whole_charger(evse.charge_point_id)),
    )


class CatalogCandidates:
    """``ocpi_gateway.reservation_policy.lifecycle.CandidateSource`` over the Locations catalog.

    ``every_evse_counts`` serves START_SESSION, which may use EVSEs that are not RESERVABLE.
    """

    def __init__(self, catalog: CatalogProvider, whole_charger: WholeChargerCapable, *,
                 every_evse_counts: bool = False, marks: MarksProvider | None = None,
                 capabilities: CapabilitiesProvider | None = None) -> None:
        self._catalog = catalog
        self._whole_charger = whole_charger
        self._every_evse_counts = every_evse_counts
        self._marks = marks
        self._capabilities = capabilities
        # Built once per catalog, marks and capabilities: a reload replaces the catalog
        # object, a mark or a charger's answer moves a generation; each drops these.
        self._built: dict[str, tuple[LocationsCatalog, tuple[int, int],
                                     tuple[EvseCandidate, ...]]] = {}

    async def candidates(self, location_id: str) -> Sequence[EvseCandidate]:
        catalog = self._catalog()
        marks = self._marks() if self._marks is not None else None
        known = self._capabilities() if self._capabilities is not None else None
        generation = (marks.generation if marks is not None else 0,
                      known.generation if known is not None else 0)
        built = self._built.get(location_id)
        if built is not None and built[0] is catalog and built[1] == generation:
            return built[2]
        location = catalog.get(location_id)
        if location is None:
            return ()
        found = (to_candidate(location_id, evse, catalog, self._whole_charger,
                              every_evse_counts=self._every_evse_counts,
                              out_of_service=marks is not None
                              and marks.is_out(location_id, evse.uid), known=known)
                 for evse in location.evses)
        result = tuple(c for c in found if c is not None)
        self._built[location_id] = (catalog, generation, result)
        return result
