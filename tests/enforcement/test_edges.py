"""What enforcement does when every compare-and-set is lost (another writer always first),
the terms' bounds, and the words of ``policy explain --token`` for each kind of standing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from ocpi_gateway.domain.store import Document, DocumentStore
from ocpi_gateway.reservation_policy.enforcement.explain import describe_standing
from ocpi_gateway.reservation_policy.enforcement.service import BanError, Standing
from ocpi_gateway.reservation_policy.policy import PolicyError, parse_policy
from tests.enforcement.support import EMSP, T0, policy, setup, strikes


class Contended:
    """The real store, but for ``lose`` collections every write finds another writer first:
    inserts find the key taken, compare-and-sets a changed document."""

    def __init__(self, inner: DocumentStore, lose: set[str]) -> None:
        self._inner = inner
        self.lose = lose
        self.attempts = 0

    async def get(self, collection: str, key: str) -> Document | None:
        return await self._inner.get(collection, key)

    async def put(self, collection: str, key: str, doc: Document) -> None:
        await self._inner.put(collection, key, doc)

    async def insert(self, collection: str, key: str, doc: Document) -> bool:
        if collection in self.lose:
            self.attempts += 1
            return False
        return await self._inner.insert(collection, key, doc)

    async def replace_if(self, collection: str, key: str, doc: Document, *,
                         expected: dict[str, Any]) -> bool:
        if collection in self.lose:
            self.attempts += 1
            return False
        return await self._inner.replace_if(collection, key, doc, expected=expected)

    async def delete(self, collection: str, key: str) -> bool:
        return await self._inner.delete(collection, key)

    async def find(self, collection: str, where: dict[str, Any] | None = None, *,
                   order_by: str | None = None, limit: int | None = None,
                   offset: int = 0) -> list[Document]:
        return await self._inner.find(collection, where, order_by=order_by, limit=limit,
                                      offset=offset)

    async def count(self, collection: str, where: dict[str, Any] | None = None) -> int:
        return await self._inner.count(collection, where)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        pass


async def test_a_lost_count_is_logged_and_nothing_fails(store: DocumentStore) -> None:
    contended = Contended(store, {"no_show_stats"})
    s = setup(contended, policy(no_show_strikes=strikes(count=1)))
    with capture_logs() as logs:
        await s.enforcement.record_used(EMSP)
        record = await s.no_show()
    assert record is not None and len(s.seen.banned) == 1  # the strike still counts
    lost = [e for e in logs if e["event"] == "no_show_count_lost"]
    assert [e["log_level"] for e in lost] == ["warning", "warning"]
    assert lost[1]["no_show_key"] == record.key
    assert contended.attempts == 2 * 20  # each count tried 20 times
    assert not await s.enforcement.counts.count(EMSP, T0, unused=False)


async def test_counts_won_are_not_logged(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=1)))
    with capture_logs() as logs:
        await s.enforcement.record_used(EMSP)
        await s.no_show()
    assert [e["event"] for e in logs] == ["no_show_recorded", "token_banned"]


async def test_a_ban_lost_to_other_writers_is_logged(store: DocumentStore) -> None:
    contended = Contended(store, {"token_bans"})
    s = setup(contended, policy(no_show_strikes=strikes(count=1)))
    with capture_logs() as logs:
        record = await s.no_show()
    assert record is not None and s.seen.banned == []
    assert [e["no_show_key"] for e in logs if e["event"] == "token_ban_lost"] == [record.key]
    assert contended.attempts == 20


async def test_the_operator_is_told_when_a_ban_keeps_changing(store: DocumentStore) -> None:
    s = setup(store, policy())
    await s.enforcement.set_ban(EMSP, "T", until=s.clock() + timedelta(days=1), reason="r",
                                by="ops")
    contended = Contended(store, {"token_bans"})
    busy = setup(contended, policy(), s.clock)
    with pytest.raises(BanError, match="kept changing"):
        await busy.enforcement.lift(EMSP, "T", by="ops")
    with pytest.raises(BanError, match="kept changing"):
        await busy.enforcement.set_ban(EMSP, "T", until=s.clock() + timedelta(days=2),
                                       reason="r", by="ops")
    assert contended.attempts == 2 * 20
    assert busy.seen.banned == [] and busy.seen.lifted == []


@pytest.mark.parametrize(("section", "key", "good", "bad"), [
    (None, "grace_minutes", 0, -0.01),
    (None, "grace_minutes", 1440, 1440.01),
    ("no_show_strikes", "count", 0, -1),
    ("no_show_strikes", "within_days", 3660, 3660.5),
    ("no_show_strikes", "within_days", 0.01, 0),
    ("no_show_strikes", "ban_days", 3660, 3661),
    ("no_show_strikes", "ban_days", 0.01, 0),
    ("max_no_show_rate", "rate", 0, -0.01),
    ("max_no_show_rate", "rate", 1, 1.01),
    ("max_no_show_rate", "within_days", 366, 366.5),
    ("max_no_show_rate", "within_days", 0.5, 0),
    ("max_no_show_rate", "min_reservations", 1, 0),
])
@pytest.mark.parametrize("level", ["defaults", "partner"])
def test_the_bounds_of_every_key(section: str | None, key: str, good: float, bad: float,
                                 level: str) -> None:
    def doc(value: float) -> dict[str, Any]:
        keys: dict[str, Any] = {key: value} if section is None else {section: {key: value}}
        return {"defaults": keys} if level == "defaults" else {"partners": {"DE-EMS": keys}}

    settings = parse_policy(doc(good)).effective("L", EMSP)
    got = getattr(settings, key) if section is None else getattr(getattr(settings, section),
                                                                 key)
    assert got == good
    with pytest.raises(PolicyError):
        parse_policy(doc(bad))


def test_the_defaults_of_the_sections() -> None:
    settings = parse_policy({"defaults": {"no_show_strikes": {"count": 2},
                                          "max_no_show_rate": {"rate": 0.5}}}).effective("L")
    assert (settings.no_show_strikes.within_days, settings.no_show_strikes.ban_days) == (30, 7)
    assert (settings.max_no_show_rate.within_days,
            settings.max_no_show_rate.min_reservations) == (30, 10)


async def test_explain_words_for_each_standing(store: DocumentStore) -> None:
    source = policy(no_show_strikes=strikes(count=2, within_days=30, ban_days=1),
                    max_no_show_rate={"rate": 0.5, "min_reservations": 1})
    s = setup(store, source)
    settings = source.effective("LOC1", EMSP)

    async def words() -> list[str]:
        standing = await s.enforcement.standing(EMSP, "TOKEN1", "LOC1")
        return describe_standing(standing, EMSP, "TOKEN1", settings, s.clock()).splitlines()

    clean = await words()
    assert clean == [
        "  token DE-EMS TOKEN1: 0 no-shows recorded, 0 counting towards a ban "
        "(no_show_strikes: 2 within 30 days -> ban of 1 days)",
        "  eMSP DE-EMS: 0 of 0 ended in the last 30 days were no-shows (0%; "
        "max_no_show_rate: 50% over 30 days (from 1 ended))",
        "  enforcement decision: not refused"]
    await s.enforcement.record_used(EMSP)
    await s.no_show()
    one = await words()
    assert one[0].startswith("  token DE-EMS TOKEN1: 1 no-shows recorded, 1 counting")
    assert one[1].startswith("  eMSP DE-EMS: 1 of 2 ended") and "(50%;" in one[1]
    assert one[2] == "  enforcement decision: not refused"  # 50 %: at the rate
    await s.no_show()
    banned = await words()
    assert banned[1] == ("  ban: until 2026-03-03T09:00:00Z (in force), no_shows by policy: "
                         "2 no-shows within 30 days")
    assert banned[0].startswith("  token DE-EMS TOKEN1: 2 no-shows recorded, 0 counting")
    assert banned[3].startswith("  enforcement decision: REFUSED token_banned: token TOKEN1")
    s.clock.advance(days=1)
    ended = await words()
    assert "(ended)" in ended[1]
    assert ended[3].startswith("  enforcement decision: REFUSED no_show_rate: eMSP DE-EMS")
    await s.enforcement.set_ban(EMSP, "TOKEN1", until=s.clock() + timedelta(days=1),
                                reason="r", by="ops")
    await s.enforcement.lift(EMSP, "TOKEN1", by="ops")
    assert "(lifted)" in (await words())[1]
    standing = await s.enforcement.standing(EMSP, "TOKEN1", "LOC1")
    assert isinstance(standing, Standing) and standing.counts.ended == 3
