from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.admin.support import write_operators
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    """A gateway on embedded defaults with the operator alice."""
    operators = write_operators(tmp_path / "operators.yaml", ("alice",))
    running = await start_gateway(gateway_settings(tmp_path, operators_file=operators))
    yield running
    await running.stop()
