"""Commands to chargers connected to any gateway process sharing one Redis.

Which process holds a charger is ``presence.py``'s job. Keys of this module (both streams of a
process share a hash slot, so one XREAD reads both on a Redis Cluster too):

- ``ocpp:{i:<instance>}:cmd``: a Stream per process; a command is an entry with a correlation
  id, the requester's reply stream, the encoded command and a deadline.
- ``ocpp:{i:<instance>}:reply``: a Stream per process for the answers (correlation id,
  outcome).

Stopping: the reader blocks in XREAD for up to ``block_ms``, and a cancellation can be lost
inside redis-py (``domain/tasks.py``). ``stop()`` raises a flag, wakes the read with an entry
of its own on the command stream, and waits (bounded) for the reader to leave; only then is it
cancelled.

A command for a charger no live process holds fails at once with OFFLINE. While waiting for a
remote answer the requester re-checks the owner every third of the shorter TTL: when the owner
dies (or a newer owner appears), seen at two checks in a row, the command ends OFFLINE then,
not at its timeout. At each check that finds the same owner the entry is sent again (same
correlation id): a Redis that restarted empty may have lost it or its answer. The owner runs
a correlation id once and answers it again when asked again (``_Served``, kept until the
requester's deadline).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from ocpi_gateway.domain.charger_commands import ChargerCommand, CommandOutcome, CommandReply
from ocpi_gateway.domain.loops import LoopRegistry
from ocpi_gateway.domain.tasks import STOP_BOUND, cancel_and_wait, finish_within, wait_event
from ocpi_gateway.ocpp_adapter.directory import ChargerPresence
from ocpi_gateway.ocpp_adapter.registry import ConnectionRegistry
from ocpi_gateway.ocpp_adapter.routing.codec import (
    CodecError,
    decode_command,
    decode_reply,
    encode_command,
    encode_reply,
)
from ocpi_gateway.ocpp_adapter.routing.presence import RedisPresence
from ocpi_gateway.redis_clients import RedisClient

log = structlog.get_logger(__name__)

STREAM_MAXLEN = 10_000
_WAKE = b"wake"
"""The field of the entry ``stop()`` adds to its own command stream to end a blocking read."""


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
        self.presence = RedisPresence(registry, redis, instance_id, presence_ttl=presence_ttl,
                                      instance_ttl=instance_ttl, loops=loops)
        self._block_ms = block_ms
        self.reading = False
        """Whether the last read of this instance's streams succeeded: commands routed to it
        are served (false while Redis is unreachable or failing over)."""
        self._pending: dict[str, asyncio.Future[CommandReply]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._served: dict[str, _Served] = {}
        self._commands = command_stream(instance_id)
        self._replies = reply_stream(instance_id)
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False
        self._reader_done = asyncio.Event()

    # -- lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        # Entries left by an earlier life of this instance id are stale.
        await self.redis.delete(self._commands, self._replies)
        await self.presence.start()
        self.reading = True
        self._stopping = False
        self._reader_done.clear()
        # The reader is a consumer (it blocks on the streams), not a periodic job.
        self._reader = asyncio.create_task(self._read_loop(),
                                           name=f"ocpp-redis-read-{self.instance_id}")

    async def stop(self) -> None:
        self._stopping = True
        await self.presence.stop_refreshing()
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
        await self.presence.leave()
        # The releases of chargers whose handlers were cancelled are awaited by no one.
        await finish_within([self.presence.drain()], name="ocpp-presence-drain")

    # -- presence, for the server --------------------------------------------------------

    @property
    def refreshes(self) -> int:
        return self.presence.refreshes

    @property
    def on_lost(self) -> Callable[[str], Awaitable[None]] | None:
        return self.presence.on_lost

    @on_lost.setter
    def on_lost(self, callback: Callable[[str], Awaitable[None]] | None) -> None:
        self.presence.on_lost = callback

    async def charger_connected(self, charge_point_id: str) -> None:
        await self.presence.charger_connected(charge_point_id)

    async def charger_disconnected(self, charge_point_id: str) -> None:
        await self.presence.charger_disconnected(charge_point_id)

    async def describe(self, charge_point_ids: list[str]) -> dict[str, ChargerPresence]:
        return await self.presence.describe(charge_point_ids)

    async def refresh_presence(self) -> None:
        await self.presence.refresh_presence()

    async def _wake_reader(self) -> None:
        try:
            await self.redis.xadd(self._commands, {_WAKE: b"1"}, maxlen=STREAM_MAXLEN,
                                  approximate=True)
        except RedisError:
            log.warning("ocpp_stream_wake_failed", instance_id=self.instance_id)

    # -- commands ------------------------------------------------------------------------

    async def is_online(self, charge_point_id: str) -> bool:
        session = self.registry.get(charge_point_id)
        if session is not None and not session.is_closed:
            return True
        try:
            return await self.presence.owner(charge_point_id) is not None
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
            owner = await self.presence.owner(command.charge_point_id)
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
        entry: dict[FieldT, EncodableT] = {
            "cid": correlation_id, "reply": self._replies, "cmd": encode_command(command),
            "deadline": str(time.time() + timeout)}
        try:
            await self.redis.xadd(command_stream(instance), entry,
                                  maxlen=STREAM_MAXLEN, approximate=True)
        except RedisError:
            log.exception("ocpp_command_route_failed", charge_point_id=command.charge_point_id)
            self._pending.pop(correlation_id, None)
            return offline
        try:
            return await self._await_reply(command.charge_point_id, owner, future, deadline,
                                           entry)
        finally:
            self._pending.pop(correlation_id, None)

    async def _await_reply(self, charge_point_id: str, owner: str,
                           future: asyncio.Future[CommandReply],
                           deadline: float, entry: dict[FieldT, EncodableT]) -> CommandReply:
        check_every = min(self.presence.presence_ttl, self.presence.instance_ttl) / 3
        owner_missing = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return CommandReply(outcome=CommandOutcome.TIMEOUT)
            done, _ = await asyncio.wait({future}, timeout=min(left, check_every))
            if done:
                return future.result()
            try:
                current = await self.presence.owner(charge_point_id, fresh=True)
                if current == owner:
                    owner_missing = 0
                    # A Redis that restarted empty lost the entry or its answer: the owner
                    # serves an entry once and sends its answer again (``_serve``).
                    await self.redis.xadd(command_stream(owner.rsplit("|", 1)[0]),
                                          entry,
                                          maxlen=STREAM_MAXLEN, approximate=True)
                    continue
            except RedisError:
                # Redis unreachable: whether the charger got the command is unknown, so the
                # wait goes on (its end is TIMEOUT, which a caller withdraws), not OFFLINE.
                continue
            owner_missing += 1
            if owner_missing >= 2:
                # The owner died (entry expired) or the charger moved: the command is lost.
                # Twice in a row: a Redis that restarted empty lacks every entry until the
                # owner claims its chargers again.
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
        served = self._served.get(correlation_id)
        if served is not None:
            # Sent again by a requester still waiting: answered already (the answer may have
            # been lost with Redis's data), or still at the charger (it answers when done).
            if served.reply is not None:
                await self._send_reply(reply_to, correlation_id, served.reply,
                                       command.charge_point_id)
            return
        self._forget_served()
        served = self._served[correlation_id] = _Served(time.time() + left)
        session = self.registry.get(command.charge_point_id)
        reply = CommandReply(outcome=CommandOutcome.OFFLINE) if session is None \
            else await session.ask(command, left)
        served.reply = reply
        await self._send_reply(reply_to, correlation_id, reply, command.charge_point_id)

    async def _send_reply(self, reply_to: str, correlation_id: str, reply: CommandReply,
                          charge_point_id: str) -> None:
        try:
            await self.redis.xadd(reply_to, {"cid": correlation_id,
                                             "outcome": reply.outcome.value,
                                             "reply": encode_reply(reply)},
                                  maxlen=STREAM_MAXLEN, approximate=True)
        except RedisError:
            # The requester sends the command again while it waits: the answer goes then.
            log.warning("ocpp_reply_failed", charge_point_id=charge_point_id)

    def _forget_served(self) -> None:
        now = time.time()
        while self._served:
            oldest = next(iter(self._served))
            if self._served[oldest].deadline > now:
                return
            del self._served[oldest]


@dataclass(slots=True)
class _Served:
    """A command this instance took from its stream, kept until its requester's deadline so
    that the same entry sent again is not run twice."""

    deadline: float
    reply: CommandReply | None = None
