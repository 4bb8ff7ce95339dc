"""Handshake, authentication, duplicate identities and bad input on the OCPP endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import WSMsgType
from ocpp.v16 import call
from ocpp_test_support import (
    FAST,
    LIMITS,
    PASSWORD,
    Behaviour,
    ChargerFactory,
    Gateway,
    basic_auth,
    chargers_config,
    start_gateway,
)

from ocpi_gateway.domain.charger_commands import CommandOutcome, ReserveNow
from ocpi_gateway.domain.events import ChargerConnected, ChargerDisconnected, ConnectorStatusChanged
from ocpi_gateway.ocpp_adapter.handshake import server_ssl_context
from ocpi_gateway.ocpp_adapter.server import WIRE_LOGGER

CP16 = "CP-AMS-01"
CP201 = "CP-AMS-02"


async def handshake_status(factory: ChargerFactory, url: str, charge_point_id: str,
                           password: str = PASSWORD, protocol: str = "ocpp1.6",
                           headers: dict[str, str] | None = None) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await factory.ws(url, charge_point_id, protocols=(protocol,), password=password,
                         headers=headers)
    return refused.value.status


async def test_wrong_password_is_refused(gateway: Gateway, chargers: ChargerFactory) -> None:
    assert await handshake_status(chargers, gateway.url, CP16, password="wrong") == 401
    assert not await gateway.server.commands.is_online(CP16)


async def test_missing_credentials_and_wrong_user_are_refused(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as no_auth:
        await chargers.http.ws_connect(f"{gateway.url}/{CP16}", protocols=("ocpp1.6",))
    assert no_auth.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as other_user:
        await chargers.http.ws_connect(
            f"{gateway.url}/{CP16}", protocols=("ocpp1.6",),
            headers={"Authorization": basic_auth(CP201, PASSWORD)})
    assert other_user.value.status == 401


async def test_right_credentials_under_another_scheme_are_refused(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    # OCPP security profiles 1/2 use HTTP Basic: the same user:password base64-encoded under
    # another scheme (Bearer, Digest) or none is no login.
    encoded = basic_auth(CP16, PASSWORD).removeprefix("Basic ")
    for header in (f"Bearer {encoded}", f"Digest {encoded}", encoded):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await chargers.http.ws_connect(f"{gateway.url}/{CP16}", protocols=("ocpp1.6",),
                                           headers={"Authorization": header})
        assert refused.value.status == 401, header
    assert not await gateway.server.commands.is_online(CP16)


async def test_unknown_identity_is_refused(gateway: Gateway, chargers: ChargerFactory) -> None:
    assert await handshake_status(chargers, gateway.url, "CP-UNKNOWN-9") == 404


async def test_failed_attempts_are_rate_limited(gateway: Gateway,
                                                chargers: ChargerFactory) -> None:
    for _ in range(LIMITS.per_address):
        assert await handshake_status(chargers, gateway.url, CP16, password="guess") == 401
    # Even the right password is not checked any more, for this identity and this address
    # (tests/ocpp/test_ocpp_login_limits.py: who else is not refused).
    assert await handshake_status(chargers, gateway.url, CP16) == 429


async def test_security_profile_must_match(chargers: ChargerFactory) -> None:
    gw = await start_gateway(chargers=chargers_config(trust_forwarded_proto=True))
    try:
        # Profile 2 (TLS) configured, plain websocket offered.
        assert await handshake_status(chargers, gw.url, "CP-TLS-01") == 403
        # TLS terminated at a trusted proxy counts as profile 2...
        cp = await chargers.connect(gw.url, "CP-TLS-01",
                                    headers={"X-Forwarded-Proto": "https"})
        assert (await cp.charger.call(call.Heartbeat())).current_time
        # ...and a profile 1 charger arriving over TLS is not on its configured profile.
        assert await handshake_status(chargers, gw.url, CP16,
                                      headers={"X-Forwarded-Proto": "https"}) == 403
    finally:
        await gw.close()


async def test_forwarded_proto_is_ignored_unless_trusted(gateway: Gateway,
                                                         chargers: ChargerFactory) -> None:
    assert await handshake_status(chargers, gateway.url, "CP-TLS-01",
                                  headers={"X-Forwarded-Proto": "https"}) == 403


async def test_no_common_subprotocol_completes_handshake_then_closes(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    ws = await chargers.ws(gateway.url, "CP-UTR-01", protocols=("ocpp1.5", "ocpp2.1"))
    assert ws.protocol is None
    msg = await asyncio.wait_for(ws.receive(), 3)
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    # CP-AMS-01 is pinned to 1.6: offering only 2.0.1 gets no subprotocol either.
    pinned = await chargers.ws(gateway.url, CP16, protocols=("ocpp2.0.1",))
    assert pinned.protocol is None


async def test_first_common_subprotocol_in_the_chargers_order(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    ws = await chargers.ws(gateway.url, "CP-UTR-01", protocols=("ocpp2.0.1", "ocpp1.6"))
    assert ws.protocol == "ocpp2.0.1"
    await ws.close()


async def test_duplicate_identity_replaces_the_old_connection(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    old = await chargers.connect(gateway.url, CP16, behaviour=Behaviour(hang=asyncio.Event()))
    pending = asyncio.create_task(gateway.server.commands.execute(ReserveNow(
        charge_point_id=CP16, reservation_id=1, expiry=datetime.now(UTC),
        id_token="AA"), timeout=20))
    await asyncio.wait_for(old.behaviour.seen.wait(), 30)
    new = await chargers.connect(gateway.url, CP16)
    # The old socket's pending call fails at once; the old socket is closed by the server.
    assert await pending is CommandOutcome.OFFLINE
    old.behaviour.hang.set()  # type: ignore[union-attr]  # let the old client read again
    with contextlib.suppress(Exception):  # its late answer cannot be sent any more
        await asyncio.wait_for(old.task, 3)
    closing = await asyncio.wait_for(old.ws.receive(), 3)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)
    assert old.ws.closed
    result = await gateway.server.commands.execute(ReserveNow(
        charge_point_id=CP16, reservation_id=2, expiry=datetime.now(UTC),
        id_token="AA"), timeout=3)
    assert result is CommandOutcome.ACCEPTED
    assert [a for a, _ in new.behaviour.received] == ["ReserveNow"]
    assert await gateway.server.commands.is_online(CP16)
    await asyncio.sleep(0.05)
    # Replacement is not a disconnection.
    assert len(gateway.events.of_type(ChargerConnected)) == 2
    assert gateway.events.of_type(ChargerDisconnected) == []


async def exchange(ws: aiohttp.ClientWebSocketResponse, frame: str) -> Any:
    await ws.send_str(frame)
    msg = await asyncio.wait_for(ws.receive(), 3)
    assert msg.type == WSMsgType.TEXT
    return orjson.loads(msg.data)


HEARTBEAT = '[2,"hb-1","Heartbeat",{}]'


# A frame that is no valid RPC message: 2.0.1 part 4 §4.3 RpcFrameworkError ("Content of the
# call is not a valid RPC Request, for example: MessageId could not be read"); 1.6 has only
# FormationViolation ("... or not conform the PDU structure").
@pytest.mark.parametrize(("protocol", "charge_point_id", "framing", "violation"), [
    ("ocpp1.6", CP16, "FormationViolation", "FormationViolation"),
    ("ocpp2.0.1", CP201, "RpcFrameworkError", "FormatViolation")])
async def test_bad_frames_get_call_errors_and_the_connection_survives(
        gateway: Gateway, chargers: ChargerFactory, protocol: str, charge_point_id: str,
        framing: str, violation: str) -> None:
    ws = await chargers.ws(gateway.url, charge_point_id, protocols=(protocol,))
    not_json = await exchange(ws, "this is {not json")
    assert not_json[:3] == [4, "-1", framing]
    not_array = await exchange(ws, '{"hello": 1}')
    assert not_array[:3] == [4, "-1", framing]
    short_call = await exchange(ws, '[2,"m-1","Heartbeat"]')
    assert short_call[:3] == [4, "m-1", framing]
    # Schema violation (an unknown property): the package says FormatViolation; 1.6 spells it
    # FormationViolation.
    extra = await exchange(ws, '[2,"m-2","Heartbeat",{"surprise":true}]')
    assert extra[:3] == [4, "m-2", violation]
    assert (await exchange(ws, HEARTBEAT))[:2] == [3, "hb-1"]
    await ws.close()


async def test_unknown_message_type(gateway: Gateway, chargers: ChargerFactory) -> None:
    ws201 = await chargers.ws(gateway.url, CP201, protocols=("ocpp2.0.1",))
    assert (await exchange(ws201, '[7,"m-7",{}]'))[:3] == [4, "m-7", "MessageTypeNotSupported"]
    ws16 = await chargers.ws(gateway.url, CP16, protocols=("ocpp1.6",))
    assert (await exchange(ws16, '[7,"m-7",{}]'))[:3] == [4, "m-7", "FormationViolation"]
    assert (await exchange(ws16, HEARTBEAT))[0] == 3


@pytest.mark.parametrize(("protocol", "charge_point_id", "known_action"), [
    ("ocpp1.6", CP16, "FirmwareStatusNotification"),
    ("ocpp2.0.1", CP201, "FirmwareStatusNotification")])
async def test_unknown_and_unsupported_actions(gateway: Gateway, chargers: ChargerFactory,
                                               protocol: str, charge_point_id: str,
                                               known_action: str) -> None:
    ws = await chargers.ws(gateway.url, charge_point_id, protocols=(protocol,))
    # Not an OCPP action at all: NotImplemented ("Requested Action is not known by receiver").
    unknown = await exchange(ws, '[2,"u-1","MakeCoffee",{}]')
    assert unknown[:4] == [4, "u-1", "NotImplemented", "Requested Action is not known by receiver"]
    # An OCPP action the gateway does not handle: NotSupported.
    known = await exchange(ws, f'[2,"u-2","{known_action}",{{"status":"Idle"}}]')
    assert known[:4] == [4, "u-2", "NotSupported",
                         "Requested Action is recognized but not supported by the receiver"]
    assert (await exchange(ws, HEARTBEAT))[0] == 3


async def test_call_error_with_unknown_code_is_rejected(gateway: Gateway,
                                                        chargers: ChargerFactory) -> None:
    ws = await chargers.ws(gateway.url, CP16, protocols=("ocpp1.6",))

    async def answer_with_strange_error() -> None:
        msg = await ws.receive()
        frame = orjson.loads(msg.data)
        await ws.send_str(orjson.dumps([4, frame[1], "CoffeeSpilled", "", {}]).decode())

    answering = asyncio.create_task(answer_with_strange_error())
    result = await gateway.server.commands.execute(ReserveNow(
        charge_point_id=CP16, reservation_id=3, expiry=datetime.now(UTC),
        id_token="AA"), timeout=3)
    await answering
    assert result is CommandOutcome.REJECTED


async def test_stray_call_results_are_dropped(gateway: Gateway,
                                              chargers: ChargerFactory) -> None:
    ws = await chargers.ws(gateway.url, CP16, protocols=("ocpp1.6",))
    for n in range(3):
        await ws.send_str(f'[3,"nobody-asked-{n}",{{}}]')
    assert (await exchange(ws, HEARTBEAT))[:2] == [3, "hb-1"]
    session = gateway.server.registry.get(CP16)
    assert session is not None and session._response_queue.qsize() == 0


async def test_type_violation_and_missing_field(gateway: Gateway,
                                                chargers: ChargerFactory) -> None:
    ws = await chargers.ws(gateway.url, CP201, protocols=("ocpp2.0.1",))
    wrong_type = await exchange(ws, '[2,"t-1","StatusNotification",{"timestamp":"2026-11-23T19:'
                                    '00:00Z","connectorStatus":"Available","evseId":"one",'
                                    '"connectorId":1}]')
    assert wrong_type[:3] == [4, "t-1", "TypeConstraintViolation"]
    missing = await exchange(ws, '[2,"t-2","StatusNotification",{"connectorStatus":"Available"}]')
    assert missing[:3] == [4, "t-2", "ProtocolError"]
    bad_enum = await exchange(ws, '[2,"t-3","StatusNotification",{"timestamp":"2026-11-23T19:'
                                  '00:00Z","connectorStatus":"Sleepy","evseId":1,"connectorId":1}]')
    assert bad_enum[:3] == [4, "t-3", "FormatViolation"]
    await asyncio.sleep(0.05)
    assert gateway.events.of_type(ConnectorStatusChanged) == []


async def test_dead_peer_is_dropped_by_websocket_ping(chargers: ChargerFactory) -> None:
    gw = await start_gateway(timings=replace(FAST, ws_ping_interval=0.2))
    try:
        # A charger that never answers pings (its network died without a FIN, say).
        ws = await chargers.http.ws_connect(
            f"{gw.url}/{CP16}", protocols=("ocpp1.6",), autoping=False,
            headers={"Authorization": basic_auth(CP16, PASSWORD)})
        await gw.events.wait_for(lambda e: isinstance(e, ChargerDisconnected), within=3)
        assert not await gw.server.commands.is_online(CP16)
        await ws.close()
    finally:
        await gw.close()


async def test_failing_authorizer_gives_internal_error(gateway: Gateway,
                                                       chargers: ChargerFactory) -> None:
    ws = await chargers.ws(gateway.url, CP16, protocols=("ocpp1.6",))
    failed = await exchange(ws, '[2,"a-1","Authorize",{"idTag":"EXPLODE"}]')
    assert failed[:3] == [4, "a-1", "InternalError"]
    ok = await exchange(ws, '[2,"a-2","Authorize",{"idTag":"04A2B3C4"}]')
    assert ok == [3, "a-2", {"idTagInfo": {"status": "Accepted", "parentIdTag": "GROUP-1"}}]


async def test_security_profile_2_with_tls_terminated_here(
        chargers: ChargerFactory, tls_certificate: tuple[Path, Path]) -> None:
    cert, key = tls_certificate
    gw = await start_gateway(ssl_context=server_ssl_context(str(cert), str(key)))
    client_tls = ssl.create_default_context(cafile=str(cert))
    try:
        ws = await chargers.http.ws_connect(
            f"{gw.url}/CP-TLS-01", protocols=("ocpp2.0.1",), ssl=client_tls,
            headers={"Authorization": basic_auth("CP-TLS-01", PASSWORD)})
        assert (await exchange(ws, '[2,"hb-1","Heartbeat",{}]'))[:2] == [3, "hb-1"]
        # A profile 1 charger must not arrive over TLS.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await chargers.http.ws_connect(
                f"{gw.url}/{CP16}", protocols=("ocpp1.6",), ssl=client_tls,
                headers={"Authorization": basic_auth(CP16, PASSWORD)})
        assert refused.value.status == 403
        await ws.close()
    finally:
        await gw.close()


@pytest.mark.parametrize(("protocol", "charge_point_id"), [
    ("ocpp1.6", CP16), ("ocpp2.0.1", CP201)])
async def test_data_transfer_is_answered_unknown_vendor(gateway: Gateway, chargers: ChargerFactory,
                                                       protocol: str,
                                                       charge_point_id: str) -> None:
    # 1.6 Core DataTransfer, 2.0.1 P02.FR.06: the gateway knows no vendor extension.
    ws = await chargers.ws(gateway.url, charge_point_id, protocols=(protocol,))
    answer = await exchange(
        ws, '[2,"d-1","DataTransfer",{"vendorId":"com.example","messageId":"m","data":"x"}]')
    assert answer == [3, "d-1", {"status": "UnknownVendorId"}]
    bare = await exchange(ws, '[2,"d-2","DataTransfer",{"vendorId":"com.example"}]')
    assert bare == [3, "d-2", {"status": "UnknownVendorId"}]
    invalid = await exchange(ws, '[2,"d-3","DataTransfer",{"messageId":"m"}]')
    assert invalid[:3] == [4, "d-3", "ProtocolError"]  # vendorId is required


@pytest.mark.parametrize("log_frames", [False, True])
async def test_frames_are_logged_only_when_asked(chargers: ChargerFactory,
                                                 caplog: pytest.LogCaptureFixture,
                                                 log_frames: bool) -> None:
    # The ocpp package logs every frame at INFO, idTags included (GROUP-1 is a parent idTag).
    caplog.set_level(logging.DEBUG)
    gw = await start_gateway(log_frames=log_frames)
    try:
        ws = await chargers.ws(gw.url, CP16, protocols=("ocpp1.6",))
        answer = await exchange(ws, '[2,"a-1","Authorize",{"idTag":"04A2B3C4"}]')
        assert answer[2]["idTagInfo"]["parentIdTag"] == "GROUP-1"
        logged = [record.getMessage() for record in caplog.records
                  if record.name == WIRE_LOGGER]
        assert any("GROUP-1" in line for line in logged) is log_frames
    finally:
        await gw.close()
