"""ocpi_gateway.metrics: the series, the recording functions, the middleware and /metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ocpi_gateway import metrics
from ocpi_gateway.domain.charger_commands import ChargerCommand, CommandOutcome, ReserveNow
from ocpi_gateway.domain.events import ChargerConnected, ChargerDisconnected, EventBus
from ocpi_gateway.domain.ids import OcppVersion
from ocpi_gateway.transport.envelope import OcpiError, ocpi_response
from ocpi_gateway.transport.status_codes import OcpiStatus

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]

NAMED_SERIES = {
    "ocpi_requests": "counter",
    "ocpi_request_duration_seconds": "histogram",
    "ocpi_commands": "counter",
    "ocpi_reservations": "counter",
    "ocpp_connections": "gauge",
    "ocpp_connections_opened": "counter",
    "ocpp_messages": "counter",
    "ocpp_command_roundtrip_seconds": "histogram",
    "ocpi_deliveries_pending": "gauge",
    "ocpi_delivery_retries": "counter",
    "ocpi_deliveries_failed": "counter",
    "ocpi_deliveries_succeeded": "counter",
}


def value(name: str, **labels: str) -> float:
    sample = metrics.REGISTRY.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


@pytest.mark.parametrize(("path", "module"), [
    ("/ocpi/versions", "versions"),
    ("/ocpi/2.2.1", "version_details"),
    ("/ocpi/2.2.1/", "version_details"),
    ("/ocpi/2.2.1/credentials", "credentials"),
    ("/ocpi/2.2.1/locations/NL-AMS/EVSE-1", "locations"),
    ("/ocpi/cpo/2.2.1/commands/RESERVE_NOW", "commands"),
    ("/ocpi/2.2.1/tokens/NL/EXA/012345678", "tokens"),
    ("/ocpi/2.2.1/wp-admin", "other"),
    ("/ocpp/CP-1", None),
    ("/metrics", None),
    ("/ocpifoo", None),
])
def test_module_is_derived_from_the_path(path: str, module: str | None) -> None:
    assert metrics.ocpi_module_of(path) == module


@pytest.mark.parametrize(("body", "status"), [
    (b'{"status_code":2001,"timestamp":"2026-11-23T20:00:00.000Z"}', 2001),
    (b'{"timestamp":"2026-11-23T20:00:00.000Z","status_code":3000,"data":[]}', 3000),
    (b'{"data":[1,2,3]}', None),
    (b'[1,2,3]', None),
    (b'not json', None),
])
def test_status_code_is_read_from_any_envelope(body: bytes, status: int | None) -> None:
    response = web.Response(body=body, content_type="application/json")
    assert metrics.ocpi_status_of(response) == status


def test_unknown_http_methods_share_one_label() -> None:
    before = value("ocpi_requests_total", module="locations", method="other",
                   status_code="2000", http_status="405")
    metrics.observe_ocpi_request("locations", "BREW", 2000, 405, 0.001)
    metrics.observe_ocpi_request("locations", "PROPFIND", 2000, 405, 0.001)
    assert value("ocpi_requests_total", module="locations", method="other",
                 status_code="2000", http_status="405") == before + 2


def _ocpi_app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return ocpi_response([{"version": "2.2.1"}])

    async def unknown_location(request: web.Request) -> web.Response:
        raise OcpiError(OcpiStatus.UNKNOWN_LOCATION, "no such location", http_status=404)

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("bug")

    # Stands in for the transport middleware: turns OcpiError into its envelope.
    @web.middleware
    async def envelope(request: web.Request, handler: metrics.Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except OcpiError as exc:
            return exc.to_response()

    app = web.Application(middlewares=[envelope])
    app.router.add_get("/ocpi/versions", ok)
    app.router.add_get("/ocpi/2.2.1/locations/{id}", unknown_location)
    app.router.add_post("/ocpi/2.2.1/commands/RESERVE_NOW", crash)
    app.router.add_get("/health", ok)
    metrics.install(app)
    return app


async def test_ocpi_requests_are_counted_by_module_status_and_timed(
    aiohttp_client: ClientFactory,
) -> None:
    client = await aiohttp_client(_ocpi_app())
    ok = {"module": "versions", "method": "GET", "status_code": "1000", "http_status": "200"}
    unknown = {"module": "locations", "method": "GET", "status_code": "2003", "http_status": "404"}
    crashed = {"module": "commands", "method": "POST", "status_code": "none", "http_status": "500"}
    not_found = {"module": "other", "method": "GET", "status_code": "none", "http_status": "404"}
    before = {key: value("ocpi_requests_total", **labels) for key, labels in
              {"ok": ok, "unknown": unknown, "crashed": crashed, "not_found": not_found}.items()}
    timed_before = value("ocpi_request_duration_seconds_count", module="versions", method="GET")

    for _ in range(2):
        assert (await client.get("/ocpi/versions")).status == 200
    assert (await client.get("/ocpi/2.2.1/locations/NOPE")).status == 404
    assert (await client.post("/ocpi/2.2.1/commands/RESERVE_NOW")).status == 500
    assert (await client.get("/ocpi/2.2.1/nothing-here")).status == 404
    assert (await client.get("/health")).status == 200

    assert value("ocpi_requests_total", **ok) == before["ok"] + 2
    assert value("ocpi_requests_total", **unknown) == before["unknown"] + 1
    assert value("ocpi_requests_total", **crashed) == before["crashed"] + 1
    assert value("ocpi_requests_total", **not_found) == before["not_found"] + 1
    assert value("ocpi_request_duration_seconds_count", module="versions", method="GET") == (
        timed_before + 2)


async def test_metrics_endpoint_exposes_every_named_series(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(_ocpi_app())
    await client.get("/ocpi/versions")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    exposed = families(await response.text())
    for name, kind in NAMED_SERIES.items():
        assert name in exposed, f"{name} missing from /metrics"
        assert exposed[name].type == kind
    outcomes = {s.labels["outcome"] for s in exposed["ocpi_reservations"].samples
                if s.name == "ocpi_reservations_total"}
    assert outcomes == {"accepted", "used", "expired", "cancelled", "rerouted", "no_alternative",
                        "refused"}
    assert "/metrics" not in str(exposed["ocpi_requests"].samples)


def test_recording_functions_move_their_series() -> None:
    before = value("ocpi_reservations_total", outcome="rerouted")
    metrics.reservation_transition(metrics.ReservationOutcome.REROUTED)
    assert value("ocpi_reservations_total", outcome="rerouted") == before + 1

    before = value("ocpi_commands_total", command="RESERVE_NOW", result="EVSE_OCCUPIED")
    metrics.command_finished("RESERVE_NOW", "EVSE_OCCUPIED")
    assert value("ocpi_commands_total", command="RESERVE_NOW", result="EVSE_OCCUPIED") == (
        before + 1)

    before = value("ocpp_messages_total", version="2.0.1", action="ReserveNow", direction="out")
    metrics.ocpp_message(OcppVersion.V201, "ReserveNow", metrics.Direction.OUT)
    assert value("ocpp_messages_total", version="2.0.1", action="ReserveNow",
                 direction="out") == before + 1

    before_retry = value("ocpi_delivery_retries_total")
    before_fail = value("ocpi_deliveries_failed_total", reason="expired")
    before_ok = value("ocpi_deliveries_succeeded_total")
    metrics.delivery_retried()
    metrics.delivery_failed(metrics.DeliveryGiveUp.EXPIRED)
    metrics.delivery_succeeded()
    assert value("ocpi_delivery_retries_total") == before_retry + 1
    assert value("ocpi_deliveries_failed_total", reason="expired") == before_fail + 1
    assert value("ocpi_deliveries_succeeded_total") == before_ok + 1


def test_pending_deliveries_are_read_at_scrape_time() -> None:
    outbox = [1, 2, 3]
    metrics.watch_deliveries_pending(lambda: len(outbox))
    assert value("ocpi_deliveries_pending") == 3
    outbox.clear()
    assert value("ocpi_deliveries_pending") == 0


async def test_reservation_listener_counts_the_transitions_it_is_told_about() -> None:
    from types import SimpleNamespace

    expected = {"USED": "used", "EXPIRED": "expired", "CANCELLED": "cancelled",
                "REROUTED": "rerouted", "REMOVED": "no_alternative"}
    for state, outcome in expected.items():
        before = value("ocpi_reservations_total", outcome=outcome)
        await metrics.reservation_listener(SimpleNamespace(state=state), "ACTIVE")
        assert value("ocpi_reservations_total", outcome=outcome) == before + 1
    # PENDING -> ACTIVE is counted by the Commands module from the reserve result, not here.
    totals = {o: value("ocpi_reservations_total", outcome=o) for o in expected.values()}
    await metrics.reservation_listener(SimpleNamespace(state="ACTIVE"), "PENDING")
    assert {o: value("ocpi_reservations_total", outcome=o) for o in expected.values()} == totals


def test_an_action_no_ocpp_version_defines_is_counted_as_other() -> None:
    before = value("ocpp_messages_total", version="1.6", action="other", direction="in")
    metrics.ocpp_message(OcppVersion.V16, "DropTables;--", metrics.Direction.IN)
    assert value("ocpp_messages_total", version="1.6", action="other", direction="in") == (
        before + 1)
    assert metrics.REGISTRY.get_sample_value(
        "ocpp_messages_total", {"version": "1.6", "action": "DropTables;--", "direction": "in"}
    ) is None


def test_labels_outside_the_closed_sets_are_refused() -> None:
    with pytest.raises(ValueError):
        metrics.reservation_transition("maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        metrics.ocpp_message("1.5", "Heartbeat", "in")


async def test_connections_opened_are_counted_from_connect_events() -> None:
    bus = EventBus()
    bus.subscribe(metrics.connection_listener)
    opened = value("ocpp_connections_opened_total", version="1.6")
    await bus.publish(ChargerConnected(charge_point_id="CP-M1", ocpp_version=OcppVersion.V16))
    await bus.publish(ChargerConnected(charge_point_id="CP-M1", ocpp_version=OcppVersion.V16))
    await bus.publish(ChargerDisconnected(charge_point_id="CP-M1"))
    assert value("ocpp_connections_opened_total", version="1.6") == opened + 2


def test_connection_gauge_is_read_from_the_live_sessions() -> None:
    sessions = [OcppVersion.V16, OcppVersion.V201, OcppVersion.V16]
    metrics.watch_ocpp_connections(lambda: iter(sessions))
    assert value("ocpp_connections", version="1.6") == 2
    assert value("ocpp_connections", version="2.0.1") == 1
    sessions.pop()
    assert value("ocpp_connections", version="1.6") == 1


class _AnsweringCharger:
    """A ChargerCommands whose charger answers every command with ``outcome``."""

    def __init__(self, outcome: CommandOutcome) -> None:
        self.outcome = outcome
        self.seen: list[ChargerCommand] = []

    async def execute(self, command: ChargerCommand, timeout: float) -> CommandOutcome:  # noqa: ASYNC109
        self.seen.append(command)
        return self.outcome

    async def is_online(self, charge_point_id: str) -> bool:
        return True


async def test_timed_charger_commands_records_the_round_trip_and_passes_through() -> None:
    from datetime import UTC, datetime

    inner = _AnsweringCharger(CommandOutcome.OCCUPIED)
    timed = metrics.TimedChargerCommands(inner)
    command = ReserveNow(charge_point_id="CP-T1", reservation_id=7, id_token="TOKEN",
                         expiry=datetime(2030, 1, 1, tzinfo=UTC))
    before = value("ocpp_command_roundtrip_seconds_count", command="ReserveNow",
                   outcome="occupied")
    assert await timed.execute(command, 1.0) is CommandOutcome.OCCUPIED
    assert inner.seen == [command]
    assert await timed.is_online("CP-T1") is True
    assert value("ocpp_command_roundtrip_seconds_count", command="ReserveNow",
                 outcome="occupied") == before + 1
