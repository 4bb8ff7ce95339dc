"""Versions module: the version list and, per version, exactly the mounted modules."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.modules import ModuleRegistry
from ocpi_gateway.transport.envelope import OcpiError, ocpi_response
from ocpi_gateway.transport.status_codes import OcpiStatus

VERSIONS_PATH = "/ocpi/versions"


def versions_url(public_url: str) -> str:
    return public_url.rstrip("/") + VERSIONS_PATH


def details_url(public_url: str, version: str) -> str:
    return f"{public_url.rstrip('/')}/ocpi/{version}"


def version_list(registry: ModuleRegistry, public_url: str) -> list[dict[str, str]]:
    return [{"version": v, "url": details_url(public_url, v)} for v in registry.versions]


def version_details(registry: ModuleRegistry, public_url: str, version: str) -> dict[str, Any]:
    base = public_url.rstrip("/")
    return {
        "version": version,
        "endpoints": [
            {"identifier": m.identifier, "role": m.role.value,
             "url": base + registry.prefix(version, m)}
            for m in registry.modules(version)
        ],
    }


async def get_versions(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    return ocpi_response(version_list(request.app[keys.MODULES], settings.public_url))


async def get_version_details(request: web.Request) -> web.Response:
    registry = request.app[keys.MODULES]
    version = request.match_info["version"]
    if version not in registry.versions:
        raise OcpiError(OcpiStatus.UNSUPPORTED_VERSION, f"version {version} is not supported",
                        http_status=404)
    return ocpi_response(version_details(registry, request.app[keys.SETTINGS].public_url,
                                         version))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(VERSIONS_PATH, get_versions, allow_head=False)
    router.add_get("/ocpi/{version:\\d+\\.\\d+(?:\\.\\d+)?}", get_version_details,
                   allow_head=False)
