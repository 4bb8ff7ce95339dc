"""The Lua scripts of the Redis capacity timeline (``redis``), each over one site's keys
(``redis.keys``; the key layout is described there).

The admission script is ``hall.first_violation`` in Lua: it reads only the promises starting
within ``longest`` before the new interval (``MAX_INTERVAL`` caps it), sweeps their endpoints,
and checks only the sets of classes the new promise touches.
"""

from __future__ import annotations

from ocpi_gateway.reservation_policy.capacity.base import CHANGE_LOG

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
RELEASE = _COMMON + r"""
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
SET_SUPPLY = _CHANGED + r"""
changed(KEYS[1], KEYS[3], -1, -1)
redis.call('HSET', KEYS[1], 'c', ARGV[1], 'nsub', ARGV[2], 'ncls', ARGV[3], 'std', ARGV[4],
           'pt', ARGV[5], 'pw', ARGV[6], 'sd', ARGV[7])
redis.call('DEL', KEYS[2])
for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
"""

# KEYS: z, ids, site, log. ARGV: longest, then start, member pairs (member starts with id
# TAB).
REBUILD = _CHANGED + r"""
changed(KEYS[3], KEYS[4], -1, -1)
redis.call('DEL', KEYS[1], KEYS[2])
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[2], string.match(ARGV[i + 1], '^([^\t]*)'), ARGV[i + 1])
end
redis.call('HSET', KEYS[3], 'longest', ARGV[1])
return (#ARGV - 1) / 2
"""

# KEYS: z, ids, site, evse, log. ARGV: longest, the supply (as SET_SUPPLY: c, nsub, ncls,
# std, pt, pw, sd, npairs, then uid, mask pairs), then start, member pairs.
RESTORE = _CHANGED + r"""
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
PRUNE = _COMMON + r"""
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
SPARE_INPUTS = r"""
local info = redis.call('HMGET', KEYS[1], 'longest', 'sd')
local members = redis.call('ZRANGEBYSCORE', KEYS[3], tonumber(ARGV[1]) - tonumber(info[1] or '0'),
                           '(' .. ARGV[2])
if info[2] and info[2] == ARGV[3] then return {info[2], {}, {}, members} end
return {info[2] or '', redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), members}
"""

# KEYS: site, log. The site's version and its change log.
CHANGES = r"""
return {tonumber(redis.call('HGET', KEYS[1], 'v') or '0'), redis.call('LRANGE', KEYS[2], 0, -1)}
"""
