"""Many chargers logging in at once on an instance with Redis: nobody is refused (not even by a
kernel queue while the process cannot accept), every one is present for the others, a
connected charger is answered while they are admitted, the same credentials checked at once
cost one scrypt, and a restarted instance admits them without scrypt."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
from ocpp_test_support import (
    FAST,
    PASSWORD,
    PASSWORD_HASH,
    basic_auth,
    eventually,
    free_port,
    start_gateway,
)

from ocpi_gateway.ocpp_adapter.admission import AdmissionGate
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig
from ocpi_gateway.ocpp_adapter.routing.presence import instance_key, presence_key
from ocpi_gateway.ocpp_adapter.routing.redis import RedisChargerCommands

COUNT = 150  # past redis-py's default pool of 100 connections; more only loads a shared CI box
# A presence entry outlives any stall of a loaded machine: "all present at once" must not depend
# on the refresh loop keeping up with FAST's 1.5 s TTL while the storm holds the event loop.
STORM = dataclasses.replace(FAST, presence_ttl=300.0)
HANG_GUARD = 120.0  # seconds; only against a hang, never a bound the test proves


def many_chargers() -> ChargersConfig:
    return ChargersConfig.model_validate({"chargers": [
        {"id": f"CP-STORM-{n:04d}", "ocpp_version": "1.6", "password_hash": PASSWORD_HASH}
        for n in range(COUNT)]})


async def _storm(url: str) -> tuple[Counter[int], list[aiohttp.ClientWebSocketResponse]]:
    connector = aiohttp.TCPConnector(limit=0)
    http = aiohttp.ClientSession(connector=connector)
    sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def one(n: int) -> int:
        cp = f"CP-STORM-{n:04d}"
        try:
            sockets.append(await http.ws_connect(
                f"{url}/{cp}", protocols=("ocpp1.6",),
                headers={"Authorization": basic_auth(cp, PASSWORD)}))
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
        return 101

    try:
        return Counter(await asyncio.gather(*(one(n) for n in range(COUNT)))), sockets
    finally:
        for ws in sockets:
            await ws.close()
        await http.close()


async def test_a_login_storm_is_admitted_and_present_in_redis(redis_url: str) -> None:
    key = b"k" * 32
    redis = aioredis.from_url(redis_url)
    gw = await start_gateway(chargers=many_chargers(), redis_url=redis_url, password_key=key,
                             timings=STORM)
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            sockets = []
            for n in range(COUNT):
                cp = f"CP-STORM-{n:04d}"
                sockets.append(http.ws_connect(
                    f"{gw.url}/{cp}", protocols=("ocpp1.6",),
                    headers={"Authorization": basic_auth(cp, PASSWORD)}))
            opened = await asyncio.wait_for(asyncio.gather(*sockets), HANG_GUARD)
            async def all_present() -> bool:
                # The presence claim follows the websocket handshake: a moment later.
                present = await redis.exists(*(presence_key(f"CP-STORM-{n:04d}")
                                               for n in range(COUNT)))
                return bool(present == COUNT)

            assert await eventually(all_present, within=HANG_GUARD)
            for ws in opened:
                await ws.close()
        # One hash shared by all: one scrypt, however many check it at once.
        assert gw.server.passwords.scrypt_runs == 1
    finally:
        await gw.close()
        await redis.aclose()
    restarted = await start_gateway(chargers=many_chargers(), redis_url=redis_url,
                                    password_key=key, timings=STORM)
    try:
        statuses, _ = await asyncio.wait_for(_storm(restarted.url), HANG_GUARD)
        assert statuses == {101: COUNT}
        assert restarted.server.passwords.scrypt_runs == 0
    finally:
        await restarted.close()


async def test_the_gateways_redis_client_waits_for_a_connection_instead_of_failing(
        redis_url: str) -> None:
    # In a restart storm thousands of presence claims and releases run at once; redis-py's
    # default pool refuses past 100 ("Too many connections": claims and releases were lost,
    # the benchmark's gateway logged 657 ocpp_presence_release_failed).
    gw = await start_gateway(chargers=many_chargers(), redis_url=redis_url, timings=STORM)
    try:
        client = gw.server.redis
        assert isinstance(client, aioredis.Redis)
        answers = await asyncio.wait_for(
            asyncio.gather(*(client.set(f"storm:{n}", n) for n in range(COUNT))), HANG_GUARD)
        assert answers == [True] * COUNT
        # The storm did hold more connections at once than redis-py's default pool allows.
        pool = client.connection_pool
        assert len(pool._available_connections) + len(pool._in_use_connections) > 100
    finally:
        await gw.close()


# -- admitted while the connected are answered; nobody refused -----------------------------

HERE = Path(__file__).resolve().parent
HEARTBEAT = json.dumps([2, "hb-{n}", "Heartbeat", {}])


async def test_a_connected_charger_is_answered_while_a_storm_is_admitted(
        redis_url: str) -> None:
    gw = await start_gateway(chargers=many_chargers(), redis_url=redis_url, timings=STORM)
    # A gate far narrower than the storm: admissions are still running while the connected
    # charger's Heartbeats go back and forth.
    gw.server.admissions = AdmissionGate(most=4, least=1)
    connector = aiohttp.TCPConnector(limit=0)
    try:
        async with aiohttp.ClientSession(connector=connector) as http:
            beating = await http.ws_connect(
                f"{gw.url}/CP-STORM-0000", protocols=("ocpp1.6",),
                headers={"Authorization": basic_auth("CP-STORM-0000", PASSWORD)})
            storm_done = asyncio.Event()
            answered_during_storm: list[int] = []

            async def beat() -> None:
                n = 0
                while not storm_done.is_set():
                    n += 1
                    await beating.send_str(HEARTBEAT.replace("{n}", str(n)))
                    answer = json.loads(await beating.receive_str())
                    assert answer[0] == 3 and answer[1] == f"hb-{n}"
                    assert "currentTime" in answer[2]
                    gate = gw.server.admissions
                    if gate.in_flight + gate.waiting > 0:
                        answered_during_storm.append(gate.in_flight + gate.waiting)
                    await asyncio.sleep(0.01)

            async def one(n: int) -> int:
                cp = f"CP-STORM-{n:04d}"
                try:
                    ws = await http.ws_connect(
                        f"{gw.url}/{cp}", protocols=("ocpp1.6",),
                        headers={"Authorization": basic_auth(cp, PASSWORD)})
                except aiohttp.WSServerHandshakeError as refused:
                    return refused.status
                await ws.close()
                return 101

            beater = asyncio.create_task(beat())
            statuses = await asyncio.wait_for(
                asyncio.gather(*(one(n) for n in range(1, COUNT))), HANG_GUARD)
            storm_done.set()
            await asyncio.wait_for(beater, HANG_GUARD)
            await beating.close()
        assert Counter(statuses) == {101: COUNT - 1}
        assert answered_during_storm, "no Heartbeat was answered while chargers were admitted"
    finally:
        await gw.close()


async def test_a_storm_bigger_than_an_accept_batch_is_queued_by_the_kernel_not_refused(
        ) -> None:
    # The gateway process is stopped while the storm connects: only the kernel's listen queue
    # can take the connections. It is deep (4096): every connection is established; with a
    # queue as shallow as the accept batch (16), the rest would wait for the process.
    count = 300
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "storm_gateway_proc.py"), str(port), str(count),
        stdout=subprocess.PIPE)
    writers: list[asyncio.StreamWriter] = []
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), HANG_GUARD)
        assert line.strip() == b"READY"
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            # The kernel completes a queued handshake at once; 20 s only guards the test.
            streams = await asyncio.wait_for(asyncio.gather(
                *(asyncio.open_connection("127.0.0.1", port) for _ in range(count))), 20.0)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        writers = [writer for _, writer in streams]
        for n, (_, writer) in enumerate(streams):
            cp = f"CP-STORM-{n:04d}"
            writer.write((
                f"GET /ocpp/{cp} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: {basic_auth(cp, PASSWORD)}"
                "\r\n\r\n").encode())
        heads = await asyncio.wait_for(asyncio.gather(
            *(reader.readuntil(b"\r\n\r\n") for reader, _ in streams)), HANG_GUARD)
        assert Counter(head.split(b" ", 2)[1] for head in heads) == {b"101": count}
    finally:
        for writer in writers:
            writer.close()
        proc.kill()
        await asyncio.wait_for(proc.wait(), HANG_GUARD)


async def test_a_lapsed_liveness_key_with_redis_data_intact_claims_nothing_again(
        redis_url: str) -> None:
    gw = await start_gateway(chargers=many_chargers(), redis_url=redis_url, timings=STORM)
    redis = aioredis.from_url(redis_url)
    http = aiohttp.ClientSession()
    try:
        ws = await http.ws_connect(
            f"{gw.url}/CP-STORM-0001", protocols=("ocpp1.6",),
            headers={"Authorization": basic_auth("CP-STORM-0001", PASSWORD)})
        router = gw.server.commands
        assert isinstance(router, RedisChargerCommands)
        presence = router.presence

        async def claimed() -> bool:
            return bool(await redis.exists(presence_key("CP-STORM-0001")))

        assert await eventually(claimed, within=HANG_GUARD)
        # This process fell behind its instance TTL: only its own key is gone.
        await redis.delete(instance_key("gw-test"))
        assert await presence.keep_alive() is False
        assert await redis.exists(instance_key("gw-test"))
        # Redis lost its data (a restart without persistence): claim everything again.
        await redis.flushall()
        assert await presence.keep_alive() is True
        assert await eventually(claimed, within=HANG_GUARD)
        await ws.close()
    finally:
        await http.close()
        await gw.close()
        await redis.aclose()
