from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.admin.support import AdminClient, write_operators
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    running = await start_gateway(gateway_settings(
        tmp_path, operators_file=operators, admin_token="legacy-admin-token-1"))
    yield running
    await running.stop()


@pytest.fixture
async def clients(gateway: RunningGateway) -> AsyncIterator[list[AdminClient]]:
    """Make clients with ``new_client``; all closed at the end."""
    made: list[AdminClient] = []
    yield made
    for client in made:
        await client.close()


@pytest.fixture
def new_client(gateway: RunningGateway, clients: list[AdminClient]):  # type: ignore[no-untyped-def]
    def make(local_addr: str | None = None) -> AdminClient:
        client = AdminClient(gateway.url, local_addr=local_addr)
        clients.append(client)
        return client
    return make
