"""Commands to chargers connected to any gateway process sharing one Redis.

Keys (hash-tagged by charger so each script touches one cluster slot):

- ``ocpp:{<cp>}:presence`` = ``<instance>|<fence>``, with a TTL the owner refreshes while the
  charger is connected. ``<fence>`` comes from ``ocpp:{<cp>}:fence`` when the charger
  connects: one more than the last fence, and never less than the Redis server's clock in
  milliseconds, so it keeps growing even when Redis lost its data. The newest connection
  always wins and a stale owner (paused longer than the TTL, or whose charger reconnected
  elsewhere) can neither refresh nor delete the newer entry; it learns it lost the charger and
  closes its zombie socket. A presence entry that is simply gone (expired during a pause, or
  Redis restarted empty) is claimed again by its owner unless a newer fence exists: only a
  newer connection elsewhere takes a charger over.
- ``ocpp:{i:<instance>}:cmd``: a Stream per process; a command is an entry with a correlation
  id, the requester's reply stream, the encoded command and a deadline.
- ``ocpp:{i:<instance>}:reply``: a Stream per process for the answers (correlation id,
  outcome). Both streams of a process share a hash slot, so one XREAD reads both on a Redis
  Cluster too.

- ``ocpp:instance:<instance>``: exists while the process lives (short TTL, refreshed often).
- ``ocpp:{<cp>}:info``: the charger's directory entry (ocpp_adapter/directory.py), written by
  its owner when it connects and at every presence refresh, kept after it leaves.

Stopping: the reader blocks in XREAD for up to ``block_ms``, and a cancellation can be lost
inside redis-py (``domain/tasks.py``). ``stop()`` raises a flag, wakes the read with an entry
of its own on the command stream, and waits (bounded) for the reader to leave; only then is it
cancelled.

A command for a charger no live process holds fails at once with OFFLINE (a presence entry of
a dead process counts as none). While waiting for a remote answer the requester re-checks the
owner every third of the shorter TTL: when the owner dies (or a newer owner appears) the
command ends OFFLINE then, not at its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import structlog
from redis.exceptions import RedisError

from ocpi_gateway.domain.charger_commands import ChargerCommand, CommandOutcome, CommandReply
from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry
from ocpi_gateway.domain.tasks import STOP_BOUND, cancel_and_wait, wait_event
from ocpi_gateway.ocpp_adapter.directory import (
    ChargerPresence,
    from_info,
    info_fields,
    info_key,
    of_session,
)
from ocpi_gateway.ocpp_adapter.registry import ConnectionRegistry
from ocpi_gateway.ocpp_adapter.routing.codec import (
    CodecError,
    decode_command,
    decode_reply,
    encode_command,
    encode_reply,
)
from ocpi_gateway.redis_clients import RedisClient

log = structlog.get_logger(__name__)

STREAM_MAXLEN = 10_000
_WAKE = b"wake"
"""The field of the entry ``stop()`` adds to its own command stream to end a blocking read."""

# KEYS: presence, fence. ARGV: instance, ttl_ms. The fence never goes below the server's clock
# (ms), so a claim after Redis lost its data still beats every connection made before.
_CLAIM = """
local fence = redis.call('INCR', KEYS[2])
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if fence < clock then
  fence = clock
  redis.call('SET', KEYS[2], fence)
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
return fence
"""
# KEYS: presence, fence. ARGV: token (instance|fence), ttl_ms, fence.
# 1: still ours (re-claimed when the entry was gone); 0: a newer connection holds the charger.
_REFRESH = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
local ours = tonumber(ARGV[3])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last > ours then return 0 end
if current then
  local theirs = tonumber(string.match(current, '|(%d+)$') or '0')
  if theirs >= ours then return 0 end
end
if last < ours then redis.call('SET', KEYS[2], ARGV[3]) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def presence_key(charge_point_id: str) -> str:
    return f"ocpp:{{{charge_point_id}}}:presence"


def fence_key(charge_point_id: str) -> str:
    return f"ocpp:{{{charge_point_id}}}:fence"


def instance_key(instance_id: str) -> str:
    return f"ocpp:instance:{instance_id}"


def command_stream(instance_id: str) -> str:
    return f"ocpp:{{i:{instance_id}}}:cmd"


def reply_stream(instance_id: str) -> str:
    return f"ocpp:{{i:{instance_id}}}:reply"


class RedisChargerCommands:
    def __init__(
        self,
        registry: ConnectionRegistry,
        redis: RedisClient,
        instance_id: str,
        *,
        presence_ttl: float = 30.0,
        instance_ttl: float = 3.0,
        block_ms: int = 5_000,
        loops: LoopRegistry | None = None,
    ) -> None:
        if "|" in instance_id:
            raise ValueError("instance_id must not contain '|'")
        self.registry = registry
        self.redis = redis
        self.instance_id = instance_id
        self.presence_ttl = presence_ttl
        self._ttl_ms = max(int(presence_ttl * 1000), 10)
        self.instance_ttl = instance_ttl
        self._instance_ttl_ms = max(int(instance_ttl * 1000), 10)
        self._block_ms = block_ms
        self._owned: dict[str, str] = {}
        self._unclaimed: set[str] = set()
        """Chargers connected while Redis could not be reached: claimed at the next refresh."""
        self._refresh_now = asyncio.Event()
        self.reading = False
        """Whether the last read of this instance's streams succeeded: commands routed to it
        are served (false while Redis is unreachable or failing over)."""
        self._seen_alive: dict[str, float] = {}
        self._pending: dict[str, asyncio.Future[CommandReply]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._claim = redis.register_script(_CLAIM)
        self._refresh = redis.register_script(_REFRESH)
        self._release = redis.register_script(_RELEASE)
        self._commands = command_stream(instance_id)
        self._replies = reply_stream(instance_id)
        self.on_lost: Any = None
        """Called with a charger id when another process took it over (set by the server)."""
        self._refresher = BackgroundLoop("ocpp-presence-refresh", self._refresh_job,
                                         interval=presence_ttl / 3, registry=loops,
                                         wake=self._refresh_now, run_at_start=False)
        self._keeper = BackgroundLoop("ocpp-liveness", self._keep_alive,
                                      interval=instance_ttl / 3, registry=loops,
                                      run_at_start=False, quiet=(RedisError,))
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False
        self._reader_done = asyncio.Event()

    # -- lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        # Entries left by an earlier life of this instance id are stale.
        await self.redis.delete(self._commands, self._replies)
        await self.redis.set(instance_key(self.instance_id), "1", px=self._instance_ttl_ms)
        self.reading = True
        self._stopping = False
        self._reader_done.clear()
        # The reader is a consumer (it blocks on the streams), not a periodic job.
        self._reader = asyncio.create_task(self._read_loop(),
                                           name=f"ocpp-redis-read-{self.instance_id}")
        self._refresher.start()
        self._keeper.start()

    async def stop(self) -> None:
        self._stopping = True
        await self._keeper.stop()
        await self._refresher.stop()
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            await self._wake_reader()
            if not await wait_event(self._reader_done, STOP_BOUND):
                log.warning("ocpp_stream_reader_not_woken", instance_id=self.instance_id)
            await cancel_and_wait(reader, name=f"ocpp-redis-read-{self.instance_id}")
        serving = list(self._serving)
        if serving:
            # Their sessions are closed: they answer OFFLINE at once, unless stuck.
            await asyncio.wait(serving, timeout=STOP_BOUND)
        for task in serving:
            await cancel_and_wait(task, name="ocpp-redis-serve")
        for future in self._pending.values():
            if not future.done():
                future.set_result(CommandReply(outcome=CommandOutcome.OFFLINE))
        for charge_point_id in list(self._owned):
            await self.charger_disconnected(charge_point_id)
        with contextlib.suppress(RedisError):
            await self.redis.delete(instance_key(self.instance_id))

    @property
    def refreshes(self) -> int:
        """How many presence refreshes ran (tests: "past several refreshes")."""
        return self._refresher.runs

    async def _wake_reader(self) -> None:
        try:
            await self.redis.xadd(self._commands, {_WAKE: b"1"}, maxlen=STREAM_MAXLEN,
                                  approximate=True)
        except RedisError:
            log.warning("ocpp_stream_wake_failed", instance_id=self.instance_id)

    async def _keep_alive(self) -> None:
        """A short-lived key per process: a requester sees a dead owner within seconds, long
        before the owner's presence entries (refreshed less often) expire."""
        before = await self.redis.set(instance_key(self.instance_id), "1",
                                      px=self._instance_ttl_ms, get=True)
        if before is None and (self._owned or self._unclaimed):
            # Our key was gone: Redis restarted empty (or we were paused). Our presence
            # entries are gone too: claim them again now, not at the next refresh.
            log.warning("ocpp_redis_state_lost", instance_id=self.instance_id)
            self._refresh_now.set()

    # -- presence ------------------------------------------------------------------------

    async def charger_connected(self, charge_point_id: str) -> None:
        self._unclaimed.discard(charge_point_id)
        try:
            fence = await self._claim(
                keys=[presence_key(charge_point_id), fence_key(charge_point_id)],
                args=[self.instance_id, self._ttl_ms],
            )
        except RedisError:
            log.warning("ocpp_presence_claim_failed", charge_point_id=charge_point_id)
            self._unclaimed.add(charge_point_id)
            self._refresh_now.set()
            return
        self._owned[charge_point_id] = f"{self.instance_id}|{int(fence)}"
        await self._write_info([charge_point_id])

    async def _write_info(self, charge_point_ids: list[str]) -> None:
        """The directory's entries of chargers connected here (ocpp_adapter/directory.py)."""
        sessions = [(cp, session) for cp in charge_point_ids
                    if (session := self.registry.get(cp)) is not None]
        if not sessions:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for cp, session in sessions:
                    pipe.hset(info_key(cp), mapping=info_fields(
                        of_session(session, self.instance_id)))
                await pipe.execute()
        except RedisError:
            log.warning("ocpp_directory_write_failed", chargers=len(sessions))

    async def describe(self, charge_point_ids: list[str]) -> dict[str, ChargerPresence]:
        """Every charger's directory entry, from this process for its own sessions and from
        Redis for the others (online: a presence entry of a live instance)."""
        found: dict[str, ChargerPresence] = {}
        remote: list[str] = []
        for cp in charge_point_ids:
            session = self.registry.get(cp)
            if session is not None and not session.is_closed:
                found[cp] = of_session(session, self.instance_id)
            else:
                remote.append(cp)
        if not remote:
            return found
        async with self.redis.pipeline(transaction=False) as pipe:
            for cp in remote:
                pipe.get(presence_key(cp))
                pipe.hgetall(info_key(cp))
            results = await pipe.execute()
        owners: dict[str, str | None] = {}
        for index, cp in enumerate(remote):
            value = results[2 * index]
            owner = value.decode() if isinstance(value, bytes) else value
            owners[cp] = owner.rsplit("|", 1)[0] if owner else None
        alive = {instance: instance != self.instance_id and await self._alive(
            instance, fresh=False) for instance in {o for o in owners.values() if o}}
        for index, cp in enumerate(remote):
            owner = owners[cp]
            found[cp] = from_info(cp, results[2 * index + 1] or {},
                                  online=owner is not None and alive.get(owner, False))
        return found

    async def _claim_unclaimed(self) -> None:
        for charge_point_id in list(self._unclaimed):
            session = self.registry.get(charge_point_id)
            if session is None or session.is_closed:
                self._unclaimed.discard(charge_point_id)
                continue
            await self.charger_connected(charge_point_id)

    async def charger_disconnected(self, charge_point_id: str) -> None:
        self._unclaimed.discard(charge_point_id)
        token = self._owned.pop(charge_point_id, None)
        if token is None:
            return
        try:
            await self._release(keys=[presence_key(charge_point_id)], args=[token])
        except RedisError:
            log.warning("ocpp_presence_release_failed", charge_point_id=charge_point_id)

    async def _refresh_job(self) -> None:
        self._refresh_now.clear()
        await self.refresh_presence()

    async def refresh_presence(self) -> None:
        """Refresh (or claim again, when Redis lost them) the presence of every charger
        connected here; close the sockets of those a newer connection elsewhere took over."""
        try:
            await self.redis.set(instance_key(self.instance_id), "1", px=self._instance_ttl_ms)
        except RedisError:
            log.warning("ocpp_liveness_refresh_failed", instance_id=self.instance_id)
            return
        if self._unclaimed:
            await self._claim_unclaimed()
        owned = list(self._owned.items())
        if owned:
            try:
                # EVAL, not EVALSHA: after a Redis restart the script cache is empty, and a
                # cluster pipeline does not reload scripts.
                async with self.redis.pipeline(transaction=False) as pipe:
                    for charge_point_id, token in owned:
                        pipe.eval(_REFRESH, 2, presence_key(charge_point_id),
                                  fence_key(charge_point_id), token, self._ttl_ms,
                                  token.rsplit("|", 1)[1])
                    results = await pipe.execute()
            except RedisError:
                log.warning("ocpp_presence_refresh_failed", chargers=len(owned))
                return
            await self._write_info([cp for (cp, _), kept in zip(owned, results, strict=True)
                                    if kept])
            for (charge_point_id, token), kept in zip(owned, results, strict=True):
                if not kept and self._owned.get(charge_point_id) == token:
                    log.warning("ocpp_presence_lost", charge_point_id=charge_point_id)
                    del self._owned[charge_point_id]
                    if self.on_lost is not None:
                        await self.on_lost(charge_point_id)

    async def _owner(self, charge_point_id: str, *, fresh: bool = False) -> str | None:
        """``instance|fence`` of the live process holding the charger, or None."""
        value = await self.redis.get(presence_key(charge_point_id))
        if value is None:
            return None
        owner = value.decode() if isinstance(value, bytes) else str(value)
        instance = owner.rsplit("|", 1)[0]
        if instance != self.instance_id and not await self._alive(instance, fresh=fresh):
            return None  # its process is gone; the entry just has not expired yet
        return owner

    async def _alive(self, instance: str, *, fresh: bool) -> bool:
        # A liveness check costs a round trip; one seen alive within a third of its TTL is
        # taken as alive still (the wait for an answer always checks afresh).
        now = time.monotonic()
        if not fresh and now - self._seen_alive.get(instance, -1e9) < self.instance_ttl / 3:
            return True
        if await self.redis.exists(instance_key(instance)):
            self._seen_alive[instance] = now
            return True
        self._seen_alive.pop(instance, None)
        return False

    # -- commands ------------------------------------------------------------------------

    async def is_online(self, charge_point_id: str) -> bool:
        session = self.registry.get(charge_point_id)
        if session is not None and not session.is_closed:
            return True
        try:
            return await self._owner(charge_point_id) is not None
        except RedisError:
            return False

    async def execute(
        self, command: ChargerCommand, timeout: float  # noqa: ASYNC109 (protocol)
    ) -> CommandOutcome:
        return (await self.ask(command, timeout)).outcome

    async def ask(
        self, command: ChargerCommand, timeout: float  # noqa: ASYNC109 (protocol)
    ) -> CommandReply:
        offline = CommandReply(outcome=CommandOutcome.OFFLINE)
        session = self.registry.get(command.charge_point_id)
        if session is not None and not session.is_closed:
            return await session.ask(command, timeout)
        deadline = time.monotonic() + timeout
        try:
            owner = await self._owner(command.charge_point_id)
        except RedisError:
            log.exception("ocpp_presence_lookup_failed", charge_point_id=command.charge_point_id)
            return offline
        if owner is None:
            return offline
        instance = owner.rsplit("|", 1)[0]
        if instance == self.instance_id:
            return offline  # our own stale entry: the socket is gone
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[CommandReply] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        try:
            await self.redis.xadd(
                command_stream(instance),
                {"cid": correlation_id, "reply": self._replies, "cmd": encode_command(command),
                 "deadline": str(time.time() + timeout)},
                maxlen=STREAM_MAXLEN, approximate=True,
            )
            return await self._await_reply(command.charge_point_id, owner, future, deadline)
        except RedisError:
            log.exception("ocpp_command_route_failed", charge_point_id=command.charge_point_id)
            return offline
        finally:
            self._pending.pop(correlation_id, None)

    async def _await_reply(self, charge_point_id: str, owner: str,
                           future: asyncio.Future[CommandReply],
                           deadline: float) -> CommandReply:
        check_every = min(self.presence_ttl, self.instance_ttl) / 3
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return CommandReply(outcome=CommandOutcome.TIMEOUT)
            done, _ = await asyncio.wait({future}, timeout=min(left, check_every))
            if done:
                return future.result()
            if await self._owner(charge_point_id, fresh=True) != owner:
                # The owner died (entry expired) or the charger moved: the command is lost.
                return CommandReply(outcome=CommandOutcome.OFFLINE)

    async def _read_loop(self) -> None:
        try:
            await self._read_until_stopped()
        finally:
            self._reader_done.set()

    async def _read_until_stopped(self) -> None:
        last: dict[Any, Any] = {self._commands: "0-0", self._replies: "0-0"}
        while not self._stopping:
            try:
                # After a failure, a read that returns at once tells that we read again.
                batches: Any = await self.redis.xread(
                    last, block=self._block_ms if self.reading else 1, count=500)
                self.reading = True
            except RedisError:
                self.reading = False
                log.warning("ocpp_stream_read_failed", instance_id=self.instance_id)
                await asyncio.sleep(0.5)
                continue
            for stream, entries in batches or []:
                name = stream.decode() if isinstance(stream, bytes) else stream
                for entry_id, fields in entries:
                    last[name] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    if name == self._replies:
                        self._on_reply(fields)
                    elif _WAKE in fields:
                        continue  # stop() woke us: the loop's condition ends the read
                    else:
                        task = asyncio.create_task(self._serve(fields))
                        self._serving.add(task)
                        task.add_done_callback(self._serving.discard)

    def _on_reply(self, fields: dict[bytes, bytes]) -> None:
        future = self._pending.get(fields.get(b"cid", b"").decode())
        if future is None or future.done():
            return
        try:
            # "reply" carries the charger's whole answer; an older instance sends the outcome.
            future.set_result(decode_reply(fields[b"reply"]) if b"reply" in fields
                              else CommandReply(outcome=CommandOutcome(
                                  fields[b"outcome"].decode())))
        except (KeyError, ValueError):
            future.set_result(CommandReply(outcome=CommandOutcome.REJECTED))

    async def _serve(self, fields: dict[bytes, bytes]) -> None:
        try:
            command = decode_command(fields[b"cmd"])
            correlation_id = fields[b"cid"].decode()
            reply_to = fields[b"reply"].decode()
            left = float(fields[b"deadline"]) - time.time()
        except (KeyError, ValueError, CodecError):
            log.warning("ocpp_bad_stream_entry", instance_id=self.instance_id)
            return
        if left <= 0:
            return  # the requester has given up already
        session = self.registry.get(command.charge_point_id)
        reply = CommandReply(outcome=CommandOutcome.OFFLINE) if session is None \
            else await session.ask(command, left)
        try:
            await self.redis.xadd(reply_to, {"cid": correlation_id,
                                             "outcome": reply.outcome.value,
                                             "reply": encode_reply(reply)},
                                  maxlen=STREAM_MAXLEN, approximate=True)
        except RedisError:
            log.warning("ocpp_reply_failed", charge_point_id=command.charge_point_id)


class RedisTransactionIds:
    """1.6 transaction ids unique across every process sharing the Redis."""

    _NEXT = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])
"""

    def __init__(self, redis: RedisClient, key: str = "ocpp:txid") -> None:
        self._script = redis.register_script(self._NEXT)
        self._key = key

    async def next_id(self, charge_point_id: str) -> int:
        value = int(await self._script(keys=[self._key], args=[int(time.time())]))
        return value % (2**31 - 1) or 1
