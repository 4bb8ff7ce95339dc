"""What the console's page lets through: a partner's name (chosen by whoever registered it)
is shown as text, never run; the page allows only the gateway's own scripts; its static
route serves its own files and nothing else."""

from __future__ import annotations

import aiohttp
import pytest

from ocpi_gateway.partners.grants import Grants
from tests.admin.support import PASSWORDS
from tests.console.browser import chromium, log_in, new_page, open_view
from tests.peers.gateway import RunningGateway

pytestmark = pytest.mark.timeout(120)
HOSTILE = '<img src=x onerror="window.__pwned = 1">'


async def test_a_hostile_partner_name_is_shown_as_text(gateway: RunningGateway) -> None:
    await gateway.partners.invite(HOSTILE, Grants(any_role=True))
    async with chromium() as browser:
        page = await new_page(browser)
        await log_in(page, gateway.url, "alice", PASSWORDS["alice"])
        await open_view(page, "partners")
        cell = page.locator("tr[data-partner] td").first
        assert await cell.text_content() == HOSTILE
        assert await page.locator("#view img").count() == 0
        assert await page.evaluate("() => window.__pwned") is None


async def test_the_page_and_its_files(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(gateway.url + "/console") as answer:
            assert answer.status == 200 and answer.content_type == "text/html"
            policy = answer.headers["Content-Security-Policy"]
            assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
            assert "unsafe-inline" not in policy.split("style-src")[0]
            assert "<script type=\"module\" src=\"/console/static/app.js\">" in await answer.text()
        async with http.get(gateway.url + "/console/static/app.js") as answer:
            assert answer.status == 200 and answer.content_type == "text/javascript"
        for path in ("/console/static/pages.py", "/console/static/..%2Fpages.py",
                     "/console/static/%2e%2e/events.py", "/console/static/nothing.js"):
            async with http.get(gateway.url + path) as answer:
                assert answer.status == 404, path
