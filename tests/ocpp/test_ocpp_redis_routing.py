"""Several gateway instances sharing a real redis-server: commands reach the charger's owner."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call
from ocpp_test_support import (
    STEADY,
    Behaviour,
    ChargerFactory,
    Gateway,
    eventually,
    free_port,
    start_gateway,
)

from ocpi_gateway.domain.charger_commands import (
    CancelReservation,
    CommandOutcome,
    CommandReply,
    ReserveNow,
)
from ocpi_gateway.domain.events import TransactionStarted
from ocpi_gateway.ocpp_adapter.registry import ConnectionRegistry
from ocpi_gateway.ocpp_adapter.routing.presence import presence_key
from ocpi_gateway.ocpp_adapter.routing.redis import RedisChargerCommands, _Served
from ocpi_gateway.redis_clients import RedisTarget, open_redis

CP = "CP-AMS-01"
HERE = Path(__file__).resolve().parent
# Real gateways on a real Redis (or a 3-master cluster): on a loaded machine a test takes far
# longer than the suite's 60 s default without being stuck. Inside, every wait is for an event
# or a command's outcome, with timeouts well above the time a loaded machine takes.
pytestmark = pytest.mark.timeout(300)
COMMAND_TIMEOUT = 30.0
"""For a command whose outcome is not TIMEOUT: it ends long before, when the charger answers."""


def reserve(n: int = 1) -> ReserveNow:
    return ReserveNow(charge_point_id=CP, reservation_id=n, connector_id=1,
                      expiry=datetime(2026, 11, 23, 21, 0, tzinfo=UTC), id_token="04A2B3C4")


@pytest.fixture(params=["single", "cluster"])
def shared_redis(request: pytest.FixtureRequest) -> RedisTarget:
    """The same contract on one redis-server and on a 3-master Redis Cluster (every key of a
    charger, and an instance's two streams, in one slot)."""
    if request.param == "cluster":
        target: RedisTarget = request.getfixturevalue("redis_cluster")
        return target
    return RedisTarget(url=request.getfixturevalue("redis_url"))


@pytest.fixture
async def two_gateways(shared_redis: RedisTarget) -> AsyncIterator[tuple[Gateway, Gateway]]:
    a = await start_gateway(redis_url=shared_redis, instance_id="gw-a", timings=STEADY)
    b = await start_gateway(redis_url=shared_redis, instance_id="gw-b", timings=STEADY)
    yield a, b
    await a.close()
    await b.close()


async def test_command_from_another_instance_reaches_the_charger(
        two_gateways: tuple[Gateway, Gateway], chargers: ChargerFactory) -> None:
    a, b = two_gateways
    cp = await chargers.connect(a.url, CP, behaviour=Behaviour(reserve="Occupied"))
    await a.events.wait_for(lambda e: e.charge_point_id == CP)
    assert await b.server.commands.is_online(CP)
    assert await b.server.commands.execute(
        reserve(), timeout=COMMAND_TIMEOUT) is CommandOutcome.OCCUPIED
    cp.behaviour.cancel = "Rejected"
    assert await b.server.commands.execute(
        CancelReservation(charge_point_id=CP, reservation_id=1),
        timeout=COMMAND_TIMEOUT) is CommandOutcome.REJECTED
    assert [a for a, _ in cp.behaviour.received] == ["ReserveNow", "CancelReservation"]
    assert cp.behaviour.received[0][1]["expiry_date"] == "2026-11-23T21:00:00.000Z"


async def test_offline_everywhere_fails_fast(shared_redis: RedisTarget,
                                             chargers: ChargerFactory) -> None:
    # Presence entries that outlive the test: only the owner's release on disconnect can
    # make the charger offline here, never the TTL running out.
    lasting = replace(STEADY, presence_ttl=600.0)
    a = await start_gateway(redis_url=shared_redis, instance_id="gw-a", timings=lasting)
    b = await start_gateway(redis_url=shared_redis, instance_id="gw-b", timings=lasting)
    try:
        # OFFLINE, not TIMEOUT: nobody holds the charger, so nothing waits for the timeout.
        assert await b.server.commands.execute(
            reserve(), timeout=COMMAND_TIMEOUT) is CommandOutcome.OFFLINE
        cp = await chargers.connect(a.url, CP)
        await a.events.wait_for(lambda e: e.charge_point_id == CP)
        assert await b.server.commands.is_online(CP)
        await cp.disconnect()

        async def offline() -> bool:
            return not await b.server.commands.is_online(CP)

        assert await eventually(offline, within=120)
        assert await b.server.commands.execute(
            reserve(), timeout=COMMAND_TIMEOUT) is CommandOutcome.OFFLINE
    finally:
        await a.close()
        await b.close()


async def test_disconnect_mid_remote_command_is_offline(
        two_gateways: tuple[Gateway, Gateway], chargers: ChargerFactory) -> None:
    a, b = two_gateways
    cp = await chargers.connect(a.url, CP, behaviour=Behaviour(hang=asyncio.Event()))
    await a.events.wait_for(lambda e: e.charge_point_id == CP)
    pending = asyncio.create_task(b.server.commands.execute(reserve(), timeout=120))
    await asyncio.wait_for(cp.behaviour.seen.wait(), 120)
    await cp.disconnect()
    # OFFLINE, not TIMEOUT: the owner's disconnect ended the wait before the timeout.
    assert await pending is CommandOutcome.OFFLINE


async def test_charger_moving_to_another_instance_takes_presence_along(
        two_gateways: tuple[Gateway, Gateway], chargers: ChargerFactory,
        shared_redis: RedisTarget) -> None:
    a, b = two_gateways
    first = await chargers.connect(a.url, CP, behaviour=Behaviour(hang=asyncio.Event()))
    await a.events.wait_for(lambda e: e.charge_point_id == CP)
    # The charger reconnects to b while a still believes it holds it (a half-open socket).
    second = await chargers.connect(b.url, CP, behaviour=Behaviour(reserve="Faulted"))
    await b.events.wait_for(lambda e: e.charge_point_id == CP)
    client = open_redis(shared_redis)
    try:
        owner = (await client.get(presence_key(CP))).decode()
        assert owner.startswith("gw-b|")
        # a's refresh fails the fence check: it closes its zombie socket and stops claiming.
        async def a_let_go() -> bool:
            return a.server.registry.get(CP) is None

        assert await eventually(a_let_go, within=120)
        assert (await client.get(presence_key(CP))).decode() == owner
    finally:
        await client.aclose()
    assert await a.server.commands.execute(
        reserve(), timeout=COMMAND_TIMEOUT) is CommandOutcome.FAULTED
    assert second.behaviour.received and not first.behaviour.received


async def test_transaction_ids_are_unique_across_instances(
        two_gateways: tuple[Gateway, Gateway], chargers: ChargerFactory) -> None:
    a, b = two_gateways
    on_a = await chargers.connect(a.url, CP)
    on_b = await chargers.connect(b.url, "CP-UTR-01")
    ids = set()
    for cp in (on_a, on_b, on_a, on_b):
        started = await cp.charger.call(call.StartTransaction(
            connector_id=1, id_tag="04A2B3C4", meter_start=0, timestamp="2026-11-23T19:00:00Z"))
        ids.add(started.transaction_id)
    assert len(ids) == 4
    await a.events.wait_for(lambda e: isinstance(e, TransactionStarted))


async def test_owner_killed_mid_command_gives_offline_before_the_timeout(
        redis_url: str, chargers: ChargerFactory) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent.parent)])}
    owner = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "ocpp_gateway_proc.py"), str(port), redis_url, "gw-owner",
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    requester = await start_gateway(redis_url=redis_url, instance_id="gw-requester")
    try:
        assert owner.stdout is not None
        ready = await owner.stdout.readline()  # the suite's timeout guards a hang
        assert ready.strip() == b"READY"
        cp = await chargers.connect(f"ws://127.0.0.1:{port}/ocpp", CP,
                                    behaviour=Behaviour(hang=asyncio.Event()))
        assert await eventually(lambda: requester.server.commands.is_online(CP), within=120)
        pending = asyncio.create_task(requester.server.commands.execute(reserve(), timeout=120))
        await asyncio.wait_for(cp.behaviour.seen.wait(), 120)
        owner.kill()  # SIGKILL: no cleanup, the presence entry must expire by itself
        await owner.wait()
        # OFFLINE, not TIMEOUT: the owner's liveness key (STEADY: 6 s) lapsed long before
        # the command's timeout.
        assert await pending is CommandOutcome.OFFLINE
        assert not await requester.server.commands.is_online(CP)
    finally:
        if owner.returncode is None:
            owner.kill()
            await asyncio.wait_for(owner.wait(), 5)
        await requester.close()


async def test_presence_of_a_dead_process_counts_as_offline(
        two_gateways: tuple[Gateway, Gateway], shared_redis: RedisTarget) -> None:
    _, b = two_gateways
    client = open_redis(shared_redis)
    try:
        # A process that died without cleaning up: its presence entry lives on for a while,
        # its liveness key is gone.
        await client.set(presence_key(CP), "gw-ghost|7", px=60_000)
        # OFFLINE, not TIMEOUT: a dead owner is not waited for.
        assert await b.server.commands.execute(
            reserve(), timeout=COMMAND_TIMEOUT) is CommandOutcome.OFFLINE
        assert not await b.server.commands.is_online(CP)
        await client.set("ocpp:instance:gw-ghost", "1", px=60_000)
        assert await b.server.commands.is_online(CP)
    finally:
        await client.aclose()


def _routing(gateway: Gateway) -> RedisChargerCommands:
    routing = gateway.server.commands
    assert isinstance(routing, RedisChargerCommands)
    return routing


class LosesFirstCommandEntry:
    """The requester's Redis client, but the first command entry it writes is lost, as when
    Redis restarts empty before the owner read it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.lost: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def xadd(self, stream: str, fields: Any, **kwargs: Any) -> Any:
        if stream.endswith(":cmd") and b"wake" not in fields and not self.lost:
            self.lost.append(stream)
            return b"0-1"
        return await self._client.xadd(stream, fields, **kwargs)


async def _charger_on(gateway: Gateway, chargers: ChargerFactory,
                      behaviour: Behaviour) -> Any:
    cp = await chargers.connect(gateway.url, CP, behaviour=behaviour)
    await gateway.events.wait_for(lambda e: e.charge_point_id == CP)
    return cp


async def test_a_command_entry_lost_with_redis_reaches_the_charger_once(
        two_gateways: tuple[Gateway, Gateway], chargers: ChargerFactory) -> None:
    a, b = two_gateways
    cp = await _charger_on(a, chargers, Behaviour(reserve="Occupied"))
    requester = _routing(b)
    lossy = LosesFirstCommandEntry(requester.redis)
    requester.redis = lossy  # type: ignore[assignment]

    # The charger's own answer, not TIMEOUT: the wait sends the entry again.
    assert await requester.execute(reserve(), timeout=COMMAND_TIMEOUT) is CommandOutcome.OCCUPIED
    assert lossy.lost == ["ocpp:{i:gw-a}:cmd"]
    assert [action for action, _ in cp.behaviour.received] == ["ReserveNow"]


async def test_an_answer_lost_with_redis_is_sent_again_and_the_charger_asked_once(
        two_gateways: tuple[Gateway, Gateway], chargers: ChargerFactory) -> None:
    a, b = two_gateways
    cp = await _charger_on(a, chargers, Behaviour(reserve="Occupied"))
    owner = _routing(a)
    send = owner._send_reply
    lost: list[str] = []

    async def lose_the_first(reply_to: str, correlation_id: str, reply: CommandReply,
                             charge_point_id: str) -> None:
        if not lost:  # written to a Redis that then restarted empty
            lost.append(correlation_id)
            return
        await send(reply_to, correlation_id, reply, charge_point_id)

    owner._send_reply = lose_the_first  # type: ignore[method-assign]

    assert await b.server.commands.execute(
        reserve(), timeout=COMMAND_TIMEOUT) is CommandOutcome.OCCUPIED
    assert len(lost) == 1
    assert [action for action, _ in cp.behaviour.received] == ["ReserveNow"]


async def test_a_command_sent_again_while_the_charger_thinks_is_run_once(
        two_gateways: tuple[Gateway, Gateway], chargers: ChargerFactory) -> None:
    a, b = two_gateways
    # STEADY checks the owner every 2 s: the entry is sent again twice while the charger waits.
    cp = await _charger_on(a, chargers, Behaviour(reserve="Occupied", delay=4.5))

    assert await b.server.commands.execute(
        reserve(), timeout=COMMAND_TIMEOUT) is CommandOutcome.OCCUPIED
    assert [action for action, _ in cp.behaviour.received] == ["ReserveNow"]
    assert len(_routing(a)._served) == 1


async def test_commands_served_are_forgotten_once_their_requesters_gave_up(
        redis_url: str) -> None:
    client = open_redis(RedisTarget(url=redis_url))
    routing = RedisChargerCommands(ConnectionRegistry(), client, "gw-x")
    now = time.time()
    # Served in this order; deadlines far from now, whatever the machine's speed.
    for cid, deadline in (("gone", now - 600), ("gone-too", now - 300), ("waiting", now + 600),
                          ("after-a-waiting-one", now - 100)):
        routing._served[cid] = _Served(deadline)
    try:
        routing._forget_served()
        # The oldest first, up to the first requester still waiting.
        assert list(routing._served) == ["waiting", "after-a-waiting-one"]
    finally:
        await client.aclose()
