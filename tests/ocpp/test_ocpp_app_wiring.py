"""The gateway app with the OCPP extension: chargers file, event bus, commands, /ready, CLI."""

from __future__ import annotations

import io
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from ocpp.v16 import call
from ocpp_test_support import Behaviour, ChargerFactory, basic_auth, eventually, free_port
from pydantic import SecretStr, ValidationError

from ocpi_gateway import keys
from ocpi_gateway.app import create_app
from ocpi_gateway.cli import main as cli_main
from ocpi_gateway.config import OcppSettings, load_settings
from ocpi_gateway.domain.charger_commands import CancelReservation, CommandOutcome
from ocpi_gateway.domain.events import ChargerBooted, DomainEvent
from ocpi_gateway.ocpp_adapter.auth import verify_password
from ocpi_gateway.ocpp_wiring import CHARGER_COMMANDS, CHARGERS, OCPP_SERVER

ROOT = Path(__file__).resolve().parents[2]


async def run_app(
    tmp_path: Path, redis_url: str | None, **updates: object
) -> tuple[web.AppRunner, str, web.Application]:
    settings = load_settings(ROOT / "config" / "gateway.yaml").model_copy(update={
        "store_url": f"sqlite:///{tmp_path / 'gw.db'}", "redis_url": redis_url,
        "instance_id": "gw-wiring", **updates})
    app = create_app(settings, extensions=["ocpi_gateway.ocpp_wiring:install"])
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"127.0.0.1:{port}", app


@pytest.fixture
async def app_with_redis(tmp_path: Path, redis_url: str) -> AsyncIterator[
        tuple[str, web.Application]]:
    runner, host, app = await run_app(tmp_path, redis_url)
    yield host, app
    await runner.cleanup()


async def test_example_charger_connects_to_the_gateway_app(
        app_with_redis: tuple[str, web.Application], chargers: ChargerFactory) -> None:
    host, app = app_with_redis
    seen: list[DomainEvent] = []

    async def remember(event: DomainEvent) -> None:
        seen.append(event)

    app[keys.EVENT_BUS].subscribe(remember)
    capabilities = app[CHARGERS].capabilities("CP-AMS-01")
    assert capabilities is not None and capabilities.reserve_whole_charger
    cp = await chargers.connect(f"ws://{host}/ocpp", "CP-AMS-01", password="ams01-example-pw",
                                behaviour=Behaviour(cancel="Rejected"))
    await cp.charger.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))

    async def booted() -> bool:
        return any(isinstance(e, ChargerBooted) for e in seen)

    assert await eventually(booted)
    assert await app[CHARGER_COMMANDS].execute(
        CancelReservation(charge_point_id="CP-AMS-01", reservation_id=4),
        timeout=3) is CommandOutcome.REJECTED
    async with aiohttp.ClientSession() as http, http.get(f"http://{host}/ready") as response:
        assert response.status == 200


def test_cli_hash_password(monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-example-password\n"))
    assert cli_main(["chargers", "hash-password", "--stdin"]) == 0
    printed = capsys.readouterr().out.strip()
    assert verify_password("a-long-example-password", printed)
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert cli_main(["chargers", "hash-password", "--stdin"]) == 1


async def test_boot_answer_carries_the_configured_heartbeat_interval(
        tmp_path: Path, chargers: ChargerFactory) -> None:
    ocpp = load_settings(ROOT / "config" / "gateway.yaml").ocpp.model_copy(
        update={"heartbeat_interval_seconds": 77})
    runner, host, _app = await run_app(tmp_path, None, ocpp=ocpp)
    try:
        cp = await chargers.connect(f"ws://{host}/ocpp", "CP-AMS-01",
                                    password="ams01-example-pw")
        answer = await cp.charger.call(call.BootNotification(charge_point_model="M",
                                                             charge_point_vendor="V"))
        assert answer.interval == 77
    finally:
        await runner.cleanup()


async def _status(http: aiohttp.ClientSession, host: str, password: str,
                  address: str) -> int:
    try:
        ws = await http.ws_connect(
            f"ws://{host}/ocpp/CP-AMS-01", protocols=("ocpp1.6",),
            headers={"Authorization": basic_auth("CP-AMS-01", password),
                     "X-Forwarded-For": address})
    except aiohttp.WSServerHandshakeError as refused:
        return refused.status
    await ws.close()
    return 101


async def test_login_limits_and_trusted_proxies_come_from_gateway_yaml(tmp_path: Path) -> None:
    ocpp = load_settings(ROOT / "config" / "gateway.yaml").ocpp.model_copy(update={
        "failed_logins_allowed": 2, "failed_logins_allowed_per_charger": 3,
        "trusted_proxies": ["127.0.0.0/8"]})
    runner, host, _app = await run_app(tmp_path, None, ocpp=ocpp)
    try:
        async with aiohttp.ClientSession() as http:
            assert [await _status(http, host, "guess", "10.0.0.1") for _ in range(3)] == [
                401, 401, 429]
            assert await _status(http, host, "guess", "10.0.0.2") == 401
            assert await _status(http, host, "ams01-example-pw", "10.0.0.3") == 429
            assert await _status(http, host, "ams01-example-pw", "10.0.0.1") == 429
    finally:
        await runner.cleanup()


async def test_a_restarted_gateway_admits_chargers_without_scrypt(
        tmp_path: Path, redis_url: str) -> None:
    ocpp = load_settings(ROOT / "config" / "gateway.yaml").ocpp.model_copy(update={
        "verified_password_key": SecretStr("k" * 40)})
    for run, expected_scrypt_runs in ((1, 1), (2, 0)):
        runner, host, app = await run_app(tmp_path / str(run), redis_url, ocpp=ocpp)
        try:
            async with aiohttp.ClientSession() as http:
                assert await _status(http, host, "ams01-example-pw", "10.0.0.1") == 101
            assert app[OCPP_SERVER].passwords.scrypt_runs == expected_scrypt_runs
        finally:
            await runner.cleanup()


def test_ocpp_settings_refuse_a_bad_proxy_and_a_short_key() -> None:
    with pytest.raises(ValidationError, match="no IP address or network"):
        OcppSettings(trusted_proxies=["nginx"])
    with pytest.raises(ValidationError, match="at least 32"):
        OcppSettings(verified_password_key=SecretStr("short"))
    assert OcppSettings(trusted_proxies=["172.30.0.2", "fd00::/8"]).trusted_proxies
