"""Round trip of a command to a connected charger: same instance and across instances (Redis).

    .venv/bin/python benchmarks/ocpp_command_rtt.py [--commands 2000] [--redis-url URL] [--cluster]

Two OcppServers (instances gw-a and gw-b) on two aiohttp apps in this process share one Redis
(a private redis-server unless --redis-url is given). A charger (a raw websocket answering at
once) is connected to gw-a. ``ChargerCommands.execute(CancelReservation)`` is timed when
issued on gw-a (local) and on gw-b (command stream to gw-a, reply stream back), one at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
from ocpp_bench_common import (
    charger_ids,
    free_port,
    make_server,
    open_charger,
    percentile,
    quiet_logs,
    redis_server,
    run_site,
)

from ocpi_gateway.domain.charger_commands import CancelReservation, CommandOutcome
from ocpi_gateway.redis_clients import RedisMode, RedisTarget

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' Redis processes
from tests.redis_servers import RedisClusterProcesses


async def answer_forever(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for msg in ws:
        frame = orjson.loads(msg.data)
        if frame[0] == 2:
            await ws.send_str(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())


async def measure(commands: object, count: int, charge_point_id: str) -> list[float]:
    samples = []
    execute = commands.execute  # type: ignore[attr-defined]
    for n in range(count):
        command = CancelReservation(charge_point_id=charge_point_id, reservation_id=n)
        started = time.perf_counter()
        outcome = await execute(command, 5.0)
        samples.append((time.perf_counter() - started) * 1000)
        if outcome is not CommandOutcome.ACCEPTED:
            raise RuntimeError(f"unexpected outcome {outcome}")
    return samples


def report(label: str, samples: list[float]) -> None:
    print(f"{label:<30} p50 {percentile(samples, 50):6.3f} ms"
          f"   p99 {percentile(samples, 99):6.3f} ms"
          f"   mean {sum(samples) / len(samples):6.3f} ms   (n={len(samples)})")


async def cluster_rtt(count: int, single_url: str, cluster_url: str) -> None:
    """Across instances: single Redis against a 3-master Redis Cluster, rounds interleaved."""
    quiet_logs()
    targets = {"single Redis": RedisTarget(url=single_url),
               "Redis Cluster (3 masters)": RedisTarget(url=cluster_url, mode=RedisMode.CLUSTER)}
    charge_point_id = charger_ids(1)[0]
    pairs, runners, chargers = {}, [], []
    async with aiohttp.ClientSession() as http:
        for name, target in targets.items():
            owner, _ = make_server(1, redis_url=target, instance_id=f"gw-o-{len(pairs)}",
                                   ping=None)
            asker, _ = make_server(1, redis_url=target, instance_id=f"gw-q-{len(pairs)}",
                                   ping=None)
            port_o, port_q = free_port(), free_port()
            runners += [await run_site(owner, port_o), await run_site(asker, port_q)]
            ws = await open_charger(http, f"http://127.0.0.1:{port_o}", charge_point_id)
            chargers.append((ws, asyncio.create_task(answer_forever(ws))))
            for _ in range(500):
                if await asker.commands.is_online(charge_point_id):
                    break
                await asyncio.sleep(0.01)
            await measure(asker.commands, max(50, count // 10), charge_point_id)
            pairs[name] = asker
        samples: dict[str, list[float]] = {name: [] for name in pairs}
        for _ in range(5):
            for name, asker in pairs.items():
                samples[name] += await measure(asker.commands, count // 5, charge_point_id)
        for name, found in samples.items():
            report(f"across instances, {name}", found)
        ratio = (percentile(samples["Redis Cluster (3 masters)"], 50)
                 / percentile(samples["single Redis"], 50))
        print(f"cluster / single (p50): {ratio:.2f}x")
        for ws, task in chargers:
            task.cancel()
            await ws.close()
    for runner in runners:
        await runner.cleanup()


async def main(count: int, redis_url: str) -> None:
    quiet_logs()
    a, _ = make_server(1, redis_url=redis_url, instance_id="gw-a", ping=None)
    b, _ = make_server(1, redis_url=redis_url, instance_id="gw-b", ping=None)
    local, _ = make_server(1, redis_url=None, instance_id="gw-local", ping=None)
    port_a, port_b, port_local = free_port(), free_port(), free_port()
    runners = [await run_site(a, port_a), await run_site(b, port_b),
               await run_site(local, port_local)]
    charge_point_id = charger_ids(1)[0]
    async with aiohttp.ClientSession() as http:
        on_a = await open_charger(http, f"http://127.0.0.1:{port_a}", charge_point_id)
        on_local = await open_charger(http, f"http://127.0.0.1:{port_local}", charge_point_id)
        answering = [asyncio.create_task(answer_forever(on_a)),
                     asyncio.create_task(answer_forever(on_local))]
        for _ in range(500):  # presence is claimed right after the handshake
            if await b.commands.is_online(charge_point_id):
                break
            await asyncio.sleep(0.01)
        warm = max(50, count // 10)
        for server in (local, a, b):
            await measure(server.commands, warm, charge_point_id)
        report("one process, no Redis", await measure(local.commands, count, charge_point_id))
        report("Redis mode, same instance", await measure(a.commands, count, charge_point_id))
        report("Redis mode, across instances", await measure(b.commands, count,
                                                             charge_point_id))
        for task in answering:
            task.cancel()
        await on_a.close()
        await on_local.close()
    for runner in runners:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--cluster", action="store_true",
                        help="also: across instances on a 3-master Redis Cluster vs single")
    args = parser.parse_args()
    with redis_server(args.redis_url) as url:
        asyncio.run(main(args.commands, url))
        if args.cluster:
            with tempfile.TemporaryDirectory() as workdir:
                cluster = RedisClusterProcesses(Path(workdir))
                cluster.start()
                try:
                    asyncio.run(cluster_rtt(args.commands, url, cluster.url))
                finally:
                    cluster.stop()
