"""``GET /admin/console/events``: the live feed as Server-Sent Events, for a logged-in
operator (a viewer suffices). Under ``/admin`` because the session cookie is scoped there.

The stream opens with ``ready`` (the page loads its state after it, so nothing that happens
meanwhile is missed), then one event per change; a comment every ``HEARTBEAT`` seconds keeps
proxies from closing it and re-checks the session, so a logout or an expiry ends it.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from ocpi_gateway.admin.access import Refusal
from ocpi_gateway.admin.api.framework import ACCESS, error_response
from ocpi_gateway.console.feed import Change, Feed

log = structlog.get_logger(__name__)

EVENTS = "/admin/console/events"
HEARTBEAT = 15.0
FEED: web.AppKey[Feed] = web.AppKey("console_feed")
_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"}


def frame(change: Change) -> bytes:
    return b"event: " + change.kind.encode() + b"\ndata: " + change.encode() + b"\n\n"


async def _authenticated(request: web.Request) -> Refusal | None:
    try:
        await request.app[ACCESS].authenticate(request)
    except Refusal as refusal:
        return refusal
    return None


async def stream(request: web.Request) -> web.StreamResponse:
    refusal = await _authenticated(request)
    if refusal is not None:
        return error_response(refusal.status, refusal.code, refusal.message)
    feed = request.app.get(FEED)
    if feed is None:
        return error_response(503, "unavailable", "the console's feed is not running")
    subscription = feed.hub.subscribe()
    response = web.StreamResponse(headers=_HEADERS)
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\nevent: ready\ndata: {}\n\n")
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT):
                    change = await subscription.queue.get()
            except TimeoutError:
                if await _authenticated(request) is not None:
                    break
                await response.write(b": keep-alive\n\n")
                continue
            if change is None:
                break
            # Whatever queued meanwhile goes in the same write: one syscall for a burst.
            chunk = [frame(change)]
            ended = False
            while not subscription.queue.empty():
                more = subscription.queue.get_nowait()
                if more is None:
                    ended = True
                    break
                chunk.append(frame(more))
            await response.write(b"".join(chunk))
            if ended:
                break
    except (ConnectionResetError, ConnectionError):
        pass  # the page went away
    finally:
        subscription.close()
        if subscription.overflowed:
            log.info("console_page_behind", remote=request.remote)
    return response
