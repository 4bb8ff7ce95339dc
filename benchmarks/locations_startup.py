"""Startup and reload of a big locations file: time, memory, and the longest event-loop stall.

Each measurement runs in a fresh process (spawned) so that its RSS is its own; its peak
(VmHWM) is read after the start and again, from a reset (clear_refs), after the reload
(not ru_maxrss, which a spawned process inherits from the script that forked it):

- startup: the real app (create_app with the deliveries and Locations extensions, SQLite
  store) from nothing to serving, then the same again over the snapshots it left (a restart);
- reload: with the app running, the file replaced by one with 1 % of the locations renamed
  (both files written by this script's own process beforehand: building and dumping 10,000
  locations in the measured process was once most of its "peak RSS"), then
  ``POST /admin/reload``-equivalent ``module.reload()``, while a probe task that sleeps 1 ms at
  a time records the longest time the loop was away (the goal: never more than 50 ms, so
  chargers and eMSPs are still served during a reload).

The reference, in the same process: the same probe over the same length of time with the app
idle just before the reload (what this machine's scheduling alone costs the loop). Beside the
wall-clock stall, the longest CPU time (thread time) any one loop callback took during the
reload: what the code holds the loop for, which load on a shared machine stretches but does
not make. CPU seconds are printed beside the wall-clock ones, the reload's with those of the
process it starts to read the file; rounds alternate first starts and restarts, and min and
median of each figure are printed at the end with the load average.

Usage: .venv/bin/python benchmarks/locations_startup.py [--locations 10000] [--rounds 3]
[--redis]  (--redis: the availability store on a redis-server this script starts.)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory now (VmRSS) or at its highest so far (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux: clear_refs 5), so that the next peak is
    the reload's own."""
    Path("/proc/self/clear_refs").write_text("5")


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


class SliceMeter:
    """The longest CPU time (this thread's) that one event-loop callback ran: every task step
    and callback is a Handle run by the loop."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._real_run = asyncio.events.Handle._run

    def __enter__(self) -> SliceMeter:
        meter, real_run = self, self._real_run

        def timed_run(handle: asyncio.events.Handle) -> None:
            started = time.thread_time()
            real_run(handle)
            meter.longest = max(meter.longest, time.thread_time() - started)

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.events.Handle._run = self._real_run  # type: ignore[method-assign]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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
        figures["start_peak_mb"] = rss_mb("VmHWM")
        # Written by the benchmark's own process before this one started: building and
        # dumping 10,000 locations here would be the benchmark's memory, counted as the
        # gateway's.
        os.replace(base / "renamed.yaml", base / "locations.yaml")
        await asyncio.sleep(0.05)
        idle = StallProbe()
        idle.start()
        await asyncio.sleep(float(os.environ.get("IDLE_PROBE_SECONDS", "3")))
        figures["idle_stall_ms"] = await idle.stop() * 1000
        probe = StallProbe()
        probe.start()
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        cpu_started = time.process_time()
        child_started = children_cpu()
        reset_peak()
        with SliceMeter() as slices:
            changed = await app[LOCATIONS].reload()
        figures["reload_s"] = time.perf_counter() - started
        figures["reload_cpu_s"] = time.process_time() - cpu_started
        figures["reload_child_cpu_s"] = children_cpu() - child_started
        figures["reload_changed"] = len(changed)
        figures["reload_stall_ms"] = await probe.stop() * 1000
        figures["reload_slice_ms"] = slices.longest * 1000
        figures["rss_after_reload_mb"] = rss_mb()
        figures["reload_peak_mb"] = rss_mb("VmHWM")
        await runner.cleanup()
        return figures
    result.put(asyncio.run(run()))


def in_fresh_process(workdir: str, count: int, redis_url: str | None) -> dict[str, float]:
    base = Path(workdir)
    shutil.copyfile(base / "original.yaml", base / "locations.yaml")
    shutil.copyfile(base / "renamed-1-percent.yaml", base / "renamed.yaml")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=measure, args=(workdir, count, redis_url, queue))
    process.start()
    figures: dict[str, float] = queue.get(timeout=1800)
    process.join()
    return figures


FIGURES = [
    ("startup_s", "startup, s"), ("startup_cpu_s", "startup CPU, s"),
    ("rss_mb", "RSS after start, MB"), ("start_peak_mb", "peak RSS during the start, MB"),
    ("reload_s", "reload, s"), ("reload_cpu_s", "reload CPU (gateway), s"),
    ("reload_child_cpu_s", "reload CPU (its reading process), s"),
    ("reload_stall_ms", "longest loop stall during the reload, ms"),
    ("idle_stall_ms", "same probe, idle app just before, ms"),
    ("reload_slice_ms", "longest loop callback during the reload, ms CPU"),
    ("rss_after_reload_mb", "RSS after the reload, MB"),
    ("reload_peak_mb", "peak RSS during the reload, MB"),
]


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locations", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
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
            write_locations(Path(tmp) / "original.yaml", args.locations)
            write_locations(Path(tmp) / "renamed-1-percent.yaml", args.locations,
                            renamed=args.locations // 100)
            print(f"{args.locations:,} locations, {args.locations * 4:,} EVSEs, availability "
                  f"{'on Redis' if redis_url else 'in process'}; goals: <= 10 s, <= 400 MB, "
                  f"reload stall <= 50 ms; load average {load()}")
            runs: dict[str, list[dict[str, float]]] = {"first start": [], "restart": []}
            for round_ in range(args.rounds):
                for label in runs:
                    if label == "first start":
                        (Path(tmp) / "gateway.db").unlink(missing_ok=True)
                    f = in_fresh_process(tmp, args.locations, redis_url)
                    runs[label].append(f)
                    print(f"round {round_ + 1} {label:<12} startup {f['startup_s']:6.2f} s "
                          f"({f['startup_cpu_s']:.2f} s CPU) RSS {f['rss_mb']:4.0f} MB, peak "
                          f"{f['start_peak_mb']:4.0f} MB | reload "
                          f"of {f['reload_changed']:.0f}: {f['reload_s']:5.2f} s "
                          f"({f['reload_cpu_s']:.2f} s CPU + {f['reload_child_cpu_s']:.2f} s in "
                          f"its reader), stall "
                          f"{f['reload_stall_ms']:5.1f} ms (idle {f['idle_stall_ms']:4.1f}), "
                          f"longest callback {f['reload_slice_ms']:4.1f} ms CPU, RSS after "
                          f"{f['rss_after_reload_mb']:4.0f} MB, peak {f['reload_peak_mb']:4.0f} MB"
                          f" | load {load()}")
            print("min / median over rounds:")
            for label, rounds in runs.items():
                print(f"  {label}:")
                for key, name in FIGURES:
                    values = [r[key] for r in rounds]
                    print(f"    {name:<44} {min(values):9.2f} / {statistics.median(values):9.2f}")
            print(f"load average at the end {load()}")
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=10)


if __name__ == "__main__":
    main()
