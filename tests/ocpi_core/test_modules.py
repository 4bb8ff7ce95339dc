"""The module registry: one module description served under several OCPI versions."""

from __future__ import annotations

import pytest
from aiohttp import web

from ocpi_gateway.modules import InterfaceRole, ModuleRegistry, OcpiModule
from ocpi_gateway.versions import version_details, version_list

mounted: list[tuple[str, str]] = []


def _routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
    mounted.append((prefix, version))

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=version)

    router.add_get(prefix, handler)


def test_one_module_mounted_for_two_versions() -> None:
    mounted.clear()
    registry = ModuleRegistry(versions=("2.2.1", "2.3.0"))
    registry.add(OcpiModule("locations", InterfaceRole.SENDER, _routes,
                            versions=("2.2.1", "2.3.0")))
    registry.add(OcpiModule("tokens", InterfaceRole.RECEIVER, _routes, versions=("2.2.1",)))
    app = web.Application()
    registry.mount(app.router)
    assert mounted == [("/ocpi/2.2.1/locations", "2.2.1"), ("/ocpi/2.2.1/tokens", "2.2.1"),
                       ("/ocpi/2.3.0/locations", "2.3.0")]
    assert version_list(registry, "https://gw") == [
        {"version": "2.2.1", "url": "https://gw/ocpi/2.2.1"},
        {"version": "2.3.0", "url": "https://gw/ocpi/2.3.0"}]
    assert version_details(registry, "https://gw/", "2.3.0") == {"version": "2.3.0", "endpoints": [
        {"identifier": "locations", "role": "SENDER", "url": "https://gw/ocpi/2.3.0/locations"}]}


def test_clashing_paths_and_late_additions_are_refused() -> None:
    registry = ModuleRegistry()
    registry.add(OcpiModule("tokens", InterfaceRole.RECEIVER, _routes))
    with pytest.raises(ValueError, match="two modules"):
        registry.add(OcpiModule("tokens", InterfaceRole.SENDER, _routes))
    registry.add(OcpiModule("tokens", InterfaceRole.SENDER, _routes, path="emsp/tokens"))
    registry.mount(web.Application().router)
    with pytest.raises(RuntimeError):
        registry.add(OcpiModule("cdrs", InterfaceRole.SENDER, _routes))

