from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.commands.support import close_world, policy_doc
from tests.sessions.support import VERSIONS, Rig, open_rig

FREE_CANCELLATION_MINUTES = 5


@pytest.fixture(params=VERSIONS)
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    """A gateway whose reservations may be cancelled free for 5 minutes, an eMSP with
    Sessions and CDRs receivers speaking OCPI ``request.param``, both chargers, a clock."""
    opened = await open_rig(tmp_path, request.param, policy=policy_doc(
        free_cancellation_minutes=FREE_CANCELLATION_MINUTES))
    yield opened
    await close_world(opened.world)
