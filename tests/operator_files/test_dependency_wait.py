"""``startup_wait_seconds``: how long serve retries a missing Redis or store, on a clock the
test controls."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.serving import DependencyUnavailable, wait_for_dependencies
from tests.conftest import free_port


def _settings(tmp_path: Path, **extra: object) -> GatewaySettings:
    return GatewaySettings.model_validate({
        "cpo_roles": [{"country_code": "NL", "party_id": "EXA",
                       "business_details": {"name": "CPO"}}],
        "store_url": f"sqlite:///{tmp_path / 'g.db'}", **extra})


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_retries_with_growing_pauses_until_the_wait_is_over(tmp_path: Path) -> None:
    time = FakeTime()
    dead = free_port()
    settings = _settings(tmp_path, redis_url=f"redis://127.0.0.1:{dead}",
                         startup_wait_seconds=20)
    with pytest.raises(DependencyUnavailable, match=f"cannot reach Redis \\(redis://127.0.0.1:"
                                                    f"{dead}\\)"):
        await wait_for_dependencies(settings, sleep=time.sleep, clock=time.clock)
    assert time.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 2.5]  # capped at 5 s, ends at 20 s
    assert time.now == 1020.0


async def test_no_wait_configured_gives_up_at_once(tmp_path: Path) -> None:
    time = FakeTime()
    settings = _settings(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}")
    with pytest.raises(DependencyUnavailable):
        await wait_for_dependencies(settings, sleep=time.sleep, clock=time.clock)
    assert time.sleeps == []


async def test_present_dependencies_cost_no_wait(tmp_path: Path, redis_url: str) -> None:
    time = FakeTime()
    await wait_for_dependencies(_settings(tmp_path, redis_url=redis_url,
                                          startup_wait_seconds=20),
                                sleep=time.sleep, clock=time.clock)
    assert time.sleeps == []


async def test_an_unopenable_store_is_named(tmp_path: Path) -> None:
    time = FakeTime()
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    settings = _settings(tmp_path).model_copy(update={
        "store_url": f"sqlite:///{tmp_path / 'a-file' / 'g.db'}"})
    with pytest.raises(DependencyUnavailable, match="cannot open the sqlite store"):
        await wait_for_dependencies(settings, sleep=time.sleep, clock=time.clock)
