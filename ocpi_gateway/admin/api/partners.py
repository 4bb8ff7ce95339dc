"""``/admin/api/partners``: partners and their granted roles; revoking one."""

from __future__ import annotations

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation
from ocpi_gateway.admin.api.reads import served
from ocpi_gateway.admin.operators import Role
from ocpi_gateway.admin.service.partners import (
    PartnerFilter,
    PartnersPage,
    PartnerView,
    RevokedPartner,
    get_partner,
    list_partners,
    revoke,
)

TAG = "partners"
ONE = "/admin/api/partners/{partner_id}"


async def partners(call: Call) -> PartnersPage:
    return await list_partners(call.app[keys.PARTNERS], call.query)


async def partner(call: Call) -> PartnerView:
    return await served(lambda: get_partner(call.app[keys.PARTNERS], call.path["partner_id"]))


async def revoke_a_partner(call: Call) -> RevokedPartner:
    return await served(lambda: revoke(call.app[keys.STORE], call.app[keys.PARTNERS],
                                       call.path["partner_id"]))


OPERATIONS = [
    Operation("GET", "/admin/api/partners", partners, "partners, their roles and grants: "
              "filter by state, role, party", TAG, query=PartnerFilter, response=PartnersPage,
              errors=(400,)),
    Operation("GET", ONE, partner, "one partner", TAG, response=PartnerView, errors=(404,)),
    Operation("POST", ONE + "/revoke", revoke_a_partner, "revoke a partner (offboarding, as "
              "`partners revoke`): its tokens stop working on every instance at once, its "
              "pending deliveries become dead letters, the record stays REVOKED", TAG,
              role=Role.OPERATOR, response=RevokedPartner, action="revoke_partner",
              errors=(404,)),
]
