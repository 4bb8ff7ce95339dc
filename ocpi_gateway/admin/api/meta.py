"""The API describing itself: ``GET /admin/api/openapi.json``."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import RootModel

from ocpi_gateway.admin.api.framework import Call, Operation

OPENAPI_DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("admin_openapi")


class OpenApiDocument(RootModel[dict[str, Any]]):
    """An OpenAPI 3.1 document."""


async def openapi(call: Call) -> OpenApiDocument:
    return OpenApiDocument(call.app[OPENAPI_DOCUMENT])


OPERATIONS = [
    Operation("GET", "/admin/api/openapi.json", openapi, "this API's OpenAPI document",
              "meta", response=OpenApiDocument, errors=()),
]
