"""The console's live status: from a charger's StatusNotification to the page showing it.

    nice -n 5 .venv/bin/python benchmarks/console_live.py [--changes 300] [--redis]

The gateway runs in its own process (embedded defaults: SQLite, in-process availability and
feed); with ``--redis`` two gateway processes share a private redis-server and the store,
the chargers talk to the first and the page is open on the second, so every change crosses
instances through the Redis stream. 1,000 EVSEs (50 sites of 20) on 10 OCPP 1.6 chargers of
100 connectors (raw websockets); headless Debian Chromium, logged in, shows all of them on the
Sites view. One change at a time, an EVSE's connector goes Available / Charging; the time is
taken just before the StatusNotification is written and, in the page, by a MutationObserver
when that EVSE's tile changes (both wall clocks of this machine). Goal: p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from ocpp_bench_common import (
    auth_header,
    free_port,
    hash_password,
    percentile,
    quiet_logs,
    redis_server,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.admin.support import PASSWORDS, write_operators  # noqa: E402
from tests.console.browser import ARGS, CHROMIUM  # noqa: E402

PASSWORD = "bench-password"
SITES, PER_SITE = 50, 20
CHARGERS, PER_CHARGER = 10, 100
OBSERVER = """() => {
  window.__seen = {};
  new MutationObserver((mutations) => {
    const at = performance.timeOrigin + performance.now();
    for (const m of mutations) {
      const tile = m.target;
      if (tile.dataset && tile.dataset.evse) {
        window.__seen[`${tile.dataset.site}/${tile.dataset.evse}/${tile.dataset.status}`] = at;
      }
    }
  }).observe(document.getElementById('view'),
             {subtree: true, attributes: true, attributeFilter: ['data-status']});
}"""


def charger_id(n: int) -> str:
    return f"CP-CONSOLE-{n:02d}"


def write_configs(workdir: Path) -> dict[str, Path]:
    connector = {"standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
                 "max_voltage": 230, "max_amperage": 32, "max_electric_power": 22000}
    locations = []
    for s in range(SITES):
        evses = []
        for e in range(PER_SITE):
            n = s * PER_SITE + e
            evses.append({"uid": f"E{n:04d}", "charge_point_id": charger_id(n // PER_CHARGER),
                          "capabilities": ["REMOTE_START_STOP_CAPABLE"],
                          "connectors": [{"id": "1", "ocpp_connector_id": n % PER_CHARGER + 1,
                                          **connector}]})
        locations.append({"country_code": "NL", "party_id": "EXA", "id": f"SITE-{s:02d}",
                          "name": f"Site {s}", "address": f"Benchweg {s}", "city": "Utrecht",
                          "country": "NLD", "time_zone": "Europe/Amsterdam",
                          "coordinates": {"latitude": "52.090000", "longitude": "5.120000"},
                          "evses": evses})
    stored = hash_password(PASSWORD, log2_n=10)
    docs = {"locations_file": {"locations": locations},
            "chargers_file": {"chargers": [{"id": charger_id(c), "ocpp_version": "1.6",
                                            "password_hash": stored}
                                           for c in range(CHARGERS)]}}
    paths = {}
    for key, doc in docs.items():
        paths[key] = workdir / f"{key}.yaml"
        paths[key].write_text(yaml.safe_dump(doc), encoding="utf-8")
    paths["operators_file"] = write_operators(workdir / "operators_file.yaml", ("alice",))
    return paths


def serve(workdir: Path, port: int, instance: str, redis_url: str | None) -> None:
    """The server side: one gateway until stdin closes."""
    from tests.peers.gateway import gateway_settings, start_gateway

    quiet_logs()

    async def run() -> None:
        settings = gateway_settings(workdir, port=port, instance_id=instance,
                                    **write_configs_paths(workdir),
                                    **({"redis_url": redis_url} if redis_url else {}))
        gateway = await start_gateway(settings)
        print("READY", flush=True)
        await asyncio.to_thread(sys.stdin.read)
        await gateway.stop()
    asyncio.run(run())


def write_configs_paths(workdir: Path) -> dict[str, Path]:
    return {key: workdir / f"{key}.yaml"
            for key in ("locations_file", "chargers_file", "operators_file")}


def start_server(workdir: Path, port: int, instance: str,
                 redis_url: str | None) -> subprocess.Popen[bytes]:
    args = [sys.executable, __file__, "--serve", str(workdir), str(port), instance]
    if redis_url:
        args.append(redis_url)
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == b"READY":
            return proc
        if not line and proc.poll() is not None:
            raise RuntimeError("gateway process died")
    raise RuntimeError("gateway process not ready")


class Charger:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.n = 0

    async def call(self, action: str, payload: dict[str, Any]) -> float:
        """Send a CALL, wait for its answer; the moment it was sent (ms, wall clock)."""
        self.n += 1
        frame = orjson.dumps([2, str(self.n), action, payload]).decode()
        sent = time.time() * 1000
        await self.ws.send_str(frame)
        while True:
            answer = orjson.loads((await self.ws.receive()).data)
            if answer[0] == 2:  # a CALL from the gateway: accept it
                await self.ws.send_str(orjson.dumps([3, answer[1], {"status": "Accepted"}])
                                       .decode())
            elif answer[1] == str(self.n):
                return sent


def status(connector: int, value: str) -> dict[str, Any]:
    return {"connectorId": connector, "errorCode": "NoError", "status": value,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}


async def measure(page_url: str, charger_url: str, changes: int) -> list[float]:
    from playwright.async_api import async_playwright

    http = aiohttp.ClientSession()
    chargers = []
    for c in range(CHARGERS):
        ws = await http.ws_connect(f"{charger_url}/ocpp/{charger_id(c)}",
                                   protocols=("ocpp1.6",), headers=auth_header(charger_id(c)),
                                   heartbeat=None)
        charger = Charger(ws)
        await charger.call("BootNotification", {"chargePointModel": "Bench",
                                                "chargePointVendor": "Bench"})
        chargers.append(charger)
    samples: list[float] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        await page.goto(page_url + "/console")
        await page.locator("#login input[name=name]").fill("alice")
        await page.locator("#login input[name=password]").fill(PASSWORDS["alice"])
        await page.locator("#login button[type=submit]").click()
        await page.locator("#view[data-view=sites][data-loaded]").wait_for()
        await page.locator("#live.on").wait_for()
        tiles = await page.locator(".evse").count()
        assert tiles == SITES * PER_SITE, tiles
        await page.evaluate(OBSERVER)
        current: dict[int, str] = {}
        for i in range(changes):
            n = (i * 37) % (SITES * PER_SITE)  # spread over sites and chargers
            value = "Charging" if current.get(n) == "Available" else "Available"
            current[n] = value
            key = f"SITE-{n // PER_SITE:02d}/E{n:04d}/{value.upper()}"
            sent = await chargers[n // PER_CHARGER].call(
                "StatusNotification", status(n % PER_CHARGER + 1, value))
            seen = await page.wait_for_function(
                "key => window.__seen[key]", arg=key, polling=5)
            samples.append(float(await seen.json_value()) - sent)
            await page.evaluate("key => { delete window.__seen[key]; }", key)
        await page.screenshot(path=str(ROOT / "build" / "console_live.png"))
        await browser.close()
    for charger in chargers:
        await charger.ws.close()
    await http.close()
    return samples


async def main(changes: int, use_redis: bool) -> None:
    quiet_logs()
    (ROOT / "build").mkdir(exist_ok=True)
    redis: contextlib.AbstractContextManager[str | None] = \
        redis_server(None) if use_redis else contextlib.nullcontext()
    with tempfile.TemporaryDirectory() as tmp, redis as redis_url:
        workdir = Path(tmp)
        write_configs(workdir)
        first_port = free_port()
        servers = [start_server(workdir, first_port, "gw-a", redis_url)]
        page_port = first_port
        if use_redis:
            page_port = free_port()
            servers.append(start_server(workdir, page_port, "gw-b", redis_url))
        try:
            samples = await measure(f"http://127.0.0.1:{page_port}",
                                    f"ws://127.0.0.1:{first_port}", changes)
        finally:
            for proc in servers:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(60)
    load = os.getloadavg()
    where = "charger on one instance, page on another (Redis stream)" if use_redis \
        else "one instance, in-process feed"
    print(f"console live status, {SITES * PER_SITE} EVSEs on screen, {where}: "
          f"{len(samples)} changes")
    print(f"  StatusNotification -> tile changed: min {min(samples):6.1f} ms  "
          f"median {percentile(samples, 50):6.1f} ms  p99 {percentile(samples, 99):6.1f} ms"
          f"  (goal: p99 <= 100 ms)")
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"({os.cpu_count()} cores)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
              sys.argv[5] if len(sys.argv) > 5 else None)
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--redis", action="store_true",
                        help="two instances on a private redis-server")
    args = parser.parse_args()
    asyncio.run(main(args.changes, args.redis))
