"""GET /ocpi/<version>/locations?limit=10, authenticated, against the gateway's Locations
sender, in every OCPI version it serves (2.2.1 and 2.3.0, one gateway process), each with a
bare aiohttp handler serving that version's bytes and headers beside it.

Method (docs/decisions.md, "Locations GET"): both servers run for the whole benchmark, each in
its own process pinned to the server cores; wrk (C, installed by ``wrk_load.ensure_wrk`` when
missing) runs pinned to the other cores. Each round measures both servers, in alternating
order: saturation (requests/s, p50/p99), then a paced run offering both the same rate, half of
the gateway's saturated rate in that round (p50/p99 at half load). The bare handler answers
with the gateway's own response captured once: body, Content-Type, X-Total-Count, X-Limit,
Link, X-Request-ID, X-Correlation-ID and the OCPI-from/to routing headers (asserted: the same
body bytes and every header but Date equal, name and value). Printed: min and
median over the rounds of each figure, and of the per-round ratios gateway/bare.

Usage: .venv/bin/python benchmarks/locations_get.py [--locations 200] [--rounds 5]
       [--seconds 5] [--ocpi-versions 2.2.1,2.3.0]
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import statistics
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiohttp import web
from wrk_load import WrkResult, core_split, ensure_wrk, pin_to, run_wrk

TOKEN = "benchmark-token-0123456789abcdef0123456789"
# What aiohttp writes itself on every response (Connection: close only because urllib asked
# for it): the bare handler gets these for free too.
AIOHTTP_OWN = {"connection", "content-length", "date", "server"}


async def gateway_app(locations: int, workdir: Path, version: str,
                      auth: bool = True) -> web.Application:
    """The real gateway app (create_app: transport middleware with token authentication and
    routing headers, SQLite store, Locations extension) with one registered eMSP."""
    from ocpi_gateway.app import create_app
    from ocpi_gateway.config import GatewaySettings
    from ocpi_gateway.locations.sample import sample_location
    from ocpi_gateway.partners.grants import grants_from_options
    from ocpi_gateway.partners.models import PartnerRole
    from ocpi_gateway.partners.registry import PartnerRegistry
    from ocpi_gateway.store import open_store

    path = workdir / "locations.yaml"
    path.write_text(yaml.safe_dump({"locations": [sample_location(i) for i in range(locations)]}))
    store_url = f"sqlite:///{workdir / 'gateway.db'}"
    store = await open_store(store_url)
    registry = PartnerRegistry(store)
    partner = await registry.create("bench eMSP", grants_from_options(roles=["EMSP:NL-BEN"]))
    await registry.register(partner, roles=[PartnerRole(role="EMSP", country_code="NL",
                                                        party_id="BEN")],
                            versions_url="http://127.0.0.1:1/versions", version=version,
                            endpoints=[], token_to_send="x", send_base64=True,
                            issue_token=TOKEN)
    await store.close()
    settings = GatewaySettings(
        cpo_roles=[{"country_code": "NL", "party_id": "EXA",
                    "business_details": {"name": "Example CPO"}}],
        store_url=store_url, locations_file=path, log_level="WARNING")
    app = create_app(settings, extensions=["ocpi_gateway.deliveries.app:install",
                                           "ocpi_gateway.locations.extension:install"])
    if not auth:
        # The same app without the transport middleware, to show what authentication costs.
        app.middlewares.clear()
    return app


async def bare_app(path: str, body: bytes, headers: dict[str, str]) -> web.Application:
    content_type = headers.get("Content-Type", "application/json")
    extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}

    async def handler(request: web.Request) -> web.Response:
        response = web.Response(body=body, headers=extra)
        response.headers["Content-Type"] = content_type
        return response
    app = web.Application()
    app.router.add_get(path, handler)
    return app


def serve(kind: str, args: dict[str, Any], port_queue: Any, stop: Any) -> None:
    import asyncio

    pin_to(args["server_cores"])

    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            if kind in ("gateway", "sender"):
                import logging

                import structlog
                structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(
                    logging.WARNING))
                app = await gateway_app(args["locations"], Path(tmp), args["version"],
                                        auth=kind == "gateway")
            else:
                app = await bare_app(args["path"], args["body"], args["headers"])
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            from ocpi_gateway.serving import freeze_startup_heap

            # As `ocpi-gateway serve` does once listening (serving.freeze_startup_heap), for
            # both servers alike: the startup heap is kept out of full collections.
            freeze_startup_heap()
            port_queue.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
            await asyncio.to_thread(stop.wait)
            await runner.cleanup()
    asyncio.run(run())


class Server:
    def __init__(self, kind: str, args: dict[str, Any]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.kind = kind
        port_queue = ctx.Queue()
        self._stop = ctx.Event()
        self._proc = ctx.Process(target=serve, args=(kind, args, port_queue, self._stop),
                                 daemon=True)
        self._proc.start()
        self.port = int(port_queue.get(timeout=120))
        self.pid = int(self._proc.pid or 0)

    def url(self, path_and_query: str) -> str:
        return f"http://127.0.0.1:{self.port}{path_and_query}"

    def close(self) -> None:
        self._stop.set()
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()


def fetch(url: str, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
        assert response.status == 200
        return response.read(), dict(response.headers.items())


def comparable(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() != "date"}


def load_average() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def describe(label: str, runs: list[WrkResult]) -> str:
    def mm(values: list[float], fmt: str) -> str:
        return f"{min(values):{fmt}} / {statistics.median(values):{fmt}}"
    return (f"{label:<26} req/s {mm([r.rate for r in runs], '7.0f')}  "
            f"p50 ms {mm([r.p50_ms for r in runs], '5.2f')}  "
            f"p99 ms {mm([r.p99_ms for r in runs], '6.2f')}  "
            f"server CPU us/req {mm([r.server_cpu_us for r in runs], '5.0f')}")


def ratio_line(label: str, values: list[float]) -> str:
    return (f"{label:<44} min {min(values):5.2f}  median {statistics.median(values):5.2f}  "
            f"(rounds: {', '.join(f'{v:.2f}' for v in values)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--ocpi-versions", default="2.2.1,2.3.0",
                        help="comma-separated; each is measured against its own bare handler")
    parser.add_argument("--without-auth-too", action="store_true",
                        help="also measure the sender without the transport middleware")
    args = parser.parse_args()
    ensure_wrk()
    print(f"start: {load_average()} (the machine is shared: compare ratios of one run)")
    server_cores, load_cores = core_split()
    versions = [v.strip() for v in args.ocpi_versions.split(",") if v.strip()]
    request_headers = {"Authorization": "Token " + base64.b64encode(TOKEN.encode()).decode()}
    common = {"locations": args.locations, "version": versions[0],
              "server_cores": server_cores}
    gateway = Server("gateway", common)  # serves every version
    # (label, server, path): the gateway and a bare handler per version.
    targets: list[tuple[str, Server, str]] = []
    servers = [gateway]
    try:
        sizes = {}
        for version in versions:
            path = f"/ocpi/{version}/locations"
            body, headers = fetch(gateway.url(path + "?limit=10"), request_headers)
            parsed = orjson.loads(body)
            assert len(parsed["data"]) == 10 and len(parsed["data"][0]["evses"]) == 4
            served = {k: v for k, v in headers.items() if k.lower() not in AIOHTTP_OWN}
            targets.append((f"gateway {version}", gateway, path))
            if args.without_auth_too:
                sender = Server("sender", {**common, "path": path})
                servers.append(sender)
                targets.append((f"sender {version} without auth", sender, path))
            bare = Server("bare", {**common, "path": path, "body": body, "headers": served})
            servers.append(bare)
            bare_body, bare_headers = fetch(bare.url(path + "?limit=10"), request_headers)
            # The same bytes and the same headers, name and value (but Date, the clock's).
            assert bare_body == body, "the bare handler must serve the gateway's body"
            assert comparable(bare_headers) == comparable(headers), (bare_headers, headers)
            targets.append((f"bare {version}, same reply", bare, path))
            sizes[version] = (len(body), len(served))
        saturated: dict[str, list[WrkResult]] = {label: [] for label, _, _ in targets}
        paced: dict[str, list[WrkResult]] = {label: [] for label, _, _ in targets}
        for _, server, path in targets:  # warm-up
            run_wrk(server.url(path + "?limit=10"), request_headers, seconds=1,
                    connections=args.connections, load_cores=load_cores)
        for round_index in range(args.rounds):
            order = targets if round_index % 2 == 0 else targets[::-1]
            for label, server, path in order:
                saturated[label].append(run_wrk(
                    server.url(path + "?limit=10"), request_headers, seconds=args.seconds,
                    connections=args.connections, load_cores=load_cores,
                    server_pid=server.pid))
            for label, server, path in order:
                version = label.split()[1].rstrip(",")
                half_rate = saturated[f"gateway {version}"][-1].rate / 2
                paced[label].append(run_wrk(
                    server.url(path + "?limit=10"), request_headers, seconds=args.seconds,
                    connections=args.connections, load_cores=load_cores,
                    delay_ms=1000 * args.connections / half_rate, server_pid=server.pid))
        errors = sum(r.errors for runs in (*saturated.values(), *paced.values()) for r in runs)
        for version, (size, header_count) in sizes.items():
            print(f"GET /ocpi/{version}/locations?limit=10: {size} bytes and {header_count} "
                  "headers per response besides aiohttp's own")
        print(f"{args.rounds} rounds, min / median; saturated:")
        for label, runs in saturated.items():
            print("  " + describe(label, runs))
        print("paced at half the gateway's saturated rate (same offered rate for both):")
        for label, runs in paced.items():
            print("  " + describe(label, runs)
                  + f"  (achieved {statistics.median(r.rate for r in runs):.0f} req/s)")
        for version in versions:
            gateway_sat, bare_sat = saturated[f"gateway {version}"], saturated[
                f"bare {version}, same reply"]
            gateway_paced, bare_paced = paced[f"gateway {version}"], paced[
                f"bare {version}, same reply"]
            print(ratio_line(f"{version} throughput gateway / bare (goal >= 0.6)",
                             [g.rate / b.rate for g, b in zip(gateway_sat, bare_sat,
                                                              strict=True)]))
            print(ratio_line(f"{version} p99 at half load gateway / bare (goal <= 3)",
                             [g.p99_ms / b.p99_ms for g, b in zip(gateway_paced, bare_paced,
                                                                  strict=True)]))
            print(ratio_line(f"{version} server CPU per request bare / gateway",
                             [b.server_cpu_us / g.server_cpu_us
                              for g, b in zip(gateway_sat, bare_sat, strict=True)]))
        if len(versions) > 1:
            first, *others = versions
            for other in others:
                print(ratio_line(f"throughput gateway {other} / gateway {first}",
                                 [o.rate / f.rate for o, f in zip(
                                     saturated[f"gateway {other}"],
                                     saturated[f"gateway {first}"], strict=True)]))
        print(f"({args.locations} locations of 4 EVSEs, limit=10, {args.connections} connections,"
              f" {args.seconds:.0f}s per run; servers on cores {sorted(server_cores)}, wrk on "
              f"{sorted(load_cores)}; {errors} errors)")
        print(f"end: {load_average()}")
    finally:
        for server in servers:
            server.close()


if __name__ == "__main__":
    main()
