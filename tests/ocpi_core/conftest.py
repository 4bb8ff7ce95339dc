from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    running = await start_gateway(gateway_settings(tmp_path), extensions=[])
    yield running
    await running.stop()


@pytest.fixture
async def emsp() -> AsyncIterator[EmspPeer]:
    peer = EmspPeer()
    await peer.start()
    yield peer
    await peer.close()
