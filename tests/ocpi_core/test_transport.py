"""Transport middleware on a functional module mounted the way other parts mount theirs."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import BaseModel, Field

from ocpi_gateway import keys
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.partners.grants import Grants
from ocpi_gateway.transport.body import parse_body
from ocpi_gateway.transport.context import current_partner, current_routing
from ocpi_gateway.transport.envelope import ocpi_response
from ocpi_gateway.transport.log_context import log_context
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import ROLE_BE, ROLE_NL, RunningGateway, gateway_settings, start_gateway


class Thing(BaseModel):
    name: str = Field(max_length=5)
    count: int


async def _echo(request: web.Request) -> web.Response:
    routing = current_routing(request)
    return ocpi_response({
        "partner": current_partner(request).name,
        "sender": routing.sender.key if routing.sender else None,
        "receiver": routing.receiver.key if routing.receiver else None,
        "log_context": log_context(),
    })


async def _create(request: web.Request) -> web.Response:
    thing = await parse_body(request, Thing)
    return ocpi_response(thing.model_dump(), http_status=201)


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internal detail")


def _echo_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
    router.add_get(prefix, _echo)
    router.add_post(prefix, _create)
    router.add_get(prefix + "/boom", _boom)


def install_echo(app: web.Application, settings: GatewaySettings) -> None:
    # Listed under a real ModuleID (Versions answers must stay valid OCPI), mounted at /echo.
    app[keys.MODULES].add(OcpiModule("chargingprofiles", InterfaceRole.SENDER, _echo_routes,
                                     path="echo"))


async def _start(tmp_path: Path, *roles: dict[str, object]) -> RunningGateway:
    return await start_gateway(gateway_settings(tmp_path, roles=roles or (ROLE_NL,)),
                               extensions=[install_echo])


@pytest.fixture
async def echo_gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    gateway = await _start(tmp_path)
    yield gateway
    await gateway.stop()


async def _register(gateway: RunningGateway, emsp: EmspPeer,
                    grants: Grants | None = None) -> str:
    _, token_a = await gateway.partners.invite("Test eMSP", grants or emsp.grants())
    _, body = await emsp.register_with(gateway.versions_url, token_a)
    assert body["status_code"] == 1000, body
    return token_a


async def test_version_details_list_exactly_the_mounted_modules(
    echo_gateway: RunningGateway, emsp: EmspPeer
) -> None:
    _, token_a = await echo_gateway.partners.invite("x", emsp.grants())
    status, body, _ = await emsp.call("GET", echo_gateway.url + "/ocpi/2.2.1", token_a)
    assert status == 200
    assert body["data"] == {"version": "2.2.1", "endpoints": [
        {"identifier": "credentials", "role": "SENDER",
         "url": echo_gateway.url + "/ocpi/2.2.1/credentials"},
        {"identifier": "chargingprofiles", "role": "SENDER",
         "url": echo_gateway.url + "/ocpi/2.2.1/echo"},
    ]}
    status, body, _ = await emsp.call("GET", echo_gateway.url + "/ocpi/9.9", token_a)
    assert status == 404 and body["status_code"] == 3002


async def test_missing_and_wrong_tokens_are_401(
    echo_gateway: RunningGateway, emsp: EmspPeer
) -> None:
    url = echo_gateway.url + "/ocpi/versions"
    status, body, headers = await emsp.call("GET", url, None)
    assert status == 401 and body["status_code"] == 2000
    assert "X-Request-ID" in headers
    assert (await emsp.call("GET", url, "not-a-token"))[0] == 401
    assert (await emsp.call("GET", url, "x", headers={"Authorization": "Bearer abc"}))[0] == 401
    status, body, _ = await emsp.call("GET", echo_gateway.url + "/ocpi/2.2.1/echo", "nope")
    assert status == 401


async def test_a_valid_token_under_another_scheme_is_401(
    echo_gateway: RunningGateway, emsp: EmspPeer
) -> None:
    # The attacker knows token C but sends it as a Bearer or Basic credential: only the
    # "Token" scheme of OCPI carries credentials tokens.
    await _register(echo_gateway, emsp)
    token = emsp.token_for_gateway
    assert token is not None
    encoded = base64.b64encode(token.encode()).decode()
    url = echo_gateway.url + "/ocpi/2.2.1/echo"
    for header in (f"Bearer {encoded}", f"Bearer {token}", f"Basic {encoded}", encoded):
        async with emsp._client().get(url, headers={"Authorization": header}) as response:
            body = await response.json()
        assert response.status == 401 and body["status_code"] == 2000, header
    assert (await emsp.call("GET", url))[0] == 200  # the same token under "Token" passes


async def test_token_a_is_refused_on_functional_modules(
    echo_gateway: RunningGateway, emsp: EmspPeer
) -> None:
    _, token_a = await echo_gateway.partners.invite("x", emsp.grants())
    status, body, _ = await emsp.call("GET", echo_gateway.url + "/ocpi/2.2.1/echo", token_a)
    assert status == 401 and body["status_code"] == 2000


async def test_token_c_base64_and_plain(echo_gateway: RunningGateway, emsp: EmspPeer) -> None:
    await _register(echo_gateway, emsp)
    url = echo_gateway.url + "/ocpi/2.2.1/echo"
    for encoded in (True, False):
        status, body, _ = await emsp.call("GET", url, base64_token=encoded)
        assert status == 200 and body["data"]["partner"] == "Test eMSP"


async def test_routing_headers_implied_for_single_roles_and_swapped(
    echo_gateway: RunningGateway, emsp: EmspPeer
) -> None:
    await _register(echo_gateway, emsp)
    status, body, headers = await emsp.call("GET", echo_gateway.url + "/ocpi/2.2.1/echo")
    assert status == 200
    assert (body["data"]["sender"], body["data"]["receiver"]) == ("DE-EMS", "NL-EXA")
    assert (headers["OCPI-from-country-code"], headers["OCPI-from-party-id"]) == ("NL", "EXA")
    assert (headers["OCPI-to-country-code"], headers["OCPI-to-party-id"]) == ("DE", "EMS")


ROUTED = {"OCPI-from-country-code": "DE", "OCPI-from-party-id": "EMS",
          "OCPI-to-country-code": "BE", "OCPI-to-party-id": "EXB"}


async def test_routing_headers_validated(tmp_path: Path, emsp: EmspPeer) -> None:
    gateway = await _start(tmp_path, ROLE_NL, ROLE_BE)
    try:
        await _register(gateway, emsp)
        url = gateway.url + "/ocpi/2.2.1/echo"
        status, body, headers = await emsp.call("GET", url, headers=ROUTED)
        assert status == 200 and body["data"]["receiver"] == "BE-EXB"
        assert headers["OCPI-from-party-id"] == "EXB" and headers["OCPI-to-party-id"] == "EMS"
        # Two CPO roles here: the to-side must be named.
        status, body, _ = await emsp.call("GET", url)
        assert body["status_code"] == 2001 and "OCPI-to" in body["status_message"]
        status, body, _ = await emsp.call("GET", url, headers={
            **ROUTED, "OCPI-to-party-id": "ZZZ"})
        assert body["status_code"] == 2001 and "not a CPO of this platform" in (
            body["status_message"])
        status, body, _ = await emsp.call("GET", url, headers={
            **ROUTED, "OCPI-from-party-id": "OTH"})
        assert status == 401 and "not a role of this partner" in body["status_message"]
        partial = {k: v for k, v in ROUTED.items() if k != "OCPI-from-party-id"}
        status, body, _ = await emsp.call("GET", url, headers=partial)
        assert body["status_code"] == 2001
        # transport_and_format: country codes have 2 characters, party ids 3, on each side.
        for name, value in (("OCPI-from-country-code", "DEU"), ("OCPI-from-party-id", "EM"),
                            ("OCPI-to-country-code", "B"), ("OCPI-to-party-id", "EXBB")):
            status, body, _ = await emsp.call("GET", url, headers={**ROUTED, name: value})
            assert status == 200 and body["status_code"] == 2001, (name, value)
            assert "characters" in body["status_message"]
        # Never required on credentials.
        status, body, _ = await emsp.call("GET", gateway.url + "/ocpi/2.2.1/credentials")
        assert status == 200 and "OCPI-to-party-id" not in body
    finally:
        await gateway.stop()


async def test_request_and_correlation_ids_echoed_or_generated(
    echo_gateway: RunningGateway, emsp: EmspPeer
) -> None:
    await _register(echo_gateway, emsp)
    url = echo_gateway.url + "/ocpi/2.2.1/echo"
    _, body, headers = await emsp.call("GET", url, headers={
        "X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"})
    assert headers["X-Request-ID"] == "req-1" and headers["X-Correlation-ID"] == "corr-1"
    context = body["data"]["log_context"]
    assert context["request_id"] == "req-1" and context["correlation_id"] == "corr-1"
    assert context["partner"] == "Test eMSP"
    async with emsp._client().get(echo_gateway.url + "/health") as response:
        assert response.status == 200
        uuid.UUID(response.headers["X-Request-ID"])
        uuid.UUID(response.headers["X-Correlation-ID"])


async def test_bad_bodies(echo_gateway: RunningGateway, emsp: EmspPeer) -> None:
    await _register(echo_gateway, emsp)
    url = echo_gateway.url + "/ocpi/2.2.1/echo"
    status, body, _ = await emsp.call("POST", url, headers={"Content-Type": "application/json"},
                                      json=None)
    assert status == 400
    async with emsp._client().post(url, data=b"{not json", headers={
            "Authorization": f"Token {emsp.token_for_gateway}"}) as response:
        assert response.status == 400
        assert (await response.json())["status_code"] == 2001
    status, body, _ = await emsp.call("POST", url, json={"name": "far too long", "count": "x"})
    assert status == 200 and body["status_code"] == 2001
    assert "name" in body["status_message"] and "count" in body["status_message"]
    status, body, _ = await emsp.call("POST", url, json={"name": "ok", "count": 2})
    assert status == 201 and body["data"] == {"name": "ok", "count": 2}


async def test_unexpected_exception_is_3000_without_details(
    echo_gateway: RunningGateway, emsp: EmspPeer
) -> None:
    await _register(echo_gateway, emsp)
    status, body, _ = await emsp.call("GET", echo_gateway.url + "/ocpi/2.2.1/echo/boom")
    assert status == 500 and body["status_code"] == 3000
    assert "secret" not in str(body) and "Traceback" not in str(body)


async def test_unknown_ocpi_path_is_404_envelope(
    echo_gateway: RunningGateway, emsp: EmspPeer
) -> None:
    await _register(echo_gateway, emsp)
    status, body, _ = await emsp.call("GET", echo_gateway.url + "/ocpi/2.2.1/nothing/here")
    assert status == 404 and body["status_code"] == 2000


async def test_health_and_ready(echo_gateway: RunningGateway, emsp: EmspPeer) -> None:
    async with emsp._client().get(echo_gateway.url + "/ready") as response:
        assert response.status == 200
    async def failing() -> bool:
        return False
    echo_gateway.app[keys.READINESS_CHECKS]["redis"] = failing
    async with emsp._client().get(echo_gateway.url + "/ready") as response:
        assert response.status == 503
        assert (await response.json())["failing"] == ["redis"]


async def test_a_partner_with_several_roles_must_name_the_sender(
    echo_gateway: RunningGateway
) -> None:
    emsp = EmspPeer(extra_roles=[{"role": "EMSP", "party_id": "EMT", "country_code": "DE",
                                  "business_details": {"name": "Second brand"}}])
    await emsp.start()
    try:
        await _register(echo_gateway, emsp)
        url = echo_gateway.url + "/ocpi/2.2.1/echo"
        status, body, _ = await emsp.call("GET", url)
        assert status == 200 and body["status_code"] == 2001
        assert "OCPI-from" in body["status_message"]
        for party in ("EMS", "EMT"):
            status, body, _ = await emsp.call("GET", url, headers={
                "OCPI-from-country-code": "DE", "OCPI-from-party-id": party})
            assert body["status_code"] == 1000 and body["data"]["sender"] == f"DE-{party}"
    finally:
        await emsp.close()


async def test_hub_forwards_requests_of_its_connected_parties(tmp_path: Path) -> None:
    # transport_and_format, Party to Party via Hub: "Hub to receiving platform" carries the
    # requesting party in OCPI-from-*, and a hub's credentials list only its HUB role.
    gateway = await _start(tmp_path)
    hub = EmspPeer(role="HUB", country_code="NL", party_id="HUB", name="Hub")
    await hub.start()
    try:
        await _register(gateway, hub, hub.grants(forwards_for=("DE-EMS",)))
        url = gateway.url + "/ocpi/2.2.1/echo"
        status, body, headers = await hub.call("GET", url, headers={
            "OCPI-from-country-code": "DE", "OCPI-from-party-id": "EMS",
            "OCPI-to-country-code": "NL", "OCPI-to-party-id": "EXA"})
        assert status == 200 and body["status_code"] == 1000, body
        assert body["data"]["sender"] == "DE-EMS"
        assert (headers["OCPI-to-country-code"], headers["OCPI-to-party-id"]) == ("DE", "EMS")
    finally:
        await hub.close()
        await gateway.stop()


async def test_error_responses_of_functional_modules_carry_routing_headers(
    echo_gateway: RunningGateway, emsp: EmspPeer
) -> None:
    # transport_and_format, Message Routing Headers: added to any request/response of a
    # functional module; a refused request's answer must reach the sender through a hub too.
    await _register(echo_gateway, emsp)
    url = echo_gateway.url + "/ocpi/2.2.1/echo"
    for method, path, json in (("POST", "", {"name": "far too long", "count": 1}),
                               ("GET", "/boom", None), ("GET", "/nothing/here", None),
                               ("DELETE", "", None)):
        status, body, headers = await emsp.call(method, url + path, json=json)
        assert body["status_code"] != 1000
        assert (headers.get("OCPI-to-country-code"), headers.get("OCPI-to-party-id")) == (
            "DE", "EMS"), (method, path, status, headers)
        assert headers.get("OCPI-from-party-id") == "EXA"
