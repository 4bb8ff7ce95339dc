"""The demo's eMSP on OCPI 2.3.0 with the Bookings module: it reads the gateway's
BookingLocations and Calendars, POSTs BookingRequests, and receives the Bookings the gateway
pushes (its Bookings RECEIVER, ``{url}/{cpo cc}/{cpo pid}/{booking id}``: a PUT, then PATCHes)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ocpi_gateway.demo.emsp import EmspError, SimulatedEmsp, _eventually, _reply


class BookingEmsp(SimulatedEmsp):
    def __init__(self, **kw: Any) -> None:
        super().__init__(version="2.3.0", **kw)
        self.bookings: dict[str, dict[str, Any]] = {}
        """Booking id → the last Booking the gateway pushed."""
        self.booking_pushes: list[dict[str, Any]] = []
        """Every Booking pushed, in order (after a PATCH: the Booking as it made it)."""

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", f"/emsp/{self.version}/bookings/{{tail:.*}}", self._receive)

    def _endpoint_list(self, base: str) -> list[dict[str, str]]:
        return [*super()._endpoint_list(base),
                {"identifier": "bookings", "role": "RECEIVER", "url": f"{base}/bookings"}]

    async def _receive(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _reply(None, 2000, http=401)
        tail = request.match_info["tail"]
        body = orjson.loads(await request.read()) if request.can_read_body else None
        self._pushed(request, body, f"/bookings/{tail}")
        parts = tail.split("/")
        # BookingLocations arrive too (CC/PID/booking_locations/ID[/CALENDAR]); only Bookings
        # are kept: PUT whole, then PATCHes of what changed, applied to the one held.
        if request.method in ("PUT", "PATCH") and len(parts) == 3 and isinstance(body, dict):
            if request.method == "PATCH":
                held = self.bookings.get(parts[2])
                if held is None:
                    return _reply(None, 2001, http=404)
                body = {**held, **body}
            self.bookings[parts[2]] = body
            self.booking_pushes.append(body)
        return _reply()

    # ------------------------------------------------------------------ client side

    @property
    def _base(self) -> str:
        return self.endpoints["bookings:SENDER"]

    async def booking_locations(self) -> list[dict[str, Any]]:
        data, _ = await self._call("GET", f"{self._base}/booking_locations", routed=True)
        return list(data)

    async def calendar(self, location_id: str, calendar_id: str) -> dict[str, Any]:
        data, _ = await self._call(
            "GET", f"{self._base}/booking_locations/{location_id}/{calendar_id}", routed=True)
        return dict(data)

    async def book(self, request: dict[str, Any]) -> dict[str, Any]:
        """POST a BookingRequest; the Booking the gateway answers with."""
        data, _ = await self._call("POST", self._base, json=request, routed=True)
        return dict(data)

    async def wait_booking(self, request_id: str, within: float, *, state: str | None = None,
                           bound: bool = False) -> dict[str, Any]:
        """The first pushed Booking of ``request_id`` in ``state`` (and, with ``bound``,
        naming its EVSE)."""
        def seen() -> dict[str, Any] | None:
            for b in self.booking_pushes:
                if b["request_id"] != request_id:
                    continue
                if state is not None and b["reservation_status"] != state:
                    continue
                if bound and not evse_of(b):
                    continue
                return b
            return None
        found: dict[str, Any] | None = await _eventually(seen, within)
        if found is None:
            wanted = state or "any state"
            raise EmspError(f"the gateway did not push booking {request_id} ({wanted}"
                            f"{', bound to an EVSE' if bound else ''}) within {within:.0f} s")
        return found


def evse_of(booking: dict[str, Any]) -> str | None:
    """The EVSE a pushed Booking names (its booking_option, once bound)."""
    uid = (booking.get("booking_option") or {}).get("evse_uid")
    return uid if uid and uid != "#NA" else None
