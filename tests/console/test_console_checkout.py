"""``./run.sh`` serves the console with no extra step: ``ocpi-gateway serve`` as a real
process on the checkout's own config folder (copied, so that its store lands in the test's
folder; only the port changed, by variable) prints the console's URL, and headless Chromium
loading it runs every script the page imports (the login form is shown by them) with nothing
fetched from anywhere but the gateway."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.console.browser import chromium, new_page, screenshot

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT_CONFIG = ROOT / "config"
SHIPPED = frozenset(p.name for p in (ROOT / "ocpi_gateway" / "console" / "static").glob("*.js"))
pytestmark = pytest.mark.timeout(180)


async def _line_with(stream: asyncio.StreamReader, text: str) -> str:
    while True:
        raw = await asyncio.wait_for(stream.readline(), 120)
        assert raw, f"serve ended before printing {text!r}"
        if text in raw.decode():
            return raw.decode()


async def test_serve_on_the_checkout_config_serves_the_console(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    config = tmp_path / "config"
    shutil.copytree(CHECKOUT_CONFIG, config)
    (tmp_path / "var").mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCPI_GATEWAY_")}
    env.update(OCPI_GATEWAY_LISTEN__PORT=str(port),
               OCPI_GATEWAY_PUBLIC_URL=f"http://127.0.0.1:{port}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ocpi_gateway.cli", "--config", str(config / "gateway.yaml"),
        "serve", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await _line_with(proc.stdout, "console:")
        url = line.split()[-1]
        assert url == f"http://127.0.0.1:{port}/console"
        async with chromium() as browser:
            page = await new_page(browser)
            asked: list[str] = []
            failed: list[str] = []
            page.on("request", lambda r: asked.append(r.url))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400
                    and not r.url.endswith("/admin/api/session") else None)
            await page.goto(url)
            # Shown by app.js once the session check answered 401: every module loaded.
            await page.locator("#login:not([hidden])").wait_for()
            assert await page.locator("#nav").is_hidden()
            await screenshot(page, request.node.name, "login")
        scripts = {u.rsplit("/", 1)[-1] for u in asked if u.endswith(".js")}
        assert scripts == SHIPPED  # the page imports every script it ships, each answered
        assert failed == []
        assert all(u.startswith(f"http://127.0.0.1:{port}/") for u in asked), asked
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
