"""``GET /admin/api/live``: the console's live feed as Server-Sent Events, for a logged-in
operator (a viewer suffices). An operation of the admin API like any other (authenticated
first, documented), under ``/admin`` where the session cookie goes.

The stream opens with ``ready`` (the page loads its state after it, so nothing that happens
meanwhile is missed), then one event per change; a comment every ``HEARTBEAT`` seconds keeps
proxies from closing it and re-checks the credentials, so a logout or an expiry ends it.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from ocpi_gateway.admin.access import Refusal
from ocpi_gateway.admin.api.framework import ACCESS, ApiError, Call, Operation
from ocpi_gateway.console.feed import Change, Feed, Subscription

log = structlog.get_logger(__name__)

EVENTS = "/admin/api/live"
HEARTBEAT = 15.0
FEED: web.AppKey[Feed] = web.AppKey("console_feed")
_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no",
            "X-Content-Type-Options": "nosniff"}


def frame(change: Change) -> bytes:
    return b"event: " + change.kind.encode() + b"\ndata: " + change.encode() + b"\n\n"


async def _still_allowed(request: web.Request) -> bool:
    try:
        await request.app[ACCESS].authenticate(request)
    except Refusal:
        return False
    return True


async def _next_chunk(subscription: Subscription) -> bytes | None:
    """What queued, in one write (a burst costs one syscall); None: the stream ends;
    b"": nothing for a heartbeat's time."""
    try:
        async with asyncio.timeout(HEARTBEAT):
            change = await subscription.queue.get()
    except TimeoutError:
        return b""
    if change is None:
        return None
    chunk = [frame(change)]
    while not subscription.queue.empty():
        more = subscription.queue.get_nowait()
        if more is None:
            subscription.queue.put_nowait(None)  # written first, then the end
            break
        chunk.append(frame(more))
    return b"".join(chunk)


async def live(call: Call) -> web.StreamResponse:
    request = call.request
    feed = request.app.get(FEED)
    if feed is None:
        raise ApiError(503, "unavailable", "the console's feed is not running")
    subscription = feed.hub.subscribe()
    response = web.StreamResponse(headers=_HEADERS)
    response.content_type = "text/event-stream"
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\nevent: ready\ndata: {}\n\n")
        while True:
            chunk = await _next_chunk(subscription)
            if chunk is None:
                break
            if chunk == b"":
                if not await _still_allowed(request):
                    break
                chunk = b": keep-alive\n\n"
            await response.write(chunk)
    except ConnectionError:
        pass  # the page went away
    finally:
        subscription.close()
        if subscription.overflowed:
            log.info("console_page_behind", remote=request.remote)
    return response


OPERATIONS = [
    Operation("GET", EVENTS, live, "the console's live feed (Server-Sent Events): EVSE "
              "statuses, reservation and booking changes, as they happen on any instance",
              "console", streams="text/event-stream", errors=(503,),
              description="Events `ready` (subscribed: load the state now), `evse` "
              "{location_id, evse_uid, status, at}, `reservation` {key, emsp, state, live, "
              "location_id, evse_uid, booking}, `booking` {key, state, location_id, emsp}."),
]
