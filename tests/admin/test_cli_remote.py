"""``ocpi-gateway reservations cancel`` and ``operators token`` end to end: a real gateway
process (``ocpi-gateway serve``), a real OCPP 1.6 charger on its websocket, a real eMSP peer
that made the reservation over OCPI, and the CLI run as its own process, finding the gateway
from gateway.yaml. Only an operator's token cancels; whoever did it is in the audit log."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from ocpi_gateway.admin.remote import TOKEN_ENV, URL_ENV
from ocpi_gateway.reservation_policy.records import COLLECTION as RESERVATIONS
from ocpi_gateway.store.sqlite import SqliteStore
from tests.admin.support import PASSWORDS, write_operators
from tests.commands.support import CP16, eventually, policy_doc, write_configs
from tests.commands.test_crash_recovery import connect, received, reserve
from tests.ocpp.ocpp_test_support import Behaviour, ChargerFactory, Connected
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import ROLE_NL
from tests.peers.gateway_process import GatewayProcess


@dataclass
class Parts:
    gateway: GatewayProcess
    emsp: EmspPeer
    charger: Connected
    db: Path


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    configs = write_configs(tmp_path, policy_doc())
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    gateway = GatewayProcess(tmp_path, cpo_roles=[ROLE_NL], instance_id="gw-cli",
                             operators_file=operators, **configs)
    emsp = EmspPeer()
    http = aiohttp.ClientSession()
    factory = ChargerFactory(http)
    try:
        await gateway.start()
        await emsp.start()
        status, body = await emsp.register_with(
            gateway.versions_url, await gateway.invite("cli emsp", "EMSP:DE-EMS"))
        assert status == 200 and body["status_code"] == 1000, body
        charger = await connect(gateway, factory, CP16, Behaviour())
        yield Parts(gateway, emsp, charger, tmp_path / "gateway.db")
    finally:
        await factory.close()
        await http.close()
        await emsp.close()
        await gateway.stop()


async def cli(gateway: GatewayProcess, *args: str, token: str | None = None,
              stdin: str | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCPI_GATEWAY_")}
    if token is not None:
        env[TOKEN_ENV] = token
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ocpi_gateway.cli", "--config", str(gateway.config), *args,
        env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def token_of(gateway: GatewayProcess, name: str) -> str:
    code, out, err = await cli(gateway, "operators", "token", "--name", name,
                               "--password-stdin", stdin=PASSWORDS[name] + "\n")
    assert code == 0, err
    assert f"token of {name}" in err
    return out.strip()


async def _record(db: Path, key: str) -> dict[str, Any]:
    store = await SqliteStore.open(str(db))
    try:
        doc = await store.get(RESERVATIONS, key)
        assert doc is not None
        return doc
    finally:
        await store.close()


async def _state(db: Path, key: str) -> str:
    return str((await _record(db, key))["state"])


async def _audit(db: Path, action: str) -> list[tuple[str, str, str, str]]:
    store = await SqliteStore.open(str(db))
    try:
        entries = await store.find(AUDIT, {"action": action}, order_by="at")
    finally:
        await store.close()
    return [(e["operator"], e["via"], e["target"].get("reservation_id", ""), e["outcome"])
            for e in entries]


@pytest.mark.timeout(180)  # a gateway process and six CLI processes start: slow when loaded
async def test_the_cli_cancels_through_the_running_gateway(parts: Parts) -> None:
    gateway, emsp, charger = parts.gateway, parts.emsp, parts.charger
    assert (await reserve(gateway, emsp, "r1", "E1"))["result"] == "ACCEPTED"
    assert await eventually(lambda: len(emsp.command_results.get("r1", [])) == 1)
    assert await eventually(lambda: received(charger, "ReserveNow"))
    [held] = received(charger, "ReserveNow")
    assert await _state(parts.db, "DE-EMS/R1") == "ACTIVE"

    alice = await token_of(gateway, "alice")
    code, out, err = await cli(gateway, "reservations", "cancel", "DE-EMS", "R1",
                               "--note", "charger to be repaired", token=alice)
    assert code == 0, err
    assert out.strip() == ("cancelled DE-EMS/R1: now REMOVED; the charger answered "
                           "CancelReservation: accepted; the eMSP is sent "
                           "CANCELED_RESERVATION")
    # The charger dropped the reservation it held ...
    assert [p["reservation_id"] for p in received(charger, "CancelReservation")] == [
        held["reservation_id"]]
    # ... and the eMSP was told (its session and billing: tests/admin/test_cancel.py).
    results = await eventually(lambda: emsp.command_results["r1"][1:])
    assert [r["result"] for r in results] == ["CANCELED_RESERVATION"]
    record = await _record(parts.db, "DE-EMS/R1")
    assert record["state"] == "REMOVED"
    assert record["history"][-1]["reason"] == (
        "cancelled by the operator alice: charger to be repaired")
    # Ended is ended: refused in the API's words, non-zero.
    code, _, err = await cli(gateway, "reservations", "cancel", "DE-EMS", "R1", token=alice)
    assert code == 1 and err.startswith("409 conflict: reservation DE-EMS/R1 is REMOVED")
    assert await _audit(parts.db, "cancel_reservation") == [
        ("alice", "token", "R1", "ok"),
        ("alice", "token", "R1", "refused: conflict: reservation DE-EMS/R1 is REMOVED, "
         "not live")]
    logins = await _audit(parts.db, "token_issued")
    assert [(who, via, outcome) for who, via, _, outcome in logins] == [
        ("alice", "login", "ok")]


@pytest.mark.timeout(180)
async def test_who_may_not_cancel_from_the_cli_leaves_the_reservation_alone(
        parts: Parts) -> None:
    gateway, emsp, charger = parts.gateway, parts.emsp, parts.charger
    assert (await reserve(gateway, emsp, "r2", "E2"))["result"] == "ACCEPTED"
    assert await eventually(lambda: received(charger, "ReserveNow"))
    args = ("reservations", "cancel", "DE-EMS", "R2")

    code, _, err = await cli(gateway, *args)
    assert code == 2 and err.startswith(f"no operator token: set {TOKEN_ENV}")
    code, _, err = await cli(gateway, *args, token="not-a-token-the-gateway-gave")
    assert code == 1 and err.startswith("401 unauthenticated: unknown or expired token")
    code, _, err = await cli(gateway, "operators", "token", "--name", "alice",
                             "--password-stdin", stdin="a-guessed-password\n")
    assert code == 1 and err == "401 unauthenticated: wrong name or password\n"
    viewer = await token_of(gateway, "victor")
    code, _, err = await cli(gateway, *args, token=viewer)
    assert code == 1 and err.startswith("403 forbidden")
    assert "a viewer only reads" in err
    # Nowhere to send it: one line, naming where it looked.
    code, _, err = await cli(gateway, *args, "--api-url", "http://127.0.0.1:9", token=viewer)
    assert code == 1 and err.startswith("no admin API answers at http://127.0.0.1:9")
    assert URL_ENV in err and len(err.strip().splitlines()) == 1

    assert received(charger, "CancelReservation") == []
    assert await _state(parts.db, "DE-EMS/R2") == "ACTIVE"
    assert [r["result"] for r in emsp.command_results["r2"]] == ["ACCEPTED"]
    assert await _audit(parts.db, "cancel_reservation") == [
        ("victor", "token", "R2", "refused: forbidden")]
    failed = await _audit(parts.db, "token_issued")
    assert [(who, outcome) for who, _, _, outcome in failed] == [
        ("alice", "wrong name or password"), ("victor", "ok")]
