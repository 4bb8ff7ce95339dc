"""A simulated eMSP for the demo: a small OCPI platform on loopback, speaking 2.2.1 (or the
version it is given).

Server side: versions, version details, credentials, a Locations receiver (the gateway pushes
EVSE status changes here) and the response_url endpoints for asynchronous CommandResults.
Client side: the credentials handshake with token A, reading the gateway's Locations, and
sending Commands.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from aiohttp import web

VERSION = "2.2.1"


class EmspError(Exception):
    """The gateway answered the eMSP with something other than success."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _reply(data: Any = None, status_code: int = 1000, http: int = 200) -> web.Response:
    body: dict[str, Any] = {"status_code": status_code, "timestamp": _now()}
    if data is not None:
        body["data"] = data
    return web.Response(body=orjson.dumps(body), status=http, content_type="application/json")


@dataclass(frozen=True)
class Exchange:
    """One OCPI message of a simulated eMSP, kept for whoever checks them (the demo's test
    validates every body against the official OpenAPI)."""

    kind: str
    """``call``: we called the gateway (``response`` is its answer); ``push``: the gateway
    called us (``request`` is what it sent)."""
    version: str
    method: str
    path: str
    """The URL path: the gateway's (``/ocpi/2.3.0/bookings``) for a call, ours below the
    version (``/bookings/NL/EXA/ID``) for a push, ``/results/NAME`` for a CommandResult."""
    request: Any
    response: Any = None
    http_status: int = 200


@dataclass(frozen=True)
class StatusChange:
    """An EVSE status the gateway pushed to us."""

    location_id: str
    evse_uid: str
    status: str


class SimulatedEmsp:
    def __init__(self, *, country_code: str = "DE", party_id: str = "DMO",
                 name: str = "Demo eMSP", version: str = VERSION,
                 traffic: list[Exchange] | None = None) -> None:
        self.version = version
        self.traffic: list[Exchange] = traffic if traffic is not None else []
        self.country_code = country_code
        self.party_id = party_id
        self.name = name
        self.base_url = ""
        self._our_tokens: set[str] = set()
        """Tokens we issued for the gateway to call us with."""
        self._gateway_token: str | None = None
        self.gateway_roles: list[dict[str, Any]] = []
        self.endpoints: dict[str, str] = {}
        self.locations: dict[str, dict[str, Any]] = {}
        self.status_changes: list[StatusChange] = []
        self.command_results: dict[str, list[dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/emsp/versions", self._versions)
        app.router.add_get(f"/emsp/{self.version}", self._details)
        app.router.add_route("*", f"/emsp/{self.version}/credentials", self._credentials)
        app.router.add_route("*", f"/emsp/{self.version}/locations/{{tail:.*}}",
                             self._locations)
        app.router.add_post("/emsp/results/{name}", self._result)
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._http = aiohttp.ClientSession()
        return self.base_url

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _routes(self, app: web.Application) -> None:
        """More receivers (a subclass's modules)."""

    def _endpoint_list(self, base: str) -> list[dict[str, str]]:
        return [{"identifier": "credentials", "role": "SENDER", "url": f"{base}/credentials"},
                {"identifier": "locations", "role": "RECEIVER", "url": f"{base}/locations"}]

    def _pushed(self, request: web.Request, body: Any, path: str) -> None:
        self.traffic.append(Exchange("push", self.version, request.method, path, body))

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/emsp/versions"

    def response_url(self, name: str) -> str:
        return f"{self.base_url}/emsp/results/{name}"

    def _credentials_object(self, token: str) -> dict[str, Any]:
        return {"token": token, "url": self.versions_url, "roles": [{
            "role": "EMSP", "country_code": self.country_code, "party_id": self.party_id,
            "business_details": {"name": self.name}}]}

    # ------------------------------------------------------------------ server side

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Token "):
            return False
        value = header[len("Token "):]
        if value in self._our_tokens:
            return True
        try:  # OCPI 2.2.1 sends the token base64-encoded
            return base64.b64decode(value, validate=True).decode() in self._our_tokens
        except (binascii.Error, UnicodeDecodeError):
            return False

    async def _versions(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _reply(None, 2000, http=401)
        return _reply([{"version": self.version,
                        "url": f"{self.base_url}/emsp/{self.version}"}])

    async def _details(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _reply(None, 2000, http=401)
        base = f"{self.base_url}/emsp/{self.version}"
        return _reply({"version": self.version, "endpoints": self._endpoint_list(base)})

    async def _credentials(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _reply(None, 2000, http=401)
        # This eMSP registers itself; it never lets the gateway re-register.
        token = next(iter(self._our_tokens))
        return _reply(self._credentials_object(token))

    async def _locations(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _reply(None, 2000, http=401)
        parts = request.match_info["tail"].split("/")
        body = orjson.loads(await request.read()) if request.can_read_body else None
        self._pushed(request, body, "/locations/" + request.match_info["tail"])
        if request.method == "PUT" and len(parts) == 3 and isinstance(body, dict):
            self.locations[parts[2]] = body
            for evse in body.get("evses", []):
                self._note_status(parts[2], evse["uid"], evse.get("status"))
        elif request.method == "PATCH" and len(parts) == 4 and isinstance(body, dict):
            location = self.locations.get(parts[2])
            if location is None:
                return _reply(None, 2001, http=404)  # unknown: the gateway then PUTs it all
            for evse in location.get("evses", []):
                if evse["uid"] == parts[3]:
                    evse.update(body)
            self._note_status(parts[2], parts[3], body.get("status"))
        return _reply()

    def _note_status(self, location_id: str, evse_uid: str, status: Any) -> None:
        if isinstance(status, str):
            self.status_changes.append(StatusChange(location_id, evse_uid, status))

    async def _result(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _reply(None, 2000, http=401)
        body = orjson.loads(await request.read())
        self._pushed(request, body, f"/results/{request.match_info['name']}")
        self.command_results.setdefault(request.match_info["name"], []).append(body)
        return _reply()

    # ------------------------------------------------------------------ client side

    async def _call(self, method: str, url: str, token: str | None = None, *,
                    json: Any = None, routed: bool = False) -> tuple[Any, dict[str, str]]:
        """The envelope's data of a successful call, and the response headers."""
        assert self._http is not None, "start() first"
        use = token or self._gateway_token
        if use is None:
            raise EmspError("not registered with the gateway")
        headers = {"Authorization": "Token " + base64.b64encode(use.encode()).decode(),
                   "X-Request-ID": str(uuid.uuid4()), "X-Correlation-ID": str(uuid.uuid4())}
        if routed and self.gateway_roles:
            headers |= {"OCPI-from-country-code": self.country_code,
                        "OCPI-from-party-id": self.party_id,
                        "OCPI-to-country-code": self.gateway_roles[0]["country_code"],
                        "OCPI-to-party-id": self.gateway_roles[0]["party_id"]}
        data = orjson.dumps(json) if json is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self._http.request(method, url, data=data, headers=headers) as resp:
            raw = await resp.read()
            try:
                body = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                body = {}
            self.traffic.append(Exchange("call", self.version, method, resp.url.path, json,
                                         body, resp.status))
            if resp.status != 200 or body.get("status_code") != 1000:
                raise EmspError(f"{method} {url}: HTTP {resp.status}, OCPI "
                                f"{body.get('status_code')} {body.get('status_message', '')}")
            return body.get("data"), dict(resp.headers)

    async def register(self, versions_url: str, token_a: str) -> dict[str, Any]:
        """The credentials handshake: read the gateway's versions and endpoints with token A,
        POST our credentials with a fresh token B; keep the token C it answers with."""
        versions, _ = await self._call("GET", versions_url, token_a)
        url = next((v["url"] for v in versions if v["version"] == self.version), None)
        if url is None:
            raise EmspError(f"the gateway does not offer OCPI {self.version}")
        details, _ = await self._call("GET", url, token_a)
        self.endpoints = {f"{e['identifier']}:{e['role']}": e["url"]
                          for e in details["endpoints"]}
        token_b = secrets.token_urlsafe(24)
        self._our_tokens = {token_b}
        credentials, _ = await self._call("POST", self.endpoints["credentials:SENDER"], token_a,
                                          json=self._credentials_object(token_b))
        self._gateway_token = credentials["token"]
        self.gateway_roles = credentials["roles"]
        return dict(credentials)

    async def read_locations(self) -> list[dict[str, Any]]:
        """Every Location of the gateway, following the Link header's pages."""
        url: str | None = self.endpoints["locations:SENDER"]
        found: list[dict[str, Any]] = []
        while url:
            page, headers = await self._call("GET", url, routed=True)
            found.extend(page)
            url = _next_link(headers.get("Link", ""))
        for location in found:
            self.locations[location["id"]] = location
        return found

    async def command(self, command: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a command; the synchronous CommandResponse."""
        url = f"{self.endpoints['commands:RECEIVER']}/{command}"
        data, _ = await self._call("POST", url, json=body, routed=True)
        return dict(data)

    async def wait_result(self, name: str, within: float) -> dict[str, Any]:
        """The first CommandResult POSTed to ``response_url(name)``."""
        got = await _eventually(lambda: self.command_results.get(name), within)
        if not got:
            raise EmspError(f"no CommandResult arrived at {self.response_url(name)} "
                            f"within {within:.0f} s")
        return dict(got[0])

    async def wait_status(self, evse_uid: str, status: str, within: float,
                          after: int = 0) -> StatusChange:
        """The first push (from index ``after`` on) showing ``evse_uid`` in ``status``."""
        def seen() -> StatusChange | None:
            return next((c for c in self.status_changes[after:]
                         if c.evse_uid == evse_uid and c.status == status), None)
        change: StatusChange | None = await _eventually(seen, within)
        if change is None:
            raise EmspError(f"the gateway did not push EVSE {evse_uid} as {status} "
                            f"within {within:.0f} s")
        return change


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        if 'rel="next"' in part and "<" in part:
            return part[part.index("<") + 1:part.index(">")]
    return None


async def _eventually(condition: Callable[[], Any], within: float) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = condition()
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.02)
