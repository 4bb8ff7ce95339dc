"""OCPI 2.3.0 Commands: CommandType is an OpenEnum, so a command we do not know is a valid
request that we answer NOT_SUPPORTED (not a 404); bodies as in 2.2.1, open TokenType."""

from __future__ import annotations

import re
from typing import Any

from ocpi_gateway.commands.models import COMMAND_BODIES, CommandBody, CommandType
from ocpi_gateway.ocpi.seam import UnknownCommand

_NAME = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")


class Mapping230:
    def parse(self, command: str, raw: Any) -> tuple[CommandType, CommandBody] | None:
        if command not in CommandType._value2member_map_:
            if not _NAME.match(command):
                raise UnknownCommand(command)
            return None
        kind = CommandType(command)
        return kind, COMMAND_BODIES[kind].model_validate(raw)


MAPPING = Mapping230()
