"""The gateway side of benchmarks/ocpp_restart_storm.py: an OcppServer on Redis, listening as
``ocpi-gateway serve`` does, with ``/stats`` for the benchmark (run under ``taskset``).

    python benchmarks/storm_gateway.py PORT REDIS_URL CHARGERS_JSON KEY|-

``STORM_REFERENCE_SRC=DIR`` runs DIR's ``ocpi_gateway`` instead (the reference).
``STORM_STALLS=1`` adds ``/stalls`` (loop stalls with the CPU used in them, garbage
collections, the admission gate over time; ``?reset=1`` starts a new record);
``STORM_STACKS=1`` samples the loop's stack during stalls, ``STORM_PROFILE=FILE`` writes a
cProfile of the storm: diagnostics, they slow the gateway down.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

REFERENCE = os.environ.get("STORM_REFERENCE_SRC")
"""Another checkout's ``ocpi_gateway`` (the reference: e.g. main before this change), run
with this script and listening as that checkout's ``serve`` did (TCPSite, backlog 4096)."""
if REFERENCE:
    sys.path.insert(0, REFERENCE)

from ocpi_gateway.domain.authorization import AcceptAllAuthorizer  # noqa: E402
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig  # noqa: E402
from ocpi_gateway.ocpp_adapter.server import OcppServer, OcppTimings  # noqa: E402


class NoPublisher:
    async def publish(self, event: Any) -> None:
        return None


def runqueue_seconds() -> float:
    """Seconds this process's threads were ready to run but waited for a core (Linux
    schedstat): the part of a storm's time that the machine's load took, not the gateway."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def diagnostics(server: OcppServer) -> web.RouteDef:
    from loop_stalls import StallSampler

    sampler = StallSampler(stacks=bool(os.environ.get("STORM_STACKS")),
                           threshold=float(os.environ.get("STORM_STALL_S", "0.1")))
    sampler.start()
    profile_to = os.environ.get("STORM_PROFILE")
    import cProfile

    profile = cProfile.Profile()
    gate: list[tuple[float, int, int, int, int]] = []

    async def sample_gate() -> None:
        while True:
            admissions = server.admissions
            gate.append((round(time.perf_counter() - sampler.started, 2), admissions.limit,
                         admissions.in_flight, admissions.waiting, gc.get_threshold()[2]))
            await asyncio.sleep(0.25)

    sampling = asyncio.get_running_loop().create_task(sample_gate())

    async def stalls(request: web.Request) -> web.Response:
        report = sampler.report()
        report["gate (t, limit, in flight, waiting, gc threshold 2)"] = list(gate)
        report["gate_sampling"] = not sampling.done()
        gate.clear()
        if request.query.get("reset"):
            sampler.reset()
            if profile_to:
                profile.enable()
        elif profile_to:
            profile.disable()
            profile.dump_stats(profile_to)
        return web.json_response(report)

    return web.get("/stalls", stalls)


async def serve(port: int, redis_url: str, chargers: ChargersConfig, key: str) -> None:
    server = OcppServer(chargers, NoPublisher(), AcceptAllAuthorizer(),
                        instance_id="storm", redis_url=redis_url,
                        timings=OcppTimings(ws_ping_interval=None, presence_ttl=60.0,
                                            stream_block_ms=1000),
                        password_key=key.encode() if key != "-" else None)

    async def stats(request: web.Request) -> web.Response:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return web.json_response({"connections": len(server.registry),
                                  "scrypt_runs": server.passwords.scrypt_runs,
                                  "cpu_s": usage.ru_utime + usage.ru_stime,
                                  "runqueue_s": runqueue_seconds(),
                                  "slowest_lag_s": getattr(getattr(
                                      server, "admissions", None), "slowest_lag", 0.0)})

    routes = [web.get("/stats", stats)]
    if os.environ.get("STORM_STALLS"):
        routes.append(diagnostics(server))
    if REFERENCE:
        app = web.Application()
        server.attach(app)
        app.add_routes(routes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    else:
        from ocpp_bench_common import run_site

        from ocpi_gateway.serving import freeze_startup_heap

        await run_site(server, port, routes)
        freeze_startup_heap()  # as `ocpi-gateway serve`
    print("READY", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    chargers = ChargersConfig.model_validate(json.loads(Path(sys.argv[3]).read_text()))
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], chargers, sys.argv[4]))


if __name__ == "__main__":
    main()
