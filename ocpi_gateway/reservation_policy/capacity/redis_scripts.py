"""The Lua scripts of the Redis capacity timeline (``redis``), each over one site's keys.

Every script gets the same KEYS (``redis.site_keys``): the length buckets of the promises by
start (``BUCKETS`` sorted sets of members, ``base.bucket_of``), then ``ids`` (promise id ->
member), ``site`` (the class table; per bucket k its longest interval, field ``l<k>``;
the version ``v``; the supply digest ``sd``), ``evse`` (EVSE uid -> classes it serves) and
``log`` (the change log). A member is ``id TAB start_ms TAB end_ms TAB bound_evse TAB need TAB
kind``.

The admission script is ``hall.first_violation`` in Lua: per bucket it reads only the
promises starting within that bucket's longest before the new interval, sweeps their
endpoints, and checks only the sets of classes the new promise touches.
"""

from __future__ import annotations

from ocpi_gateway.reservation_policy.capacity.base import BUCKET_BASE_MS, BUCKETS, CHANGE_LOG

_CHANGED = r"""
local function changed(site, log, a, b)
  local v = redis.call('HINCRBY', site, 'v', 1)
  redis.call('RPUSH', log, string.format('%d:%d:%d', v, a, b))
  redis.call('LTRIM', log, -""" + str(CHANGE_LOG) + r""", -1)
end
"""
"""Every write counts a version of the site and logs the span it touched (-1: all of it):
``changes``."""

_KEYS = r"""
local NB = """ + str(BUCKETS) + r"""
local IDS, SITE, EVSE, LOG = KEYS[NB + 1], KEYS[NB + 2], KEYS[NB + 3], KEYS[NB + 4]
local function bucket(len)
  local k, limit = 1, """ + str(BUCKET_BASE_MS) + r"""
  while len > limit and k < NB do
    k = k + 1
    limit = limit * 2
  end
  return k
end
local function longests()
  local fields = {}
  for k = 1, NB do fields[k] = 'l' .. k end
  local out = redis.call('HMGET', SITE, unpack(fields))
  for k = 1, NB do out[k] = tonumber(out[k] or '0') end
  return out
end
local function ends(mem)
  local s, e = string.match(mem, '^[^\t]*\t([^\t]*)\t([^\t]*)')
  return tonumber(s), tonumber(e)
end
"""
"""The keys, a member's bucket (1-based here), the longest per bucket, a member's interval."""

_COMMON = _CHANGED + _KEYS + r"""
local band = bit.band
local function split(text)
  local out = {}
  for v in string.gmatch(text or '', '[^,]+') do out[#out + 1] = v end
  return out
end
local function parse(mem)
  return string.match(mem,
    '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)')
end
"""

# ARGV: id, start, end, bound, need, member, reserve, mode, sessions ('1': they count).
ADMIT = _COMMON + r"""
local id, a, b = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local bound, member, reserve = ARGV[4], ARGV[6], tonumber(ARGV[7])
local amend = ARGV[8] == 'amend'
local sessions = ARGV[9] == '1'
local info = redis.call('HMGET', SITE, 'c', 'nsub', 'ncls', 'std', 'pt', 'pw')
if not info[1] then return {'no_inventory'} end
local old = redis.call('HGET', IDS, id)
if old and not amend then
  if old == member then return {'admitted'} end
  return {'duplicate'}
end
local c = tonumber(info[1])
local nsub, ncls = split(info[2]), split(info[3])
local cstd, cpt, cpw = split(info[4]), split(info[5]), split(info[6])
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
  m = tonumber(redis.call('HGET', EVSE, uid) or '0')
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
local longest = longests()
local load = {}
for j = 1, #subsets do load[j] = 0 end
local events = {}
for k = 1, NB do
  for _, mem in ipairs(redis.call('ZRANGEBYSCORE', KEYS[k], a - longest[k], '(' .. ARGV[3])) do
    local pid, s, e, pb, pneed, kind = parse(mem)
    s, e = tonumber(s), tonumber(e)
    local session = kind == 'session'
    if pid ~= id and e > a and (sessions or not session) then
      if bound ~= '' and pb == bound and not session then
        return {'evse_taken', string.format('%d', s)}
      end
      local m
      if pb ~= '' then m = evse_mask(pb) else m = need_mask(pneed) end
      if m ~= 0 then
        local t = type_of(pb ~= '', m)
        if s <= a then
          for _, j in ipairs(lists[t]) do load[j] = load[j] + 1 end
        else
          events[#events + 1] = ((s - a) * 2 + 1) * 1024 + t
        end
        if e < b then events[#events + 1] = ((e - a) * 2) * 1024 + t end
      end
    end
  end
end
local function refuse(at, j)
  -- The classes with the answer: describing a refusal takes no second round trip.
  return {'full', string.format('%d', at), tostring(subsets[j]), tostring(load[j]),
          tostring(caps[j]), info[4] or '', info[5] or '', info[6] or ''}
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
      if load[j] + 1 > caps[j] then return refuse((rest - 1) / 2 + a, j) end
    end
  else
    for _, j in ipairs(lists[t]) do load[j] = load[j] - 1 end
  end
end
if old then
  local ps, pe = ends(old)
  redis.call('ZREM', KEYS[bucket(pe - ps)], old)
  changed(SITE, LOG, ps, pe)
end
changed(SITE, LOG, a, b)
local k = bucket(b - a)
redis.call('ZADD', KEYS[k], a, member)
redis.call('HSET', IDS, id, member)
if b - a > longest[k] then redis.call('HSET', SITE, 'l' .. k, string.format('%d', b - a)) end
return {'admitted'}
"""

# ARGV: id, start, member. A session in progress, replacing the one of its id, unchecked.
OCCUPY = _COMMON + r"""
local old = redis.call('HGET', IDS, ARGV[1])
if old then
  local ps, pe = ends(old)
  redis.call('ZREM', KEYS[bucket(pe - ps)], old)
  changed(SITE, LOG, ps, pe)
end
local s, e = ends(ARGV[3])
local k = bucket(e - s)
redis.call('ZADD', KEYS[k], ARGV[2], ARGV[3])
redis.call('HSET', IDS, ARGV[1], ARGV[3])
local longest = tonumber(redis.call('HGET', SITE, 'l' .. k) or '0')
if e - s > longest then redis.call('HSET', SITE, 'l' .. k, string.format('%d', e - s)) end
changed(SITE, LOG, s, e)
return 1
"""

# ARGV: id, evse ('' = whatever it is bound to).
RELEASE = _COMMON + r"""
local old = redis.call('HGET', IDS, ARGV[1])
if not old then return 0 end
local _, ps, pe, pb = parse(old)
if ARGV[2] ~= '' and pb ~= ARGV[2] then return 0 end
ps, pe = tonumber(ps), tonumber(pe)
changed(SITE, LOG, ps, pe)
redis.call('ZREM', KEYS[bucket(pe - ps)], old)
redis.call('HDEL', IDS, ARGV[1])
return 1
"""

_SUPPLY = r"""
local function supply(i)
  redis.call('HSET', SITE, 'c', ARGV[i], 'nsub', ARGV[i + 1], 'ncls', ARGV[i + 2],
             'std', ARGV[i + 3], 'pt', ARGV[i + 4], 'pw', ARGV[i + 5], 'sd', ARGV[i + 6])
  redis.call('DEL', EVSE)
  local npairs = tonumber(ARGV[i + 7])
  i = i + 8
  for _ = 1, npairs do
    redis.call('HSET', EVSE, ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  return i
end
-- Adds a member; ``only_new``: unless its id is held, and then the held member is only
-- indexed if its bucket lacks it (a site written before the length buckets kept its members
-- in one sorted set no script reads now: a restore puts them back where they are read).
local function add(start, mem, only_new, longest)
  local pid = string.match(mem, '^([^\t]*)')
  local s, e
  if only_new then
    local held = redis.call('HGET', IDS, pid)
    if held then
      s, e = ends(held)
      if redis.call('ZSCORE', KEYS[bucket(e - s)], held) then return 0 end
      mem, start = held, s
    else
      redis.call('HSET', IDS, pid, mem)
      s, e = ends(mem)
    end
  else
    redis.call('HSET', IDS, pid, mem)
    s, e = ends(mem)
  end
  local k = bucket(e - s)
  redis.call('ZADD', KEYS[k], start, mem)
  if e - s > longest[k] then
    longest[k] = e - s
    redis.call('HSET', SITE, 'l' .. k, string.format('%d', e - s))
  end
  return 1
end
"""
"""The supply as ``_supply_args`` lays it out from ARGV[i] (c, nsub, ncls, std, pt, pw, sd,
npairs, then uid, mask pairs): the index after it."""

# ARGV: the supply (``_SUPPLY``).
SET_SUPPLY = _CHANGED + _KEYS + _SUPPLY + r"""
changed(SITE, LOG, -1, -1)
supply(1)
return 1
"""

# ARGV: start, member pairs.
REBUILD = _CHANGED + _KEYS + _SUPPLY + r"""
changed(SITE, LOG, -1, -1)
local fields, longest = {}, {}
for k = 1, NB do
  redis.call('DEL', KEYS[k])
  fields[k] = 'l' .. k
  longest[k] = 0
end
redis.call('DEL', IDS)
redis.call('HDEL', SITE, unpack(fields))
for i = 1, #ARGV, 2 do add(ARGV[i], ARGV[i + 1], false, longest) end
return #ARGV / 2
"""

# ARGV: the supply (``_SUPPLY``), then start, member pairs.
RESTORE = _CHANGED + _KEYS + _SUPPLY + r"""
changed(SITE, LOG, -1, -1)
local i = supply(1)
local longest = longests()
local added = 0
while i <= #ARGV do
  added = added + add(ARGV[i], ARGV[i + 1], true, longest)
  i = i + 2
end
return added
"""

# ARGV: before_ms, limit.
PRUNE = _COMMON + r"""
local n = 0
local limit = tonumber(ARGV[2])
local before = tonumber(ARGV[1])
local first
for k = 1, NB do
  for _, mem in ipairs(redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', '(' .. ARGV[1])) do
    if n >= limit then break end
    local pid, s, e = parse(mem)
    if tonumber(e) <= before then
      redis.call('ZREM', KEYS[k], mem)
      redis.call('HDEL', IDS, pid)
      if not first or tonumber(s) < first then first = tonumber(s) end
      n = n + 1
    end
  end
end
if first then changed(SITE, LOG, first, before) end
return n
"""

_OVERLAPPING = r"""
local function overlapping(a, b)
  local longest, out = longests(), {}
  for k = 1, NB do
    for _, mem in ipairs(redis.call('ZRANGEBYSCORE', KEYS[k], a - longest[k], '(' .. b)) do
      out[#out + 1] = mem
    end
  end
  return out
end
"""
"""The members of every bucket that may overlap [a, b) (those ending by a included)."""

# ARGV: start, end.
OVERLAPPING = _KEYS + _OVERLAPPING + r"""
return overlapping(tonumber(ARGV[1]), ARGV[2])
"""

# ARGV: start, end, the supply digest the caller knows. What ``spare`` sweeps, in one round
# trip: the members that may overlap [start, end) and, unless the caller has it (the same
# digest), the class table and the EVSE masks.
SPARE_INPUTS = _KEYS + _OVERLAPPING + r"""
local members = overlapping(tonumber(ARGV[1]), ARGV[2])
local digest = redis.call('HGET', SITE, 'sd')
if digest and digest == ARGV[3] then return {digest, {}, {}, members} end
return {digest or '', redis.call('HGETALL', SITE), redis.call('HGETALL', EVSE), members}
"""

# The site's version and its change log.
CHANGES = _KEYS + r"""
return {tonumber(redis.call('HGET', SITE, 'v') or '0'), redis.call('LRANGE', LOG, 0, -1)}
"""
