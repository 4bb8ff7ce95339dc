"""OCPI 2.2.1 Commands: the five CommandTypes, a token inside a command in its 2.2.1 form."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ocpi_gateway.commands.models import COMMAND_BODIES, CommandBody, CommandType
from ocpi_gateway.ocpi.seam import UnknownCommand
from ocpi_gateway.ocpi.v2_2_1.tokens import Token


class _WithToken(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: Token


class Mapping221:
    def parse(self, command: str, raw: Any) -> tuple[CommandType, CommandBody] | None:
        try:
            kind = CommandType(command)
        except ValueError as exc:
            raise UnknownCommand(command) from exc
        body = COMMAND_BODIES[kind].model_validate(raw)
        if isinstance(raw, dict) and "token" in raw:
            _WithToken.model_validate(raw)  # 2.2.1's closed TokenType, named token.type
        return kind, body


MAPPING = Mapping221()
