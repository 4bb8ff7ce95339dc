"""Charger commands as bytes on a Redis Stream and back."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import orjson

from ocpi_gateway.domain.charger_commands import (
    CancelReservation,
    ChargerCommand,
    ClearDisplayMessage,
    RemoteStart,
    RemoteStop,
    ReserveNow,
    SetDisplayMessage,
    TriggerStatusNotification,
    UnlockConnector,
)
from ocpi_gateway.ocpp_adapter.timefmt import parse_rfc3339

COMMAND_TYPES: dict[str, type[ChargerCommand]] = {
    cls.__name__: cls
    for cls in (ReserveNow, CancelReservation, RemoteStart, RemoteStop, UnlockConnector,
                TriggerStatusNotification, SetDisplayMessage, ClearDisplayMessage)
}


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
        return cls(**body)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise CodecError(f"not a charger command: {exc}") from exc
