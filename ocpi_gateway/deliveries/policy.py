"""How hard the outbox tries: the timeout of one attempt, the backoff between attempts, how many
workers a partner gets, how long its headers are reused."""

from __future__ import annotations

from dataclasses import dataclass

from ocpi_gateway.deliveries.models import Delivery


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    timeout: float = 10.0
    base_backoff: float = 1.0
    max_backoff: float = 300.0
    concurrency_per_partner: int = 8
    max_attempts: int | None = None
    """None: retry until ``expires_at`` (if any); Locations pushes never expire."""
    headers_ttl: float = 2.0
    """How long a partner's headers are reused: a token change or an unregistration takes
    effect within this time, and a burst of deliveries does not read the partner each time."""


_MIN_ATTEMPT_TIMEOUT = 0.05
"""Seconds: an attempt started just before the expiry still gets a chance to connect."""


def attempt_timeout(policy: DeliveryPolicy, delivery: Delivery, now: float) -> float:
    """How long one attempt may take: the policy's timeout, cut to what is left before the
    delivery expires, so a hanging receiver cannot hold a worker past the command's time."""
    if delivery.expires_at is None:
        return policy.timeout
    return max(_MIN_ATTEMPT_TIMEOUT, min(policy.timeout, delivery.expires_at - now))


def next_attempt_at(policy: DeliveryPolicy, delivery: Delivery, now: float,
                    jitter: float) -> float | None:
    """When to try again after ``delivery.attempts`` failed attempts: exponential backoff
    (``jitter`` in [0.5, 1] spreads retries of many deliveries), or None when that moment is
    not before the delivery expires."""
    backoff = min(policy.max_backoff, policy.base_backoff * 2.0 ** (delivery.attempts - 1))
    at = now + backoff * jitter
    if delivery.expires_at is not None and at >= delivery.expires_at:
        return None
    return at
