"""Redis capacity timeline: every key of a site carries the hash tag ``{location_id}``, so each
script touches one slot (Redis Cluster too) and an admission is atomic across instances.

Keys per site ``L`` (``site_keys``): ``cap:{L}:z0`` .. ``z6`` the promises by start, one
sorted set of members per length bucket (``base.bucket_of``), ``cap:{L}:ids`` promise id ->
member, ``cap:{L}:site`` the class table (classes, EVSEs per set of classes, per class), the
longest interval per bucket, the version and the supply digest, ``cap:{L}:evse`` EVSE uid ->
classes it serves, ``cap:{L}:log`` the change log. The scripts are in ``redis_scripts``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.redis_clients import RedisClient, RedisTarget, as_target, open_redis
from ocpi_gateway.reservation_policy.capacity import redis_scripts as scripts
from ocpi_gateway.reservation_policy.capacity.base import (
    BUCKETS,
    Admission,
    CapacityTimeline,
    Changes,
    Promise,
    PromiseKind,
    SpareSegment,
    Verdict,
    as_session,
    from_ms,
    ms,
)
from ocpi_gateway.reservation_policy.capacity.classes import (
    EvseClass,
    Need,
    SiteClasses,
    SupplyEvse,
)
from ocpi_gateway.reservation_policy.capacity.hall import Span, spare_profile
from ocpi_gateway.reservation_policy.capacity.memory import (
    MemoryCapacity,
    changes_after,
    invalid,
)

_EMPTY_POWER_TYPE = "-"


def _classes(standards: str, power_types: str, powers: str) -> tuple[EvseClass, ...]:
    """The class table's classes from its comma-separated fields."""
    def split(text: str) -> list[str]:
        return [v for v in text.split(",") if v]
    return tuple(EvseClass(s, "" if t == _EMPTY_POWER_TYPE else t, int(p))
                 for s, t, p in zip(split(standards), split(power_types), split(powers),
                                    strict=True))


def _table_of(site_hash: dict[Any, Any], evse_hash: dict[Any, Any]) -> SiteClasses | None:
    """The class table from the site and EVSE hashes (None: no supply set)."""
    site = {_text(f): _text(v) for f, v in site_hash.items()}
    if "c" not in site:
        return None
    masks = {_text(f): int(v) for f, v in evse_hash.items()}

    def split(field: str) -> list[str]:
        return [v for v in site.get(field, "").split(",") if v]

    classes = _classes(site.get("std", ""), site.get("pt", ""), site.get("pw", ""))
    return SiteClasses(classes, masks, (0, *map(int, split("nsub"))),
                       tuple(map(int, split("ncls"))))


def keys(location_id: str) -> dict[str, str]:
    """The site's keys by name (z0 .. z6: the length buckets)."""
    tag = "{" + location_id + "}"
    names = (*(f"z{k}" for k in range(BUCKETS)), "ids", "site", "evse", "log")
    return {name: f"cap:{tag}:{name}" for name in names}


@functools.lru_cache(maxsize=4096)
def site_keys(location_id: str) -> tuple[str, ...]:
    """KEYS of every script: the buckets, ids, site, evse, log."""
    return tuple(keys(location_id).values())


def encode(promise: Promise) -> str:
    return "\t".join((promise.promise_id, str(ms(promise.start)), str(ms(promise.end)),
                      promise.evse_uid or "", promise.need.encode(), promise.kind.value))


def decode(member: bytes | str) -> Promise:
    text = member.decode() if isinstance(member, bytes) else member
    pid, start, end, bound, need, kind = text.split("\t")
    return Promise(pid, from_ms(int(start)), from_ms(int(end)), Need.decode(need),
                   bound or None, PromiseKind(kind))


def _supply_args(supply: Sequence[SupplyEvse]) -> list[str | int]:
    """The class table as the scripts read it: c, nsub, ncls, std, pt, pw, sd (a digest of
    the others: a reader that has the table with this digest need not fetch it again), the
    number of EVSEs, then uid, mask..."""
    table = SiteClasses.build(supply)
    pairs: list[str | int] = []
    for uid, mask in table.evse_masks.items():
        pairs += [uid, mask]
    fields: list[str | int] = [
        len(table.classes), ",".join(map(str, table.subset_sizes[1:])),
        ",".join(map(str, table.class_sizes)), ",".join(c.standard for c in table.classes),
        ",".join(c.power_type or _EMPTY_POWER_TYPE for c in table.classes),
        ",".join(str(c.power_w) for c in table.classes)]
    digest = hashlib.sha256(repr((fields, pairs)).encode()).hexdigest()[:32]
    return [*fields, digest, len(pairs) // 2, *pairs]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _spans(table: SiteClasses, members: Iterable[bytes | str], after: int) -> list[Span]:
    """The sweep's view of the members ending after ``after`` (``span_of`` without making a
    Promise of each: a calendar's change reads a hundred or so)."""
    masks: dict[str, int] = {}
    out: list[Span] = []
    for member in members:
        _, start, end, bound, need, _ = _text(member).split("\t")
        stop = int(end)
        if stop <= after:
            continue
        if bound:
            mask = table.evse_masks.get(bound, 0)
        else:
            known = masks.get(need)
            mask = known if known is not None else table.need_mask(Need.decode(need))
            masks[need] = mask
        if mask:
            out.append(Span(int(start), stop, mask, bound or None))
    return out


class RedisCapacity:
    def __init__(self, client: RedisClient, *, clock: Callable[[], datetime] = utc_now
                 ) -> None:
        self._redis = client
        self._clock = clock
        self._tables: dict[str, tuple[str, SiteClasses]] = {}
        """Per site the class table ``spare`` last read and its digest (``_supply_args``)."""
        self._admit = client.register_script(scripts.ADMIT)
        self._release = client.register_script(scripts.RELEASE)
        self._occupy = client.register_script(scripts.OCCUPY)
        self._set_supply = client.register_script(scripts.SET_SUPPLY)
        self._rebuild = client.register_script(scripts.REBUILD)
        self._prune = client.register_script(scripts.PRUNE)
        self._restore = client.register_script(scripts.RESTORE)
        self._changes = client.register_script(scripts.CHANGES)
        self._spare_inputs = client.register_script(scripts.SPARE_INPUTS)
        self._overlapping_members = client.register_script(scripts.OVERLAPPING)

    @classmethod
    def from_url(cls, url: RedisTarget | str, *, clock: Callable[[], datetime] = utc_now
                 ) -> RedisCapacity:
        return cls(open_redis(url), clock=clock)

    async def set_supply(self, location_id: str, supply: Sequence[SupplyEvse]) -> None:
        await self._set_supply(keys=site_keys(location_id), args=_supply_args(supply))

    async def restore(self, location_id: str, supply: Sequence[SupplyEvse],
                      promises: Iterable[Promise]) -> int:
        args = _supply_args(supply)
        for p in promises:
            args += [ms(p.start), encode(p)]
        return int(await self._restore(keys=site_keys(location_id), args=args))

    async def _call(self, location_id: str, promise: Promise, reserve: int, mode: str,
                    sessions: bool) -> Admission:
        if invalid(promise, self._clock()):
            return Admission(Verdict.INVALID)
        answer: list[Any] = await self._admit(
            keys=site_keys(location_id),
            args=[promise.promise_id, ms(promise.start), ms(promise.end),
                  promise.evse_uid or "", promise.need.encode(), encode(promise), reserve,
                  mode, "1" if sessions else "0"])
        verdict = Verdict(_text(answer[0]))
        if verdict is Verdict.EVSE_TAKEN:
            return Admission(verdict, from_ms(int(answer[1])))
        if verdict is Verdict.FULL:
            subset = int(answer[2])
            classes = tuple(c for i, c in enumerate(_classes(*map(_text, answer[5:8])))
                            if subset >> i & 1)
            return Admission(verdict, from_ms(int(answer[1])), classes, int(answer[3]),
                             int(answer[4]))
        return Admission(verdict)

    async def admit(self, location_id: str, promise: Promise, *, reserve: int = 0,
                    sessions: bool = True) -> Admission:
        return await self._call(location_id, promise, reserve, "admit", sessions)

    async def amend(self, location_id: str, promise: Promise, *, reserve: int = 0,
                    sessions: bool = True) -> Admission:
        return await self._call(location_id, promise, reserve, "amend", sessions)

    async def occupy(self, location_id: str, session: Promise) -> None:
        await self._occupy(keys=site_keys(location_id),
                           args=[as_session(session).promise_id, ms(session.start),
                                 encode(session)])

    async def release(self, location_id: str, promise_id: str, *,
                      evse_uid: str | None = None) -> bool:
        return bool(await self._release(keys=site_keys(location_id),
                                        args=[promise_id, evse_uid or ""]))

    async def get(self, location_id: str, promise_id: str) -> Promise | None:
        member = await self._redis.hget(keys(location_id)["ids"], promise_id)
        return decode(member) if member is not None else None

    async def promises(self, location_id: str, start: datetime, end: datetime
                       ) -> list[Promise]:
        a = ms(start)
        members: list[Any] = await self._overlapping_members(keys=site_keys(location_id),
                                                             args=[a, ms(end)])
        found = [p for p in map(decode, members) if ms(p.end) > a]
        return sorted(found, key=lambda p: (p.start, p.promise_id))

    async def spare(self, location_id: str, need: Need, start: datetime, end: datetime, *,
                    reserve: int = 0) -> list[SpareSegment]:
        a, b = ms(start), ms(end)
        known = self._tables.get(location_id)
        digest, site, evse, members = await self._spare_inputs(
            keys=site_keys(location_id), args=[a, b, known[0] if known else ""])
        digest = _text(digest)
        if known is not None and not site and digest == known[0]:
            table: SiteClasses | None = known[1]
        else:
            table = _table_of(dict(zip(site[::2], site[1::2], strict=True)),
                              dict(zip(evse[::2], evse[1::2], strict=True)))
            if table is not None:
                self._tables[location_id] = (digest, table)
        if table is None:
            return [SpareSegment(start, end, 0)] if end > start else []
        return [SpareSegment(from_ms(x), from_ms(y), n) for x, y, n in spare_profile(
            table, _spans(table, members, a), table.need_mask(need), a, b, reserve)]

    async def rebuild(self, location_id: str, promises: Iterable[Promise]) -> int:
        args: list[str | int] = []
        for p in promises:
            args += [ms(p.start), encode(p)]
        return int(await self._rebuild(keys=site_keys(location_id), args=args))

    async def prune(self, location_id: str, before: datetime) -> int:
        return int(await self._prune(keys=site_keys(location_id),
                                     args=[ms(before), 10_000]))

    async def changes(self, location_id: str, since: int | None) -> Changes:
        version, entries = await self._changes(keys=site_keys(location_id))
        log = [tuple(int(x) for x in _text(e).split(":")) for e in entries]
        return Changes(int(version), changes_after(
            [(v, a, b) for v, a, b in log], int(version), since))

    async def close(self) -> None:
        await self._redis.aclose()


def open_capacity(redis: RedisTarget | str | None, *,
                  clock: Callable[[], datetime] = utc_now) -> CapacityTimeline:
    """Redis when one is configured (several instances share it), else in-process."""
    target = as_target(redis)
    if target is not None:
        return RedisCapacity.from_url(target, clock=clock)
    return MemoryCapacity(clock=clock)
