"""Charger commands as bytes on a Redis Stream and back."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import orjson

from ocpi_gateway.domain.charger_commands import (
    CancelReservation,
    ChangeAvailability,
    ChangeConfiguration,
    ChargerCommand,
    ClearDisplayMessage,
    CommandOutcome,
    CommandReply,
    GetConfiguration,
    GetVariables,
    RemoteStart,
    RemoteStop,
    ReserveNow,
    Reset,
    ResetKind,
    SetDisplayMessage,
    SettingResult,
    SetVariables,
    TriggerMessage,
    TriggerStatusNotification,
    UnlockConnector,
    VariableRef,
)
from ocpi_gateway.ocpp_adapter.timefmt import parse_rfc3339

COMMAND_TYPES: dict[str, type[ChargerCommand]] = {
    cls.__name__: cls
    for cls in (ReserveNow, CancelReservation, RemoteStart, RemoteStop, UnlockConnector,
                TriggerStatusNotification, SetDisplayMessage, ClearDisplayMessage, Reset,
                ChangeAvailability, TriggerMessage, GetConfiguration, ChangeConfiguration,
                GetVariables, SetVariables)
}

_FIELD_TYPES: dict[str, Any] = {
    "kind": ResetKind,
    "keys": lambda items: tuple(str(item) for item in items),
    "variables": lambda items: tuple(VariableRef(**item) for item in items),
}
"""Fields JSON cannot carry as they are: back to their types."""


_DATETIME_TYPES = ("datetime", "datetime | None", datetime)


class CodecError(ValueError):
    """Bytes that are not a command this version knows."""


def encode_command(command: ChargerCommand) -> bytes:
    body = {field.name: getattr(command, field.name) for field in dataclasses.fields(command)}
    body["type"] = type(command).__name__
    return orjson.dumps(body)


def decode_command(data: bytes | str) -> ChargerCommand:
    try:
        body: dict[str, Any] = orjson.loads(data)
        cls = COMMAND_TYPES[body.pop("type")]
        for field in dataclasses.fields(cls):
            # Annotations are strings here (``from __future__ import annotations``).
            if field.type in _DATETIME_TYPES and isinstance(body.get(field.name), str):
                body[field.name] = parse_rfc3339(body[field.name])
            elif field.name in _FIELD_TYPES and field.name in body:
                body[field.name] = _FIELD_TYPES[field.name](body[field.name])
        return cls(**body)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise CodecError(f"not a charger command: {exc}") from exc


def encode_reply(reply: CommandReply) -> bytes:
    return orjson.dumps(dataclasses.asdict(reply))


def decode_reply(data: bytes | str) -> CommandReply:
    try:
        body: dict[str, Any] = orjson.loads(data)
        return CommandReply(
            outcome=CommandOutcome(body["outcome"]), status=body.get("status"),
            error=body.get("error"),
            settings=tuple(SettingResult(**item) for item in body.get("settings") or ()))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"not a command reply: {exc}") from exc
