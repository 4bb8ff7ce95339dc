"""OCPI functional modules and the registry Versions reads.

A module is described once (identifier, interface role, a function adding its routes under a
prefix) and mounted for every OCPI version it supports, so 2.3.0 can be served beside 2.2.1
without copying a module: only the prefix (and the ``version`` argument) differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

SUPPORTED_VERSIONS: tuple[str, ...] = ("2.2.1", "2.3.0")
"""OCPI versions this gateway serves, oldest first; each has its package under
``ocpi_gateway/ocpi/`` (typed objects and their mapping to the internal model)."""


class InterfaceRole(StrEnum):
    SENDER = "SENDER"
    RECEIVER = "RECEIVER"


AddRoutes = Callable[[web.UrlDispatcher, str, str], None]
"""``add_routes(router, prefix, version)``: add the module's routes under ``prefix`` (e.g.
``/ocpi/2.2.1/locations``, no trailing slash); ``version`` is the OCPI version being mounted."""


@dataclass(frozen=True, slots=True)
class OcpiModule:
    identifier: str
    """The ModuleID listed in version details, e.g. ``locations``."""
    role: InterfaceRole
    add_routes: AddRoutes
    versions: tuple[str, ...] = SUPPORTED_VERSIONS
    path: str | None = None
    """Path segment under ``/ocpi/<version>/``; the identifier when None. Set it when one
    identifier is mounted in two roles (e.g. ``cpo/tokens``)."""


class ModuleRegistry:
    def __init__(self, versions: Iterable[str] = SUPPORTED_VERSIONS) -> None:
        self._versions = tuple(versions)
        self._modules: list[OcpiModule] = []
        self._mounted = False

    @property
    def versions(self) -> tuple[str, ...]:
        return self._versions

    def add(self, module: OcpiModule) -> None:
        if self._mounted:
            raise RuntimeError(f"module {module.identifier} added after the routes were mounted")
        for existing in self._modules:
            if self.segment(existing) == self.segment(module) and set(existing.versions) & set(
                module.versions
            ):
                raise ValueError(f"two modules mounted at /{self.segment(module)}")
        self._modules.append(module)

    @staticmethod
    def segment(module: OcpiModule) -> str:
        return module.path or module.identifier

    def prefix(self, version: str, module: OcpiModule) -> str:
        return f"/ocpi/{version}/{self.segment(module)}"

    def modules(self, version: str) -> list[OcpiModule]:
        """The modules mounted for ``version``, in the order they were added."""
        return [m for m in self._modules if version in m.versions and version in self._versions]

    def mount(self, router: web.UrlDispatcher) -> None:
        """Add every module's routes; create_app calls this once, after all extensions ran."""
        for version in self._versions:
            for module in self.modules(version):
                module.add_routes(router, self.prefix(version, module), version)
        self._mounted = True
