"""The Lua scripts of the Redis availability store (``redis``), each over one location's keys.

The keys (``redis._keys``) are hashes keyed by EVSE uid, all with the location's hash tag so
that a script touches one cluster slot: ``status``, ``updated`` (epoch ms of the status),
``holder``, ``until`` (hold end, epoch ms), ``reserved`` (last hold, epoch ms); and the string
``run``, the run id under which the location was last rebuilt. ``JOIN_RUN`` and ``ROTATE_RUN``
take the instance-wide marker ``avail:run`` instead.
"""

from __future__ import annotations

# KEYS: status, updated. ARGV: uid, status, at_ms. Returns 1 when the status changed.
SET_STATUS = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

# KEYS: status, holder, until, reserved, run. ARGV: now_ms, holder, until_ms, keep_free, run,
# cands... A hold is in force while until > now; expired holds count as free without a sweeper.
# -1: the location is not (yet) rebuilt under this run.
PICK_AND_HOLD = """
if ARGV[5] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[5] then return -1 end
local now = tonumber(ARGV[1])
local statuses = redis.call('HGETALL', KEYS[1])
local function held(uid)
  local h = redis.call('HGET', KEYS[2], uid)
  if not h then return false end
  local u = tonumber(redis.call('HGET', KEYS[3], uid) or '0')
  return u > now
end
local free = 0
for i = 1, #statuses, 2 do
  if statuses[i + 1] == 'AVAILABLE' and not held(statuses[i]) then free = free + 1 end
end
if free - 1 < tonumber(ARGV[4]) then return false end
for i = 6, #ARGV do
  local uid = ARGV[i]
  if redis.call('HGET', KEYS[1], uid) == 'AVAILABLE' and not held(uid) then
    redis.call('HSET', KEYS[2], uid, ARGV[2])
    redis.call('HSET', KEYS[3], uid, ARGV[3])
    redis.call('HSET', KEYS[4], uid, ARGV[1])
    return uid
  end
end
return false
"""

# KEYS: status, updated, holder, until, reserved, run. ARGV: at_ms, uids... Records UNKNOWN for
# the uids without a status (none given: a read only), then returns the five hashes (flat
# HGETALL arrays) and the location's run id ('' when it has none), read at one instant: what a
# decision sees, as ``RedisAvailability._read`` reads it. A script, not MULTI: redis-py's
# asyncio cluster client runs every command of a transaction pipeline in a thread of its own
# with an event loop of its own (2.9x the single-Redis time of a decision, measured).
READ_VIEW = """
for i = 2, #ARGV do
  if redis.call('HSETNX', KEYS[1], ARGV[i], 'UNKNOWN') == 1 then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[1])
  end
end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4]),
        redis.call('HGETALL', KEYS[5]), redis.call('GET', KEYS[6]) or ''}
"""

# KEYS: holder, until, reserved. ARGV: uid, holder, until_ms, now_ms. Puts back a hold lost
# with Redis's data, unless another holder's is in force.
RESTORE_HOLD = """
local h = redis.call('HGET', KEYS[1], ARGV[1])
if h and h ~= ARGV[2] and tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') > tonumber(ARGV[4])
then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[4])
return 1
"""

# KEYS: marker. ARGV: a new run id. The current run id, set to ARGV[1] when there was none.
JOIN_RUN = """
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""

# KEYS: marker. ARGV: expected, new. Moves to a new run unless another instance did already.
ROTATE_RUN = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] or not current then
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]
end
return current
"""

# KEYS: holder, until. ARGV: uid, holder.
RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""
