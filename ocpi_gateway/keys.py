"""Typed keys of the services kept on the aiohttp application.

Available from create_app: SETTINGS, MODULES, EVENT_BUS, READINESS_CHECKS, CLOCK, LOOPS.
Available once the core startup step ran (in your own on_startup / cleanup_ctx, which run after
it, and in handlers): STORE, PARTNERS, OCPI_CLIENT.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.domain.events import EventBus
from ocpi_gateway.domain.loops import LoopRegistry
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.modules import ModuleRegistry
from ocpi_gateway.partners.client import OcpiClient
from ocpi_gateway.partners.registry import PartnerRegistry

ReadinessCheck = Callable[[], Awaitable[bool]]

SETTINGS: web.AppKey[GatewaySettings] = web.AppKey("settings", GatewaySettings)
MODULES: web.AppKey[ModuleRegistry] = web.AppKey("ocpi_modules", ModuleRegistry)
EVENT_BUS: web.AppKey[EventBus] = web.AppKey("event_bus", EventBus)
READINESS_CHECKS: web.AppKey[dict[str, ReadinessCheck]] = web.AppKey("readiness_checks")
"""name → check; /ready answers 503 naming every check that returns False or raises."""
LOOPS: web.AppKey[LoopRegistry] = web.AppKey("loops", LoopRegistry)
"""The background loops (``domain.loops``): pass it to every ``BackgroundLoop``; /ready
answers 503 naming ``loop:<name>`` for a loop that stopped by itself or is overdue."""
STORE: web.AppKey[DocumentStore] = web.AppKey("store")
PARTNERS: web.AppKey[PartnerRegistry] = web.AppKey("partners", PartnerRegistry)
OCPI_CLIENT: web.AppKey[OcpiClient] = web.AppKey("ocpi_client", OcpiClient)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
"""The wall clock (an aware UTC datetime) of what the gateway decides by time: reservation
expiry, sessions, CDRs. Tests pass their own to ``create_app(clock=...)``."""
