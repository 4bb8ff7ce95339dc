"""OCPP 2.0.1 chargers (the ocpp package's client) against the gateway over real websockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from ocpp.v201 import call
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
    ConnectorStatus,
    ConnectorStatusChanged,
    MeterValueReported,
    ReservationEnded,
    ReservationEndReason,
    TokenPresented,
    TransactionEnded,
    TransactionStarted,
)
from ocpi_gateway.domain.ids import OcppVersion

CP = "CP-AMS-02"
EXPIRY = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
LONG_UID = "NL-ACM-C12345678-X-0123456789ABCDEF"


def reserve(**kwargs: object) -> ReserveNow:
    args: dict[str, object] = {"charge_point_id": CP, "reservation_id": 9, "expiry": EXPIRY,
                               "id_token": LONG_UID, "evse_id": 1}
    args.update(kwargs)
    return ReserveNow(**args)  # type: ignore[arg-type]


async def test_boot_and_status_notification(gateway: Gateway, chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP, "2.0.1")
    response = await cp.charger.call(call.BootNotification(
        charging_station={"model": "Wall-2", "vendor_name": "Acme",
                          "firmware_version": "3.1"}, reason="PowerUp"))
    assert (response.status, response.interval) == ("Accepted", 42)
    await cp.charger.call(call.StatusNotification(
        timestamp="2026-11-23T19:00:00Z", connector_status="Reserved", evse_id=2,
        connector_id=1))
    change = await gateway.events.wait_for(lambda e: isinstance(e, ConnectorStatusChanged))
    assert (change.evse_id, change.connector_id, change.status) == (  # type: ignore[attr-defined]
        2, 1, ConnectorStatus.RESERVED)
    connected = gateway.events.of_type(ChargerConnected)[0]
    assert connected.ocpp_version is OcppVersion.V201
    booted = gateway.events.of_type(ChargerBooted)[0]
    assert (booted.vendor, booted.model) == ("Acme", "Wall-2")


async def test_notify_event_availability_state_is_a_status_change(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP, "2.0.1")
    await cp.charger.call(call.NotifyEvent(generated_at="2026-11-23T19:00:00Z", seq_no=0,
        event_data=[
            # Errata 2023-12 H01.FR.23: Reserved may arrive this way instead of a
            # StatusNotification.
            {"eventId": 1, "timestamp": "2026-11-23T19:00:00Z", "trigger": "Delta",
             "actualValue": "Reserved", "eventNotificationType": "HardWiredNotification",
             "component": {"name": "Connector", "evse": {"id": 3, "connectorId": 1}},
             "variable": {"name": "AvailabilityState"}},
            # EVSE-level state and other variables are not connector statuses.
            {"eventId": 2, "timestamp": "2026-11-23T19:00:00Z", "trigger": "Delta",
             "actualValue": "Reserved", "eventNotificationType": "HardWiredNotification",
             "component": {"name": "EVSE", "evse": {"id": 3}},
             "variable": {"name": "AvailabilityState"}},
            {"eventId": 3, "timestamp": "2026-11-23T19:00:00Z", "trigger": "Delta",
             "actualValue": "true", "eventNotificationType": "HardWiredNotification",
             "component": {"name": "Connector", "evse": {"id": 3, "connectorId": 1}},
             "variable": {"name": "Problem"}},
        ]))
    await cp.charger.call(call.Heartbeat())
    await asyncio.sleep(0.05)
    changes = gateway.events.of_type(ConnectorStatusChanged)
    assert [(c.evse_id, c.connector_id, c.status) for c in changes] == [
        (3, 1, ConnectorStatus.RESERVED)]


@pytest.mark.parametrize(("status", "outcome"), [
    ("Accepted", CommandOutcome.ACCEPTED), ("Occupied", CommandOutcome.OCCUPIED),
    ("Faulted", CommandOutcome.FAULTED), ("Rejected", CommandOutcome.REJECTED),
    ("Unavailable", CommandOutcome.UNAVAILABLE),
])
async def test_reserve_now_outcomes(gateway: Gateway, chargers: ChargerFactory, status: str,
                                    outcome: CommandOutcome) -> None:
    cp = await chargers.connect(gateway.url, CP, "2.0.1", behaviour=Behaviour(reserve=status))
    assert await gateway.server.commands.execute(reserve(), timeout=3) is outcome
    action, payload = cp.behaviour.received[0]
    assert action == "ReserveNow"
    # 2.0.1 idTokens hold 36 characters: the OCPI uid goes unchanged.
    assert payload == {"id": 9, "expiry_date_time": "2026-11-23T21:00:00.000Z",
                       "id_token": {"id_token": LONG_UID, "type": "ISO14443"}, "evse_id": 1}


async def test_reserve_whole_charger_sends_no_evse(gateway: Gateway,
                                                   chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP, "2.0.1")
    result = await gateway.server.commands.execute(
        reserve(evse_id=None, id_token_type="APP_USER", group_id_token="GROUP-9"), timeout=3)
    assert result is CommandOutcome.ACCEPTED
    payload = cp.behaviour.received[0][1]
    assert "evse_id" not in payload
    assert payload["id_token"] == {"id_token": LONG_UID, "type": "Central"}
    assert payload["group_id_token"] == {"id_token": "GROUP-9", "type": "Central"}


@pytest.mark.parametrize(("standard", "connector_format", "expected"), [
    ("IEC_62196_T2", "SOCKET", "sType2"), ("IEC_62196_T2", "CABLE", "cType2"),
    ("IEC_62196_T2_COMBO", "CABLE", "cCCS2"), ("CHADEMO", None, "cG105"),
    ("IEC_62196_T2", None, None), ("MCS", "CABLE", None)])
async def test_a_whole_charger_reservation_names_the_connector_type(
        gateway: Gateway, chargers: ChargerFactory, standard: str,
        connector_format: str | None, expected: str | None) -> None:
    # H01 S3: without evseId, connectorType asks the station to keep a connector of that
    # type free; a standard OCPP has no value for (or a Type 2 of unknown format) sends none.
    cp = await chargers.connect(gateway.url, CP, "2.0.1")
    result = await gateway.server.commands.execute(
        reserve(evse_id=None, connector_standard=standard,
                connector_format=connector_format), timeout=3)
    assert result is CommandOutcome.ACCEPTED
    payload = cp.behaviour.received[0][1]
    assert payload.get("connector_type") == expected and "evse_id" not in payload


async def test_an_evse_reservation_names_no_connector_type(gateway: Gateway,
                                                           chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP, "2.0.1")
    assert await gateway.server.commands.execute(
        reserve(connector_standard="IEC_62196_T2", connector_format="CABLE"),
        timeout=3) is CommandOutcome.ACCEPTED
    payload = cp.behaviour.received[0][1]
    assert "connector_type" not in payload and payload["evse_id"] == 1


@pytest.mark.parametrize(("status", "outcome"), [
    ("Accepted", CommandOutcome.ACCEPTED), ("Rejected", CommandOutcome.REJECTED)])
async def test_cancel_reservation(gateway: Gateway, chargers: ChargerFactory, status: str,
                                  outcome: CommandOutcome) -> None:
    cp = await chargers.connect(gateway.url, CP, "2.0.1", behaviour=Behaviour(cancel=status))
    result = await gateway.server.commands.execute(
        CancelReservation(charge_point_id=CP, reservation_id=9), timeout=3)
    assert result is outcome
    assert cp.behaviour.received == [("CancelReservation", {"reservation_id": 9})]


@pytest.mark.parametrize(("status", "outcome"), [
    ("Unlocked", CommandOutcome.ACCEPTED), ("UnlockFailed", CommandOutcome.FAULTED),
    ("OngoingAuthorizedTransaction", CommandOutcome.OCCUPIED),
    ("UnknownConnector", CommandOutcome.REJECTED)])
async def test_unlock_outcomes(gateway: Gateway, chargers: ChargerFactory, status: str,
                               outcome: CommandOutcome) -> None:
    cp = await chargers.connect(gateway.url, CP, "2.0.1", behaviour=Behaviour(unlock=status))
    result = await gateway.server.commands.execute(
        UnlockConnector(charge_point_id=CP, evse_id=2, connector_id=1), timeout=3)
    assert result is outcome
    assert cp.behaviour.received == [("UnlockConnector", {"evse_id": 2, "connector_id": 1})]


async def test_remote_start_stop(gateway: Gateway, chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP, "2.0.1")
    commands = gateway.server.commands
    assert await commands.execute(RemoteStart(
        charge_point_id=CP, id_token="TOKEN-1", remote_start_id=5, evse_id=1),
        timeout=3) is CommandOutcome.ACCEPTED
    assert await commands.execute(RemoteStop(charge_point_id=CP, transaction_id="tx-abc"),
                                  timeout=3) is CommandOutcome.ACCEPTED
    assert cp.behaviour.received == [
        ("RequestStartTransaction", {"id_token": {"id_token": "TOKEN-1", "type": "ISO14443"},
                                     "remote_start_id": 5, "evse_id": 1}),
        ("RequestStopTransaction", {"transaction_id": "tx-abc"})]


async def test_disconnect_mid_command_is_offline_at_once(gateway: Gateway,
                                                         chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP, "2.0.1",
                                behaviour=Behaviour(hang=asyncio.Event()))
    pending = asyncio.create_task(gateway.server.commands.execute(reserve(), timeout=20))
    await asyncio.wait_for(cp.behaviour.seen.wait(), 30)
    await cp.disconnect()
    # OFFLINE, not TIMEOUT: the disconnect ended the wait, long before the 20 s timeout.
    assert await pending is CommandOutcome.OFFLINE


async def test_reservation_status_update_and_transactions(gateway: Gateway,
                                                          chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP, "2.0.1")
    await cp.charger.call(call.ReservationStatusUpdate(reservation_id=9,
                                                       reservation_update_status="Expired"))
    await cp.charger.call(call.ReservationStatusUpdate(reservation_id=10,
                                                       reservation_update_status="Removed"))
    response = await cp.charger.call(call.TransactionEvent(
        event_type="Started", timestamp="2026-11-23T19:00:00Z", trigger_reason="Authorized",
        seq_no=0, transaction_info={"transactionId": "tx-1"}, reservation_id=11,
        evse={"id": 1, "connectorId": 1}, id_token={"idToken": LONG_UID, "type": "Central"}))
    assert response.id_token_info == {"status": "Accepted",
                                      "group_id_token": {"id_token": "GROUP-1", "type": "Central"}}
    # Cable first: the reservation id arrives only with the Updated event (H01.FR.15).
    await cp.charger.call(call.TransactionEvent(
        event_type="Started", timestamp="2026-11-23T19:05:00Z", trigger_reason="CablePluggedIn",
        seq_no=0, transaction_info={"transactionId": "tx-2"}, evse={"id": 2, "connectorId": 1}))
    await cp.charger.call(call.TransactionEvent(
        event_type="Updated", timestamp="2026-11-23T19:06:00Z", trigger_reason="Authorized",
        seq_no=1, transaction_info={"transactionId": "tx-2"}, reservation_id=12,
        id_token={"idToken": "CARD-2", "type": "ISO14443"}))
    await cp.charger.call(call.TransactionEvent(
        event_type="Ended", timestamp="2026-11-23T20:00:00Z", trigger_reason="EVDeparted",
        seq_no=2, transaction_info={"transactionId": "tx-1", "stoppedReason": "EVDisconnected"},
        meter_value=[{"timestamp": "2026-11-23T20:00:00Z",
                      "sampledValue": [{"value": 12000.0}]}]))
    ended = await gateway.events.wait_for(lambda e: isinstance(e, TransactionEnded))
    assert (ended.transaction_id, ended.meter_stop_wh, ended.reason) == (  # type: ignore[attr-defined]
        "tx-1", 12000.0, "EVDisconnected")
    assert [(r.reservation_id, r.reason) for r in gateway.events.of_type(ReservationEnded)] == [
        (9, ReservationEndReason.EXPIRED), (10, ReservationEndReason.REMOVED)]
    started = [(s.transaction_id, s.evse_id, s.reservation_id, s.id_token)
               for s in gateway.events.of_type(TransactionStarted)]
    assert started == [("tx-1", 1, 11, LONG_UID), ("tx-2", 2, None, None),
                       ("tx-2", None, 12, "CARD-2")]


async def test_authorize(gateway: Gateway, chargers: ChargerFactory) -> None:
    cp = await chargers.connect(gateway.url, CP, "2.0.1")
    response = await cp.charger.call(call.Authorize(
        id_token={"idToken": "BLOCKED-TAG", "type": "ISO14443"}))
    assert response.id_token_info["status"] == "Blocked"
    presented = await gateway.events.wait_for(lambda e: isinstance(e, TokenPresented))
    assert presented.id_token == "BLOCKED-TAG"  # type: ignore[attr-defined]


async def test_energy_readings_use_unit_of_measure(gateway: Gateway,
                                                   chargers: ChargerFactory) -> None:
    # 2.0.1 SampledValueType carries its unit in unitOfMeasure {unit (default Wh), multiplier
    # (power of 10, default 0)}; there is no "unit" field as in 1.6.
    cp = await chargers.connect(gateway.url, CP, "2.0.1")
    await cp.charger.call(call.MeterValues(evse_id=1, meter_value=[
        {"timestamp": "2026-11-23T19:30:00Z",
         "sampledValue": [{"value": 12.5, "measurand": "Energy.Active.Import.Register",
                           "unitOfMeasure": {"unit": "kWh"}}]}]))
    await cp.charger.call(call.MeterValues(evse_id=1, meter_value=[
        {"timestamp": "2026-11-23T19:31:00Z",
         "sampledValue": [{"value": 13, "unitOfMeasure": {"unit": "Wh", "multiplier": 3}}]}]))
    await cp.charger.call(call.TransactionEvent(
        event_type="Ended", timestamp="2026-11-23T20:00:00Z", trigger_reason="EVDeparted",
        seq_no=2, transaction_info={"transactionId": "tx-9"},
        meter_value=[{"timestamp": "2026-11-23T20:00:00Z",
                      "sampledValue": [{"value": 14.25, "unitOfMeasure": {"unit": "kWh"}}]}]))
    ended = await gateway.events.wait_for(lambda e: isinstance(e, TransactionEnded))
    readings = [m.energy_wh for m in gateway.events.of_type(MeterValueReported)]
    assert readings == [12500.0, 13000.0]
    assert ended.meter_stop_wh == 14250.0  # type: ignore[attr-defined]
