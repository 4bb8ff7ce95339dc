"""A real eMSP on loopback for tests: versions, credentials, and receivers that record.

Usage::

    peer = EmspPeer()
    await peer.start()                     # peer.versions_url, peer.base_url
    await peer.register_with(gateway_versions_url, token_a)   # eMSP-initiated handshake
    ... peer.received / peer.locations / peer.command_results ...
    await peer.close()

For the gateway-initiated handshake, give the gateway ``peer.token_a`` and
``peer.versions_url``. ``peer.refuse_first`` makes the receiver endpoints (locations, command
results) answer HTTP 503 to that many requests before accepting (retry tests);
``peer.results_status`` makes the CommandResult receiver answer that HTTP status to every
POST, ``peer.results_refused`` makes it refuse that many (OCPI 2001: the gateway keeps them
as dead letters), and ``peer.results_delay`` makes it wait that many seconds before
answering (a slow or hanging receiver; ``release_delayed()`` or ``close()`` ends the wait).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from ocpi_gateway.partners.grants import GrantedParty, GrantedRole, Grants
from tests.openapi import (
    OpenApiViolation,
    validate_gateway_response,
    validate_object,
    validate_request,
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _touch(parent: dict[str, Any], child: Any) -> None:
    """A change of a child moves its parent's last_updated forward (mod_locations)."""
    stamp = child.get("last_updated") if isinstance(child, dict) else None
    if isinstance(stamp, str) and stamp > str(parent.get("last_updated", "")):
        parent["last_updated"] = stamp


def envelope(data: Any = None, status_code: int = 1000, message: str | None = None) -> bytes:
    body: dict[str, Any] = {"status_code": status_code, "timestamp": _now()}
    if data is not None:
        body["data"] = data
    if message:
        body["status_message"] = message
    return orjson.dumps(body)


def _reply(data: Any = None, status_code: int = 1000, *, http: int = 200,
           message: str | None = None) -> web.Response:
    return web.Response(body=envelope(data, status_code, message), status=http,
                        content_type="application/json")


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class EmspPeer:
    country_code: str = "DE"
    party_id: str = "EMS"
    role: str = "EMSP"
    name: str = "Test eMSP"
    versions: tuple[str, ...] = ("2.1.1", "2.2.1")
    modules: tuple[str, ...] = ("credentials", "locations", "commands", "tokens")
    plain_tokens_only: bool = False
    """Accept only unencoded tokens (an OCPI 2.1.1-style peer)."""
    refuse_first: int = 0
    authorize_answers: dict[str, str] = field(default_factory=dict)
    """Real-time authorization: token uid → AllowedType answered; other uids get HTTP 404."""
    authorize_delay: float = 0.0
    results_status: int | None = None
    results_refused: int = 0
    """The next that many CommandResult POSTs are answered OCPI 2001 (a refusal, not to be
    retried: each ends a dead letter in the gateway's outbox); recorded in ``received``."""
    results_delay: float = 0.0
    results_in_flight: int = 0
    """CommandResult POSTs received and not answered yet."""
    extra_roles: list[dict[str, Any]] = field(default_factory=list)
    hub_clients: list[dict[str, Any]] = field(default_factory=list)
    """A hub peer: the ClientInfo objects its HubClientInfo SENDER lists (``modules`` must
    include ``hubclientinfo``)."""
    ocpi_version: str = "2.2.1"
    """The version this eMSP registers on; bodies it receives are validated in it."""
    violations: list[str] = field(default_factory=list)
    """Bodies the gateway sent that break the official OpenAPI schema; ``close`` raises on the
    first (a receiver must answer the gateway, so it cannot raise in the test itself)."""

    token_a: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    """The token A this eMSP hands out for the gateway to register with it."""
    valid_tokens: set[str] = field(default_factory=set)
    token_for_gateway: str | None = None
    """The gateway's token (C, or B when the gateway registered with us) we use to call it."""
    gateway_credentials: dict[str, Any] | None = None
    received: list[Received] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    """Every Authorization header the gateway sent us, in order (refused ones too)."""
    locations: dict[str, Any] = field(default_factory=dict)
    _evse_positions: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    """Per stored location, where each EVSE uid is in its ``evses``: checked at each use and
    made again when the list changed (a walk over 1,000 EVSEs for every PATCH was this peer's
    own cost in the benchmarks, not the gateway's)."""
    tariffs: dict[str, Any] = field(default_factory=dict)
    """What the Tariffs receiver holds, by ``CC/PID/ID`` (``modules`` must list tariffs)."""
    sessions: dict[str, Any] = field(default_factory=dict)
    """What the Sessions receiver holds, by session id (``modules`` must list sessions): a
    PUT replaces, a PATCH updates the fields it has and adds its charging periods."""
    session_pushes: list[tuple[str, str, Any]] = field(default_factory=list)
    """Every Session PUT or PATCH received: (method, session id, body)."""
    cdrs: dict[str, Any] = field(default_factory=dict)
    """What the CDRs receiver holds, by CDR id (``modules`` must list cdrs)."""
    cdrs_refuse_duplicates: bool = True
    """A second POST of a CDR id is refused (2001): CDRs cannot be replaced."""
    command_results: dict[str, list[Any]] = field(default_factory=dict)
    bookings: dict[str, Any] = field(default_factory=dict)
    """What the Bookings receiver holds, by the path after the module (``CC/PID/ID``,
    ``CC/PID/booking_locations/ID``, its Calendars inside); ``modules`` lists ``bookings`` (or
    another spelling of the identifier, e.g. ``Booking``, which then names the endpoint)."""
    bookings_refuse_patches: list[str] = field(default_factory=list)
    """Paths after the module (as in ``bookings``) whose next valid PATCH the Bookings
    receiver refuses (OCPI 2001), once each, as a receiver that lost the object would."""
    base_url: str = ""
    credentials_url: str = ""
    """The gateway's credentials endpoint, once register_with found it."""
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> str:
        self.valid_tokens.add(self.token_a)
        app = web.Application()
        app.router.add_get("/emsp/versions", self._versions)
        app.router.add_get("/emsp/{version}", self._details)
        app.router.add_route("*", "/emsp/{version}/credentials", self._credentials)
        app.router.add_route("*", "/emsp/{version}/locations/{tail:.*}", self._locations)
        app.router.add_route("*", "/emsp/{version}/tariffs/{tail:.*}", self._tariffs)
        app.router.add_route("*", "/emsp/{version}/sessions/{cc}/{pid}/{session_id}",
                             self._sessions)
        app.router.add_post("/emsp/{version}/cdrs", self._cdr_post)
        app.router.add_get("/emsp/{version}/cdrs/{cdr_id}", self._cdr_get)
        app.router.add_route("*", "/emsp/{version}/{module:[Bb]ookings?}/{tail:.*}",
                             self._bookings)
        app.router.add_post("/emsp/results/{name}", self._result)
        app.router.add_post("/emsp/{version}/tokens/{uid}/authorize", self._authorize)
        app.router.add_get("/emsp/{version}/hubclientinfo", self._hub_client_info)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        # Port 0: the kernel picks a free port at bind time (one probed free first can be taken
        # by a parallel test before the bind).
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = int(self._runner.addresses[0][1])
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    def release_delayed(self) -> None:
        """End the waits of every CommandResult POST held by ``results_delay`` now."""
        self._release.set()
        self._release = asyncio.Event()

    async def close(self) -> None:
        self._release.set()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.violations:
            raise OpenApiViolation(self.violations[0])

    def _validated(self, check: Any, *args: Any, **kwargs: Any) -> bool:
        """Run one tests.openapi check on a body the gateway sent; False (recorded) if bad."""
        try:
            check(*args, **kwargs)
        except OpenApiViolation as exc:
            self.violations.append(str(exc))
            return False
        return True

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/emsp/versions"

    def response_url(self, name: str) -> str:
        """A URL the gateway can POST a CommandResult to; results land in command_results."""
        return f"{self.base_url}/emsp/results/{name}"

    def grants(self, *, forwards_for: tuple[str, ...] = ()) -> Grants:
        """What an operator grants this peer: exactly the roles it declares, and for a hub
        the parties (``"DE-EMS"``) it forwards for."""
        credentials = self.credentials("")
        parties = [GrantedParty(country_code=p[:2], party_id=p[3:]) for p in forwards_for]
        if "hub_party_id" in credentials:  # 2.3.0 hub: its roles are the parties it reaches
            parties += [GrantedParty(country_code=r["country_code"], party_id=r["party_id"])
                        for r in credentials["roles"]]
            return Grants(roles=[GrantedRole(role="HUB", country_code=self.country_code,
                                             party_id=self.party_id)], forwards_for=parties)
        roles = [GrantedRole(role=r["role"], country_code=r["country_code"],
                             party_id=r["party_id"])
                 for r in credentials["roles"]]
        return Grants(roles=roles, forwards_for=parties)

    def credentials(self, token: str) -> dict[str, Any]:
        """Our Credentials in ``ocpi_version``: a 2.3.0 hub names itself in hub_party_id and
        lists the parties it reaches (``extra_roles``) as its roles."""
        own = {"role": self.role, "party_id": self.party_id,
               "country_code": self.country_code, "business_details": {"name": self.name}}
        if self.role == "HUB" and self.ocpi_version != "2.2.1":
            return {"token": token, "url": self.versions_url, "roles": list(self.extra_roles),
                    "hub_party_id": self.country_code + self.party_id}
        return {"token": token, "url": self.versions_url, "roles": [own, *self.extra_roles]}

    # --- authentication --------------------------------------------------------------------
    def _token(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        self.authorizations.append(header)
        if not header.startswith("Token "):
            return None
        value = header[len("Token "):]
        if value in self.valid_tokens:
            return value
        if self.plain_tokens_only:
            return None
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded if decoded in self.valid_tokens else None

    def _record(self, request: web.Request, body: Any) -> None:
        self.received.append(Received(request.method, request.path, dict(request.headers), body))

    # --- server side -----------------------------------------------------------------------
    async def _versions(self, request: web.Request) -> web.Response:
        if self._token(request) is None:
            return _reply(None, 2000, http=401)
        return _reply([{"version": v, "url": f"{self.base_url}/emsp/{v}"} for v in self.versions])

    async def _details(self, request: web.Request) -> web.Response:
        if self._token(request) is None:
            return _reply(None, 2000, http=401)
        version = request.match_info["version"]
        roles = {"credentials": "SENDER", "locations": "RECEIVER", "commands": "SENDER",
                 "hubclientinfo": "SENDER",
                 "tokens": "SENDER"}
        return _reply({"version": version, "endpoints": [
            {"identifier": m, "role": roles.get(m, "RECEIVER"),
             "url": f"{self.base_url}/emsp/{version}/{m}"} for m in self.modules]})

    async def _credentials(self, request: web.Request) -> web.Response:
        token = self._token(request)
        if token is None:
            return _reply(None, 2000, http=401)
        body = orjson.loads(await request.read()) if request.can_read_body else None
        self._record(request, body)
        if request.method == "GET":
            return _reply(self.credentials(token))
        if request.method in ("POST", "PUT"):
            # The gateway registers with us: keep its token, issue ours (token C).
            if not self._validated(validate_request, request.match_info["version"],
                                   request.method, "/credentials", body, interface=""):
                return _reply(None, 2001, message=self.violations[-1])
            assert isinstance(body, dict)
            self.gateway_credentials = body
            self.token_for_gateway = body["token"]
            new = secrets.token_urlsafe(16)
            self.valid_tokens.discard(token)
            self.valid_tokens.add(new)
            return _reply(self.credentials(new))
        if request.method == "DELETE":
            self.valid_tokens.discard(token)
            self.token_for_gateway = None
            return _reply()
        return _reply(None, 2000, http=405)

    async def _receiver(self, request: web.Request) -> tuple[bool, Any]:
        # read() again returns what was read already (a delayed result reads it first).
        raw = await request.read()
        body = orjson.loads(raw) if raw else None
        self._record(request, body)
        if self.refuse_first > 0:
            self.refuse_first -= 1
            return False, body
        return True, body

    async def _locations(self, request: web.Request) -> web.Response:
        if self._token(request) is None:
            return _reply(None, 2000, http=401)
        accepted, body = await self._receiver(request)
        if not accepted:
            return _reply(None, 3000, http=503)
        tail = request.match_info["tail"]
        if request.method in ("PUT", "PATCH") and not self._validated(
                validate_request, request.match_info["version"], request.method,
                f"/locations/{tail}", body):
            return _reply(None, 2001, message=self.violations[-1])
        return self._apply_location(request.method, tail, body)

    async def _bookings(self, request: web.Request) -> web.Response:
        """A Bookings receiver: PUT / PATCH of Bookings and BookingLocations, validated."""
        if self._token(request) is None:
            return _reply(None, 2000, http=401)
        accepted, body = await self._receiver(request)
        if not accepted:
            return _reply(None, 3000, http=503)
        tail = request.match_info["tail"].strip("/")
        if request.method in ("PUT", "PATCH"):
            if not self._validated(validate_request, request.match_info["version"],
                                   request.method, f"/bookings/{tail}", body):
                return _reply(None, 2001, message=self.violations[-1])
            if request.method == "PATCH" and tail in self.bookings_refuse_patches:
                self.bookings_refuse_patches.remove(tail)
                return _reply(None, 2001, message="PATCH refused by the test eMSP")
        return self._apply_booking(request.method, tail, body)

    def _apply_booking(self, method: str, tail: str, body: Any) -> web.Response:
        """As a real receiver: ``CC/PID/ID`` (a Booking), ``CC/PID/booking_locations/ID`` and
        ``.../ID/CALENDAR``; a PATCH of an object it does not hold is answered 404, one of a
        Calendar changes it inside its BookingLocation, whose last_updated follows."""
        # Held apart from what was received (``received`` keeps each body as it came).
        body = copy.deepcopy(body)
        parts = tail.split("/")
        calendar_id = parts.pop() if len(parts) == 5 and parts[2] == "booking_locations" else None
        key = "/".join(parts)
        held = self.bookings.get(key)
        target: Any = held
        if calendar_id is not None and held is not None:
            calendars = held.setdefault("calendars", [])
            target = next((c for c in calendars if c.get("id") == calendar_id), None)
            if method == "PUT":
                if target is not None:
                    calendars.remove(target)
                calendars.append(body)
                _touch(held, body)
                return _reply()
        elif method == "PUT":
            self.bookings[key] = body
            return _reply()
        if target is None:
            return _reply(None, 2003 if method == "GET" else 2001,
                          message="unknown object, PUT it first", http=404)
        if method == "PATCH":
            target.update(body)
            if target is not held:
                _touch(held, body)
            return _reply()
        if method == "GET":
            return _reply(target)
        return _reply(None, 2000, http=405)

    async def _tariffs(self, request: web.Request) -> web.Response:
        """A Tariffs receiver: PUT and DELETE of ``CC/PID/ID``, PUT bodies validated."""
        if self._token(request) is None:
            return _reply(None, 2000, http=401)
        accepted, body = await self._receiver(request)
        if not accepted:
            return _reply(None, 3000, http=503)
        tail = request.match_info["tail"].strip("/")
        if request.method == "PUT":
            if not self._validated(validate_request, request.match_info["version"], "PUT",
                                   f"/tariffs/{tail}", body):
                return _reply(None, 2001, message=self.violations[-1])
            self.tariffs[tail] = body
        elif request.method == "DELETE":
            self.tariffs.pop(tail, None)
        else:
            return _reply(None, 2000, http=405)
        return _reply()

    async def _sessions(self, request: web.Request) -> web.Response:
        """A Sessions receiver (mod_sessions): PUT replaces the session, PATCH updates the
        fields it has and adds its charging_periods; bodies validated."""
        if self._token(request) is None:
            return _reply(None, 2000, http=401)
        accepted, body = await self._receiver(request)
        if not accepted:
            return _reply(None, 3000, http=503)
        version, session_id = request.match_info["version"], request.match_info["session_id"]
        path = (f"/sessions/{request.match_info['cc']}/{request.match_info['pid']}/"
                f"{session_id}")
        if request.method == "GET":
            found = self.sessions.get(session_id)
            return _reply(found) if found else _reply(None, 2004, http=404)
        if request.method not in ("PUT", "PATCH"):
            return _reply(None, 2000, http=405)
        if not self._validated(validate_request, version, request.method, path, body):
            return _reply(None, 2001, message=self.violations[-1])
        self.session_pushes.append((request.method, session_id, body))
        if request.method == "PUT":
            self.sessions[session_id] = body
            return _reply()
        current = self.sessions.get(session_id)
        if current is None:
            return _reply(None, 2001, message="unknown session, PUT it first", http=404)
        added = body.pop("charging_periods", None) or []
        current.update(body)
        current["charging_periods"] = [*current.get("charging_periods", []), *added]
        return _reply()

    async def _cdr_post(self, request: web.Request) -> web.Response:
        """A CDRs receiver: POST of a new CDR (validated), answered 201 with its Location."""
        if self._token(request) is None:
            return _reply(None, 2000, http=401)
        accepted, body = await self._receiver(request)
        if not accepted:
            return _reply(None, 3000, http=503)
        version = request.match_info["version"]
        if not self._validated(validate_request, version, "POST", "/cdrs", body):
            return _reply(None, 2001, message=self.violations[-1])
        cdr_id = str(body["id"])
        if cdr_id in self.cdrs and self.cdrs_refuse_duplicates:
            return _reply(None, 2001, message=f"CDR {cdr_id} exists")
        self.cdrs[cdr_id] = body
        location = f"{self.base_url}/emsp/{version}/cdrs/{cdr_id}"
        return web.Response(body=envelope(), status=201, content_type="application/json",
                            headers={"Location": location})

    async def _cdr_get(self, request: web.Request) -> web.Response:
        if self._token(request) is None:
            return _reply(None, 2000, http=401)
        found = self.cdrs.get(request.match_info["cdr_id"])
        return _reply(found) if found else _reply(None, 2004, http=404)

    def _evse_in(self, key: str, evses: list[Any], uid: str) -> Any:
        """The first EVSE ``uid`` of the stored location ``key``, or None."""
        positions = self._evse_positions.get(key)
        at = positions.get(uid) if positions is not None else None
        if at is None or at >= len(evses) or evses[at].get("uid") != uid:
            positions = self._evse_positions[key] = {}
            for n, evse in enumerate(evses):
                positions.setdefault(evse.get("uid"), n)
            at = positions.get(uid)
        return evses[at] if at is not None else None

    def _apply_location(self, method: str, tail: str, body: Any) -> web.Response:
        """As a real Locations receiver: ``CC/PID/LOC[/EVSE[/CONNECTOR]]``; a PUT or PATCH of
        an EVSE or connector changes it inside the stored location (whose last_updated
        follows), so the gateway's EVSE-level PATCHes need no resync."""
        parts = tail.strip("/").split("/")
        if len(parts) < 3 or len(parts) > 5:
            return _reply(None, 2001, message="unknown object", http=404)
        key = "/".join(parts[:3])
        location = self.locations.get(key)
        if len(parts) == 3:
            if method == "PUT":
                self.locations[key] = body
                return _reply()
            target: Any = location
        else:
            if location is None:
                return _reply(None, 2003 if method == "GET" else 2001,
                              message="unknown location, PUT it first", http=404)
            evses = location.setdefault("evses", [])
            evse = self._evse_in(key, evses, parts[3])
            if len(parts) == 4 and method == "PUT":
                if evse is None:
                    evses.append(body)
                else:
                    evses[evses.index(evse)] = body
                _touch(location, body)
                return _reply()
            target = evse
            if len(parts) == 5 and evse is not None:
                connectors = evse.setdefault("connectors", [])
                connector = next((c for c in connectors if c.get("id") == parts[4]), None)
                if method == "PUT":
                    if connector is None:
                        connectors.append(body)
                    else:
                        connectors[connectors.index(connector)] = body
                    _touch(evse, body)
                    _touch(location, body)
                    return _reply()
                target = connector
        if target is None:
            return _reply(None, 2003 if method == "GET" else 2001,
                          message="unknown object, PUT it first", http=404)
        if method == "PATCH":
            target.update(body)
            if len(parts) == 5:
                _touch(self._evse_in(key, location["evses"], parts[3]),  # type: ignore[index]
                       body)
            if location is not None and target is not location:
                _touch(location, body)
            return _reply()
        if method == "GET":
            return _reply(target)
        return _reply(None, 2000, message=f"{method} not supported", http=405)

    async def _authorize(self, request: web.Request) -> web.Response:
        if self._token(request) is None:
            return _reply(None, 2000, http=401)
        body = orjson.loads(await request.read()) if request.can_read_body else None
        self._record(request, body)
        if body is not None and not self._validated(
                validate_request, request.match_info["version"], "POST",
                f"/tokens/{request.match_info['uid']}/authorize", body):
            return _reply(None, 2001, message=self.violations[-1])
        if self.authorize_delay:
            await asyncio.sleep(self.authorize_delay)
        uid = request.match_info["uid"]
        allowed = self.authorize_answers.get(uid)
        if allowed is None:
            return _reply(None, 2004, http=404)
        token = {"country_code": self.country_code, "party_id": self.party_id, "uid": uid,
                 "type": request.query.get("type", "RFID")}
        info: dict[str, Any] = {"allowed": allowed, "token": token}
        if isinstance(body, dict):
            info["location"] = body
        return _reply(info)

    async def _hub_client_info(self, request: web.Request) -> web.Response:
        if self._token(request) is None:
            return _reply(None, 2000, http=401)
        self._record(request, None)
        offset = int(request.query.get("offset", 0))
        limit = int(request.query.get("limit", 100))
        return _reply(self.hub_clients[offset:offset + limit])

    async def _result(self, request: web.Request) -> web.Response:
        self.results_in_flight += 1
        try:
            # Read first: a sender that gives up while we wait closes the connection.
            await request.read()
            if self.results_delay:
                try:
                    await asyncio.wait_for(self._release.wait(), self.results_delay)
                except TimeoutError:
                    pass
            return await self._answer_result(request)
        finally:
            self.results_in_flight -= 1

    async def _answer_result(self, request: web.Request) -> web.Response:
        if self.results_status is not None:
            self._record(request, orjson.loads(await request.read() or b"null"))
            return _reply(None, 3000, http=self.results_status)
        if self.results_refused > 0:
            self.results_refused -= 1
            self._record(request, orjson.loads(await request.read() or b"null"))
            return _reply(None, 2001, message="refused by the test eMSP")
        accepted, body = await self._receiver(request)
        if not accepted:
            return _reply(None, 3000, http=503)
        if not self._validated(validate_object, self.ocpi_version, "commands", "CommandResult",
                               body):
            return _reply(None, 2001, message=self.violations[-1])
        self.command_results.setdefault(request.match_info["name"], []).append(body)
        return _reply()

    # --- client side: the eMSP registers with the gateway ----------------------------------
    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def call(self, method: str, url: str, token: str | None = None, *,
                   json: Any = None, base64_token: bool = True,
                   headers: dict[str, str] | None = None, validate: bool = True,
                   ) -> tuple[int, Any, dict[str, str]]:
        """(HTTP status, parsed body, response headers) of a request to the gateway; an OCPI
        answer that breaks the official OpenAPI schema raises OpenApiViolation (``validate``
        False: for a path the OpenAPI files cannot describe; check it yourself)."""
        token = token if token is not None else self.token_for_gateway
        all_headers = dict(headers or {})
        if token is not None:
            value = base64.b64encode(token.encode()).decode() if base64_token else token
            all_headers["Authorization"] = f"Token {value}"
        data = orjson.dumps(json) if json is not None else None
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        async with self._client().request(method, url, data=data, headers=all_headers) as resp:
            raw = await resp.read()
            parsed = orjson.loads(raw) if raw else None
            if (validate and resp.url.path.startswith("/ocpi/")
                    and resp.content_type == "application/json"):
                validate_gateway_response(method, resp.url.path, parsed, http_status=resp.status)
            return resp.status, parsed, dict(resp.headers)

    async def register_with(self, versions_url: str, token_a: str, *, base64_token: bool = True,
                            method: str = "POST") -> tuple[int, Any]:
        """eMSP-initiated handshake: GET the gateway's versions and details with token A, then
        POST our credentials (a fresh token B). On success keeps the gateway's token C."""
        status, body, _ = await self.call("GET", versions_url, token_a, base64_token=base64_token)
        if status != 200:
            return status, body
        url = next(v["url"] for v in body["data"] if v["version"] == self.ocpi_version)
        status, body, _ = await self.call("GET", url, token_a, base64_token=base64_token)
        if status != 200:
            return status, body
        creds_url = next(e["url"] for e in body["data"]["endpoints"]
                         if e["identifier"] == "credentials")
        self.credentials_url = creds_url
        token_b = secrets.token_urlsafe(16)
        self.valid_tokens.add(token_b)
        status, body, _ = await self.call(method, creds_url, token_a,
                                          json=self.credentials(token_b),
                                          base64_token=base64_token)
        if status == 200 and body.get("status_code") == 1000:
            self.gateway_credentials = body["data"]
            self.token_for_gateway = body["data"]["token"]
        return status, body

