"""The in-process event bus: a failing subscriber is logged (which event, which charger) and
neither the other subscribers nor the publisher see its failure."""

from __future__ import annotations

from structlog.testing import capture_logs

from ocpi_gateway.domain.events import ChargerDisconnected, DomainEvent, EventBus


async def test_a_failing_subscriber_stops_neither_the_others_nor_the_publisher() -> None:
    bus = EventBus()
    seen: list[DomainEvent] = []

    async def failing(event: DomainEvent) -> None:
        raise RuntimeError("subscriber bug")

    async def recording(event: DomainEvent) -> None:
        seen.append(event)

    bus.subscribe(failing)
    bus.subscribe(recording)
    event = ChargerDisconnected(charge_point_id="CP-1")
    with capture_logs() as logs:
        await bus.publish(event)
    assert seen == [event]
    failed = [e for e in logs if e["event"] == "event_handler_failed"]
    assert len(failed) == 1
    assert (failed[0]["event_type"], failed[0]["charge_point_id"]) == (
        "ChargerDisconnected", "CP-1")
