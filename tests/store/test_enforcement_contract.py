"""The enforcement repositories (no-shows, daily counts, bans) on every DocumentStore backend:
the queries they make, their ordering, and their compare-and-set under concurrency (the
``store`` fixture of conftest.py: every backend)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.enforcement.bans import Ban, BanRepository, BanSource
from ocpi_gateway.reservation_policy.enforcement.records import (
    STATS,
    DailyCounts,
    NoShow,
    NoShowRepository,
    UnusedKind,
)
from ocpi_gateway.reservation_policy.models import Partner

EMSP = Partner("DE", "EMS")
OTHER = Partner("NL", "OTH")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def no_show(reference: str, token: str = "TOK", *, partner: Partner = EMSP,
            at: datetime = T0) -> NoShow:
    return NoShow(kind=UnusedKind.RESERVATION, country_code=partner.country_code,
                  party_id=partner.party_id, token_uid=token, reference=reference,
                  location_id="LOC1", evse_uid=None, reserved_at=at - timedelta(hours=1),
                  expired_at=at, recorded_at=at)


async def test_no_shows_by_token_and_by_emsp_oldest_first(store: DocumentStore) -> None:
    repo = NoShowRepository(store)
    late, early = no_show("R1", at=T0 + timedelta(days=1)), no_show("R2", "tok")
    assert await repo.add(late) and await repo.add(early)
    assert not await repo.add(no_show("R1", at=T0 + timedelta(days=1)))  # the same end
    await repo.add(no_show("R3", "TOK", partner=OTHER))
    await repo.add(no_show("R4", "OTHER-TOKEN"))
    assert await repo.of_token(EMSP, "Tok") == [early, late]
    assert [n.reference for n in await repo.of_partner(EMSP)] == ["R2", "R4", "R1"]
    assert [n.reference for n in await repo.of_partner(EMSP, limit=1)] == ["R2"]
    assert await repo.of_token(OTHER, "TOK") == [no_show("R3", "TOK", partner=OTHER)]


async def test_daily_counts_sum_over_the_window(store: DocumentStore) -> None:
    counts = DailyCounts(store)
    for day, unused in ((0, True), (0, False), (2, True), (5, False)):
        assert await counts.count(EMSP, T0 + timedelta(days=day), unused=unused)
    await counts.count(OTHER, T0, unused=True)
    now = T0 + timedelta(days=5)
    window = await counts.window(EMSP, now, 5)
    assert (window.ended, window.no_shows, window.share) == (4, 2, 0.5)
    window = await counts.window(EMSP, now, 3)
    assert (window.ended, window.no_shows) == (2, 1)
    empty = await counts.window(Partner("XX", "NON"), now, 30)
    assert (empty.ended, empty.share) == (0, 0.0)


async def test_concurrent_counts_lose_nothing(store: DocumentStore) -> None:
    counts = DailyCounts(store)
    done = await asyncio.gather(*(counts.count(EMSP, T0, unused=i % 2 == 0)
                                  for i in range(10)))
    assert all(done)
    window = await counts.window(EMSP, T0, 1)
    assert (window.ended, window.no_shows) == (10, 5)


async def test_days_older_than_a_year_are_dropped(store: DocumentStore) -> None:
    counts = DailyCounts(store)
    await counts.count(EMSP, T0, unused=True)
    await counts.count(EMSP, T0 + timedelta(days=366), unused=True)
    assert len(await store.find(STATS, {"partner_key": "DE-EMS"})) == 2  # exactly a year
    await counts.count(EMSP, T0 + timedelta(days=367), unused=True)
    assert sorted(d["day"] for d in await store.find(STATS, {"partner_key": "DE-EMS"})) == [
        (T0 + timedelta(days=n)).date().isoformat() for n in (366, 367)]


def ban(token: str, days: float, *, partner: Partner = EMSP) -> Ban:
    return Ban(country_code=partner.country_code, party_id=partner.party_id, token_uid=token,
               since=T0, until=T0 + timedelta(days=days), source=BanSource.OPERATOR,
               reason="r", by="ops", no_shows=("a", "b"), strikes_from=T0,
               history=({"since": "x"},))


async def test_bans_compare_and_set(store: DocumentStore) -> None:
    repo = BanRepository(store)
    first = ban("TOK", 1)
    assert await repo.write(first, None)
    assert not await repo.write(ban("tok", 2), None)  # the token has its document
    assert await repo.get(EMSP, "tok") == first
    second = first.succeeded_by(ban("TOK", 3))
    assert await repo.write(second, first)
    assert not await repo.write(first.succeeded_by(ban("TOK", 4)), first)  # stale
    stored = await repo.get(EMSP, "TOK")
    assert stored == second and stored.version == 1 and len(stored.history) == 2
    assert await repo.get(OTHER, "TOK") is None


async def test_bans_listed_latest_end_first(store: DocumentStore) -> None:
    repo = BanRepository(store)
    for token, days, partner in (("A", 3, EMSP), ("B", 9, EMSP), ("C", 1, OTHER)):
        await repo.write(ban(token, days, partner=partner), None)
    assert [b.token_uid for b in await repo.all()] == ["B", "A", "C"]
    assert [b.token_uid for b in await repo.all(OTHER)] == ["C"]
