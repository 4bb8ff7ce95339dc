"""What ``ocpi-gateway serve`` tells a person starting it, from a real process: the URLs once
the port answers, one line and a non-zero exit when something it needs is missing, a wait
for Redis when asked for one, and contradicting operator files refused before starting."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.conftest import free_port
from tests.redis_servers import RedisProcess

SAMPLE = Path(__file__).resolve().parents[2] / "config"
pytestmark = pytest.mark.timeout(180)  # each test starts a real gateway process
ENV = {k: v for k, v in os.environ.items() if not k.startswith("OCPI_GATEWAY_")}


def _config(folder: Path, port: int, **settings: Any) -> Path:
    config = {"listen": {"host": "127.0.0.1", "port": port},
              "public_url": f"http://127.0.0.1:{port}",
              "cpo_roles": [{"country_code": "NL", "party_id": "EXA",
                             "business_details": {"name": "CPO"}}],
              "store_url": f"sqlite:///{folder / 'gateway.db'}", "log_level": "INFO",
              **settings}
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


async def _start(config: Path, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ocpi_gateway.cli", "--config", str(config), "serve",
        env={**ENV, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def _line_with(stream: asyncio.StreamReader, text: str, seen: list[str]) -> str:
    while True:
        raw = await asyncio.wait_for(stream.readline(), 120)
        assert raw, "the stream ended before a line with " + repr(text) + ":\n" + "".join(seen)
        line = raw.decode()
        seen.append(line)
        if text in line:
            return line


async def _finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _stop(proc: asyncio.subprocess.Process) -> int:
    return (await _stopped(proc))[0]


async def _stopped(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    return await _finish(proc)


async def test_the_urls_are_printed_once_the_port_answers(tmp_path: Path) -> None:
    port = free_port()
    proc = await _start(_config(tmp_path, port))
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        await _line_with(proc.stdout, f"ocpi-gateway listening on http://127.0.0.1:{port}",
                         seen)
        # Printed after the bind: the port answers the moment the line is there.
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{port}/health") as response:
            assert response.status == 200
        versions = await _line_with(proc.stdout, "OCPI versions:", seen)
        assert versions.split()[-1] == f"http://127.0.0.1:{port}/ocpi/versions"
        ocpp = await _line_with(proc.stdout, "OCPP:", seen)
        assert f"ws://127.0.0.1:{port}/ocpp/<charge point id>" in ocpp
        console = await _line_with(proc.stdout, "console:", seen)
        assert console.split()[-1] == f"http://127.0.0.1:{port}/console"
        admin = await _line_with(proc.stdout, "admin API:", seen)
        assert admin.split()[-1] == f"http://127.0.0.1:{port}/admin/api/docs"
        started = await _line_with(proc.stdout, "gateway_started", seen)
        assert f'"listen": "127.0.0.1:{port}"' in started  # JSON: stdout is no terminal
    finally:
        code, out, err = await _stopped(proc)
    assert code == 0
    assert "gateway_stopping" in out  # SIGTERM: a clean stop, logged
    assert "Traceback" not in err
    assert "http_request" not in "".join(seen) + out  # no access log unless asked for


async def test_redis_down_is_one_line_and_exit_1(tmp_path: Path) -> None:
    dead = free_port()
    proc = await _start(_config(tmp_path, free_port(), redis_url=f"redis://127.0.0.1:{dead}"))
    code, out, err = await _finish(proc)
    assert code == 1
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"ocpi-gateway: cannot reach Redis (redis://127.0.0.1:{dead}): ")


async def test_a_store_that_cannot_be_opened_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'a-file' / 'g.db'}"
    code, out, err = await _finish(await _start(_config(tmp_path, free_port(), store_url=url)))
    assert code == 1
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"ocpi-gateway: cannot open the sqlite store ({url}): ")


async def test_an_unsupported_store_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, out, err = await _finish(await _start(_config(
        tmp_path, free_port(), store_url="postgres://db/gateway")))
    assert code == 2
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "store_url" in lines[0] and "postgres://db/gateway" in lines[0]


async def test_a_redis_password_is_not_printed(tmp_path: Path) -> None:
    dead = free_port()
    proc = await _start(_config(tmp_path, free_port(),
                                redis_url=f"redis://app:s3cret-pw@127.0.0.1:{dead}/0"))
    code, _out, err = await _finish(proc)
    assert code == 1
    assert "s3cret-pw" not in err
    assert f"(redis://app:***@127.0.0.1:{dead}/0)" in err


async def test_serve_waits_for_redis_when_asked_to(tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path / "redis")
    proc = await _start(_config(tmp_path, port := free_port(), redis_url=redis.url,
                                startup_wait_seconds=300))
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        await _line_with(proc.stdout, "waiting_for_dependency", seen)
        await asyncio.to_thread(redis.start)
        await _line_with(proc.stdout, f"listening on http://127.0.0.1:{port}", seen)
        assert await _stop(proc) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        redis.stop()


async def test_a_taken_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await _start(_config(tmp_path, port))
        code, _out, err = await _finish(proc)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"ocpi-gateway: cannot listen on 127.0.0.1:{port}: ")


async def test_contradicting_operator_files_stop_the_start_with_every_line(
        tmp_path: Path) -> None:
    for name in ("locations.yaml", "chargers.yaml", "policy.yaml"):
        shutil.copy(SAMPLE / name, tmp_path / name)
    locations = tmp_path / "locations.yaml"
    locations.write_text(locations.read_text(encoding="utf-8").replace(
        "charge_point_id: CP-UTR-01", "charge_point_id: CP-UTR-09"), encoding="utf-8")
    proc = await _start(_config(tmp_path, free_port(), locations_file="locations.yaml",
                                chargers_file="chargers.yaml", policy_file="policy.yaml"))
    code, _out, err = await _finish(proc)
    assert code == 2
    lines = [line for line in err.splitlines() if "CP-UTR-09" in line]
    assert len(lines) == 4  # the four EVSEs of that charger
    assert "Traceback" not in err


async def test_a_misspelt_variable_is_logged_and_human_logs_are_asked_for(
        tmp_path: Path) -> None:
    port = free_port()
    proc = await _start(_config(tmp_path, port, log_format="console"),
                        OCPI_GATEWAY_LISTEN_PORT="9")
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        warning = await _line_with(proc.stdout, "unknown_environment_variable", seen)
        assert "did you mean OCPI_GATEWAY_LISTEN__PORT?" in warning
        assert not warning.lstrip().startswith("{")  # console lines, not JSON
        await _line_with(proc.stdout, "gateway_started", seen)  # SIGTERM handled from here
    finally:
        assert await _stop(proc) == 0


async def test_the_access_log_names_each_request_but_not_its_credentials(
        tmp_path: Path) -> None:
    port = free_port()
    proc = await _start(_config(tmp_path, port, access_log=True))
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        await _line_with(proc.stdout, "gateway_started", seen)
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{port}/ocpi/versions?x=1",
                headers={"Authorization": "Token c2VjcmV0LXRva2Vu"}) as response:
            assert response.status == 401
        line = await _line_with(proc.stdout, "http_request", seen)
        assert '"path": "/ocpi/versions?x=1"' in line and '"status": 401' in line
        assert "c2VjcmV0LXRva2Vu" not in "".join(seen)
    finally:
        assert await _stop(proc) == 0
