"""``/admin/api/commands``: the eMSPs' commands and their results."""

from __future__ import annotations

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation
from ocpi_gateway.admin.api.reads import paged
from ocpi_gateway.admin.service.commands import CommandFilter, CommandsPage, list_commands

TAG = "commands"


async def commands(call: Call) -> CommandsPage:
    return await paged(lambda: list_commands(call.app[keys.STORE], call.query))


OPERATIONS = [
    Operation("GET", "/admin/api/commands", commands, "the eMSPs' commands, newest first", TAG,
              query=CommandFilter, response=CommandsPage, errors=(400,)),
]
