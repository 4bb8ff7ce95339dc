"""``/admin/api/sites``: sites and their EVSEs' live status."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ocpi_gateway.admin.api.framework import Call, Operation, not_found
from ocpi_gateway.admin.api.reads import part
from ocpi_gateway.admin.service.sites import SitesPage, SiteView, get_site, list_sites
from ocpi_gateway.locations.extension import AVAILABILITY, LOCATIONS

TAG = "sites"


class SitesQuery(BaseModel):
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)


async def sites(call: Call) -> SitesPage:
    query: SitesQuery = call.query
    return await list_sites(part(call, LOCATIONS, "locations").catalog,
                            part(call, AVAILABILITY, "availability"),
                            offset=query.offset, limit=query.limit)


async def site(call: Call) -> SiteView:
    found = await get_site(part(call, LOCATIONS, "locations").catalog,
                           part(call, AVAILABILITY, "availability"), call.path["location_id"])
    if found is None:
        raise not_found(f"site {call.path['location_id']}")
    return found


OPERATIONS = [
    Operation("GET", "/admin/api/sites", sites, "sites with every EVSE's live status", TAG,
              query=SitesQuery, response=SitesPage, errors=(400,)),
    Operation("GET", "/admin/api/sites/{location_id}", site, "one site", TAG,
              response=SiteView, errors=(404,)),
]
