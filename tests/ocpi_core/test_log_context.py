"""What a request's log lines carry (transport.log_context): its ids, method and path, the
partner once authenticated, what its handler bound, and nothing of an earlier request on the
same keep-alive connection."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from structlog.testing import capture_logs

from ocpi_gateway import keys
from ocpi_gateway.access_log import access_logger_class
from ocpi_gateway.app import create_app
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.logging import configure_logging
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.transport.auth import authorization_header
from ocpi_gateway.transport.envelope import ocpi_response
from ocpi_gateway.transport.log_context import begin, log_context, merge_request_context
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import gateway_settings

log = structlog.get_logger("tests.log_context")
CONNECTIONS: web.AppKey[list[int]] = web.AppKey("connections", list)
PROCESSORS = [merge_request_context, structlog.contextvars.merge_contextvars]


async def _echo(request: web.Request) -> web.Response:
    log.info("echo_handled")
    if request.query.get("bind"):
        # As the admin API binds its operator: for the rest of this request only.
        structlog.contextvars.bind_contextvars(operator=request.query["bind"])
    log.info("echo_done")
    request.app[CONNECTIONS].append(id(request.protocol))
    return ocpi_response(log_context())


def _echo_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
    router.add_get(prefix, _echo)


def _install_echo(app: web.Application, settings: GatewaySettings) -> None:
    app[CONNECTIONS] = []
    # Listed under a real ModuleID (Versions answers must stay valid OCPI), mounted at /echo.
    app[keys.MODULES].add(OcpiModule("chargingprofiles", InterfaceRole.SENDER, _echo_routes,
                                     path="echo"))


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[web.Application, str]]:
    settings = gateway_settings(tmp_path)
    app = create_app(settings, extensions=[_install_echo])
    # With the access log, as `serve` runs it when gateway.yaml asks for it.
    runner = web.AppRunner(app, access_log_class=access_logger_class(),
                           access_log=logging.getLogger("ocpi_gateway.access"))
    await runner.setup()
    await web.TCPSite(runner, settings.listen.host, settings.listen.port).start()
    yield app, settings.public_url
    await runner.cleanup()


@pytest.fixture
async def emsp() -> AsyncIterator[EmspPeer]:
    peer = EmspPeer()
    await peer.start()
    yield peer
    await peer.close()


def _events(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == event]


async def test_each_line_names_its_request_and_partner_and_nothing_of_the_one_before(
    served: tuple[web.Application, str], emsp: EmspPeer
) -> None:
    app, url = served
    _, token_a = await app[keys.PARTNERS].invite("Test eMSP", emsp.grants())
    status, _ = await emsp.register_with(url + "/ocpi/versions", token_a)
    assert status == 200 and emsp.token_for_gateway is not None
    partner = (await app[keys.PARTNERS].list())[0]
    echo = url + "/ocpi/2.2.1/echo"
    token = {"Authorization": authorization_header(emsp.token_for_gateway)}
    # One connection for every request: they follow each other on it (keep-alive).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
        with capture_logs(processors=PROCESSORS) as logs:
            async with http.get(echo) as refused:
                assert refused.status == 401
                refused_id = refused.headers["X-Request-ID"]
            async with http.get(echo + "?bind=alice", headers={
                    **token, "X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"}) as first:
                assert first.status == 200
                seen_first = (await first.json())["data"]
            async with http.get(echo, headers=token) as second:
                assert second.status == 200
                second_id = second.headers["X-Request-ID"]
                seen_second = (await second.json())["data"]
    assert len(set(app[CONNECTIONS])) == 1
    [refusal] = _events(logs, "ocpi_request_refused")
    assert (refusal["request_id"], refusal["method"], refusal["path"]) == (
        refused_id, "GET", "/ocpi/2.2.1/echo")
    assert "partner" not in refusal and "partner_id" not in refusal
    handled, again = _events(logs, "echo_handled")
    mine = {"request_id": "req-1", "correlation_id": "corr-1", "method": "GET",
            "path": "/ocpi/2.2.1/echo", "partner": "Test eMSP", "partner_id": partner.id}
    assert {k: handled[k] for k in mine} == mine and "operator" not in handled
    done, done_again = _events(logs, "echo_done")
    assert done["operator"] == "alice" and done["request_id"] == "req-1"
    assert seen_first == {**mine, "operator": "alice"}
    # The next request on the connection: its own ids, and nothing the first one bound.
    for line in (again, done_again):
        assert line["request_id"] == second_id != "req-1" and "operator" not in line
        assert line["partner_id"] == partner.id
    assert "operator" not in seen_second and seen_second["request_id"] == second_id
    # aiohttp's access line is logged within its request too.
    access = _events(logs, "http_request")
    assert [line["request_id"] for line in access[-3:]] == [refused_id, "req-1", second_id]
    assert access[-2]["partner"] == "Test eMSP" and "operator" not in access[-1]


@pytest.fixture
def _restored() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("_restored")
def test_the_gateways_log_lines_carry_the_request_context() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)

    def in_a_request() -> None:
        context = begin("req-9", "corr-9", "GET", "/ocpi/2.2.1/locations")
        context.partner = ("Test eMSP", "p-1")
        structlog.contextvars.bind_contextvars(operator="bob")
        structlog.get_logger("test").info("something", partner="named by the event")

    contextvars.copy_context().run(in_a_request)
    line = json.loads(stream.getvalue())
    assert {k: line[k] for k in ("event", "request_id", "correlation_id", "method", "path",
                                 "partner", "partner_id", "operator")} == {
        "event": "something", "request_id": "req-9", "correlation_id": "corr-9",
        "method": "GET", "path": "/ocpi/2.2.1/locations",
        "partner": "named by the event",  # what the event says wins, as with contextvars
        "partner_id": "p-1", "operator": "bob"}
    assert log_context() == {}  # outside a request: nothing
