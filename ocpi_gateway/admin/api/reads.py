"""Helpers the resource modules share: the app's parts, looked up at request time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from ocpi_gateway.admin.api.framework import ApiError, Call
from ocpi_gateway.admin.service.paging import BadCursor

T = TypeVar("T")


def part(call: Call, key: web.AppKey[T], what: str) -> T:
    """``app[key]``, or 503 naming what this gateway runs without."""
    found = call.app.get(key)
    if found is None:
        raise ApiError(503, "unavailable", f"this gateway runs without {what}")
    return found


async def paged(run: Callable[[], Awaitable[T]]) -> T:
    try:
        return await run()
    except BadCursor as exc:
        raise ApiError(400, "invalid", str(exc)) from exc
