"""``/admin/api/no-shows`` and ``/admin/api/bans``: what ended unused, the tokens banned for
it, and the operator lifting or setting a ban."""

from __future__ import annotations

from datetime import UTC, datetime

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation
from ocpi_gateway.admin.api.reads import operator, paged, part, served
from ocpi_gateway.admin.operators import Role
from ocpi_gateway.admin.service.bans import (
    BanFilter,
    BansPage,
    BanView,
    LiftBody,
    SetBanBody,
    get_ban,
    lift_ban,
    list_bans,
    set_ban,
)
from ocpi_gateway.admin.service.no_shows import NoShowFilter, NoShowsPage, list_no_shows
from ocpi_gateway.reservations.extension import ENFORCEMENT

ONE = "/admin/api/bans/{emsp}/{token_uid}"


def now(call: Call) -> datetime:
    """The gateway's clock (tests move it), as enforcement reads it."""
    clock = call.app.get(keys.CLOCK)
    return clock() if clock is not None else datetime.now(UTC)


async def no_shows(call: Call) -> NoShowsPage:
    return await paged(lambda: list_no_shows(call.app[keys.STORE], call.query))


async def bans(call: Call) -> BansPage:
    return await paged(lambda: list_bans(call.app[keys.STORE], call.query, now(call)))


async def ban(call: Call) -> BanView:
    return await served(lambda: get_ban(call.app[keys.STORE], call.path["emsp"],
                                        call.path["token_uid"], now(call)))


async def lift(call: Call) -> BanView:
    body: LiftBody = call.body
    enforcement = part(call, ENFORCEMENT, "reservations")
    return await served(lambda: lift_ban(enforcement, call.path["emsp"],
                                         call.path["token_uid"], operator=operator(call),
                                         reason=body.reason, now=now(call)))


async def put_ban(call: Call) -> BanView:
    body: SetBanBody = call.body
    enforcement = part(call, ENFORCEMENT, "reservations")
    return await served(lambda: set_ban(enforcement, call.path["emsp"], call.path["token_uid"],
                                        body, operator=operator(call), now=now(call)))


OPERATIONS = [
    Operation("GET", "/admin/api/no-shows", no_shows, "reservations and bookings that ended "
              "unused, newest first: filter by kind, site, eMSP, token, time recorded",
              "enforcement", query=NoShowFilter, response=NoShowsPage, errors=(400,)),
    Operation("GET", "/admin/api/bans", bans, "bans of tokens (each token's current or last), "
              "the latest end first: filter by eMSP, token, source, in force, end",
              "enforcement", query=BanFilter, response=BansPage, errors=(400,)),
    Operation("GET", ONE, ban, "one token's ban with its earlier ones", "enforcement",
              response=BanView, errors=(404,)),
    Operation("POST", ONE + "/lift", lift, "lift a ban: it ends now, the no-shows so far are "
              "forgiven", "enforcement", role=Role.OPERATOR, body=LiftBody, response=BanView,
              action="lift_ban", errors=(404, 409)),
    Operation("PUT", ONE, put_ban, "ban a token until a moment or for some days (replaces "
              "any ban it has); the eMSP is told the reason at its next reservation or "
              "booking", "enforcement", role=Role.OPERATOR, body=SetBanBody, response=BanView,
              action="set_ban", errors=(400, 404)),
]
