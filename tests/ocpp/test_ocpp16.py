"""OCPP 1.6J chargers (the ocpp package's client) against the gateway over real websockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call
from ocpp_test_support import Behaviour, ChargerFactory, Gateway

from ocpi_gateway.domain.charger_commands import (
    CancelReservation,
    CommandOutcome,
    RemoteStart,
    RemoteStop,
    ReserveNow,
    UnlockConnector,
)
from ocpi_gateway.domain.events import (
    ChargerBooted,
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatus,
    ConnectorStatusChanged,
    MeterValueReported,
    TokenPresented,
    TransactionEnded,
    TransactionStarted,
)
from ocpi_gateway.domain.ids import OcppVersion, ocpp16_id_tag

CP = "CP-AMS-01"
EXPIRY = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


def reserve(**kwargs: object) -> ReserveNow:
    args: dict[str, object] = {"charge_point_id": CP, "reservation_id": 7, "expiry": EXPIRY,
                               "id_token": "04A2B3C4D5E6F7"}
    args.update(kwargs)
    return ReserveNow(**args)  # type: ignore[arg-type]


async def test_boot_sets_heartbeat_interval_and_publishes(gateway: Gateway,
                                                          chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP)
    response = await cp.charger.call(call.BootNotification(
        charge_point_model="Model-X", charge_point_vendor="Acme", firmware_version="1.2"))
    assert response.status == "Accepted"
    assert response.interval == 42
    assert response.current_time.endswith("Z")
    connected = await gateway.events.wait_for(lambda e: isinstance(e, ChargerConnected))
    assert connected.ocpp_version is OcppVersion.V16  # type: ignore[attr-defined]
    booted = await gateway.events.wait_for(lambda e: isinstance(e, ChargerBooted))
    assert (booted.vendor, booted.model, booted.firmware_version) == (  # type: ignore[attr-defined]
        "Acme", "Model-X", "1.2")
    heartbeat = await cp.charger.call(call.Heartbeat())
    assert heartbeat.current_time.endswith("Z")
    assert await gateway.server.commands.is_online(CP)


async def test_status_notifications_become_connector_status_events(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP)
    for status in ("Reserved", "Charging", "Available"):
        await cp.charger.call(call.StatusNotification(
            connector_id=2, error_code="NoError", status=status,
            timestamp="2026-11-23T19:00:00Z"))
    await gateway.events.wait_for(
        lambda e: isinstance(e, ConnectorStatusChanged) and e.status is ConnectorStatus.AVAILABLE)
    changes = gateway.events.of_type(ConnectorStatusChanged)
    assert [(c.evse_id, c.connector_id, c.status) for c in changes] == [
        (None, 2, ConnectorStatus.RESERVED), (None, 2, ConnectorStatus.CHARGING),
        (None, 2, ConnectorStatus.AVAILABLE)]
    assert changes[0].timestamp == datetime(2026, 11, 23, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "outcome"), [
    ("Accepted", CommandOutcome.ACCEPTED), ("Occupied", CommandOutcome.OCCUPIED),
    ("Faulted", CommandOutcome.FAULTED), ("Rejected", CommandOutcome.REJECTED),
    ("Unavailable", CommandOutcome.UNAVAILABLE),
])
async def test_reserve_now_outcomes(gateway: Gateway, chargers: ChargerFactory, status: str,
                                    outcome: CommandOutcome) -> None:
    cp = await chargers.connect(gateway.url, CP, behaviour=Behaviour(reserve=status))
    result = await gateway.server.commands.execute(reserve(connector_id=2), timeout=3)
    assert result is outcome
    action, payload = cp.behaviour.received[0]
    assert action == "ReserveNow"
    assert payload["connector_id"] == 2
    assert payload["reservation_id"] == 7
    assert payload["id_tag"] == "04A2B3C4D5E6F7"
    assert payload["expiry_date"] == "2026-11-23T21:00:00.000Z"


async def test_reserve_whole_charger_uses_connector_zero_and_maps_long_uids(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP)
    long_uid = "NL-ACM-C12345678-X-0123456789ABCDEF"  # an app user's uid, 35 characters
    group = "NL-ACM-GROUP-00000000000000000001"
    result = await gateway.server.commands.execute(
        reserve(id_token=long_uid, group_id_token=group,
                expiry=datetime(2026, 11, 23, 22, 0, tzinfo=timedelta_tz(1))), timeout=3)
    assert result is CommandOutcome.ACCEPTED
    payload = cp.behaviour.received[0][1]
    assert payload["connector_id"] == 0
    assert payload["id_tag"] == ocpp16_id_tag(long_uid)
    assert len(payload["id_tag"]) == 20
    assert payload["parent_id_tag"] == ocpp16_id_tag(group)
    # 22:00 at UTC+1 is 21:00 UTC.
    assert payload["expiry_date"] == "2026-11-23T21:00:00.000Z"


def timedelta_tz(hours: int) -> object:
    from datetime import timezone
    return timezone(timedelta(hours=hours))


@pytest.mark.parametrize(("status", "outcome"), [
    ("Accepted", CommandOutcome.ACCEPTED), ("Rejected", CommandOutcome.REJECTED)])
async def test_cancel_reservation(gateway: Gateway, chargers: ChargerFactory, status: str,
                                  outcome: CommandOutcome) -> None:
    cp = await chargers.connect(gateway.url, CP, behaviour=Behaviour(cancel=status))
    result = await gateway.server.commands.execute(
        CancelReservation(charge_point_id=CP, reservation_id=7), timeout=3)
    assert result is outcome
    assert cp.behaviour.received == [("CancelReservation", {"reservation_id": 7})]


async def test_remote_start_stop(gateway: Gateway, chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP, behaviour=Behaviour(start_stop="Rejected"))
    commands = gateway.server.commands
    start = RemoteStart(charge_point_id=CP, id_token="TOKEN-1", remote_start_id=3,
                        connector_id=1)
    assert await commands.execute(start, timeout=3) is CommandOutcome.REJECTED
    cp.behaviour.start_stop = "Accepted"
    assert await commands.execute(start, timeout=3) is CommandOutcome.ACCEPTED
    assert await commands.execute(RemoteStop(charge_point_id=CP, transaction_id="12"),
                                  timeout=3) is CommandOutcome.ACCEPTED
    # 1.6 transaction ids are integers: anything else cannot reach the charger.
    assert await commands.execute(RemoteStop(charge_point_id=CP, transaction_id="abc"),
                                  timeout=3) is CommandOutcome.REJECTED
    assert [a for a, _ in cp.behaviour.received] == [
        "RemoteStartTransaction", "RemoteStartTransaction", "RemoteStopTransaction"]
    assert cp.behaviour.received[0][1] == {"id_tag": "TOKEN-1", "connector_id": 1}
    assert cp.behaviour.received[2][1] == {"transaction_id": 12}


async def test_call_error_of_unhandled_action_is_not_supported(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    await chargers.connect(gateway.url, CP)  # the test charger has no UnlockConnector handler
    result = await gateway.server.commands.execute(
        UnlockConnector(charge_point_id=CP, evse_id=None, connector_id=1), timeout=3)
    assert result is CommandOutcome.NOT_SUPPORTED


async def test_disconnect_mid_command_is_offline_at_once(gateway: Gateway,
                                                         chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP, behaviour=Behaviour(hang=asyncio.Event()))
    pending = asyncio.create_task(gateway.server.commands.execute(reserve(), timeout=20))
    await asyncio.wait_for(cp.behaviour.seen.wait(), 30)
    await cp.disconnect()
    # OFFLINE, not TIMEOUT: the disconnect ended the wait, long before the 20 s timeout.
    assert await pending is CommandOutcome.OFFLINE
    await gateway.events.wait_for(lambda e: isinstance(e, ChargerDisconnected))
    assert not await gateway.server.commands.is_online(CP)
    assert await gateway.server.commands.execute(reserve(), timeout=3) is CommandOutcome.OFFLINE


async def test_silent_charger_times_out(gateway: Gateway, chargers: ChargerFactory) -> None:
    hang = asyncio.Event()
    cp = await chargers.connect(gateway.url, CP, behaviour=Behaviour(hang=hang))
    result = await gateway.server.commands.execute(reserve(), timeout=0.3)
    assert result is CommandOutcome.TIMEOUT
    hang.set()  # the late answer must not be taken for the next command's
    cp.behaviour.reserve = "Occupied"
    cp.behaviour.hang = None
    assert await gateway.server.commands.execute(reserve(), timeout=3) is CommandOutcome.OCCUPIED


async def test_commands_to_one_charger_are_queued(gateway: Gateway,
                                                  chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP, behaviour=Behaviour(delay=0.05))
    commands = gateway.server.commands
    results = await asyncio.gather(*(
        commands.execute(reserve(reservation_id=n), timeout=3) for n in range(4)))
    assert results == [CommandOutcome.ACCEPTED] * 4
    assert cp.behaviour.max_in_flight == 1
    assert sorted(p["reservation_id"] for _, p in cp.behaviour.received) == [0, 1, 2, 3]


async def test_unknown_charger_is_offline(gateway: Gateway) -> None:
    assert await gateway.server.commands.execute(
        reserve(charge_point_id="CP-NOWHERE"), timeout=3) is CommandOutcome.OFFLINE


async def test_authorize_publishes_token_and_asks_the_authorizer(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP)
    ok = await cp.charger.call(call.Authorize(id_tag="04A2B3C4D5E6F7"))
    assert ok.id_tag_info == {"status": "Accepted", "parent_id_tag": "GROUP-1"}
    blocked = await cp.charger.call(call.Authorize(id_tag="BLOCKED-TAG"))
    assert blocked.id_tag_info["status"] == "Blocked"
    presented = await gateway.events.wait_for(lambda e: isinstance(e, TokenPresented))
    assert presented.id_token == "04A2B3C4D5E6F7"  # type: ignore[attr-defined]
    assert gateway.authorizer.asked == [(CP, "04A2B3C4D5E6F7"), (CP, "BLOCKED-TAG")]


async def test_transactions_carry_reservation_and_generated_ids(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP)
    first = await cp.charger.call(call.StartTransaction(
        connector_id=1, id_tag="04A2B3C4D5E6F7", meter_start=1000,
        timestamp="2026-11-23T19:00:00Z", reservation_id=7))
    second = await cp.charger.call(call.StartTransaction(
        connector_id=2, id_tag="BLOCKED-TAG", meter_start=0, timestamp="2026-11-23T19:01:00Z"))
    assert isinstance(first.transaction_id, int) and 0 < first.transaction_id < 2**31
    assert second.transaction_id != first.transaction_id
    assert first.id_tag_info["status"] == "Accepted"
    assert second.id_tag_info["status"] == "Blocked"
    await cp.charger.call(call.MeterValues(connector_id=1, transaction_id=first.transaction_id,
        meter_value=[{"timestamp": "2026-11-23T19:30:00Z",
                      "sampledValue": [{"value": "2.5", "unit": "kWh"}]}]))
    await cp.charger.call(call.StopTransaction(
        meter_stop=4000, timestamp="2026-11-23T20:00:00Z",
        transaction_id=first.transaction_id, reason="EVDisconnected"))
    ended = await gateway.events.wait_for(lambda e: isinstance(e, TransactionEnded))
    started = gateway.events.of_type(TransactionStarted)
    assert started[0].transaction_id == str(first.transaction_id)
    assert (started[0].connector_id, started[0].reservation_id, started[0].meter_start_wh) == (
        1, 7, 1000.0)
    assert started[1].reservation_id is None
    meter = gateway.events.of_type(MeterValueReported)[0]
    assert meter.energy_wh == 2500.0
    assert ended.transaction_id == str(first.transaction_id)  # type: ignore[attr-defined]
    assert ended.meter_stop_wh == 4000.0  # type: ignore[attr-defined]
    assert ended.reason == "EVDisconnected"  # type: ignore[attr-defined]


async def test_calls_are_reported_to_the_observer(chargers: ChargerFactory) -> None:
    from ocpp_test_support import start_gateway
    seen: list[tuple[object, str, str]] = []
    gw = await start_gateway(observe_call=lambda *call_: seen.append(call_))
    try:
        cp = await chargers.connect(gw.url, CP)
        await cp.charger.call(call.Heartbeat())
        await gw.server.commands.execute(
            CancelReservation(charge_point_id=CP, reservation_id=1), timeout=3)
        assert seen == [(OcppVersion.V16, "Heartbeat", "in"),
                        (OcppVersion.V16, "CancelReservation", "out")]
    finally:
        await gw.close()
