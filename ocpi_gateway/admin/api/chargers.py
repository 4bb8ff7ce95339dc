"""``/admin/api/chargers``: chargers and their connections."""

from __future__ import annotations

from pydantic import BaseModel

from ocpi_gateway.admin.api.framework import Call, Operation, not_found
from ocpi_gateway.admin.api.reads import part
from ocpi_gateway.admin.service.chargers import ChargersPage, ChargerView, list_chargers
from ocpi_gateway.locations.extension import LOCATIONS
from ocpi_gateway.ocpp_wiring import CHARGERS, OCPP_SERVER

TAG = "chargers"


class ChargersQuery(BaseModel):
    online: bool | None = None


def _discovered(call: Call) -> dict[str, dict[str, bool | None]]:
    """What the chargers said of their reservation support when they connected."""
    locations = call.app.get(LOCATIONS)
    if locations is None:
        return {}
    known = locations.publisher.capabilities
    return {cp: view for cp in known.chargers if (view := known.as_view(cp)) is not None}


async def chargers(call: Call) -> ChargersPage:
    query: ChargersQuery = call.query
    locations = call.app.get(LOCATIONS)
    return await list_chargers(part(call, CHARGERS, "chargers"),
                               locations.catalog if locations is not None else None,
                               part(call, OCPP_SERVER, "the OCPP adapter").describe,
                               online=query.online, discovered=_discovered(call))


async def charger(call: Call) -> ChargerView:
    cp = call.path["charge_point_id"]
    config = part(call, CHARGERS, "chargers")
    if config.get(cp) is None:
        raise not_found(f"charger {cp} in chargers.yaml")
    locations = call.app.get(LOCATIONS)
    page = await list_chargers(config, locations.catalog if locations is not None else None,
                               part(call, OCPP_SERVER, "the OCPP adapter").describe, ids=[cp],
                               discovered=_discovered(call))
    return page.items[0]


OPERATIONS = [
    Operation("GET", "/admin/api/chargers", chargers, "chargers: online, OCPP version, which "
              "instance, last message", TAG, query=ChargersQuery, response=ChargersPage,
              errors=(400,)),
    Operation("GET", "/admin/api/chargers/{charge_point_id}", charger, "one charger", TAG,
              response=ChargerView, errors=(404,)),
]
