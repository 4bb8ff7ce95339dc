"""The outbox engine: durable, ordered per (partner, ordering key), coalescing, retrying.

Every delivery is written to the DocumentStore before it is attempted and deleted only once the
receiver accepted it, so a restart resumes where it stopped. Workers per partner take one
ordering key at a time, so two deliveries about the same object never overtake each other while
different objects (and different partners) proceed in parallel. A failed attempt parks its key
on a timer (exponential backoff with jitter) without holding a worker. What a worker sends
for one delivery and what becomes of it (done, given up on, its next attempt) is
``attempts.py``'s.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import orjson
import structlog

from ocpi_gateway.deliveries.attempts import Attempts, HeadersFor, ResyncProvider
from ocpi_gateway.deliveries.group_commit import GroupCommit
from ocpi_gateway.deliveries.instances import Instances
from ocpi_gateway.deliveries.models import COLLECTION, Delivery, Outgoing
from ocpi_gateway.deliveries.policy import DeliveryPolicy, attempt_timeout, next_attempt_at
from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry
from ocpi_gateway.domain.store import Delete, DocumentStore, Put
from ocpi_gateway.domain.tasks import cancel_all, wait_event
from ocpi_gateway.transport.request_ids import fresh_hex_id

log = structlog.get_logger(__name__)

__all__ = ["DeliveryEngine", "DeliveryPolicy", "attempt_timeout", "next_attempt_at"]

Clock = Callable[[], float]
"""Seconds since the epoch: stored times (retries, expiries, heartbeats) are shared between
instances, so wall-clock time."""

_Key = tuple[str, str]


class DeliveryEngine:
    def __init__(
        self,
        store: DocumentStore,
        headers_for: HeadersFor,
        *,
        policy: DeliveryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        instance_id: str = "gw",
        heartbeat_interval: float = 10.0,
        orphan_after: float = 60.0,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        loops: LoopRegistry | None = None,
    ) -> None:
        """``monotonic`` times only this process's cache of partner headers."""
        self._store = store
        # Deliveries written and deleted by many producers and workers at once share commits.
        self._commits = GroupCommit(store)
        self._clock = clock
        self.instance_id = instance_id
        self._instances = Instances(store, instance_id, orphan_after=orphan_after, clock=clock,
                                    take=self._adopt)
        # start() heartbeats itself, then the loop every heartbeat_interval.
        self._adopter = BackgroundLoop("outbox-adopt", self._instances.heartbeat_and_adopt,
                                       interval=heartbeat_interval, registry=loops,
                                       clock=clock, run_at_start=False)
        self.policy = policy or DeliveryPolicy()
        self._attempts = Attempts(store, headers_for, self.policy, session=session, clock=clock,
                                  monotonic=monotonic, delivered=self._forget)
        self._queues: dict[_Key, deque[Delivery]] = {}
        self._scheduled: set[_Key] = set()
        self._inflight: set[str] = set()
        self._ready: dict[str, asyncio.Queue[str]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._staffed: set[str] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._seq = itertools.count(self._now_ns())
        self._idle = asyncio.Event()
        self._idle.set()
        self._deleting: set[asyncio.Future[list[bool]]] = set()
        """Deletes of delivered rows not committed yet (``_forget``)."""
        self._started = False

    def _now_ns(self) -> int:
        """The first sequence number: above those of earlier runs sharing the store."""
        return int(self._clock() * 1_000_000_000)

    @property
    def delivered(self) -> int:
        """Deliveries the receivers accepted since this engine was made."""
        return self._attempts.delivered

    def register_resync(self, kind: str, provider: ResyncProvider) -> None:
        self._attempts.register_resync(kind, provider)

    async def start(self) -> None:
        """Load what a previous run left pending and start delivering it."""
        self._attempts.open()
        await self._instances.heartbeat()
        # Only this instance's own leftovers (and rows from before owners existed): deliveries
        # of another instance sharing the store are its business while it is alive.
        docs = [d for d in await self._store.find(COLLECTION, {"dead": False}, order_by="seq")
                if d.get("owner") in (None, self.instance_id)]
        last = 0
        queued = {d.id for queue in self._queues.values() for d in queue}
        for doc in docs:
            delivery = Delivery.from_doc(doc)
            delivery.owner = self.instance_id
            last = max(last, delivery.seq)
            if delivery.id not in queued:
                self._append(delivery)
        self._seq = itertools.count(max(self._now_ns(), last + 1))
        self._started = True
        for partner in list(self._ready):
            self._spawn_workers(partner)
        self._adopter.start()
        log.info("outbox_started", pending=len(docs), instance_id=self.instance_id)

    async def adopt_orphans(self) -> int:
        """Take over the pending deliveries of instances that stopped heartbeating (crashed, or
        scaled down): compare-and-set on the owner, so exactly one survivor gets each."""
        return await self._instances.adopt_orphans()

    def _adopt(self, delivery: Delivery) -> None:
        self._append(delivery)
        if delivery.partner_id not in self._staffed:
            self._spawn_workers(delivery.partner_id)

    async def stop(self) -> None:
        await self._adopter.stop()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        await cancel_all(self._workers, name="outbox-worker")
        self._workers.clear()
        self._staffed.clear()
        self._ready.clear()
        self._queues.clear()
        self._scheduled.clear()
        self._started = False
        # What was delivered leaves the store before the process goes (a row left would
        # only be sent once more at the next start).
        await asyncio.gather(*self._deleting, return_exceptions=True)
        await self._attempts.close()

    async def enqueue(
        self,
        partner_id: str,
        method: str,
        url: str,
        body: Any = None,
        *,
        ordering_key: str | None = None,
        coalesce: bool = False,
        resync: dict[str, Any] | None = None,
        expires_at: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        """``headers``: sent with the partner's Authorization (e.g. OCPI routing headers)."""
        return (await self.enqueue_many([Outgoing(
            partner_id=partner_id, method=method, url=url, body=body, ordering_key=ordering_key,
            coalesce=coalesce, resync=resync, expires_at=expires_at, headers=headers)]))[0]

    async def enqueue_many(self, items: Sequence[Outgoing]) -> list[Delivery]:
        """Queue several deliveries (one change fanned out to every partner), each as
        ``enqueue`` would, stored in one commit: all are durable once this returns."""
        deliveries: list[Delivery] = []
        fresh: list[Delivery] = []
        now = self._clock()
        # One body object shared by many partners (one version's PATCH or Location) is
        # serialised once; the items hold it, so its id() is not reused during the call.
        encoded: dict[int, bytes] = {}
        for item in items:
            data = None
            if item.body is not None:
                data = encoded.get(id(item.body))
                if data is None:
                    data = encoded[id(item.body)] = orjson.dumps(item.body)
            key = item.ordering_key or item.url
            queue = self._queues.get((item.partner_id, key))
            if item.coalesce and queue:
                last = queue[-1]
                if (last.coalesce and last.id not in self._inflight
                        and last.method == item.method and last.url == item.url):
                    # Only the newest state matters: overwrite the waiting one. Two PATCHes
                    # of one object are one with both's fields, the later's winning (a
                    # PATCH of what changed since the one waiting lacks what that one had).
                    body = item.body
                    if (item.method == "PATCH" and isinstance(last.body, dict)
                            and isinstance(body, dict) and not last.body.keys() <= body.keys()):
                        body = {**last.body, **body}
                        data = orjson.dumps(body)
                    last.body, last.url, last.resync = body, item.url, item.resync
                    last.encoded = data
                    if item.headers:
                        last.extra["headers"] = item.headers
                    deliveries.append(last)
                    continue
            delivery = Delivery(
                id=fresh_hex_id(), partner_id=item.partner_id, method=item.method,
                url=item.url, body=item.body, ordering_key=key, seq=next(self._seq),
                coalesce=item.coalesce, resync=item.resync, expires_at=item.expires_at,
                owner=self.instance_id, queued_at=now,
                extra={"headers": item.headers} if item.headers else {}, encoded=data,
            )
            deliveries.append(delivery)
            fresh.append(delivery)
        # A delivery named twice (coalesced twice in one batch) is written once.
        await self._write(list({d.id: d for d in deliveries}.values()))
        for delivery in fresh:
            self._append(delivery)
            if self._started and delivery.partner_id not in self._staffed:
                self._spawn_workers(delivery.partner_id)
        return deliveries

    async def _write(self, deliveries: Sequence[Delivery], attempts: int = 5) -> None:
        """Persist before anything is sent; a busy store (SQLite shared by two processes
        answers "database is locked") is retried briefly rather than losing the push."""
        if not deliveries:
            return
        for attempt in range(attempts):
            try:
                await self._commits.write_all([Put(COLLECTION, d.id, d.to_doc())
                                               for d in deliveries])
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt == attempts - 1:
                    raise
                log.warning("outbox_write_retry", deliveries=len(deliveries),
                            delivery=deliveries[0].id, attempt=attempt + 1)
                await asyncio.sleep(0.02 * 2 ** attempt)

    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def drain(self, wait_seconds: float) -> bool:
        """Wait until nothing is pending (benchmarks, tests, graceful shutdown)."""
        return await wait_event(self._idle, wait_seconds)

    # -- internals -------------------------------------------------------------------------

    def _append(self, delivery: Delivery) -> None:
        key = (delivery.partner_id, delivery.ordering_key)
        queue = self._queues.setdefault(key, deque())
        # Concurrent enqueues of one key may finish their store writes out of order: keep
        # the queue in seq order (never ahead of a head that is already being sent).
        position = len(queue)
        while position > 0 and queue[position - 1].seq > delivery.seq and not (
                position - 1 == 0 and queue[0].id in self._inflight):
            position -= 1
        queue.insert(position, delivery)
        self._idle.clear()
        ready = self._ready.get(delivery.partner_id)
        if ready is None:
            ready = self._ready[delivery.partner_id] = asyncio.Queue()
        if key not in self._scheduled:
            self._scheduled.add(key)
            ready.put_nowait(delivery.ordering_key)

    def _spawn_workers(self, partner_id: str) -> None:
        self._staffed.add(partner_id)
        for n in range(self.policy.concurrency_per_partner):
            task = asyncio.create_task(self._worker(partner_id), name=f"outbox{n}|{partner_id}")
            self._workers.append(task)

    def _wake_later(self, partner_id: str, ordering_key: str, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def wake() -> None:
            self._timers.discard(handle)
            ready = self._ready.get(partner_id)
            if ready is not None:
                ready.put_nowait(ordering_key)

        handle = loop.call_later(max(delay, 0.0), wake)
        self._timers.add(handle)

    async def _worker(self, partner_id: str) -> None:
        ready = self._ready[partner_id]
        while True:
            ordering_key = await ready.get()
            key = (partner_id, ordering_key)
            queue = self._queues.get(key)
            while queue:
                delivery = queue[0]
                wait = delivery.next_attempt_at - self._clock()
                if wait > 0:
                    self._wake_later(partner_id, ordering_key, wait)
                    break
                self._inflight.add(delivery.id)
                try:
                    finished = await self._attempts.process(delivery)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a bug must not kill the worker and strand the partner
                    log.exception("delivery_crashed", delivery=delivery.id)
                    finished = await self._attempts.schedule_retry(delivery, "internal error")
                finally:
                    self._inflight.discard(delivery.id)
                if not finished:
                    self._wake_later(partner_id, ordering_key,
                                     delivery.next_attempt_at - self._clock())
                    break
                queue.popleft()
            else:
                self._scheduled.discard(key)
                self._queues.pop(key, None)
                if not self._queues and not self._deleting:
                    self._idle.set()

    def _forget(self, delivery: Delivery) -> None:
        """Delete the row of a delivered delivery with the next group commit, without holding
        the worker until it is committed: a crash before that commit sends the delivery once
        more at the restart, as a crash between the answer and the delete always could
        (receivers take a Locations PUT or PATCH twice as once)."""
        deleting = self._commits.submit(Delete(COLLECTION, delivery.id))
        self._deleting.add(deleting)

        def deleted(done: asyncio.Future[list[bool]]) -> None:
            self._deleting.discard(done)
            if not done.cancelled() and (error := done.exception()) is not None:
                log.warning("outbox_delete_failed", delivery=delivery.id, error=repr(error))
            if not self._queues and not self._deleting:
                self._idle.set()

        deleting.add_done_callback(deleted)
