"""Redis capacity timeline: every key of a site carries the hash tag ``{location_id}``, so each
script touches one slot (Redis Cluster too) and an admission is atomic across instances.

Keys per site ``L``: ``cap:{L}:z`` the promises by start (sorted set of members), ``cap:{L}:ids``
promise id -> member, ``cap:{L}:site`` the class table (classes, EVSEs per set of classes,
per class) and the longest interval stored, ``cap:{L}:evse`` EVSE uid -> classes it serves.
A member is ``id TAB start_ms TAB end_ms TAB bound_evse TAB need TAB kind``.

The admission script is ``hall.first_violation`` in Lua: it reads only the promises starting
within ``longest`` before the new interval (``MAX_INTERVAL`` caps it), sweeps their endpoints,
and checks only the sets of classes the new promise touches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.redis_clients import RedisClient, RedisTarget, as_target, open_redis
from ocpi_gateway.reservation_policy.capacity.base import (
    CHANGE_LOG,
    Admission,
    CapacityTimeline,
    Changes,
    Promise,
    PromiseKind,
    SpareSegment,
    Verdict,
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

_CHANGED = r"""
local function changed(site, log, a, b)
  local v = redis.call('HINCRBY', site, 'v', 1)
  redis.call('RPUSH', log, string.format('%d:%d:%d', v, a, b))
  redis.call('LTRIM', log, -""" + str(CHANGE_LOG) + r""", -1)
end
"""
"""Every write counts a version of the site and logs the span it touched (-1: all of it):
``changes``."""

_COMMON = _CHANGED + r"""
local band = bit.band
local function split(text)
  local out = {}
  for v in string.gmatch(text or '', '[^,]+') do out[#out + 1] = v end
  return out
end
local function parse(mem)
  return string.match(mem, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)')
end
"""

# KEYS: z, ids, site, evse, log. ARGV: id, start, end, bound, need, member, reserve, mode.
ADMIT = _COMMON + r"""
local id, a, b = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local bound, member, reserve = ARGV[4], ARGV[6], tonumber(ARGV[7])
local amend = ARGV[8] == 'amend'
local info = redis.call('HMGET', KEYS[3], 'c', 'nsub', 'ncls', 'longest', 'std', 'pt', 'pw')
if not info[1] then return {'no_inventory'} end
local old = redis.call('HGET', KEYS[2], id)
if old and not amend then
  if old == member then return {'admitted'} end
  return {'duplicate'}
end
local c = tonumber(info[1])
local nsub, ncls = split(info[2]), split(info[3])
local cstd, cpt, cpw = split(info[5]), split(info[6]), split(info[7])
local needs, evses = {}, {}
local function need_mask(need)
  local m = needs[need]
  if m then return m end
  local stds, pts, minp = string.match(need, '^([^|]*)|([^|]*)|(.*)$')
  local sset, pset, anys, anyp = {}, {}, true, true
  for s in string.gmatch(stds, '[^,]+') do sset[s] = true; anys = false end
  for p in string.gmatch(pts, '[^,]+') do pset[p] = true; anyp = false end
  minp = tonumber(minp)
  m = 0
  for i = 1, c do
    if (anys or sset[cstd[i]]) and (anyp or pset[cpt[i]]) and tonumber(cpw[i]) >= minp then
      m = m + 2 ^ (i - 1)
    end
  end
  needs[need] = m
  return m
end
local function evse_mask(uid)
  local m = evses[uid]
  if m then return m end
  m = tonumber(redis.call('HGET', KEYS[4], uid) or '0')
  evses[uid] = m
  return m
end
local want
if bound ~= '' then want = evse_mask(bound) else want = need_mask(ARGV[5]) end
if want == 0 then return {'no_class'} end
local subsets, caps = {}, {}
for s = 1, 2 ^ c - 1 do
  local hit
  if bound == '' then hit = band(s, want) == want else hit = band(s, want) ~= 0 end
  if hit then
    local kept = 0
    for i = 1, c do
      if band(s, 2 ^ (i - 1)) ~= 0 then
        local k = math.min(reserve, tonumber(ncls[i]))
        if k > kept then kept = k end
      end
    end
    subsets[#subsets + 1] = s
    caps[#subsets] = tonumber(nsub[s]) - kept
  end
end
local types, lists, ntypes = {}, {}, 0
local function type_of(isbound, m)
  local key = (isbound and 'b' or 'u') .. m
  local t = types[key]
  if t then return t end
  ntypes = ntypes + 1
  t = ntypes
  types[key] = t
  local l = {}
  for j = 1, #subsets do
    local s = subsets[j]
    if (isbound and band(s, m) ~= 0) or ((not isbound) and band(s, m) == m) then
      l[#l + 1] = j
    end
  end
  lists[t] = l
  return t
end
local longest = tonumber(info[4] or '0')
local base = a - longest
local load = {}
for j = 1, #subsets do load[j] = 0 end
local events = {}
for _, mem in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], base, '(' .. ARGV[3])) do
  local pid, s, e, pb, pneed = parse(mem)
  s, e = tonumber(s), tonumber(e)
  if pid ~= id and e > a then
    if bound ~= '' and pb == bound then return {'evse_taken', string.format('%d', s)} end
    local m
    if pb ~= '' then m = evse_mask(pb) else m = need_mask(pneed) end
    if m ~= 0 then
      local t = type_of(pb ~= '', m)
      if s <= a then
        for _, j in ipairs(lists[t]) do load[j] = load[j] + 1 end
      else
        events[#events + 1] = ((s - base) * 2 + 1) * 1024 + t
      end
      if e < b then events[#events + 1] = ((e - base) * 2) * 1024 + t end
    end
  end
end
local function refuse(at, j)
  -- The classes with the answer: describing a refusal takes no second round trip.
  return {'full', string.format('%d', at), tostring(subsets[j]), tostring(load[j]),
          tostring(caps[j]), info[5] or '', info[6] or '', info[7] or ''}
end
for j = 1, #subsets do
  if load[j] + 1 > caps[j] then return refuse(a, j) end
end
-- time, then ends before starts (half-open intervals), then type: one sortable number
table.sort(events)
for _, ev in ipairs(events) do
  local t = ev % 1024
  local rest = (ev - t) / 1024
  local starts = rest % 2
  if starts == 1 then
    for _, j in ipairs(lists[t]) do
      load[j] = load[j] + 1
      if load[j] + 1 > caps[j] then return refuse((rest - 1) / 2 + base, j) end
    end
  else
    for _, j in ipairs(lists[t]) do load[j] = load[j] - 1 end
  end
end
if old then
  redis.call('ZREM', KEYS[1], old)
  local _, ps, pe = parse(old)
  changed(KEYS[3], KEYS[5], tonumber(ps), tonumber(pe))
end
changed(KEYS[3], KEYS[5], a, b)
redis.call('ZADD', KEYS[1], a, member)
redis.call('HSET', KEYS[2], id, member)
if b - a > longest then redis.call('HSET', KEYS[3], 'longest', string.format('%d', b - a)) end
return {'admitted'}
"""

# KEYS: z, ids, site, log. ARGV: id, evse ('' = whatever it is bound to).
_RELEASE = _COMMON + r"""
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
local _, ps, pe, pb = parse(old)
if ARGV[2] ~= '' and pb ~= ARGV[2] then return 0 end
changed(KEYS[3], KEYS[4], tonumber(ps), tonumber(pe))
redis.call('ZREM', KEYS[1], old)
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

# KEYS: site, evse, log. ARGV: c, nsub, ncls, std, pt, pw, sd, then uid, mask pairs.
_SET_SUPPLY = _CHANGED + r"""
changed(KEYS[1], KEYS[3], -1, -1)
redis.call('HSET', KEYS[1], 'c', ARGV[1], 'nsub', ARGV[2], 'ncls', ARGV[3], 'std', ARGV[4],
           'pt', ARGV[5], 'pw', ARGV[6], 'sd', ARGV[7])
redis.call('DEL', KEYS[2])
for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
"""

# KEYS: z, ids, site, log. ARGV: longest, then start, member pairs (member starts with id
# TAB).
_REBUILD = _CHANGED + r"""
changed(KEYS[3], KEYS[4], -1, -1)
redis.call('DEL', KEYS[1], KEYS[2])
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[2], string.match(ARGV[i + 1], '^([^\t]*)'), ARGV[i + 1])
end
redis.call('HSET', KEYS[3], 'longest', ARGV[1])
return (#ARGV - 1) / 2
"""

# KEYS: z, ids, site, evse, log. ARGV: longest, the supply (as _SET_SUPPLY: c, nsub, ncls,
# std, pt, pw, sd, npairs, then uid, mask pairs), then start, member pairs.
_RESTORE = _CHANGED + r"""
changed(KEYS[3], KEYS[5], -1, -1)
redis.call('HSET', KEYS[3], 'c', ARGV[2], 'nsub', ARGV[3], 'ncls', ARGV[4], 'std', ARGV[5],
           'pt', ARGV[6], 'pw', ARGV[7], 'sd', ARGV[8])
redis.call('DEL', KEYS[4])
local npairs = tonumber(ARGV[9])
local i = 10
for _ = 1, npairs do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local added = 0
while i <= #ARGV do
  local pid = string.match(ARGV[i + 1], '^([^\t]*)')
  if redis.call('HSETNX', KEYS[2], pid, ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
    added = added + 1
  end
  i = i + 2
end
local longest = tonumber(redis.call('HGET', KEYS[3], 'longest') or '0')
if tonumber(ARGV[1]) > longest then redis.call('HSET', KEYS[3], 'longest', ARGV[1]) end
return added
"""

# KEYS: z, ids, site, log. ARGV: before_ms, limit.
_PRUNE = _COMMON + r"""
local n = 0
local limit = tonumber(ARGV[2])
local first
for _, mem in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])) do
  local pid, s, e = parse(mem)
  if tonumber(e) <= tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], mem)
    redis.call('HDEL', KEYS[2], pid)
    if not first then first = tonumber(s) end
    n = n + 1
    if n >= limit then break end
  end
end
if first then changed(KEYS[3], KEYS[4], first, tonumber(ARGV[1])) end
return n
"""

# KEYS: site, evse, z. ARGV: start, end, the supply digest the caller knows. What ``spare``
# sweeps, in one round trip: the members that may overlap [start, end) and, unless the caller
# has it (the same digest), the class table and the EVSE masks.
_SPARE_INPUTS = r"""
local info = redis.call('HMGET', KEYS[1], 'longest', 'sd')
local members = redis.call('ZRANGEBYSCORE', KEYS[3], tonumber(ARGV[1]) - tonumber(info[1] or '0'),
                           '(' .. ARGV[2])
if info[2] and info[2] == ARGV[3] then return {info[2], {}, {}, members} end
return {info[2] or '', redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), members}
"""

# KEYS: site, log. The site's version and its change log.
_CHANGES = r"""
return {tonumber(redis.call('HGET', KEYS[1], 'v') or '0'), redis.call('LRANGE', KEYS[2], 0, -1)}
"""

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
    tag = "{" + location_id + "}"
    return {name: f"cap:{tag}:{name}" for name in ("z", "ids", "site", "evse", "log")}


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
    the others: a reader that has the table with this digest need not fetch it again), then
    uid, mask..."""
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
    return [*fields, digest, *pairs]


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
            mask = masks.get(need, -1)
            if mask < 0:
                mask = masks[need] = table.need_mask(Need.decode(need))
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
        self._admit = client.register_script(ADMIT)
        self._release = client.register_script(_RELEASE)
        self._set_supply = client.register_script(_SET_SUPPLY)
        self._rebuild = client.register_script(_REBUILD)
        self._prune = client.register_script(_PRUNE)
        self._restore = client.register_script(_RESTORE)
        self._changes = client.register_script(_CHANGES)
        self._spare_inputs = client.register_script(_SPARE_INPUTS)

    @classmethod
    def from_url(cls, url: RedisTarget | str, *, clock: Callable[[], datetime] = utc_now
                 ) -> RedisCapacity:
        return cls(open_redis(url), clock=clock)

    async def set_supply(self, location_id: str, supply: Sequence[SupplyEvse]) -> None:
        k = keys(location_id)
        await self._set_supply(keys=[k["site"], k["evse"], k["log"]],
                               args=_supply_args(supply))

    async def restore(self, location_id: str, supply: Sequence[SupplyEvse],
                      promises: Iterable[Promise]) -> int:
        k = keys(location_id)
        supply_args = _supply_args(supply)
        args: list[str | int] = [0, *supply_args[:7], (len(supply_args) - 7) // 2,
                                 *supply_args[7:]]
        longest = 0
        for p in promises:
            args += [ms(p.start), encode(p)]
            longest = max(longest, ms(p.end) - ms(p.start))
        args[0] = longest
        return int(await self._restore(
            keys=[k["z"], k["ids"], k["site"], k["evse"], k["log"]], args=args))

    async def _call(self, location_id: str, promise: Promise, reserve: int, mode: str
                    ) -> Admission:
        if invalid(promise, self._clock()):
            return Admission(Verdict.INVALID)
        k = keys(location_id)
        answer: list[Any] = await self._admit(
            keys=[k["z"], k["ids"], k["site"], k["evse"], k["log"]],
            args=[promise.promise_id, ms(promise.start), ms(promise.end),
                  promise.evse_uid or "", promise.need.encode(), encode(promise), reserve,
                  mode])
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

    async def admit(self, location_id: str, promise: Promise, *, reserve: int = 0
                    ) -> Admission:
        return await self._call(location_id, promise, reserve, "admit")

    async def amend(self, location_id: str, promise: Promise, *, reserve: int = 0
                    ) -> Admission:
        return await self._call(location_id, promise, reserve, "amend")

    async def release(self, location_id: str, promise_id: str, *,
                      evse_uid: str | None = None) -> bool:
        k = keys(location_id)
        return bool(await self._release(keys=[k["z"], k["ids"], k["site"], k["log"]],
                                        args=[promise_id, evse_uid or ""]))

    async def get(self, location_id: str, promise_id: str) -> Promise | None:
        member = await self._redis.hget(keys(location_id)["ids"], promise_id)
        return decode(member) if member is not None else None

    async def _overlapping(self, location_id: str, start: int, end: int) -> list[Promise]:
        k = keys(location_id)
        longest = int(await self._redis.hget(k["site"], "longest") or 0)
        members: list[Any] = await self._redis.zrangebyscore(k["z"], start - longest,
                                                             f"({end}")
        found = (decode(m) for m in members)
        return [p for p in found if ms(p.end) > start]

    async def promises(self, location_id: str, start: datetime, end: datetime
                       ) -> list[Promise]:
        return await self._overlapping(location_id, ms(start), ms(end))

    async def spare(self, location_id: str, need: Need, start: datetime, end: datetime, *,
                    reserve: int = 0) -> list[SpareSegment]:
        k = keys(location_id)
        a, b = ms(start), ms(end)
        known = self._tables.get(location_id)
        digest, site, evse, members = await self._spare_inputs(
            keys=[k["site"], k["evse"], k["z"]], args=[a, b, known[0] if known else ""])
        digest = _text(digest)
        if known is not None and not site and digest == known[0]:
            table: SiteClasses | None = known[1]
        else:
            table = _table_of(dict(zip(site[::2], site[1::2], strict=True)),
                              dict(zip(evse[::2], evse[1::2], strict=True)))
            if table is not None and digest:
                self._tables[location_id] = (digest, table)
        if table is None:
            return [SpareSegment(start, end, 0)] if end > start else []
        return [SpareSegment(from_ms(x), from_ms(y), n) for x, y, n in spare_profile(
            table, _spans(table, members, a), table.need_mask(need), a, b, reserve)]

    async def rebuild(self, location_id: str, promises: Iterable[Promise]) -> int:
        k = keys(location_id)
        args: list[str | int] = [0]
        longest = 0
        for p in promises:
            args += [ms(p.start), encode(p)]
            longest = max(longest, ms(p.end) - ms(p.start))
        args[0] = longest
        return int(await self._rebuild(keys=[k["z"], k["ids"], k["site"], k["log"]],
                                       args=args))

    async def prune(self, location_id: str, before: datetime) -> int:
        k = keys(location_id)
        return int(await self._prune(keys=[k["z"], k["ids"], k["site"], k["log"]],
                                     args=[ms(before), 10_000]))

    async def changes(self, location_id: str, since: int | None) -> Changes:
        k = keys(location_id)
        version, entries = await self._changes(keys=[k["site"], k["log"]])
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
