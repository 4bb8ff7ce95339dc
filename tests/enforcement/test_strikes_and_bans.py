"""No-shows become strikes, strikes a ban, a ban a refusal with its end and its reason; the
operator lifts and sets bans. Over the real SQLite store, on a clock the tests move."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.enforcement.bans import BanSource
from ocpi_gateway.reservation_policy.enforcement.records import UnusedKind
from ocpi_gateway.reservation_policy.enforcement.service import POLICY, BanError, Enforcement
from ocpi_gateway.reservation_policy.engine import RefusalReason
from tests.enforcement.support import EMSP, OTHER, T0, Clock, policy, setup, strikes


async def test_the_count_within_the_window_bans_the_token(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=3, within_days=7, ban_days=2)))
    for _ in range(2):
        assert await s.no_show() is not None
        s.clock.advance(hours=1)
        assert await s.refusal() is None
    assert s.seen.banned == []
    third = await s.no_show()
    assert third is not None
    [ban] = s.seen.banned
    assert ban.since == s.clock() and ban.until == s.clock() + timedelta(days=2)
    assert ban.source is BanSource.NO_SHOWS and ban.by == POLICY
    assert ban.reason == "3 no-shows within 7 days"
    assert len(ban.no_shows) == 3 and ban.no_shows[-1] == third.key
    refusal = await s.refusal()
    assert refusal is not None and refusal.reason is RefusalReason.TOKEN_BANNED
    assert refusal.message == ("token TOKEN1 may not reserve or book until "
                               "2026-03-04T11:00:00Z: 3 no-shows within 7 days")
    assert s.seen.refused == [refusal]
    assert [n.key for n in s.seen.no_shows] == list(ban.no_shows)


async def test_no_shows_older_than_the_window_do_not_count(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=2, within_days=7)))
    await s.no_show()
    s.clock.advance(days=7)  # the first one is now exactly at the window's start: out
    await s.no_show()
    assert s.seen.banned == [] and await s.refusal() is None
    s.clock.advance(days=7, seconds=-1)  # the second one still in
    await s.no_show()
    assert len(s.seen.banned) == 1


async def test_the_ban_ends_after_ban_days(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=1, ban_days=2)))
    await s.no_show()
    s.clock.advance(days=2, seconds=-1)
    assert await s.refusal() is not None
    s.clock.advance(seconds=1)
    assert await s.refusal() is None
    [ban] = await s.enforcement.list_bans(include_ended=True)
    assert not ban.active(s.clock()) and await s.enforcement.list_bans() == []


async def test_the_strikes_a_ban_was_made_of_are_spent(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=2, within_days=30, ban_days=1)))
    await s.no_show()
    await s.no_show()
    assert len(s.seen.banned) == 1
    s.clock.advance(days=1)
    await s.no_show()  # the two before are inside the window, but spent on the first ban
    assert len(s.seen.banned) == 1 and await s.refusal() is None
    await s.no_show()
    assert len(s.seen.banned) == 2
    second = await s.enforcement.ban_of(EMSP, "TOKEN1")
    assert second is not None and second.active(s.clock())
    assert [entry["since"] for entry in second.history] == [T0.isoformat()]


async def test_a_no_show_while_banned_counts_towards_the_next_ban(
        store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=2, within_days=30, ban_days=1)))
    await s.no_show()
    await s.no_show()
    s.clock.advance(hours=1)
    await s.no_show()  # a reservation made before the ban, left unused during it
    assert len(s.seen.banned) == 1
    s.clock.advance(days=1)
    await s.no_show()
    assert len(s.seen.banned) == 2


async def test_strikes_off_records_but_never_bans(store: DocumentStore) -> None:
    s = setup(store, policy())
    for _ in range(5):
        assert await s.no_show() is not None
    assert s.seen.banned == [] and await s.refusal() is None
    assert len(await s.enforcement.records.of_token(EMSP, "TOKEN1")) == 5


async def test_the_same_end_recorded_twice_is_one_no_show(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=2)))
    fields = {"kind": UnusedKind.RESERVATION, "partner": EMSP, "token_uid": "TOKEN1",
              "reference": "R1", "location_id": "LOC1", "evse_uid": "E1",
              "reserved_at": T0, "expired_at": T0 + timedelta(minutes=30)}
    assert await s.enforcement.record_no_show(**fields) is not None
    assert await s.enforcement.record_no_show(**fields) is None
    assert s.seen.banned == [] and len(s.seen.no_shows) == 1
    counts = await s.enforcement.counts.window(EMSP, s.clock(), 1)
    assert (counts.ended, counts.no_shows) == (1, 1)


async def test_a_ban_is_of_one_emsps_token_in_any_case(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=1)))
    await s.no_show("tok-1")
    assert await s.refusal("TOK-1") is not None  # a CiString: the same token
    assert await s.refusal("tok-1", partner=OTHER) is None  # another eMSP's token
    assert await s.refusal("TOK-2") is None
    await s.no_show("tok-1", partner=OTHER)
    bans = await s.enforcement.list_bans()
    assert sorted(b.key for b in bans) == ["DE-EMS/TOK-1", "NL-OTH/TOK-1"]
    assert [b.key for b in await s.enforcement.list_bans(partner=OTHER)] == ["NL-OTH/TOK-1"]


async def test_the_location_of_the_no_show_decides_the_strikes(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=3), locations={
        "STRICT": {"no_show_strikes": {"count": 1}}}))
    await s.no_show(location="LOC1")
    assert s.seen.banned == []
    await s.no_show(location="STRICT")  # two so far: the site's own count is one
    [ban] = s.seen.banned
    assert ban.reason == "2 no-shows within 7 days"  # within_days inherited from defaults


async def test_lifting_ends_the_ban_and_forgives_the_strikes(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=2, within_days=30, ban_days=5)))
    await s.no_show()
    await s.no_show()
    s.clock.advance(hours=2)
    lifted = await s.enforcement.lift(EMSP, "token1", by="ops:ann", reason="charger fault")
    assert lifted is not None
    assert (lifted.lifted_at, lifted.lifted_by, lifted.lift_reason) == (
        s.clock(), "ops:ann", "charger fault")
    assert s.seen.lifted == [lifted]
    assert await s.refusal() is None
    assert await s.enforcement.lift(EMSP, "TOKEN1", by="ops:ann") is None  # not banned
    await s.no_show()  # the two before the lift are forgiven
    assert len(s.seen.banned) == 1
    [shown] = await s.enforcement.list_bans(include_ended=True)
    assert shown.lifted_by == "ops:ann" and await s.enforcement.list_bans() == []


async def test_the_operator_sets_a_ban(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=2, within_days=30)))
    await s.no_show()
    until = s.clock() + timedelta(days=10)
    ban = await s.enforcement.set_ban(EMSP, "TOKEN1", until=until, reason="card misuse",
                                      by="ops:bob")
    assert (ban.source, ban.by, ban.until, ban.since) == (
        BanSource.OPERATOR, "ops:bob", until, s.clock())
    assert s.seen.banned == [ban]
    refusal = await s.refusal()
    assert refusal is not None and refusal.message == (
        "token TOKEN1 may not reserve or book until 2026-03-12T09:00:00Z: banned by the "
        "operator: card misuse")
    with pytest.raises(BanError, match="in the future"):
        await s.enforcement.set_ban(EMSP, "TOKEN1", until=s.clock(), reason="x", by="ops")
    shorter = await s.enforcement.set_ban(EMSP, "TOKEN1", until=s.clock() + timedelta(days=1),
                                          reason="appeal", by="ops:ann")
    assert shorter.reason == "appeal" and shorter.version == ban.version + 1
    assert [e["reason"] for e in shorter.history] == ["card misuse"]
    s.clock.advance(days=1)
    assert await s.refusal() is None
    await s.no_show()  # an operator's ban spends no strikes: this is the second
    assert [b.source for b in s.seen.banned] == [BanSource.OPERATOR, BanSource.OPERATOR,
                                                 BanSource.NO_SHOWS]


async def test_list_bans_latest_end_first(store: DocumentStore) -> None:
    s = setup(store, policy())
    for days, token in ((3, "A"), (9, "B"), (1, "C")):
        await s.enforcement.set_ban(EMSP, token, until=s.clock() + timedelta(days=days),
                                    reason="r", by="ops")
    assert [b.token_uid for b in await s.enforcement.list_bans()] == ["B", "A", "C"]
    s.clock.advance(days=2)
    assert [b.token_uid for b in await s.enforcement.list_bans()] == ["B", "A"]
    assert [b.token_uid for b in await s.enforcement.list_bans(include_ended=True)] == [
        "B", "A", "C"]


async def test_instances_recording_at_once_ban_once(store: DocumentStore) -> None:
    clock = Clock()
    source = policy(no_show_strikes=strikes(count=2))
    a = setup(store, source, clock)
    b = setup(store, source, clock)
    await a.no_show()
    fields = [{"kind": UnusedKind.RESERVATION, "partner": EMSP, "token_uid": "TOKEN1",
               "reference": f"X{i}", "location_id": "LOC1", "evse_uid": None,
               "reserved_at": T0, "expired_at": T0} for i in range(2)]
    await asyncio.gather(a.enforcement.record_no_show(**fields[0]),
                         b.enforcement.record_no_show(**fields[1]))
    assert len(a.seen.banned) + len(b.seen.banned) == 1
    ban = await a.enforcement.ban_of(EMSP, "TOKEN1")
    assert ban is not None and ban.version == 0


async def test_lifting_under_a_concurrent_change_retries(store: DocumentStore) -> None:
    s = setup(store, policy())
    await s.enforcement.set_ban(EMSP, "T", until=s.clock() + timedelta(days=1), reason="r",
                                by="ops")
    other = Enforcement(store, policy(), clock=s.clock)
    results = await asyncio.gather(
        s.enforcement.lift(EMSP, "T", by="ops:1"), other.lift(EMSP, "T", by="ops:2"))
    assert sum(r is not None for r in results) == 1
    ban = await s.enforcement.ban_of(EMSP, "T")
    assert ban is not None and ban.lifted_by in ("ops:1", "ops:2") and ban.version == 1


async def test_every_refusal_ban_and_lift_is_logged_with_its_ids(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=1, within_days=30, ban_days=5)))
    with capture_logs() as logs:
        await s.no_show()
        await s.refusal(location="LOC9")
        await s.enforcement.lift(EMSP, "TOKEN1", by="ops:ann", reason="charger fault")
        await s.enforcement.set_ban(EMSP, "TOKEN1", until=s.clock() + timedelta(days=1),
                                    reason="card misuse", by="ops:bob")
    by_event = {e["event"]: e for e in logs}
    assert [e["event"] for e in logs] == ["no_show_recorded", "token_banned",
                                          "enforcement_refused", "token_ban_lifted",
                                          "token_banned"]
    refused = by_event["enforcement_refused"]
    assert (refused["reason"], refused["partner_key"], refused["token_uid"],
            refused["location_id"]) == ("token_banned", EMSP.key, "TOKEN1", "LOC9")
    lifted = by_event["token_ban_lifted"]
    assert (lifted["by"], lifted["lift_reason"], lifted["partner_key"],
            lifted["token_uid"]) == ("ops:ann", "charger fault", EMSP.key, "TOKEN1")
    operator = logs[-1]
    assert (operator["by"], operator["reason"], operator["source"], operator["token_uid"]) \
        == ("ops:bob", "card misuse", BanSource.OPERATOR.value, "TOKEN1")
