"""``/admin/api/partners``: partners and their granted roles."""

from __future__ import annotations

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation
from ocpi_gateway.admin.service.partners import PartnersPage, list_partners

TAG = "partners"


async def partners(call: Call) -> PartnersPage:
    return await list_partners(call.app[keys.PARTNERS])


OPERATIONS = [
    Operation("GET", "/admin/api/partners", partners, "partners, their roles and grants", TAG,
              response=PartnersPage, errors=()),
]
