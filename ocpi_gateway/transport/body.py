"""Reading request bodies: 400 for unparsable JSON, 2001 naming the field for invalid data."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from ocpi_gateway.transport.envelope import OcpiError
from ocpi_gateway.transport.status_codes import OcpiStatus

M = TypeVar("M", bound=BaseModel)


def validation_message(exc: ValidationError) -> str:
    """``roles.0.party_id: String should have at most 3 characters; url: Field required``."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "body"
        parts.append(f"{field}: {error['msg']}")
    return "; ".join(parts)


def invalid(exc: ValidationError) -> OcpiError:
    return OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS, validation_message(exc))


async def parse_json(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        "request body is not valid JSON", http_status=400) from exc


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The request body as ``model``; OcpiError (400 or 2001) otherwise."""
    data = await parse_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from exc
