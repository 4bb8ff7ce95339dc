"""Gateway extension: the policy engine over live availability, the reservation service and its
expiry clock, fed by the chargers' events.

Leaves ``app[RESERVATIONS]`` (a ``ReservationService``, from startup on), ``app[ENFORCEMENT]``
(no-shows and bans, from startup on) and ``app[POLICY]``, all on ``app[keys.CLOCK]``.
Needs the OCPP and Locations extensions listed before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from aiohttp import web

from ocpi_gateway import keys, metrics
from ocpi_gateway.config import ConfigError, GatewaySettings
from ocpi_gateway.domain.events import (
    AvailabilityChanged,
    ConnectorStatusChanged,
    DomainEvent,
)
from ocpi_gateway.locations.extension import AVAILABILITY, AVAILABILITY_RECOVERY, LOCATIONS
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig
from ocpi_gateway.ocpp_adapter.display import ReservedDisplay
from ocpi_gateway.ocpp_wiring import CHARGER_COMMANDS, CHARGERS
from ocpi_gateway.reservation_policy import hold_restore
from ocpi_gateway.reservation_policy.capacity.base import Promise
from ocpi_gateway.reservation_policy.capacity.gate import ReservationCapacity, stored_reservations
from ocpi_gateway.reservation_policy.capacity.recovery import CapacityRecovery
from ocpi_gateway.reservation_policy.capacity.redis import open_capacity
from ocpi_gateway.reservation_policy.capacity.retention import CapacityPruner
from ocpi_gateway.reservation_policy.enforcement.service import Enforcement
from ocpi_gateway.reservation_policy.engine import PolicyEngine
from ocpi_gateway.reservation_policy.expiry import ExpiryClock
from ocpi_gateway.reservation_policy.lifecycle import ReservationService
from ocpi_gateway.reservation_policy.models import EvseCandidate
from ocpi_gateway.reservation_policy.policy import PolicyError, PolicySource
from ocpi_gateway.reservation_policy.records import (
    Reservation,
    ReservationRepository,
    ReservationState,
)
from ocpi_gateway.reservations.candidates import CatalogCandidates, WholeChargerCapable
from ocpi_gateway.reservations.display import ReservationDisplay

RESERVATIONS: web.AppKey[ReservationService] = web.AppKey("reservations", ReservationService)
POLICY: web.AppKey[PolicySource] = web.AppKey("policy", PolicySource)
POLICY_ENGINE: web.AppKey[PolicyEngine] = web.AppKey("policy_engine", PolicyEngine)
CAPACITY: web.AppKey[ReservationCapacity] = web.AppKey("capacity", ReservationCapacity)
CAPACITY_RECOVERY: web.AppKey[CapacityRecovery] = web.AppKey("capacity_recovery",
                                                             CapacityRecovery)
"""Only with Redis: the timeline's rebuild after Redis lost its data."""
RESERVED_DISPLAY: web.AppKey[ReservedDisplay] = web.AppKey("reserved_display", ReservedDisplay)
"""Only where some charger shows "Reserved until" (chargers.yaml ``display.reserved``)."""
ENFORCEMENT: web.AppKey[Enforcement] = web.AppKey("enforcement", Enforcement)


def whole_charger_capable(chargers: ChargersConfig) -> WholeChargerCapable:
    def capable(charge_point_id: str) -> bool:
        capabilities = chargers.capabilities(charge_point_id)
        return bool(capabilities and capabilities.reserve_whole_charger)
    return capable


def install(app: web.Application, settings: GatewaySettings) -> None:
    try:
        policy = PolicySource(settings.policy_file)
    except PolicyError as exc:
        raise ConfigError(str(exc)) from exc
    app[POLICY] = policy
    # Only sites where some partner may book use it (nothing else pays for it).
    timeline = open_capacity(settings.redis, clock=app[keys.CLOCK])
    capacity = ReservationCapacity(timeline, policy, clock=app[keys.CLOCK])

    async def stored_reservation_promises(location_id: str, now: datetime) -> list[Promise]:
        # Looked up at call time: a rebuild may run before this extension's startup step.
        read = stored_reservations(ReservationRepository(app[keys.STORE]), policy)
        return await read(location_id, now)

    capacity.add_stored_promises(stored_reservation_promises)
    app[CAPACITY] = capacity
    engine = PolicyEngine(policy, app[AVAILABILITY], clock=app[keys.CLOCK], capacity=capacity)
    app[POLICY_ENGINE] = engine
    site_candidates = CatalogCandidates(
        lambda: app[LOCATIONS].catalog, whole_charger_capable(app[CHARGERS]),
        marks=lambda: app[LOCATIONS].publisher.chargers.marks,
        capabilities=lambda: app[LOCATIONS].publisher.capabilities)

    async def sites() -> list[tuple[str, Sequence[EvseCandidate]]]:
        return [(loc.id, await site_candidates.candidates(loc.id))
                for loc in app[LOCATIONS].catalog.locations()]

    async def on_event(event: DomainEvent) -> None:
        if isinstance(event, ConnectorStatusChanged | AvailabilityChanged):
            # The Locations extension, subscribed earlier, has written the new status to the
            # availability store by now.
            for location_id, _ in app[LOCATIONS].catalog.evses_of_charger(event.charge_point_id):
                engine.forget_snapshot(location_id)
        service = app.get(RESERVATIONS)
        if service is not None:
            await service.handle_event(event)

    app[keys.EVENT_BUS].subscribe(on_event)

    recovery = app.get(AVAILABILITY_RECOVERY)
    if recovery is not None:
        store = recovery.store

        async def restore_holds() -> None:
            await hold_restore.restore_holds(store, ReservationRepository(app[keys.STORE]),
                                             engine.holds_taken, app[keys.CLOCK]())

        recovery.add_hold_restorer(restore_holds)
        # The timeline lived in the same Redis: rebuilt while the gate is closed.
        capacity_recovery = app[CAPACITY_RECOVERY] = CapacityRecovery(
            capacity, sites, loops=app[keys.LOOPS])
        recovery.add_hold_restorer(capacity_recovery.rebuild_all)

        async def capacity_ready() -> bool:
            return capacity_recovery.rebuilt

        app[keys.READINESS_CHECKS]["capacity"] = capacity_ready

    async def reservations_ctx(app: web.Application) -> AsyncIterator[None]:
        service = ReservationService(
            engine=engine, store=app[keys.STORE], commands=app[CHARGER_COMMANDS],
            candidates=site_candidates, charger_timeout=settings.command_timeouts.charger_seconds,
            reroute_timeout=settings.command_timeouts.charger_seconds * 2,
            clock=app[keys.CLOCK], loops=app[keys.LOOPS])
        service.add_listener(metrics.reservation_listener)
        enforcement = Enforcement(app[keys.STORE], policy, clock=app[keys.CLOCK],
                                  observer=metrics.EnforcementMetrics())
        engine.admission = enforcement
        service.add_listener(enforcement.on_reservation)
        app[ENFORCEMENT] = enforcement

        async def republish(reservation: Reservation, previous: ReservationState) -> None:
            if reservation.evse_uid is not None:
                app[LOCATIONS].publisher.hold_changed(reservation.location_id,
                                                      reservation.evse_uid)

        service.add_listener(republish)
        display: ReservedDisplay | None = None
        if any(c.display.reserved for c in app[CHARGERS].chargers):
            display = ReservedDisplay(lambda: app[CHARGERS], app[CHARGER_COMMANDS],
                                      app[keys.STORE],
                                      timeout=settings.command_timeouts.charger_seconds)
            app[RESERVED_DISPLAY] = display
            service.add_listener(ReservationDisplay(display, lambda: app[LOCATIONS].catalog))
        app[RESERVATIONS] = service
        clock = ExpiryClock(service, loops=app[keys.LOOPS])
        clock.start()
        capacity_recovery = app.get(CAPACITY_RECOVERY)
        if capacity_recovery is not None:
            capacity_recovery.start()
        pruner = CapacityPruner(timeline,
                                lambda: [loc.id for loc in app[LOCATIONS].catalog.locations()],
                                clock=app[keys.CLOCK], loops=app[keys.LOOPS])
        pruner.start()
        service.recovery.start()
        yield
        await service.recovery.stop()
        await pruner.stop()
        if capacity_recovery is not None:
            await capacity_recovery.stop()
        await clock.stop()
        if display is not None:
            await display.aclose()
        await service.aclose()
        await timeline.close()

    app.cleanup_ctx.append(reservations_ctx)
