"""A worker's turn with one delivery: what is sent (the request, or OCPI's GET-then-PUT resync
of a refused PATCH, with the partner's headers) and what becomes of the delivery: done, given
up on (expired, partner gone, refused, out of attempts) or parked until its next attempt
(exponential backoff with jitter). ``sending.py`` makes the request itself."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import structlog

from ocpi_gateway import metrics
from ocpi_gateway.deliveries.answers import UNAUTHORIZED, Outcome
from ocpi_gateway.deliveries.models import COLLECTION, Delivery
from ocpi_gateway.deliveries.policy import DeliveryPolicy, attempt_timeout, next_attempt_at
from ocpi_gateway.deliveries.sending import Sender
from ocpi_gateway.domain.store import DocumentStore

log = structlog.get_logger(__name__)

HeadersFor = Callable[[str], Awaitable[dict[str, str] | None]]
"""Request headers (Authorization: Token ...) for a partner; None when it is no longer
registered, which dead-letters its deliveries."""

ResyncProvider = Callable[[Delivery], Awaitable[tuple[str, Any] | None]]
"""For a refused PATCH: the (url, full object) to PUT instead, or None when the object is gone."""


class Attempts:
    def __init__(self, store: DocumentStore, headers_for: HeadersFor, policy: DeliveryPolicy, *,
                 session: aiohttp.ClientSession | None, clock: Callable[[], float],
                 monotonic: Callable[[], float], delivered: Callable[[Delivery], None]) -> None:
        """``delivered``: told of each delivery the receiver accepted (its row to delete);
        ``monotonic`` times only this process's cache of partner headers."""
        self._store = store
        self._headers_for = headers_for
        self.policy = policy
        self._session = session
        self._clock = clock
        self._monotonic = monotonic
        self._delivered = delivered
        self._sender: Sender | None = None
        self._resync: dict[str, ResyncProvider] = {}
        self._headers: dict[str, tuple[float, dict[str, str] | None]] = {}
        self.delivered = 0

    def register_resync(self, kind: str, provider: ResyncProvider) -> None:
        self._resync[kind] = provider

    def open(self) -> None:
        if self._sender is None:
            self._sender = Sender(self._session)

    async def close(self) -> None:
        if self._sender is not None:
            await self._sender.close()
            self._sender = None

    async def process(self, delivery: Delivery) -> bool:
        """True when the delivery is finished (accepted, dropped or dead)."""
        now = self._clock()
        if delivery.expires_at is not None and now >= delivery.expires_at:
            await self._give_up(delivery, metrics.DeliveryGiveUp.EXPIRED,
                                delivery.last_error or "never attempted")
            return True
        headers = await self._partner_headers(delivery.partner_id)
        if headers is None:
            # Unregistered, revoked or deleted: kept as a dead letter, never sent.
            delivery.last_error = "partner not registered"
            await self._give_up(delivery, metrics.DeliveryGiveUp.PARTNER_GONE,
                                delivery.last_error)
            return True
        if delivery.extra.get("headers"):
            headers = {**headers, **delivery.extra["headers"]}
        if delivery.extra.get("resync"):
            outcome, detail = await self._resync_put(delivery, headers)
        else:
            outcome, detail = await self._send(delivery.method, delivery.url, delivery.body,
                                               headers, attempt_timeout(self.policy, delivery,
                                                                        now),
                                               delivery.encoded)
            if outcome is Outcome.REFUSED and delivery.method == "PATCH" and delivery.resync:
                # OCPI: a receiver that refuses a PATCH has lost the object; GET it to see
                # what it holds, then PUT the whole current object.
                log.info("delivery_resync", url=delivery.url, reason=detail)
                delivery.extra["resync"] = True
                await self._store.put(COLLECTION, delivery.id, delivery.to_doc())
                outcome, detail = await self._resync_put(delivery, headers)
        if detail == UNAUTHORIZED:
            self._headers.pop(delivery.partner_id, None)
        if outcome is Outcome.DONE:
            self.delivered += 1
            metrics.delivery_succeeded()
            self._delivered(delivery)
            return True
        if outcome is Outcome.REFUSED:
            delivery.last_error = detail
            await self._give_up(delivery, metrics.DeliveryGiveUp.REFUSED, detail)
            return True
        return await self.schedule_retry(delivery, detail)

    async def _give_up(self, delivery: Delivery, reason: metrics.DeliveryGiveUp,
                       detail: str) -> None:
        """One log line and one count per delivery given up on. A refused or exhausted one
        stays in the store as dead (an operator may look at it); an expired one is dropped,
        its receiver having stopped waiting."""
        log.warning("delivery_gave_up", delivery=delivery.id, partner=delivery.partner_id,
                    method=delivery.method, url=delivery.url, reason=reason.value,
                    attempts=delivery.attempts, last_error=detail)
        metrics.delivery_failed(reason)
        if reason is metrics.DeliveryGiveUp.EXPIRED:
            await self._store.delete(COLLECTION, delivery.id)
            return
        delivery.dead = True
        await self._store.put(COLLECTION, delivery.id, delivery.to_doc())

    async def _partner_headers(self, partner_id: str) -> dict[str, str] | None:
        cached = self._headers.get(partner_id)
        now = self._monotonic()
        if cached is not None and now - cached[0] < self.policy.headers_ttl:
            return cached[1]
        headers = await self._headers_for(partner_id)
        self._headers[partner_id] = (now, headers)
        return headers

    async def schedule_retry(self, delivery: Delivery, detail: str) -> bool:
        """False when the delivery waits for its next attempt (``next_attempt_at``, stored);
        True when it was given up on instead."""
        delivery.attempts += 1
        delivery.last_error = detail
        limit = self.policy.max_attempts
        if limit is not None and delivery.attempts >= limit:
            await self._give_up(delivery, metrics.DeliveryGiveUp.OUT_OF_ATTEMPTS, detail)
            return True
        now = self._clock()
        at = next_attempt_at(self.policy, delivery, now, random.uniform(0.5, 1.0))
        if at is None:
            # The next try would come after the receiver stopped waiting: stop now rather
            # than park a timer that can only end in expiry.
            await self._give_up(delivery, metrics.DeliveryGiveUp.EXPIRED, detail)
            return True
        delivery.next_attempt_at = at
        metrics.delivery_retried()
        log.info("delivery_retry", delivery=delivery.id, url=delivery.url,
                 attempts=delivery.attempts, reason=detail, retry_in=round(at - now, 3),
                 expires_in=(None if delivery.expires_at is None
                             else round(delivery.expires_at - now, 3)))
        await self._store.put(COLLECTION, delivery.id, delivery.to_doc())
        return False

    async def _resync_put(
        self, delivery: Delivery, headers: dict[str, str]
    ) -> tuple[Outcome, str]:
        assert delivery.resync is not None
        provider = self._resync.get(str(delivery.resync.get("kind")))
        if provider is None:
            return Outcome.REFUSED, f"no resync provider for {delivery.resync.get('kind')}"
        target = await provider(delivery)
        if target is None:
            return Outcome.DONE, "object gone"
        put_url, body = target
        get_outcome, detail = await self._send("GET", put_url, None, headers)
        log.info("delivery_resync_get", url=put_url, outcome=get_outcome.value, detail=detail)
        return await self._send("PUT", put_url, body, headers)

    async def _send(
        self, method: str, url: str, body: Any, headers: dict[str, str],
        wait: float | None = None, data: bytes | None = None,
    ) -> tuple[Outcome, str]:
        """``data``: the body already serialised (one fan-out's deliveries share it)."""
        assert self._sender is not None, "DeliveryEngine.start() was not called"
        if data is None and body is not None:
            data = orjson.dumps(body)
        return await self._sender.send(method, url, data, headers, wait or self.policy.timeout)
