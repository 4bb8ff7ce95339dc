"""The real gateway as a separate process (``ocpi-gateway serve``), for tests where a crash
is the point: ``kill()`` sends SIGKILL (no cleanup of any kind), ``start()`` again is the
restart on the same config, store and instance id."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
"""The repository: ``python -m tests.peers...`` runs from there."""


class GatewayProcess:
    def __init__(self, workdir: Path, *, clock_file: Path | None = None,
                 **settings: Any) -> None:
        """``clock_file``: the process runs on the time written there (``tests.peers.
        clocked_serve.FileClock.set``), not the wall clock."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {"listen": {"host": "127.0.0.1", "port": self.port}, "public_url": self.url,
                  "store_url": f"sqlite:///{workdir / 'gateway.db'}",
                  # The test eMSPs receive CommandResults on loopback.
                  "allow_private_response_urls": True,
                  "log_level": "WARNING", **settings}
        self.config = workdir / "gateway.yaml"
        self.config.write_text(yaml.safe_dump(_plain(config)), encoding="utf-8")
        self.log = workdir / "gateway.log"
        self._proc: asyncio.subprocess.Process | None = None
        self._serve = (["-m", "ocpi_gateway.cli", "--config", str(self.config), "serve"]
                       if clock_file is None else
                       ["-m", "tests.peers.clocked_serve", str(self.config), str(clock_file)])
        # The suite's own OCPI_GATEWAY_* overrides must not leak into the child.
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("OCPI_GATEWAY_")}

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def versions_url(self) -> str:
        return self.url + "/ocpi/versions"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ocpp"

    async def start(self, *, within: float = 150.0) -> None:
        with self.log.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, *self._serve, env=self._env, stdout=log, stderr=log,
                cwd=ROOT)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        async with aiohttp.ClientSession() as http:
            while True:
                assert self._proc.returncode is None, self.log.read_text()[-2000:]
                try:
                    async with http.get(self.url + "/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert loop.time() < deadline, "the gateway did not come up"
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGKILL)
        await self._proc.wait()
        self._proc = None

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                await self.kill()
        self._proc = None

    async def invite(self, name: str, *roles: str) -> str:
        """``ocpi-gateway partners invite --role ...`` (``roles`` like ``EMSP:DE-EMS``): the
        token A for a partner to register with."""
        granted = [arg for role in roles for arg in ("--role", role)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ocpi_gateway.cli", "--config", str(self.config),
            "partners", "invite", "--name", name, *granted, env=self._env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        found = re.search(r"token A:\s+(\S+)", out.decode())
        assert found, out.decode()
        return found.group(1)


def _plain(value: Any) -> Any:
    """Paths as strings, for YAML."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
