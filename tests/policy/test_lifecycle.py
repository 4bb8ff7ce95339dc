from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from ocpi_gateway.domain.charger_commands import CommandOutcome, ReserveNow
from ocpi_gateway.domain.events import (
    ConnectorStatus,
    ConnectorStatusChanged,
    EventBus,
    ReservationEnded,
    ReservationEndReason,
    TokenPresented,
    TransactionStarted,
    utc_now,
)
from ocpi_gateway.domain.ids import ChargerAddress, ocpp16_id_tag
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.engine import RefusalReason
from ocpi_gateway.reservation_policy.expiry import ExpiryClock
from ocpi_gateway.reservation_policy.lifecycle import (
    CancelOutcome,
    ReserveOutcome,
)
from ocpi_gateway.reservation_policy.models import ConnectorInfo, Partner, ReservationRequest
from ocpi_gateway.reservation_policy.ocpp_ids import OcppReservationIds
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.store.sqlite import SqliteStore
from tests.policy.support import evse, grid
from tests.policy.world import EMSP, World

OTHER = Partner("DE", "OTH")
LONG_TOKEN = "APP-USER-0123456789-ABCDEFGHIJ-XYZ"


async def test_accepted_reservation_is_held_stored_and_sent() -> None:
    w = await World(grid(4)).ready()
    result = await w.reserve()
    assert result.outcome is ReserveOutcome.ACCEPTED
    assert result.evse_uid == "E000" and result.ocpp_reservation_id == 1
    sent = w.chargers.reserve_nows()
    assert len(sent) == 1
    assert (sent[0].charge_point_id, sent[0].evse_id, sent[0].reservation_id) == ("CP000", 1, 1)
    assert sent[0].id_token == "04A1B2C3D4"
    assert await w.holders() == {"E000": "NL-EXA/R1"}
    stored = await w.service.get(Partner("nl", "exa"), "r1")
    assert stored is not None and stored.state is ReservationState.ACTIVE
    # The target was stored before the ReserveNow went out, and dropped once it stood.
    assert [h["to"] for h in stored.history] == ["PENDING", "PENDING", "ACTIVE"]
    assert stored.history[1]["attempt"] == {"charge_point_id": "CP000", "evse_uid": "E000",
                                            "ocpp_reservation_id": 1}
    assert stored.attempt is None and not stored.unsettled


async def test_refusal_by_charger_moves_to_next_candidate() -> None:
    w = await World(grid(4)).ready()
    w.chargers.script[("CP000", 1, None)] = [CommandOutcome.OCCUPIED]
    w.chargers.script[("CP000", 2, None)] = [CommandOutcome.FAULTED]
    result = await w.reserve()
    assert result.outcome is ReserveOutcome.ACCEPTED
    assert result.evse_uid == "E002"
    assert [a for _, a in result.charger_outcomes] == [
        CommandOutcome.OCCUPIED, CommandOutcome.FAULTED, CommandOutcome.ACCEPTED]
    assert await w.holders() == {"E002": "NL-EXA/R1"}


async def test_an_answer_that_is_no_refusal_stops_the_walk_over_the_candidates() -> None:
    # SCHEDULED is no ReserveNow answer: neither a refusal to try elsewhere after, nor an accept.
    w = await World(grid(4)).ready()
    w.chargers.script[("CP000", 1, None)] = [CommandOutcome.SCHEDULED]
    result = await w.reserve()
    assert result.outcome is not ReserveOutcome.ACCEPTED
    assert [a for _, a in result.charger_outcomes] == [CommandOutcome.SCHEDULED]
    assert len(w.chargers.reserve_nows()) == 1
    assert await w.holders() == {}


async def test_all_refuse_reports_the_most_telling_outcome() -> None:
    w = await World(grid(2)).ready()
    w.chargers.script[("CP000", 1, None)] = [CommandOutcome.FAULTED]
    w.chargers.script[("CP000", 2, None)] = [CommandOutcome.OCCUPIED]
    result = await w.reserve()
    assert result.outcome is ReserveOutcome.OCCUPIED
    assert await w.holders() == {}
    assert result.reservation is not None and result.reservation.state is ReservationState.FAILED
    # the id can be used again once the first attempt failed
    again = await w.reserve()
    assert again.outcome is ReserveOutcome.ACCEPTED


async def test_faulted_and_offline_outcomes() -> None:
    w = await World(grid(2)).ready()
    w.chargers.script[("CP000", 1, None)] = [CommandOutcome.FAULTED]
    w.chargers.script[("CP000", 2, None)] = [CommandOutcome.UNAVAILABLE]
    assert (await w.reserve("A")).outcome is ReserveOutcome.INOPERATIVE
    w.chargers.offline.add("CP000")
    assert (await w.reserve("B")).outcome is ReserveOutcome.OFFLINE
    assert await w.holders() == {}


async def test_silent_charger_gives_timeout_and_withdraws_the_id() -> None:
    w = await World(grid(4)).ready()
    w.chargers.script[("CP000", 1, None)] = [CommandOutcome.TIMEOUT]
    result = await w.reserve(budget=5.0)
    assert result.outcome is ReserveOutcome.TIMEOUT
    assert len(w.chargers.reserve_nows()) == 1  # no second candidate after a silent charger
    assert await w.holders() == {}
    await w.service.drain()  # the withdrawal runs in the background
    assert [(c.charge_point_id, c.reservation_id) for c in w.chargers.cancels()] == [("CP000", 1)]
    await w.service.aclose()


async def test_refused_by_policy_sends_nothing() -> None:
    w = await World(grid(2), max_concurrent_per_emsp=1).ready()
    assert (await w.reserve("A")).outcome is ReserveOutcome.ACCEPTED
    result = await w.reserve("B")
    assert result.outcome is ReserveOutcome.REJECTED
    assert result.refusal is not None
    assert result.refusal.reason is RefusalReason.PARTNER_CAP_REACHED
    assert (await w.reserve("B", partner=OTHER)).outcome is ReserveOutcome.ACCEPTED
    assert len(w.chargers.reserve_nows()) == 2


async def test_ocpp_ids_are_unique_per_charger_under_concurrency() -> None:
    store = await SqliteStore.open(":memory:")
    ids = OcppReservationIds(store)
    got = await asyncio.gather(*(ids.next("CP1") for _ in range(50)),
                               *(ids.next("CP2") for _ in range(5)))
    await store.close()
    assert sorted(got[:50]) == list(range(1, 51))
    assert sorted(got[50:]) == [1, 2, 3, 4, 5]


async def test_replace_on_same_evse_keeps_ocpp_id() -> None:
    w = await World(grid(2)).ready()
    first = await w.reserve(minutes=20)
    second = await w.reserve(minutes=40, token="04FFFFFFFF")
    assert second.outcome is ReserveOutcome.ACCEPTED
    assert second.evse_uid == first.evse_uid
    assert second.ocpp_reservation_id == first.ocpp_reservation_id
    sent = w.chargers.reserve_nows()
    assert [s.reservation_id for s in sent] == [1, 1] and sent[1].id_token == "04FFFFFFFF"
    assert w.chargers.cancels() == []
    stored = await w.service.get(EMSP, "R1")
    assert stored is not None and stored.token_uid == "04FFFFFFFF"
    hold = await w.avail.get("LOC1", "E000")
    assert hold is not None and hold.hold_until is not None
    assert hold.hold_until >= stored.expiry - timedelta(seconds=1)


async def test_replace_on_other_evse_cancels_the_old_ocpp_reservation() -> None:
    w = await World(grid(4)).ready()
    first = await w.reserve()
    second = await w.reserve(evse_uid="E003")
    assert second.outcome is ReserveOutcome.ACCEPTED and second.evse_uid == "E003"
    await w.service.drain()
    assert [(c.charge_point_id, c.reservation_id) for c in w.chargers.cancels()] == [
        ("CP000", first.ocpp_reservation_id)]
    assert await w.holders() == {"E003": "NL-EXA/R1"}
    assert await w.store.count("reservations") == 1
    # The listeners (metrics, the EVSE statuses republished to eMSPs) learn of the move.
    assert w.seen == [("R1", ReservationState.PENDING, ReservationState.ACTIVE),
                      ("R1", ReservationState.ACTIVE, ReservationState.ACTIVE)]


async def test_failed_replacement_keeps_the_old_reservation() -> None:
    w = await World(grid(4)).ready()
    await w.reserve()
    w.chargers.script[("CP001", 2, None)] = [CommandOutcome.REJECTED]
    result = await w.reserve(evse_uid="E003")
    assert result.outcome is ReserveOutcome.REJECTED
    stored = await w.service.get(EMSP, "R1")
    assert stored is not None and stored.state is ReservationState.ACTIVE
    assert stored.evse_uid == "E000"
    assert await w.holders() == {"E000": "NL-EXA/R1"}
    assert w.chargers.cancels() == []


async def test_cancel_known_and_unknown() -> None:
    w = await World(grid(2)).ready()
    made = await w.reserve()
    result = await w.service.cancel(EMSP, "R1")
    assert result.outcome is CancelOutcome.ACCEPTED
    assert result.charger_outcome is CommandOutcome.ACCEPTED
    assert [c.reservation_id for c in w.chargers.cancels()] == [made.ocpp_reservation_id]
    assert await w.holders() == {}
    assert (await w.service.cancel(EMSP, "R1")).outcome is CancelOutcome.UNKNOWN_RESERVATION
    assert (await w.service.cancel(EMSP, "NEVER")).outcome is CancelOutcome.UNKNOWN_RESERVATION
    # another eMSP cannot cancel it by using the same id
    await w.reserve("R2")
    assert (await w.service.cancel(OTHER, "R2")).outcome is CancelOutcome.UNKNOWN_RESERVATION
    assert ("R1", ReservationState.ACTIVE, ReservationState.CANCELLED) in w.seen


async def test_expiry_is_claimed_by_exactly_one_instance() -> None:
    w = await World(grid(4)).ready()
    await w.reserve("A", minutes=10)
    await w.reserve("B", minutes=50)
    other = w.new_service()
    later = utc_now() + timedelta(minutes=20)
    counts = await asyncio.gather(w.service.expire_due(later), other.expire_due(later))
    assert sorted(counts) == [0, 1]
    a = await w.service.get(EMSP, "A")
    b = await w.service.get(EMSP, "B")
    assert a is not None and a.state is ReservationState.EXPIRED
    assert b is not None and b.state is ReservationState.ACTIVE
    assert await w.holders() == {b.evse_uid: "NL-EXA/B"}


async def test_expiry_clock_runs_in_the_background() -> None:
    w = await World(grid(2), min_duration_minutes=0).ready()
    await w.reserve(minutes=0.5 / 60)
    clock = ExpiryClock(w.service, interval=0.05)
    clock.start()
    try:
        for _ in range(100):
            r = await w.service.get(EMSP, "R1")
            if r is not None and r.state is ReservationState.EXPIRED:
                break
            await asyncio.sleep(0.05)
    finally:
        await clock.stop()
    assert r is not None and r.state is ReservationState.EXPIRED
    assert ("R1", ReservationState.ACTIVE, ReservationState.EXPIRED) in w.seen


async def test_used_by_transaction_with_reservation_id() -> None:
    w = await World(grid(2)).ready()
    made = await w.reserve()
    bus = EventBus()
    bus.subscribe(w.service.handle_event)
    await bus.publish(TransactionStarted(charge_point_id="CP000", transaction_id="T1",
                                         evse_id=1, connector_id=1, id_token="04A1B2C3D4",
                                         reservation_id=made.ocpp_reservation_id))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.USED
    assert await w.holders() == {}
    assert w.chargers.cancels() == []


async def test_used_by_16_id_tag_of_a_long_token() -> None:
    # 1.6: the charger only knows the 20-character idTag derived from a long OCPI uid.
    cands = [evse("E1", "CP16", evse_id=None, connector_id=1),
             evse("E2", "CP16", evse_id=None, connector_id=2)]
    w = await World(cands).ready()
    await w.reserve(token=LONG_TOKEN)
    await w.service.handle_event(TransactionStarted(
        charge_point_id="CP16", transaction_id="7", evse_id=None, connector_id=1,
        id_token=ocpp16_id_tag(LONG_TOKEN)))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.USED


async def test_token_started_on_another_evse_uses_it_and_frees_the_reserved_one() -> None:
    w = await World(grid(2)).ready()
    made = await w.reserve(evse_uid="E000")
    await w.service.handle_event(TokenPresented(charge_point_id="CP000", id_token="OTHER"))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.ACTIVE
    await w.service.handle_event(TransactionStarted(
        charge_point_id="CP000", transaction_id="T2", evse_id=2, connector_id=1,
        id_token="04A1B2C3D4"))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.USED
    await asyncio.sleep(0.01)
    assert [c.reservation_id for c in w.chargers.cancels()] == [made.ocpp_reservation_id]


async def test_removed_by_charger_is_rerouted_at_the_same_location() -> None:
    w = await World(grid(4)).ready()
    made = await w.reserve()
    assert made.evse_uid == "E000"
    await w.avail.set_status("LOC1", "E000", EvseStatus.INOPERATIVE, utc_now())
    await w.service.handle_event(ReservationEnded(
        charge_point_id="CP000", reservation_id=1, reason=ReservationEndReason.REMOVED))
    await w.service.drain()
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.REROUTED
    assert r.evse_uid != "E000" and r.live
    assert await w.holders() == {r.evse_uid: "NL-EXA/R1"}
    assert w.chargers.cancels() == []  # the charger removed it itself
    assert ("R1", ReservationState.ACTIVE, ReservationState.REROUTED) in w.seen
    last = w.chargers.reserve_nows()[-1]
    assert (last.charge_point_id, last.reservation_id) == (r.charge_point_id,
                                                          r.ocpp_reservation_id)


async def test_fault_reroutes_and_cancels_at_the_old_charger() -> None:
    cands = [evse("E1", "CP16", evse_id=None, connector_id=1),
             evse("E2", "CP16", evse_id=None, connector_id=2)]
    w = await World(cands).ready()
    await w.reserve(evse_uid="E1")
    await w.avail.set_status("LOC1", "E1", EvseStatus.OUTOFORDER, utc_now())
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP16", evse_id=None, connector_id=1, status=ConnectorStatus.FAULTED))
    await w.service.drain()
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.REROUTED and r.evse_uid == "E2"
    assert r.connector_id == 2
    assert [c.reservation_id for c in w.chargers.cancels()] == [1]
    # a status on another connector does not touch it
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP16", evse_id=None, connector_id=1, status=ConnectorStatus.FAULTED))
    await w.service.drain()
    again = await w.service.get(EMSP, "R1")
    assert again is not None and again.version == r.version


async def test_fault_without_alternative_ends_it_and_tells_the_listener() -> None:
    w = await World(grid(2)).ready()
    await w.avail.set_status("LOC1", "E001", EvseStatus.CHARGING, utc_now())
    await w.reserve()
    await w.avail.set_status("LOC1", "E000", EvseStatus.INOPERATIVE, utc_now())
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP000", evse_id=1, connector_id=1, status=ConnectorStatus.UNAVAILABLE))
    await w.service.drain()
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.REMOVED
    assert ("R1", ReservationState.ACTIVE, ReservationState.REMOVED) in w.seen
    assert await w.holders() == {}
    assert "no alternative" in r.history[-1]["reason"]


async def test_charger_reported_expiry_ends_it() -> None:
    w = await World(grid(2)).ready()
    made = await w.reserve()
    await w.service.handle_event(ReservationEnded(
        charge_point_id="CP000", reservation_id=made.ocpp_reservation_id or 0,
        reason=ReservationEndReason.EXPIRED))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.EXPIRED


async def test_whole_charger_reservation_is_sent_without_evse() -> None:
    cands = [evse("W1", "CPW", evse_id=None, connector_id=1, whole=True),
             evse("W2", "CPW", evse_id=None, connector_id=2, whole=True)]
    w = await World(cands, allow_whole_charger=True).ready()
    result = await w.reserve()
    assert result.outcome is ReserveOutcome.ACCEPTED
    sent = w.chargers.reserve_nows()[-1]
    assert isinstance(sent, ReserveNow)
    assert (sent.evse_id, sent.connector_id) == (None, None)
    assert result.reservation is not None and result.reservation.whole_charger
    assert ChargerAddress("CPW") == ChargerAddress(sent.charge_point_id)


async def test_a_whole_charger_reservation_of_one_standard_names_its_connector() -> None:
    socket = ConnectorInfo("IEC_62196_T2", 22_000, "AC_3_PHASE", "SOCKET")
    cands = [evse("W1", "CPW", evse_id=None, connector_id=1, whole=True, connectors=(socket,)),
             evse("W2", "CPW", evse_id=None, connector_id=2, whole=True, connectors=(socket,))]
    w = await World(cands, allow_whole_charger=True).ready()
    request = replace(w.request(), connector_standard="IEC_62196_T2")
    result = await w.service.reserve(request, "R1", time_budget=2.0)
    assert result.outcome is ReserveOutcome.ACCEPTED
    sent = w.chargers.reserve_nows()[-1]
    assert (sent.evse_id, sent.connector_standard, sent.connector_format) == (
        None, "IEC_62196_T2", "SOCKET")
    # The same reservation again (a replacement in place) tells the charger the same.
    again = await w.service.reserve(replace(request, expiry=request.expiry
                                            + timedelta(minutes=5)), "R1", time_budget=2.0)
    assert again.outcome is ReserveOutcome.ACCEPTED
    resent = w.chargers.reserve_nows()[-1]
    assert resent is not sent
    assert (resent.evse_id, resent.connector_standard, resent.connector_format) == (
        None, "IEC_62196_T2", "SOCKET")
    # Without a wanted standard no connector type is named.
    plain = await World(cands, allow_whole_charger=True).ready()
    assert (await plain.reserve()).outcome is ReserveOutcome.ACCEPTED
    assert plain.chargers.reserve_nows()[-1].connector_standard is None


async def test_an_evse_reservation_names_no_connector() -> None:
    w = await World(grid(2)).ready()
    result = await w.service.reserve(replace(w.request(), connector_standard="IEC_62196_T2"),
                                     "R1", time_budget=2.0)
    assert result.outcome is ReserveOutcome.ACCEPTED
    sent = w.chargers.reserve_nows()[-1]
    assert sent.evse_id is not None and sent.connector_standard is None


async def test_partner_cap_holds_under_concurrency_and_frees_slots() -> None:
    w = await World(grid(10), max_concurrent_per_emsp=3).ready()
    results = await asyncio.gather(*(w.reserve(f"R{i}") for i in range(8)))
    accepted = [r for r in results if r.outcome is ReserveOutcome.ACCEPTED]
    assert len(accepted) == 3
    refused = [r for r in results if r.outcome is ReserveOutcome.REJECTED]
    assert all(r.refusal is not None and r.refusal.reason is RefusalReason.PARTNER_CAP_REACHED
               for r in refused)
    assert len(await w.holders()) == 3
    first = accepted[0].reservation
    assert first is not None
    assert (await w.service.cancel(EMSP, first.reservation_id)).outcome \
        is CancelOutcome.ACCEPTED
    assert (await w.reserve("LATE")).outcome is ReserveOutcome.ACCEPTED
    assert (await w.reserve("LATER")).outcome is ReserveOutcome.REJECTED


async def test_slot_left_by_a_crash_is_taken_over() -> None:
    w = await World(grid(4), max_concurrent_per_emsp=1).ready()
    made = await w.reserve("A")
    assert made.reservation is not None and made.reservation.cap_slot == 0
    # simulate a crash between the end of A and the release of its slot
    stored = await w.service.get(EMSP, "A")
    assert stored is not None
    await w.service.repo.transition(stored, ReservationState.EXPIRED, reason="test")
    assert (await w.reserve("B")).outcome is ReserveOutcome.ACCEPTED


async def test_same_reservation_id_is_handled_one_request_at_a_time() -> None:
    w = await World(grid(6)).ready()
    w.chargers.jitter = 0.003
    results = await asyncio.gather(*(w.reserve("SAME", evse_uid=f"E00{i}") for i in range(4)))
    await w.service.drain()
    assert all(r.outcome is ReserveOutcome.ACCEPTED for r in results)
    final = await w.service.get(EMSP, "SAME")
    assert final is not None and final.live
    # each replacement withdrew the previous one: one EVSE held, one OCPP reservation left
    assert await w.holders() == {final.evse_uid: "NL-EXA/SAME"}
    assert list(w.chargers.reservations) == [(final.charge_point_id, final.ocpp_reservation_id)]
    assert len(w.service._locks) == 0


async def test_retry_after_a_crash_mid_attempt_reclaims_the_held_evse() -> None:
    w = await World(grid(1)).ready()
    request = ReservationRequest("LOC1", None, EMSP, "04A1B2C3D4",
                                 utc_now() + timedelta(minutes=30))
    # what a crashed instance leaves: a PENDING record and a hold by its key
    record = Reservation(key="NL-EXA/R1", country_code="NL", party_id="EXA",
                         reservation_id="R1", location_id="LOC1", token_uid="04A1B2C3D4",
                         token_type="ISO14443", expiry=request.expiry,
                         state=ReservationState.PENDING)
    assert await w.service.repo.start(record, None) is not None
    assert await w.avail.pick_and_hold("LOC1", ["E000"], holder="NL-EXA/R1",
                                       until=request.expiry) == "E000"
    result = await w.service.reserve(request, "R1", time_budget=1.0)
    assert result.outcome is ReserveOutcome.ACCEPTED and result.evse_uid == "E000"
    assert await w.holders() == {"E000": "NL-EXA/R1"}


async def test_token_matches_case_insensitively() -> None:
    # 1.6 IdToken is a CiString20Type and a 2.0.1 idToken is case-insensitive: a card read
    # back in lower case is the reserved driver's card all the same.
    cands = [evse("E1", "CP16", evse_id=None, connector_id=1),
             evse("E2", "CP16", evse_id=None, connector_id=2)]
    w = await World(cands).ready()
    await w.reserve(token="04A1B2C3D4")
    await w.service.handle_event(TransactionStarted(
        charge_point_id="CP16", transaction_id="8", evse_id=None, connector_id=1,
        id_token="04a1b2c3d4"))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.USED


async def test_digest_of_a_long_token_matches_case_insensitively() -> None:
    w = await World(grid(2)).ready()
    await w.reserve(token=LONG_TOKEN)
    await w.service.handle_event(TransactionStarted(
        charge_point_id="CP000", transaction_id="T3", evse_id=1, connector_id=1,
        id_token=ocpp16_id_tag(LONG_TOKEN).lower()))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.USED


async def test_token_presented_then_connector_released_uses_the_reservation() -> None:
    # H03.FR.09/10: a charger that sees the reserved token considers the reservation consumed
    # and sets the connector from Reserved to Available (or Occupied) before any transaction.
    w = await World(grid(2)).ready()
    await w.reserve(evse_uid="E000")
    reserved = ConnectorStatusChanged(charge_point_id="CP000", evse_id=1, connector_id=1,
                                      status=ConnectorStatus.RESERVED)
    await w.service.handle_event(reserved)
    await w.service.handle_event(TokenPresented(charge_point_id="CP000", id_token="04a1b2c3d4"))
    # The other EVSE of the charger changing says nothing about this reservation.
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP000", evse_id=2, connector_id=1, status=ConnectorStatus.AVAILABLE))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.ACTIVE
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP000", evse_id=1, connector_id=1, status=ConnectorStatus.OCCUPIED))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.USED
    assert await w.holders() == {}


async def test_connector_released_without_the_token_is_no_use() -> None:
    w = await World(grid(2)).ready()
    await w.reserve(evse_uid="E000")
    await w.service.handle_event(TokenPresented(charge_point_id="CP000", id_token="SOMEONE"))
    await w.service.handle_event(ConnectorStatusChanged(
        charge_point_id="CP000", evse_id=1, connector_id=1, status=ConnectorStatus.AVAILABLE))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.ACTIVE


async def test_authorize_of_the_reserved_token_does_not_use_the_reservation() -> None:
    # 1.6 §5.13 and 2.0.1 H01 (remark) recommend that the charger validates the idTag with an
    # Authorize right after accepting ReserveNow: that Authorize is no use of the reservation.
    w = await World(grid(2)).ready()
    made = await w.reserve(evse_uid="E000")
    await w.service.handle_event(TokenPresented(charge_point_id="CP000", id_token="04A1B2C3D4"))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.ACTIVE
    assert await w.holders() == {"E000": "NL-EXA/R1"}
    await w.service.handle_event(TransactionStarted(
        charge_point_id="CP000", transaction_id="T9", evse_id=1, connector_id=1,
        id_token="04A1B2C3D4", reservation_id=made.ocpp_reservation_id))
    r = await w.service.get(EMSP, "R1")
    assert r is not None and r.state is ReservationState.USED


async def test_no_next_candidate_once_the_time_budget_is_used_up() -> None:
    w = await World(grid(2, per_charger=1)).ready()
    for cp in ("CP000", "CP001"):
        w.chargers.late.add(cp)  # answers only when the wait (here the whole budget) is over
        w.chargers.script[(cp, 1, None)] = [CommandOutcome.OCCUPIED]
    result = await w.reserve(budget=0.05)
    assert len(w.chargers.reserve_nows()) == 1
    assert result.outcome is ReserveOutcome.TIMEOUT
    assert [outcome for _, outcome in result.charger_outcomes] == [
        CommandOutcome.OCCUPIED, CommandOutcome.TIMEOUT]
    assert await w.holders() == {}


async def test_a_budget_used_up_before_any_charger_is_asked_is_a_timeout() -> None:
    w = await World(grid(2)).ready()
    result = await w.reserve(budget=0.0)
    assert w.chargers.reserve_nows() == []
    assert result.outcome is ReserveOutcome.TIMEOUT
    assert result.charger_outcomes == (("", CommandOutcome.TIMEOUT),)
    assert await w.holders() == {}


async def test_stopping_the_expiry_clock_stops_its_scan() -> None:
    scanning, cancelled = asyncio.Event(), asyncio.Event()

    class SlowScan:
        async def expire_due(self, now: datetime | None = None) -> int:
            scanning.set()
            try:
                await asyncio.Event().wait()  # a scan that never ends by itself
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return 0

    clock = ExpiryClock(SlowScan(), interval=0.01)
    clock.start()
    await scanning.wait()
    await clock.stop()
    assert cancelled.is_set()
