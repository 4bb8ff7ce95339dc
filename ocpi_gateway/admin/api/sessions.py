"""``/admin/api/sessions`` and ``/admin/api/cdrs``: charging sessions and what was billed."""

from __future__ import annotations

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation
from ocpi_gateway.admin.api.reads import found, paged
from ocpi_gateway.admin.service.cdrs import CdrFilter, CdrsPage, CdrView, get_cdr, list_cdrs
from ocpi_gateway.admin.service.sessions import (
    SessionFilter,
    SessionsPage,
    SessionView,
    get_session,
    list_sessions,
)


async def sessions(call: Call) -> SessionsPage:
    return await paged(lambda: list_sessions(call.app[keys.STORE], call.query))


async def session(call: Call) -> SessionView:
    return await found(get_session(call.app[keys.STORE], call.path["session_id"]),
                       f"session {call.path['session_id']}")


async def cdrs(call: Call) -> CdrsPage:
    return await paged(lambda: list_cdrs(call.app[keys.STORE], call.query))


async def cdr(call: Call) -> CdrView:
    return await found(get_cdr(call.app[keys.STORE], call.path["cdr_id"]),
                       f"CDR {call.path['cdr_id']}")


OPERATIONS = [
    Operation("GET", "/admin/api/sessions", sessions, "charging sessions, latest change first: "
              "filter by status, site, eMSP, token, charger, time of the latest change",
              "sessions", query=SessionFilter, response=SessionsPage, errors=(400,)),
    Operation("GET", "/admin/api/sessions/{session_id}", session, "one session with its "
              "meter readings", "sessions", response=SessionView, errors=(404,)),
    Operation("GET", "/admin/api/cdrs", cdrs, "CDRs, newest first: filter by kind, site, "
              "eMSP, token, charger, credit, time made", "cdrs", query=CdrFilter,
              response=CdrsPage, errors=(400,)),
    Operation("GET", "/admin/api/cdrs/{cdr_id}", cdr, "one CDR with its priced periods",
              "cdrs", response=CdrView, errors=(404,)),
]
