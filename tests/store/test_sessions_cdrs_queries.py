"""The queries of the Sessions and CDRs repositories on every store backend: a page of some
parties' objects within a range of last_updated, counted in all; a session marked billed;
the unbilled ones oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpi_gateway.cdrs.builder import session_cdr
from ocpi_gateway.cdrs.models import CdrKind
from ocpi_gateway.cdrs.repository import CdrRepository
from ocpi_gateway.domain.store import DocumentStore, Range
from ocpi_gateway.sessions.repository import SessionRepository
from tests.sessions.factories import TOKEN, session

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def stamp(minutes: int) -> float:
    return (T0 + timedelta(minutes=minutes)).timestamp()


async def test_a_page_of_some_parties_within_dates(store: DocumentStore) -> None:
    sessions, cdrs = SessionRepository(store), CdrRepository(store)
    other = TOKEN.model_copy(update={"party_id": "OTH"})
    stranger = TOKEN.model_copy(update={"country_code": "FR", "party_id": "XYZ"})
    for n, token in enumerate((TOKEN, other, TOKEN, stranger, TOKEN)):
        made = session(id=f"S{n}", token=token, last_updated=T0 + timedelta(minutes=n))
        assert await sessions.insert(made)
        assert await cdrs.insert(session_cdr(made, CdrKind.SESSION,
                                             now=T0 + timedelta(minutes=n)))
    parties = [("de", "ems"), ("DE", "OTH")]
    for repo in (sessions, cdrs):
        found, total = await repo.page_of(parties, None, 0, 10)  # type: ignore[attr-defined]
        assert [x.id for x in found] == ["S0", "S1", "S2", "S4"] and total == 4
        found, total = await repo.page_of(parties, None, 1, 2)  # type: ignore[attr-defined]
        assert [x.id for x in found] == ["S1", "S2"] and total == 4
        found, total = await repo.page_of(  # type: ignore[attr-defined]
            parties, Range(gte=stamp(1), lt=stamp(4)), 0, 10)
        assert [x.id for x in found] == ["S1", "S2"] and total == 2
        found, total = await repo.page_of(parties, None, 9, 10)  # type: ignore[attr-defined]
        assert found == [] and total == 4
        found, total = await repo.page_of(parties, None, 0, 0)  # type: ignore[attr-defined]
        assert found == [] and total == 4


async def test_billing_marks_and_the_unbilled(store: DocumentStore) -> None:
    sessions = SessionRepository(store)
    for n in (2, 0, 1):
        await sessions.insert(session(id=f"S{n}", last_updated=T0 + timedelta(minutes=n)))
    assert [s.id for s in await sessions.unbilled()] == ["S0", "S1", "S2"]
    assert await sessions.mark_billed("S1")
    assert [s.id for s in await sessions.unbilled()] == ["S0", "S2"]
    assert [s.id for s in await sessions.unbilled(limit=1)] == ["S0"]
    billed = await sessions.get("S1")
    assert billed is not None and billed.billed and billed.version == 1
