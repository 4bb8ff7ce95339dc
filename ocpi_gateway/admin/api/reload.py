"""``POST /admin/reload``: re-read locations.yaml and the files reloaded with it.

Kept where it always was, answering the OCPI envelope it always answered. Before the admin
API it took only the ``admin_token`` bearer (and was absent without one); it now takes that
token still (so existing scripts go on working) or an operator's session or API token, and
refuses anything else with 401, like every admin route.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from ocpi_gateway.admin.api.framework import Call, Operation
from ocpi_gateway.admin.operators import Role
from ocpi_gateway.locations.extension import LOCATIONS


class ReloadAnswer(BaseModel):
    """OCPI's envelope: ``data`` names, per file, the ids of what changed (``changed_locations``,
    ``changed_tariffs``), or the errors of a file that was refused (status_code 2001, HTTP 400)."""

    data: dict[str, Any] | None = None
    status_code: int
    status_message: str | None = None
    timestamp: str


async def reload_files(call: Call) -> web.StreamResponse:
    return await call.app[LOCATIONS].admin_reload(call.request)


OPERATIONS = [
    Operation("POST", "/admin/reload", reload_files, "re-read locations.yaml (and tariffs.yaml)",
              "files", role=Role.OPERATOR, response=ReloadAnswer, action="reload_files",
              legacy_token=True, errors=(400,),
              description="Also accepts gateway.yaml's legacy admin_token as a bearer token."),
]
