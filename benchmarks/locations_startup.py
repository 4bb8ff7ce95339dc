"""Startup and reload of a big locations file: time, memory, and the longest event-loop stall.

Each measurement runs in a fresh process (spawned) so that its RSS is its own:

- startup: the real app (create_app with the deliveries and Locations extensions, SQLite
  store) from nothing to serving, then the same again over the snapshots it left (a restart);
- reload: with the app running, the file rewritten with 1 % of the locations renamed, then
  ``POST /admin/reload``-equivalent ``module.reload()``, while a probe task that sleeps 1 ms at
  a time records the longest time the loop was away (the goal: never more than 50 ms, so
  chargers and eMSPs are still served during a reload).

CPU seconds are printed beside the wall-clock ones: on a machine shared with other work the
wall clock measures the sharing too.

Usage: .venv/bin/python benchmarks/locations_startup.py [--locations 10000] [--redis]
(--redis: the availability store on a redis-server this script starts on a free port.)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class StallProbe:
    """The longest gap between two 1 ms sleeps, minus the 1 ms: how long the loop was busy."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - 0.001)
            last = now

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> float:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.longest


def write_locations(path: Path, count: int, renamed: int = 0) -> None:
    from ocpi_gateway.locations.sample import sample_location

    locations = [sample_location(i) for i in range(count)]
    for location in locations[:renamed]:
        location["name"] += " (renamed)"
    path.write_text(yaml.dump({"locations": locations}, Dumper=yaml.CSafeDumper, sort_keys=False))


def measure(workdir: str, count: int, redis_url: str | None, result: Any) -> None:
    async def run() -> dict[str, float]:
        import logging

        import structlog
        from aiohttp import web

        from ocpi_gateway.app import create_app
        from ocpi_gateway.config import GatewaySettings
        from ocpi_gateway.locations.extension import LOCATIONS

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        base = Path(workdir)
        settings = GatewaySettings(
            cpo_roles=[{"country_code": "NL", "party_id": "EXA",
                        "business_details": {"name": "Example CPO"}}],
            store_url=f"sqlite:///{base / 'gateway.db'}", locations_file=base / "locations.yaml",
            redis_url=redis_url, log_level="WARNING")
        figures: dict[str, float] = {"rss_before_mb": rss_mb()}
        started = time.perf_counter()
        cpu_started = time.process_time()
        app = create_app(settings, extensions=["ocpi_gateway.deliveries.app:install",
                                               "ocpi_gateway.locations.extension:install"])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        figures["startup_s"] = time.perf_counter() - started
        figures["startup_cpu_s"] = time.process_time() - cpu_started
        figures["rss_mb"] = rss_mb()
        write_locations(base / "locations.yaml", count, renamed=count // 100)
        probe = StallProbe()
        probe.start()
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        cpu_started = time.process_time()
        changed = await app[LOCATIONS].reload()
        figures["reload_s"] = time.perf_counter() - started
        figures["reload_cpu_s"] = time.process_time() - cpu_started
        figures["reload_changed"] = len(changed)
        figures["reload_stall_ms"] = await probe.stop() * 1000
        figures["rss_after_reload_mb"] = rss_mb()
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        await runner.cleanup()
        write_locations(base / "locations.yaml", count)  # as the next run expects it
        return figures
    result.put(asyncio.run(run()))


def in_fresh_process(workdir: str, count: int, redis_url: str | None) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=measure, args=(workdir, count, redis_url, queue))
    process.start()
    figures: dict[str, float] = queue.get(timeout=1800)
    process.join()
    return figures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locations", type=int, default=10_000)
    parser.add_argument("--redis", action="store_true")
    args = parser.parse_args()
    redis: subprocess.Popen[bytes] | None = None
    redis_url = None
    if args.redis:
        server = shutil.which("redis-server")
        if server is None:
            raise SystemExit("--redis needs redis-server (apt-get install -y redis-server)")
        port = free_port()
        redis = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no"],
                                 stdout=subprocess.DEVNULL)
        redis_url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.3)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            write_locations(Path(tmp) / "locations.yaml", args.locations)
            print(f"{args.locations:,} locations, {args.locations * 4:,} EVSEs, availability "
                  f"{'on Redis' if redis_url else 'in process'}; goals: <= 10 s, <= 400 MB, "
                  "reload stall <= 50 ms")
            for label in ("first start", "restart over snapshots"):
                f = in_fresh_process(tmp, args.locations, redis_url)
                print(f"{label:<24} startup {f['startup_s']:6.2f} s "
                      f"({f['startup_cpu_s']:.2f} s CPU)  RSS {f['rss_mb']:5.0f} MB "
                      f"(interpreter {f['rss_before_mb']:.0f})  | reload of "
                      f"{f['reload_changed']:.0f} changed: {f['reload_s']:6.2f} s "
                      f"({f['reload_cpu_s']:.2f} s CPU), longest loop "
                      f"stall {f['reload_stall_ms']:6.1f} ms, RSS after "
                      f"{f['rss_after_reload_mb']:5.0f}"
                      f" MB, peak {f['peak_rss_mb']:5.0f} MB")
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=10)


if __name__ == "__main__":
    main()
