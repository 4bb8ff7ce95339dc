"""The login limiter and the verified-credential fingerprints shared by every instance on one
Redis (the in-process versions are in ocpp_adapter.auth; tests/ocpp/test_auth_contract.py runs
one contract on both).

Keys, all hash-tagged on the charger (one cluster slot per charger):

- ``ocpp:{<cp>}:login:addr:<address>``: sorted set ticket → time of the attempts from that
  address still in the window (a success removes its own ticket);
- ``ocpp:{<cp>}:login:elsewhere``: the same for every address the charger is not known at;
- ``ocpp:{<cp>}:login:known``: sorted set address → time of its last successful login;
- ``ocpp:verified:<fingerprint hex>``: exists (30-day TTL) while the credentials that HMAC
  fingerprint stands for are known good (the fingerprint binds the stored scrypt hash, so it is
  nobody else's and means nothing after the hash changes).

Each class keeps at most ``max_in_flight`` calls on the client at a time: a reconnect storm of
thousands of chargers would otherwise ask redis-py's pool for thousands of connections (it
refuses past its size) and crowd out command routing.

When Redis fails, each instance falls back to its own in-process limiter and memory (logged):
logins go on during a Redis outage, with the bounds holding per instance instead of overall.
"""

from __future__ import annotations

import asyncio
import os
import time

import structlog
from redis.exceptions import RedisError

from ocpi_gateway.ocpp_adapter.auth import (
    Clock,
    LocalLoginLimiter,
    LocalVerifiedPasswords,
    LoginAttempt,
    LoginLimits,
)
from ocpi_gateway.redis_clients import RedisClient
from ocpi_gateway.redis_clients.batching import CommandBatcher

log = structlog.get_logger(__name__)

_BEGIN = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl_ms = math.ceil(window * 1000) + 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
local since = redis.call('ZSCORE', KEYS[3], ARGV[6])
local known = since and tonumber(since) > now - tonumber(ARGV[7])
if not known then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return -2 end
  redis.call('ZADD', KEYS[2], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ttl_ms)
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], ttl_ms)
if known then return 1 end
return 0
"""

_SUCCEEDED = """
local now, known_for = tonumber(ARGV[1]), tonumber(ARGV[3])
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - known_for)
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -1 - tonumber(ARGV[5]))
redis.call('PEXPIRE', KEYS[3], math.ceil(known_for * 1000))
return 1
"""


def _prefix(charge_point_id: str, namespace: str) -> str:
    return f"{namespace}:{{{charge_point_id}}}:"


def address_key(charge_point_id: str, address: str, namespace: str = "ocpp") -> str:
    return f"{_prefix(charge_point_id, namespace)}login:addr:{address}"


def elsewhere_key(charge_point_id: str, namespace: str = "ocpp") -> str:
    return f"{_prefix(charge_point_id, namespace)}login:elsewhere"


def known_key(charge_point_id: str, namespace: str = "ocpp") -> str:
    return f"{_prefix(charge_point_id, namespace)}login:known"


def verified_key(fingerprint: bytes) -> str:
    return f"ocpp:verified:{fingerprint.hex()}"


class RedisLoginLimiter:
    """:class:`ocpp_adapter.auth.LoginLimiter` with its counts in Redis (atomic scripts).
    ``namespace`` starts every key: another kind of login (the admin API's operators) counts
    apart from the chargers under its own."""

    def __init__(self, redis: RedisClient, limits: LoginLimits | None = None, *,
                 clock: Clock = time.time, max_in_flight: int = 96,
                 namespace: str = "ocpp") -> None:
        self.limits = limits or LoginLimits()
        self._namespace = namespace
        self._gate = asyncio.Semaphore(max_in_flight)
        self._clock = clock
        # EVAL in a pipeline of the logins of one pass of the loop (redis_clients/batching.py).
        self._batch = CommandBatcher(redis)
        self._fallback = LocalLoginLimiter(self.limits, clock=clock)
        self._fallback_tickets: set[str] = set()

    def _keys(self, charge_point_id: str, address: str) -> list[str]:
        namespace = self._namespace
        return [address_key(charge_point_id, address, namespace),
                elsewhere_key(charge_point_id, namespace), known_key(charge_point_id, namespace)]

    async def begin(self, charge_point_id: str, address: str) -> LoginAttempt | None:
        ticket = os.urandom(8).hex()
        limits = self.limits
        try:
            async with self._gate:
                answer = await self._batch.execute(
                    "EVAL", _BEGIN, 3, *self._keys(charge_point_id, address),
                    repr(self._clock()), repr(limits.window), limits.per_address,
                    limits.per_charger, ticket, address, repr(limits.known_address_seconds))
        except RedisError as exc:
            log.warning("ocpp_login_limiter_redis_failed", charge_point_id=charge_point_id,
                        error=str(exc))
            attempt = await self._fallback.begin(charge_point_id, address)
            if attempt is not None:
                self._fallback_tickets.add(attempt.ticket)
            return attempt
        if int(answer) < 0:
            return None
        return LoginAttempt(charge_point_id, address, ticket, int(answer) == 1)

    async def succeeded(self, attempt: LoginAttempt) -> None:
        if attempt.ticket in self._fallback_tickets:
            self._fallback_tickets.discard(attempt.ticket)
            await self._fallback.succeeded(attempt)
            return
        limits = self.limits
        try:
            async with self._gate:
                await self._batch.execute(
                    "EVAL", _SUCCEEDED, 3,
                    *self._keys(attempt.charge_point_id, attempt.address),
                    repr(self._clock()), attempt.ticket, repr(limits.known_address_seconds),
                    attempt.address, limits.known_addresses)
        except RedisError as exc:
            log.warning("ocpp_login_limiter_redis_failed",
                        charge_point_id=attempt.charge_point_id, error=str(exc))

    async def drain(self) -> None:
        """Wait for the commands queued (before the client is closed)."""
        await self._batch.drain()


class RedisVerifiedPasswords:
    """:class:`ocpp_adapter.auth.VerifiedPasswords` in Redis, so that a restarted or another
    instance does not pay scrypt for a charger one of them verified. Only meaningful with a
    configured fingerprint key (a per-process random key makes every entry useless elsewhere).
    """

    def __init__(self, redis: RedisClient, *, ttl_seconds: int = 30 * 86_400,
                 max_in_flight: int = 96) -> None:
        self._batch = CommandBatcher(redis)
        self._gate = asyncio.Semaphore(max_in_flight)
        self._ttl = ttl_seconds
        self._fallback = LocalVerifiedPasswords()

    async def matches(self, fingerprint: bytes) -> bool:
        try:
            async with self._gate:
                found = await self._batch.execute("EXISTS", verified_key(fingerprint))
        except RedisError as exc:
            log.warning("ocpp_verified_passwords_redis_failed", error=str(exc))
            return await self._fallback.matches(fingerprint)
        return bool(found)

    async def remember(self, fingerprint: bytes) -> None:
        try:
            async with self._gate:
                await self._batch.execute("SET", verified_key(fingerprint), b"1", "EX",
                                          self._ttl)
        except RedisError as exc:
            log.warning("ocpp_verified_passwords_redis_failed", error=str(exc))
            await self._fallback.remember(fingerprint)

    async def drain(self) -> None:
        """Wait for the commands queued (before the client is closed)."""
        await self._batch.drain()
