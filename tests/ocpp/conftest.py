"""Fixtures for the OCPP adapter: a gateway on loopback and a factory of test chargers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from ocpp_test_support import ChargerFactory, Gateway, start_gateway


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = await start_gateway()
    yield gw
    await gw.close()


@pytest.fixture
async def chargers() -> AsyncIterator[ChargerFactory]:
    async with aiohttp.ClientSession() as http:
        factory = ChargerFactory(http)
        yield factory
        await factory.close()
