"""Headless Chromium (Debian's, never a downloaded build) driven by Playwright for the
console's tests, and the screenshots they leave for review in ``build/screenshots/``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
TIMEOUT_MS = 30_000
"""Only a guard against a hang: every wait is for a condition, never for a time."""


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


async def log_in(page: Page, base_url: str, name: str, password: str) -> None:
    await page.goto(base_url + "/console")
    await page.locator("#login input[name=name]").fill(name)
    await page.locator("#login input[name=password]").fill(password)
    await page.locator("#login button[type=submit]").click()
    await page.locator("#who").filter(has_text=name).wait_for()
    await page.locator("#live.on").wait_for()


async def open_view(page: Page, name: str) -> None:
    """Go to a view and wait until it has loaded its data."""
    await page.evaluate("name => { window.location.hash = name; }", name)
    await page.locator(f"#view[data-view={name}][data-loaded]").wait_for()


async def screenshot(page: Page, test: str, name: str) -> Path:
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
