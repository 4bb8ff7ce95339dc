"""OCPI 2.2.1 Commands: the five CommandTypes, a token inside a command in its 2.2.1 form."""

from __future__ import annotations

from typing import Any

from ocpi_gateway.commands.models import COMMAND_BODIES, CommandBody, CommandType
from ocpi_gateway.ocpi.seam import UnknownCommand
from ocpi_gateway.ocpi.v2_2_1.tokens import Token


class Mapping221:
    def parse(self, command: str, raw: Any) -> tuple[CommandType, CommandBody] | None:
        try:
            kind = CommandType(command)
        except ValueError as exc:
            raise UnknownCommand(command) from exc
        body = COMMAND_BODIES[kind].model_validate(raw)
        if isinstance(raw, dict) and "token" in raw:
            Token.model_validate(raw["token"])  # 2.2.1's closed TokenType
        return kind, body


MAPPING = Mapping221()
