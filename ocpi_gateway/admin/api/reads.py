"""Helpers the resource modules share: the app's parts, looked up at request time, and the
service layer's refusals as HTTP answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from ocpi_gateway.admin.api.framework import ApiError, Call, not_found
from ocpi_gateway.admin.service.errors import Conflict, Invalid, NotFound
from ocpi_gateway.admin.service.paging import BadCursor

T = TypeVar("T")


def part(call: Call, key: web.AppKey[T], what: str) -> T:
    """``app[key]``, or 503 naming what this gateway runs without."""
    found = call.app.get(key)
    if found is None:
        raise ApiError(503, "unavailable", f"this gateway runs without {what}")
    return found


def operator(call: Call) -> str:
    """Who is acting (an action's operation always authenticates first)."""
    assert call.principal is not None
    return call.principal.name


async def found(look: Awaitable[T | None], what: str) -> T:
    """What ``look`` finds, or 404 naming ``what``."""
    value = await look
    if value is None:
        raise not_found(what)
    return value


async def paged(run: Callable[[], Awaitable[T]]) -> T:
    try:
        return await run()
    except BadCursor as exc:
        raise ApiError(400, "invalid", str(exc)) from exc


async def served(run: Callable[[], Awaitable[T]]) -> T:
    """``run()``, its refusals answered: a bad cursor or an act that cannot be done as asked
    400, nothing there 404, a state the act does not apply to 409."""
    try:
        return await run()
    except (BadCursor, Invalid) as exc:
        raise ApiError(400, "invalid", str(exc)) from exc
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    except Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
