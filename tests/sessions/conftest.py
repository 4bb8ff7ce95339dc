from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.commands.support import close_world
from tests.sessions.support import VERSIONS, Rig, open_rig


@pytest.fixture(params=VERSIONS)
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    """A gateway, an eMSP speaking OCPI ``request.param``, both chargers, a moved clock."""
    opened = await open_rig(tmp_path, request.param)
    yield opened
    await close_world(opened.world)
