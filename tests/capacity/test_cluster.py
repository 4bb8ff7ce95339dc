"""The Redis timeline on a real 3-master Redis Cluster: every script of a site touches keys
of one hash slot (``{location_id}``), so admission, amendment, release, rebuild and prune work
there as on one server, for sites in different slots."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocpi_gateway.redis_clients import RedisMode, RedisTarget, open_redis
from ocpi_gateway.reservation_policy.capacity.base import Promise, Verdict
from ocpi_gateway.reservation_policy.capacity.classes import Need
from ocpi_gateway.reservation_policy.capacity.redis import RedisCapacity
from tests.capacity.support import Clock, ac, at
from tests.redis_servers import RedisClusterProcesses


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterProcesses]:
    # ``redis-cli --cluster create`` now and then fails on a loaded machine (a node not yet
    # answering cluster commands): a fresh set of nodes is tried, at most three times.
    for attempt in range(3):
        processes = RedisClusterProcesses(tmp_path / f"cluster{attempt}")
        try:
            processes.start()
        except (subprocess.CalledProcessError, RuntimeError):
            processes.stop()
            continue
        try:
            yield processes
        finally:
            processes.stop()
        return
    pytest.fail("no Redis Cluster could be created in three attempts")


async def test_every_operation_on_a_cluster(cluster: RedisClusterProcesses) -> None:
    clock = Clock()
    timeline = RedisCapacity(open_redis(RedisTarget(url=cluster.url, mode=RedisMode.CLUSTER)),
                             clock=clock)
    try:
        # Ids that land in different slots (and so, likely, on different masters).
        for site in ("SITE-A", "SITE-B", "SITE-C"):
            await timeline.set_supply(site, [ac("E1")])
            assert (await timeline.admit(site, Promise("b1", at(0), at(60), Need()))).ok
            full = await timeline.admit(site, Promise("b2", at(30), at(90), Need()))
            assert full.verdict is Verdict.FULL and full.at == at(30)
            assert (await timeline.amend(site, Promise("b1", at(0), at(30), Need()))).ok
            assert (await timeline.admit(site, Promise("b2", at(30), at(90), Need()))).ok
            assert await timeline.release(site, "b1")
            assert [p.promise_id for p in await timeline.promises(site, at(0), at(100))] == [
                "b2"]
            spare = await timeline.spare(site, Need(), at(0), at(100))
            assert [s.spare for s in spare] == [1, 0, 1]
            assert await timeline.rebuild(site, [Promise("b9", at(0), at(10), Need())]) == 1
            assert await timeline.prune(site, at(20)) == 1
    finally:
        await timeline.close()
