"""``ocpi-gateway chargers command CHARGER ...`` through the real entry point against a real
gateway's admin API, with real OCPP 1.6 and 2.0.1 chargers on its websocket: each command
reaches the charger in its version's terms, the charger's answer is printed and decides the
exit code, the act is audited with the operator's name; a viewer's or a stranger's token and
a body the service refuses change nothing."""

from __future__ import annotations

import asyncio
import io
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web

from ocpi_gateway.admin.remote import TOKEN_ENV
from ocpi_gateway.cli import main
from tests.admin.support import PASSWORDS
from tests.admin.test_charger_ops import Setup, _charger_audit, _sent, setup  # noqa: F401
from tests.commands.support import CP16, CP201, LOCATION
from tests.conftest import free_port


class Cli:
    def __init__(self, ready: Setup, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.url = ready.world.gateway.url
        self.capsys = capsys
        monkeypatch.setenv(TOKEN_ENV, str(ready.alice.token))

    async def run(self, *args: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, ["chargers", "command", *args[:2],
                                              "--api-url", self.url, *args[2:]])
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture
def cli(setup: Setup, capsys: pytest.CaptureFixture[str],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    # The gateway runs in this process: its log lines go elsewhere than the CLI's output.
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
    yield Cli(setup, capsys, monkeypatch)
    structlog.configure(**saved)


async def test_each_command_in_the_chargers_own_terms(setup: Setup,  # noqa: F811
                                                      cli: Cli) -> None:
    ops16, ops201 = setup.ops16, setup.ops201
    assert await cli.run(CP16, "reset", "--type", "Soft") == (
        0, f"{CP16} (OCPP 1.6) Reset: Accepted\n", "")
    ops201.reset = "Scheduled"
    assert await cli.run(CP201, "reset", "--type", "OnIdle", "--evse-id", "1") == (
        0, f"{CP201} (OCPP 2.0.1) Reset: Scheduled\n", "")
    assert _sent(ops16, "Reset") == [{"type": "Soft"}]
    assert _sent(ops201, "Reset") == [{"type": "OnIdle", "evse_id": 1}]
    # What the version cannot say, the API refuses in its words: exit 2, nothing sent.
    code, _, err = await cli.run(CP201, "reset", "--type", "Soft")
    assert code == 2 and err.startswith("400 invalid:") and "OnIdle or Immediate" in err
    ops201.reset = "Rejected"
    assert (await cli.run(CP201, "reset", "--type", "Immediate"))[:2] == (
        1, f"{CP201} (OCPP 2.0.1) Reset: Rejected\n")

    code, out, _ = await cli.run(CP16, "get-config", "HeartbeatInterval", "Nope")
    assert code == 0 and out.splitlines() == [
        f"{CP16} (OCPP 1.6) GetConfiguration: answered",
        "  HeartbeatInterval = 300  (Accepted)", "  Nope  (UnknownKey)"]
    assert (await cli.run(CP16, "set-config", "HeartbeatInterval", "60"))[0] == 0
    assert ops16.configuration["HeartbeatInterval"] == ("60", False)
    code, out, _ = await cli.run(CP16, "set-config", "ReserveConnectorZeroSupported", "true")
    assert code == 1 and out.splitlines() == [
        f"{CP16} (OCPP 1.6) ChangeConfiguration: Rejected",
        "  ReserveConnectorZeroSupported = true  (Rejected)"]

    code, out, _ = await cli.run(CP201, "get-config", "--variable",
                                 "OCPPCommCtrlr/HeartbeatInterval", "--json")
    answer = json.loads(out)
    assert code == 0 and answer["command"] == "GetVariables"
    assert [(s["component"], s["key"], s["value"]) for s in answer["settings"]] == [
        ("OCPPCommCtrlr", "HeartbeatInterval", "300")]
    assert (await cli.run(CP201, "set-config", "--variable",
                          "OCPPCommCtrlr/HeartbeatInterval=45"))[0] == 0
    assert ops201.variables[("OCPPCommCtrlr", "HeartbeatInterval")] == "45"
    [written] = _sent(ops201, "SetVariables")
    assert written["set_variable_data"][0]["attribute_value"] == "45"

    code, out, _ = await cli.run(CP16, "trigger", "StatusNotification", "--connector-id", "1")
    assert (code, out) == (0, f"{CP16} (OCPP 1.6) TriggerMessage: Accepted\n")
    assert setup.world.received(CP16, "TriggerMessage") == [
        {"requested_message": "StatusNotification", "connector_id": 1}]
    assert (await cli.run(CP201, "unlock", "1", "--evse-id", "2"))[:2] == (
        0, f"{CP201} (OCPP 2.0.1) UnlockConnector: Unlocked\n")
    assert setup.world.received(CP201, "UnlockConnector") == [{"evse_id": 2,
                                                                "connector_id": 1}]

    code, out, _ = await cli.run(CP16, "availability", "Inoperative", "--evse-uid", "E1")
    assert code == 0 and out.splitlines() == [
        f"{CP16} (OCPP 1.6) ChangeAvailability: Accepted", f"  EVSE {LOCATION}/E1"]
    assert _sent(ops16, "ChangeAvailability") == [{"connector_id": 1, "type": "Inoperative"}]

    audit = await _charger_audit(setup)
    assert [(e["operator"], e["via"], e["action"], e["outcome"].split(":")[0])
            for e in audit] == [
        ("alice", "token", "charger.reset", "ok"), ("alice", "token", "charger.reset", "ok"),
        ("alice", "token", "charger.reset", "refused"),
        ("alice", "token", "charger.reset", "ok"),
        *[("alice", "token", "charger.configuration", "ok")] * 5,
        ("alice", "token", "charger.trigger_message", "ok"),
        ("alice", "token", "charger.unlock", "ok"),
        ("alice", "token", "charger.change_availability", "ok")]


async def test_who_may_not_command_and_bodies_refused_before_sending(
        setup: Setup, cli: Cli, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORDS["victor"] + "\n"))
    assert await asyncio.to_thread(main, ["operators", "token", "--name", "victor",
                                          "--password-stdin", "--api-url", cli.url]) == 0
    viewer = capsys.readouterr().out.strip()
    monkeypatch.setenv(TOKEN_ENV, viewer)
    code, _, err = await cli.run(CP16, "reset", "--type", "Hard")
    assert code == 1 and err.startswith("403 forbidden")
    monkeypatch.setenv(TOKEN_ENV, "ogt_guessed")
    code, _, err = await cli.run(CP16, "unlock", "1")
    assert code == 1 and err.startswith("401 unauthenticated")
    monkeypatch.delenv(TOKEN_ENV)
    code, _, err = await cli.run(CP16, "reset", "--type", "Hard")
    assert code == 2 and err.startswith("no operator token")

    monkeypatch.setenv(TOKEN_ENV, str(setup.alice.token))
    refused: list[tuple[tuple[str, ...], str]] = [
        ((CP201, "get-config", "--variable", "HeartbeatInterval"), "--variable "),
        ((CP201, "set-config", "--variable", "A/B=1", "HeartbeatInterval", "1"), "not both"),
        ((CP16, "set-config", "HeartbeatInterval"), "set-config KEY VALUE"),
        ((CP16, "unlock", "0"), "connector_id: Input should be greater than or equal to 1"),
        ((CP16, "trigger", ""), "requested_message:"),
    ]
    for args, said in refused:
        code, _, err = await cli.run(*args)
        assert code == 2 and said in err, (args, err)
    code, _, err = await cli.run("NOPE", "reset", "--type", "Soft")
    assert code == 1 and err.startswith("404 not_found: no charger NOPE")

    assert not setup.ops16.received and not setup.ops201.received
    assert setup.world.received(CP16, "UnlockConnector") == []
    audit: list[dict[str, Any]] = await _charger_audit(setup)
    assert [(e["operator"], e["action"], e["outcome"]) for e in audit] == [
        ("victor", "charger.reset", "refused: forbidden"),
        ("alice", "charger.reset", "refused: not_found: no charger NOPE in chargers.yaml")]


async def test_over_https_the_gateway_is_checked_against_the_ca_given(
        setup: Setup, cli: Cli, tls_certificate: tuple[Path, Path]) -> None:  # noqa: F811
    cert, key = tls_certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    port = free_port()
    await web.TCPSite(setup.world.gateway.runner, "127.0.0.1", port,
                      ssl_context=context).start()
    cli.url = f"https://127.0.0.1:{port}"
    code, _, err = await cli.run(CP16, "reset", "--type", "Soft")
    assert code == 1 and err.startswith(f"the certificate of {cli.url} is not trusted here")
    assert "--ca-file" in err and not setup.ops16.received
    assert await cli.run(CP16, "reset", "--type", "Soft", "--ca-file", str(cert)) == (
        0, f"{CP16} (OCPP 1.6) Reset: Accepted\n", "")
    code, _, err = await cli.run(CP16, "reset", "--type", "Soft", "--ca-file", str(key.parent /
                                                                                  "none.pem"))
    assert code == 2 and err.startswith("--ca-file ")
    assert _sent(setup.ops16, "Reset") == [{"type": "Soft"}]
