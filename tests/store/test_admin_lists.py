"""The admin lists (admin/service/) on every store backend: each filter, the time range, each
order offered, and keyset pages that walk every match once; a cursor of another order is
refused. One test per list, over records the real repositories' documents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from ocpi_gateway.admin.service.bans import BanFilter, list_bans
from ocpi_gateway.admin.service.bookings import BookingFilter, list_bookings
from ocpi_gateway.admin.service.cdrs import CdrFilter, list_cdrs
from ocpi_gateway.admin.service.no_shows import NoShowFilter, list_no_shows
from ocpi_gateway.admin.service.outbox import OutboxFilter, list_deliveries
from ocpi_gateway.admin.service.paging import BadCursor
from ocpi_gateway.admin.service.reservations import ReservationFilter, list_reservations
from ocpi_gateway.admin.service.sessions import SessionFilter, list_sessions
from ocpi_gateway.cdrs.builder import credit_of, session_cdr
from ocpi_gateway.cdrs.models import CdrKind
from ocpi_gateway.cdrs.repository import CdrRepository
from ocpi_gateway.deliveries.models import COLLECTION as OUTBOX
from ocpi_gateway.deliveries.models import Delivery
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.bookings.records import COLLECTION as BOOKINGS
from ocpi_gateway.reservation_policy.bookings.states import BookingState
from ocpi_gateway.reservation_policy.enforcement.bans import Ban, BanRepository, BanSource
from ocpi_gateway.reservation_policy.enforcement.records import (
    NoShow,
    NoShowRepository,
    UnusedKind,
)
from ocpi_gateway.reservation_policy.records import COLLECTION as RESERVATIONS
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.sessions.models import SessionStatus
from ocpi_gateway.sessions.repository import SessionRepository
from tests.bookings.support import OTHER, booking
from tests.sessions.factories import TOKEN, session

T0 = datetime(2026, 11, 1, 8, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def walk(run: Callable[[Any], Awaitable[Any]], query: Any) -> list[str]:
    """Every page of ``query`` (two items a page), the ids in order, checking no page is
    empty but the last."""
    seen: list[str] = []
    cursor = None
    while True:
        page = await run(query.model_copy(update={"cursor": cursor, "limit": 2}))
        seen += [getattr(item, "key", None) or item.id for item in page.items]
        if page.next_cursor is None:
            return seen
        assert len(page.items) == 2
        cursor = page.next_cursor


def reservation(n: int, **changes: Any) -> Reservation:
    fields: dict[str, Any] = dict(
        key=f"DE-ABC/R{n}", country_code="DE", party_id="ABC", reservation_id=f"R{n}",
        location_id="L1", token_uid="T1", token_type="RFID", expiry=at(60 + n),
        state=ReservationState.EXPIRED, created_at=at(n), updated_at=at(n),
        charge_point_id="CP1", evse_uid="E1")
    fields.update(changes)
    return Reservation(**fields)


async def test_reservations_filter_sort_and_page(store: DocumentStore) -> None:
    made = [reservation(0), reservation(1, state=ReservationState.ACTIVE, location_id="L2"),
            reservation(2, country_code="NL", party_id="XYZ", key="NL-XYZ/R2"),
            reservation(3, token_uid="T2", expiry=at(10), evse_uid="E2"),
            reservation(4, state=ReservationState.PENDING, charge_point_id="CP2"),
            reservation(5, state=ReservationState.CANCELLED)]
    for r in made:
        await store.put(RESERVATIONS, r.key, r.to_doc())

    async def keys(**query: Any) -> list[str]:
        return await walk(lambda q: list_reservations(store, q),
                          ReservationFilter.model_validate(query))

    assert await keys() == ["DE-ABC/R5", "DE-ABC/R4", "DE-ABC/R3", "NL-XYZ/R2", "DE-ABC/R1",
                            "DE-ABC/R0"]
    assert await keys(state="live") == ["DE-ABC/R4", "DE-ABC/R1"]
    assert await keys(state="expired,cancelled", emsp="de*abc") == [
        "DE-ABC/R5", "DE-ABC/R3", "DE-ABC/R0"]
    assert await keys(site="L2") == ["DE-ABC/R1"]
    assert await keys(token="T2") == ["DE-ABC/R3"]
    assert await keys(charger="CP2") == ["DE-ABC/R4"]
    assert await keys(evse="E2") == ["DE-ABC/R3"]
    assert await keys(**{"from": at(2).isoformat(), "to": at(4).isoformat()}) == [
        "DE-ABC/R3", "NL-XYZ/R2"]
    # A moment without a zone is UTC.
    assert await keys(**{"from": at(5).replace(tzinfo=None).isoformat()}) == ["DE-ABC/R5"]
    assert await keys(sort="created") == ["DE-ABC/R0", "DE-ABC/R1", "NL-XYZ/R2", "DE-ABC/R3",
                                          "DE-ABC/R4", "DE-ABC/R5"]
    assert await keys(sort="expiry", state="expired") == ["DE-ABC/R3", "DE-ABC/R0",
                                                          "NL-XYZ/R2"]
    assert await keys(sort="-expiry", emsp="NL-XYZ") == ["NL-XYZ/R2"]
    # A cursor belongs to its order: another order refuses it rather than skip rows.
    first = await list_reservations(store, ReservationFilter(limit=2))
    assert first.next_cursor is not None
    with pytest.raises(BadCursor, match="another order"):
        await list_reservations(store, ReservationFilter(sort="expiry",
                                                         cursor=first.next_cursor))
    with pytest.raises(ValidationError, match="sort"):
        ReservationFilter(sort="token")
    with pytest.raises(ValidationError, match="SLEEPING"):
        ReservationFilter(state="active,sleeping")


async def test_sessions_by_status_site_emsp_token_and_charger(store: DocumentStore) -> None:
    repo = SessionRepository(store)
    other = TOKEN.model_copy(update={"party_id": "OTH", "uid": "OTH01"})
    made = [session(id="S0", last_updated=at(0)),
            session(id="S1", last_updated=at(1), status=SessionStatus.ACTIVE,
                    end_date_time=None),
            session(id="S2", last_updated=at(2), token=other, location_id="LOC-2"),
            session(id="S3", last_updated=at(3), charge_point_id="CP-9"),
            session(id="S4", last_updated=at(4), token=None)]
    for s in made:
        assert await repo.insert(s)

    async def ids(**query: Any) -> list[str]:
        return await walk(lambda q: list_sessions(store, q), SessionFilter.model_validate(query))

    assert await ids() == ["S4", "S3", "S2", "S1", "S0"]
    assert await ids(sort="updated", state="completed") == ["S0", "S2", "S3", "S4"]
    assert await ids(state="live") == ["S1"]
    assert await ids(emsp="DE-OTH") == ["S2"]
    assert await ids(token="DEEMS0001") == ["S3", "S1", "S0"]
    assert await ids(site="LOC-2") == ["S2"]
    assert await ids(charger="CP-9") == ["S3"]
    assert await ids(**{"from": at(1).isoformat(), "to": at(3).isoformat()}) == ["S2", "S1"]
    page = await list_sessions(store, SessionFilter(token="OTH01"))
    assert page.items[0].emsp == "DE-OTH" and page.items[0].energy_wh == 6000


async def test_cdrs_by_kind_token_site_and_credit(store: DocumentStore) -> None:
    repo = CdrRepository(store)
    other = TOKEN.model_copy(update={"uid": "OTHER1"})
    first = session_cdr(session(id="S0"), CdrKind.SESSION, now=at(0))
    made = [first, session_cdr(session(id="S1", token=other), CdrKind.SESSION, now=at(1)),
            session_cdr(session(id="S2"), CdrKind.RESERVATION, now=at(2)),
            credit_of(first, now=at(3), remark="goodwill")]
    for cdr in made:
        assert await repo.insert(cdr)

    async def ids(**query: Any) -> list[str]:
        return await walk(lambda q: list_cdrs(store, q), CdrFilter.model_validate(query))

    assert await ids() == [made[3].id, "S2", "S1", "S0"]
    assert await ids(kind="RESERVATION") == ["S2"]
    assert await ids(token="OTHER1") == ["S1"]
    assert await ids(credit=True) == [made[3].id]
    assert await ids(credit=False, site="LOC-1", emsp="DE-EMS", sort="created") == [
        "S0", "S1", "S2"]
    assert await ids(site="ELSEWHERE") == []
    assert await ids(**{"to": at(1).isoformat()}) == ["S0"]


def no_show(n: int, **changes: Any) -> NoShow:
    fields: dict[str, Any] = dict(
        kind=UnusedKind.RESERVATION, country_code="DE", party_id="ABC", token_uid="tok1",
        reference=f"R{n}", location_id="L1", evse_uid="E1", reserved_at=at(n),
        expired_at=at(n + 30), recorded_at=at(n + 31))
    fields.update(changes)
    return NoShow(**fields)


async def test_no_shows_by_token_emsp_site_and_time(store: DocumentStore) -> None:
    repo = NoShowRepository(store)
    made = [no_show(0), no_show(1, party_id="XYZ"), no_show(2, location_id="L2"),
            no_show(3, kind=UnusedKind.BOOKING, token_uid="TOK2")]
    for record in made:
        assert await repo.add(record)

    async def refs(**query: Any) -> list[str]:
        keys = await walk(lambda q: list_no_shows(store, q), NoShowFilter.model_validate(query))
        return [k.split("/")[1].split("@")[0] for k in keys]

    assert await refs() == ["R3", "R2", "R1", "R0"]
    # One eMSP's token in any case: the records key it upper-case.
    assert await refs(emsp="DE-ABC", token="TOK1") == ["R2", "R0"]
    assert await refs(token="tok1") == ["R2", "R1", "R0"]
    assert await refs(emsp="de-xyz") == ["R1"]
    assert await refs(kind="booking") == ["R3"]
    assert await refs(site="L2", sort="recorded") == ["R2"]
    assert await refs(**{"from": at(32).isoformat()}) == ["R3", "R2", "R1"]


def ban(token: str, until: datetime, **changes: Any) -> Ban:
    fields: dict[str, Any] = dict(
        country_code="DE", party_id="ABC", token_uid=token, since=T0, until=until,
        source=BanSource.NO_SHOWS, reason="3 no-shows", by="policy")
    fields.update(changes)
    return Ban(**fields)


async def test_bans_in_force_by_emsp_token_source_and_end(store: DocumentStore) -> None:
    repo = BanRepository(store)
    now = at(100)
    made = [ban("A", at(200)), ban("B", at(50)),  # ended
            ban("C", at(300), lifted_at=at(90), lifted_by="olga"),  # lifted
            ban("D", at(400), party_id="XYZ", source=BanSource.OPERATOR, by="alice")]
    for b in made:
        assert await repo.write(b, None)

    async def keys(**query: Any) -> list[str]:
        return await walk(lambda q: list_bans(store, q, now), BanFilter.model_validate(query))

    assert await keys() == ["DE-XYZ/D", "DE-ABC/C", "DE-ABC/A", "DE-ABC/B"]
    assert await keys(in_force=True) == ["DE-XYZ/D", "DE-ABC/A"]
    assert await keys(in_force=True, emsp="DE-ABC") == ["DE-ABC/A"]
    assert await keys(emsp="de-abc", token="c") == ["DE-ABC/C"]
    assert await keys(source="operator") == ["DE-XYZ/D"]
    assert await keys(sort="until", **{"from": at(100).isoformat(),
                                       "to": at(350).isoformat()}) == ["DE-ABC/A", "DE-ABC/C"]
    assert await keys(in_force=True, **{"to": at(250).isoformat()}) == ["DE-ABC/A"]
    page = await list_bans(store, BanFilter(), now)
    assert [b.in_force for b in page.items] == [True, False, True, False]


async def test_outbox_by_state_partner_method_and_order(store: DocumentStore) -> None:
    rows = [Delivery(id="d0", partner_id="p1", method="PUT", url="u0", ordering_key="k0",
                     seq=10, next_attempt_at=5.0),
            Delivery(id="d1", partner_id="p1", method="PATCH", url="u1", ordering_key="k1",
                     seq=11, attempts=2, next_attempt_at=1.0),
            Delivery(id="d2", partner_id="p2", method="POST", url="u2", ordering_key="k1",
                     seq=12, attempts=5, dead=True, next_attempt_at=3.0)]
    for row in rows:
        await store.put(OUTBOX, row.id, row.to_doc())

    async def ids(**query: Any) -> list[str]:
        return await walk(lambda q: list_deliveries(store, q),
                          OutboxFilter.model_validate(query))

    assert await ids() == ["d2", "d1", "d0"]
    assert await ids(state="pending") == ["d0"]
    assert await ids(state="retrying") == ["d1"]
    assert await ids(state="dead") == ["d2"]
    assert await ids(partner="p1", method="patch") == ["d1"]
    assert await ids(ordering_key="k1", sort="next_attempt") == ["d1", "d2"]


async def test_outbox_by_when_queued_and_rows_stored_before_it_was_kept(
        store: DocumentStore) -> None:
    for n, minute in enumerate((0, 10, 20, 30)):
        row = Delivery(id=f"q{n}", partner_id="p1", method="PUT", url=f"u{n}",
                       ordering_key=f"k{n}", seq=n, queued_at=at(minute).timestamp(),
                       dead=n == 2)
        await store.put(OUTBOX, row.id, row.to_doc())
    # A row an earlier release wrote: no queued_at at all.
    old = Delivery(id="old", partner_id="p1", method="PUT", url="u", ordering_key="k",
                   seq=-1).to_doc()
    del old["queued_at"]
    await store.put(OUTBOX, "old", old)

    async def ids(**query: Any) -> list[str]:
        return await walk(lambda q: list_deliveries(store, q),
                          OutboxFilter.model_validate(query))

    assert await ids(**{"from": at(10).isoformat()}) == ["q3", "q2", "q1"]
    assert await ids(**{"from": at(10).isoformat(), "to": at(30).isoformat()}) == ["q2", "q1"]
    assert await ids(to=at(10).isoformat(), sort="queued") == ["q0"]
    assert await ids(**{"from": at(5).isoformat(), "state": "dead"}) == ["q2"]
    assert await ids(**{"from": at(5).isoformat(), "state": "pending"}) == ["q3", "q1"]
    # Without a range the old row is listed, and loads without the field.
    assert await ids() == ["q3", "q2", "q1", "q0", "old"]
    page = await list_deliveries(store, OutboxFilter(sort="queued", limit=1))
    assert page.items[0].id == "old" and page.items[0].queued_at is None
    assert (await list_deliveries(store, OutboxFilter(state="dead"))).items[0].queued_at == at(20)


async def test_bookings_by_state_site_emsp_evse_and_start(store: DocumentStore) -> None:
    made = [booking("B0", start=300, created_at=at(0), updated_at=at(0)),
            booking("B1", start=100, state=BookingState.RESERVED, evse_uid="E2",
                    created_at=at(1), updated_at=at(5)),
            booking("B2", start=200, partner=OTHER, state=BookingState.CANCELED,
                    created_at=at(2), updated_at=at(2)),
            booking("B3", start=400, location="LOC2", state=BookingState.NO_SHOW,
                    created_at=at(3), updated_at=at(3))]
    for b in made:
        await store.put(BOOKINGS, b.key, b.to_doc())

    async def ids(**query: Any) -> list[str]:
        keys = await walk(lambda q: list_bookings(store, q), BookingFilter.model_validate(query))
        return [k.split("/")[-1] for k in keys]

    assert await ids() == ["B3", "B2", "B1", "B0"]
    assert await ids(state="live") == ["B1", "B0"]
    assert await ids(state="live,no_show", site="LOC1") == ["B1", "B0"]
    assert await ids(emsp="de-oth") == ["B2"]
    assert await ids(evse="E2") == ["B1"]
    assert await ids(token="TOK1", sort="start") == ["B1", "B2", "B0", "B3"]
    assert await ids(sort="-updated") == ["B1", "B3", "B2", "B0"]
    assert await ids(**{"from": at(1).isoformat(), "to": at(3).isoformat()}) == ["B2", "B1"]
