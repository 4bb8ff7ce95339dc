"""One contract, two implementations (in-process, and Redis: a real redis-server, and a real
3-master Redis Cluster, where each script must keep to one slot) for the login limiter and the
verified-credential fingerprints; then PasswordChecker on top of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from ocpp_test_support import T0, FakeClock, refusing_port

from ocpi_gateway.ocpp_adapter.auth import (
    LocalLoginLimiter,
    LocalVerifiedPasswords,
    LoginLimiter,
    LoginLimits,
    PasswordChecker,
    VerifiedPasswords,
    client_address,
    hash_password,
)
from ocpi_gateway.ocpp_adapter.auth_redis import (
    RedisLoginLimiter,
    RedisVerifiedPasswords,
    address_key,
    elsewhere_key,
    known_key,
    verified_key,
)
from ocpi_gateway.redis_clients import RedisClient, open_redis

LIMITS = LoginLimits(per_address=3, per_charger=5, window=60.0, known_address_seconds=1000.0,
                     known_addresses=2)
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def _fresh_redis(request: pytest.FixtureRequest, kind: str = "redis") -> RedisClient:
    if kind == "cluster":
        # The fixture empties every master; the client is the one the gateway opens.
        return open_redis(request.getfixturevalue("redis_cluster"))
    client = aioredis.from_url(request.getfixturevalue("redis_server"))
    await client.flushall()
    return client


@pytest.fixture(params=["local", "redis", "cluster"])
async def limiter(request: pytest.FixtureRequest, clock: FakeClock
                  ) -> AsyncIterator[LoginLimiter]:
    if request.param == "local":
        yield LocalLoginLimiter(LIMITS, clock=clock)
        return
    client = await _fresh_redis(request, request.param)
    yield RedisLoginLimiter(client, LIMITS, clock=clock)
    await client.aclose()


@pytest.fixture(params=["local", "redis", "cluster"])
async def verified(request: pytest.FixtureRequest) -> AsyncIterator[VerifiedPasswords]:
    if request.param == "local":
        yield LocalVerifiedPasswords()
        return
    client = await _fresh_redis(request, request.param)
    yield RedisVerifiedPasswords(client)
    await client.aclose()


async def fail(limiter: LoginLimiter, cp: str, address: str, times: int) -> None:
    for _ in range(times):
        assert await limiter.begin(cp, address) is not None


async def succeed(limiter: LoginLimiter, cp: str, address: str) -> None:
    attempt = await limiter.begin(cp, address)
    assert attempt is not None
    await limiter.succeeded(attempt)


# -- per (charger, address) ----------------------------------------------------------------


async def test_an_address_gets_per_address_checks_then_none(limiter: LoginLimiter) -> None:
    attempts = [await limiter.begin("CP-1", "10.0.0.1") for _ in range(LIMITS.per_address)]
    assert all(attempt is not None for attempt in attempts)
    assert await limiter.begin("CP-1", "10.0.0.1") is None
    assert await limiter.begin("CP-1", "10.0.0.1") is None


async def test_the_attempt_names_charger_address_and_a_fresh_ticket(
        limiter: LoginLimiter) -> None:
    first = await limiter.begin("CP-1", "10.0.0.1")
    second = await limiter.begin("CP-1", "10.0.0.1")
    assert first is not None and second is not None
    assert (first.charge_point_id, first.address, first.known_address) == (
        "CP-1", "10.0.0.1", False)
    assert first.ticket != second.ticket


async def test_another_address_and_another_charger_are_not_refused(
        limiter: LoginLimiter) -> None:
    await fail(limiter, "CP-1", "10.0.0.1", LIMITS.per_address)
    assert await limiter.begin("CP-1", "10.0.0.1") is None
    assert await limiter.begin("CP-1", "10.0.0.2") is not None  # same charger, other address
    assert await limiter.begin("CP-2", "10.0.0.1") is not None  # same address, other charger


async def test_a_success_gives_its_slot_back(limiter: LoginLimiter) -> None:
    for _ in range(LIMITS.per_address * 4):
        await succeed(limiter, "CP-1", "10.0.0.1")
    await fail(limiter, "CP-1", "10.0.0.1", LIMITS.per_address)
    assert await limiter.begin("CP-1", "10.0.0.1") is None


async def test_a_success_does_not_forgive_earlier_failures(limiter: LoginLimiter) -> None:
    await fail(limiter, "CP-1", "10.0.0.1", LIMITS.per_address - 1)
    await succeed(limiter, "CP-1", "10.0.0.1")
    assert await limiter.begin("CP-1", "10.0.0.1") is not None
    assert await limiter.begin("CP-1", "10.0.0.1") is None


async def test_failures_expire_after_the_window(limiter: LoginLimiter, clock: FakeClock) -> None:
    await fail(limiter, "CP-1", "10.0.0.1", 1)
    clock.now = T0 + 10
    await fail(limiter, "CP-1", "10.0.0.1", LIMITS.per_address - 1)
    clock.now = T0 + LIMITS.window - 0.5
    assert await limiter.begin("CP-1", "10.0.0.1") is None
    clock.now = T0 + LIMITS.window  # the first failure is exactly one window old: gone
    assert await limiter.begin("CP-1", "10.0.0.1") is not None
    assert await limiter.begin("CP-1", "10.0.0.1") is None
    clock.now = T0 + 10 + LIMITS.window
    await fail(limiter, "CP-1", "10.0.0.1", LIMITS.per_address - 1)
    assert await limiter.begin("CP-1", "10.0.0.1") is None


async def test_concurrent_begins_get_exactly_the_limit(limiter: LoginLimiter) -> None:
    attempts = await asyncio.gather(*(limiter.begin("CP-1", "10.0.0.1") for _ in range(200)))
    assert sum(attempt is not None for attempt in attempts) == LIMITS.per_address


# -- per charger, from addresses it is not known at ---------------------------------------


async def test_guesses_from_many_addresses_are_bounded_per_charger(
        limiter: LoginLimiter) -> None:
    for n in range(LIMITS.per_charger):
        assert await limiter.begin("CP-1", f"10.1.0.{n}") is not None
    assert await limiter.begin("CP-1", "10.1.0.200") is None
    assert await limiter.begin("CP-2", "10.1.0.200") is not None  # other chargers unaffected


async def test_concurrent_begins_from_many_addresses_get_exactly_per_charger(
        limiter: LoginLimiter) -> None:
    attempts = await asyncio.gather(*(limiter.begin("CP-1", f"10.2.{n // 250}.{n % 250}")
                                      for n in range(200)))
    assert sum(attempt is not None for attempt in attempts) == LIMITS.per_charger


async def test_a_known_address_is_not_refused_for_other_addresses_failures(
        limiter: LoginLimiter) -> None:
    await succeed(limiter, "CP-1", "10.0.0.1")
    for n in range(LIMITS.per_charger):
        assert await limiter.begin("CP-1", f"10.1.0.{n}") is not None
    assert await limiter.begin("CP-1", "10.9.9.9") is None
    attempt = await limiter.begin("CP-1", "10.0.0.1")
    assert attempt is not None and attempt.known_address


async def test_failures_at_a_known_address_count_only_for_that_address(
        limiter: LoginLimiter) -> None:
    await succeed(limiter, "CP-1", "10.0.0.1")
    await fail(limiter, "CP-1", "10.0.0.1", LIMITS.per_address)
    assert await limiter.begin("CP-1", "10.0.0.1") is None
    for n in range(LIMITS.per_charger):  # the shared budget is untouched
        assert await limiter.begin("CP-1", f"10.1.0.{n}") is not None


async def test_successes_elsewhere_give_the_shared_slot_back(limiter: LoginLimiter) -> None:
    for n in range(LIMITS.per_charger * 2):
        await succeed(limiter, "CP-1", f"10.3.0.{n}")
    for n in range(LIMITS.per_charger):
        assert await limiter.begin("CP-1", f"10.1.0.{n}") is not None
    assert await limiter.begin("CP-1", "10.1.0.99") is None


async def test_shared_failures_expire_after_the_window(limiter: LoginLimiter,
                                                       clock: FakeClock) -> None:
    for n in range(LIMITS.per_charger):
        assert await limiter.begin("CP-1", f"10.1.0.{n}") is not None
    clock.now = T0 + LIMITS.window - 0.5
    assert await limiter.begin("CP-1", "10.1.0.99") is None
    clock.now = T0 + LIMITS.window
    assert await limiter.begin("CP-1", "10.1.0.99") is not None


async def test_a_known_address_is_forgotten_after_known_address_seconds(
        limiter: LoginLimiter, clock: FakeClock) -> None:
    await succeed(limiter, "CP-1", "10.0.0.1")
    clock.now = T0 + LIMITS.known_address_seconds - 1
    attempt = await limiter.begin("CP-1", "10.0.0.1")
    assert attempt is not None and attempt.known_address
    clock.now = T0 + LIMITS.known_address_seconds
    attempt = await limiter.begin("CP-1", "10.0.0.1")
    assert attempt is not None and not attempt.known_address


async def test_a_new_success_renews_a_known_address(limiter: LoginLimiter,
                                                    clock: FakeClock) -> None:
    await succeed(limiter, "CP-1", "10.0.0.1")
    clock.now = T0 + LIMITS.known_address_seconds - 1
    await succeed(limiter, "CP-1", "10.0.0.1")
    clock.now = T0 + LIMITS.known_address_seconds + 10
    attempt = await limiter.begin("CP-1", "10.0.0.1")
    assert attempt is not None and attempt.known_address


async def test_only_the_most_recent_known_addresses_are_kept(limiter: LoginLimiter,
                                                             clock: FakeClock) -> None:
    for n in range(LIMITS.known_addresses + 1):
        clock.now = T0 + n
        await succeed(limiter, "CP-1", f"10.0.0.{n}")
    known = []
    for n in range(LIMITS.known_addresses + 1):
        attempt = await limiter.begin("CP-1", f"10.0.0.{n}")
        assert attempt is not None
        known.append(attempt.known_address)
    assert known == [False] + [True] * LIMITS.known_addresses


async def test_an_address_known_for_one_charger_is_not_known_for_another(
        limiter: LoginLimiter) -> None:
    await succeed(limiter, "CP-1", "10.0.0.1")
    attempt = await limiter.begin("CP-2", "10.0.0.1")
    assert attempt is not None and not attempt.known_address


# -- Redis specifics -----------------------------------------------------------------------


async def test_two_instances_on_one_redis_share_the_counts(
        redis_client: aioredis.Redis, clock: FakeClock) -> None:
    one = RedisLoginLimiter(redis_client, LIMITS, clock=clock)
    other = RedisLoginLimiter(redis_client, LIMITS, clock=clock)
    await fail(one, "CP-1", "10.0.0.1", LIMITS.per_address)
    assert await other.begin("CP-1", "10.0.0.1") is None
    await succeed(one, "CP-1", "10.0.0.7")
    attempt = await other.begin("CP-1", "10.0.0.7")
    assert attempt is not None and attempt.known_address


async def test_redis_keys_expire_and_sit_in_the_chargers_slot(
        redis_client: aioredis.Redis, clock: FakeClock) -> None:
    limiter = RedisLoginLimiter(redis_client, LIMITS, clock=clock)
    await succeed(limiter, "CP-1", "10.0.0.1")
    await fail(limiter, "CP-1", "10.0.0.2", 1)
    for key, longest in ((address_key("CP-1", "10.0.0.2"), LIMITS.window + 1),
                         (elsewhere_key("CP-1"), LIMITS.window + 1),
                         (known_key("CP-1"), LIMITS.known_address_seconds)):
        assert "{CP-1}" in key
        ttl = await redis_client.pttl(key)
        assert 0 < ttl <= longest * 1000, key


async def test_without_redis_each_instance_falls_back_to_its_own_counts(
        clock: FakeClock) -> None:
    with refusing_port() as port:
        dead = aioredis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5)
        try:
            limiter = RedisLoginLimiter(dead, LIMITS, clock=clock)
            await succeed(limiter, "CP-1", "10.0.0.1")
            await fail(limiter, "CP-1", "10.0.0.2", LIMITS.per_address)
            assert await limiter.begin("CP-1", "10.0.0.2") is None
            attempt = await limiter.begin("CP-1", "10.0.0.1")
            assert attempt is not None and attempt.known_address
        finally:
            await dead.aclose()


# -- verified credentials ------------------------------------------------------------------


async def test_verified_fingerprints_match_only_what_was_remembered(
        verified: VerifiedPasswords) -> None:
    assert not await verified.matches(b"a" * 32)
    await verified.remember(b"a" * 32)
    assert await verified.matches(b"a" * 32)
    assert not await verified.matches(b"b" * 32)
    await verified.remember(b"b" * 32)
    assert await verified.matches(b"b" * 32)
    assert await verified.matches(b"a" * 32)


async def test_local_verified_fingerprints_are_bounded() -> None:
    verified = LocalVerifiedPasswords(max_entries=2)
    for fingerprint in (b"1" * 32, b"2" * 32):
        await verified.remember(fingerprint)
    assert await verified.matches(b"1" * 32)  # now the most recent
    await verified.remember(b"3" * 32)
    assert [await verified.matches(f * 32) for f in (b"1", b"2", b"3")] == [True, False, True]


async def test_redis_holds_a_keyed_fingerprint_with_a_ttl_not_the_password(
        redis_client: aioredis.Redis) -> None:
    stored = hash_password("the-password-123", log2_n=4)
    checker = PasswordChecker(key=b"k" * 32, shared=RedisVerifiedPasswords(redis_client))
    try:
        assert await checker.check("CP-1", "the-password-123", stored)
        await checker.flush()
    finally:
        checker.close()
    fingerprint = checker.fingerprint("the-password-123", stored)
    keys = await redis_client.keys("*")
    assert keys == [verified_key(fingerprint).encode()]
    assert b"the-password-123" not in keys[0] and b"the-password-123" not in (
        await redis_client.get(keys[0]) or b"")
    assert 29 * 86_400 < await redis_client.ttl(keys[0]) <= 30 * 86_400


# -- PasswordChecker -----------------------------------------------------------------------

STORED = hash_password("correct-horse-1", log2_n=4)


async def test_checker_runs_scrypt_once_per_verified_credential() -> None:
    checker = PasswordChecker(threads=1)
    try:
        assert not await checker.check("CP-1", "wrong", STORED)
        assert not await checker.check("CP-1", "wrong", STORED)  # failures are not remembered
        assert checker.scrypt_runs == 2
        assert await checker.check("CP-1", "correct-horse-1", STORED)
        assert await checker.check("CP-1", "correct-horse-1", STORED)
        assert checker.scrypt_runs == 3
        assert not await checker.check("CP-1", "wrong", STORED)
        assert checker.scrypt_runs == 4
        # The same hash configured for another charger: the same answer, no scrypt.
        assert await checker.check("CP-2", "correct-horse-1", STORED)
        assert checker.scrypt_runs == 4
        assert await checker.check("CP-2", "correct-horse-1", hash_password("x", log2_n=4)) \
            is False
        assert checker.scrypt_runs == 5
    finally:
        checker.close()


def test_the_fingerprint_depends_on_hash_password_and_key() -> None:
    one, same_key, other_key = (PasswordChecker(key=b"a" * 32), PasswordChecker(key=b"a" * 32),
                                PasswordChecker(key=b"b" * 32))
    try:
        base = one.fingerprint("pw", STORED)
        assert same_key.fingerprint("pw", STORED) == base
        assert len(base) == 32
        assert len({base, other_key.fingerprint("pw", STORED), one.fingerprint("pw2", STORED),
                    one.fingerprint("pw", STORED + "x"),
                    one.fingerprint("", STORED + "\x00pw")}) == 5  # the separator counts
        assert PasswordChecker().fingerprint("pw", STORED) != \
            PasswordChecker().fingerprint("pw", STORED)  # random key per process
    finally:
        for checker in (one, same_key, other_key):
            checker.close()


async def test_a_shared_fingerprint_spares_another_checker_the_scrypt(
        redis_client: aioredis.Redis) -> None:
    first = PasswordChecker(key=b"k" * 32, shared=RedisVerifiedPasswords(redis_client))
    restarted = PasswordChecker(key=b"k" * 32, shared=RedisVerifiedPasswords(redis_client))
    stranger = PasswordChecker(key=b"z" * 32, shared=RedisVerifiedPasswords(redis_client))
    try:
        assert await first.check("CP-1", "correct-horse-1", STORED)
        await first.flush()
        assert await restarted.check("CP-1", "correct-horse-1", STORED)
        assert await restarted.check("CP-1", "correct-horse-1", STORED)
        assert restarted.scrypt_runs == 0
        assert not await restarted.check("CP-1", "wrong", STORED)
        assert restarted.scrypt_runs == 1
        # A rotated hash in chargers.yaml makes the old fingerprint useless.
        rotated = hash_password("correct-horse-1", log2_n=4)
        assert await restarted.check("CP-1", "correct-horse-1", rotated)
        assert restarted.scrypt_runs == 2
        await restarted.flush()
        # Another key cannot use the entries.
        assert await stranger.check("CP-1", "correct-horse-1", rotated)
        assert stranger.scrypt_runs == 1
    finally:
        for checker in (first, restarted, stranger):
            checker.close()


async def test_scrypt_runs_at_most_threads_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from ocpi_gateway.ocpp_adapter import auth

    running, most = 0, 0
    lock = threading.Lock()
    real = auth.verify_password

    def counting(password: str, stored: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return real(password, hash_password("x", log2_n=10))
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(auth, "verify_password", counting)
    checker = PasswordChecker(threads=2)
    try:
        results = await asyncio.gather(*(checker.check(f"CP-{n}", f"y{n}", STORED)
                                         for n in range(12)))
    finally:
        checker.close()
    assert results == [False] * 12
    assert most == 2


def test_client_address_counts_ipv6_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert client_address("192.0.2.7") == "192.0.2.7"
    assert client_address("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert client_address("2001:db8:1:2:ffff::9") == client_address("2001:db8:1:2::1")
    assert client_address("2001:db8:1:3::1") != client_address("2001:db8:1:2::1")
    assert client_address("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_address("not-an-ip") == "not-an-ip"


async def test_the_checker_remembers_a_bounded_number_of_credentials() -> None:
    checker = PasswordChecker(threads=1, remembered=2)
    stored = [hash_password(f"password-{n}", log2_n=4) for n in range(3)]
    try:
        for n in range(3):
            assert await checker.check("CP-1", f"password-{n}", stored[n])
        assert checker.scrypt_runs == 3
        assert await checker.check("CP-1", "password-2", stored[2])
        assert await checker.check("CP-1", "password-1", stored[1])
        assert checker.scrypt_runs == 3
        assert await checker.check("CP-1", "password-0", stored[0])  # the oldest was dropped
        assert checker.scrypt_runs == 4
        assert await checker.check("CP-1", "password-1", stored[1])  # still there (recent)
        assert checker.scrypt_runs == 4
    finally:
        checker.close()


async def test_the_same_credentials_checked_at_once_cost_one_scrypt() -> None:
    checker = PasswordChecker(threads=2)
    try:
        results = await asyncio.gather(
            *(checker.check(f"CP-{n}", "correct-horse-1", STORED) for n in range(20)),
            *(checker.check(f"CP-{n}", "wrong", STORED) for n in range(20)))
        assert results == [True] * 20 + [False] * 20
        assert checker.scrypt_runs == 2
        assert not checker._running
    finally:
        checker.close()


async def test_a_cancelled_check_does_not_cancel_the_others_waiting_on_it() -> None:
    checker = PasswordChecker(threads=1)
    slow = hash_password("slow-password-1", log2_n=12)
    try:
        first = asyncio.create_task(checker.check("CP-1", "slow-password-1", slow))
        await asyncio.sleep(0)
        second = asyncio.create_task(checker.check("CP-2", "slow-password-1", slow))
        await asyncio.sleep(0)
        first.cancel()
        assert await second is True
        assert checker.scrypt_runs == 1
        for _ in range(100):
            if not checker._running:
                break
            await asyncio.sleep(0.01)
        assert not checker._running
        assert await checker.check("CP-3", "slow-password-1", slow)
        assert checker.scrypt_runs == 1
    finally:
        checker.close()


def test_the_default_limits_are_the_documented_ones() -> None:
    # docs/security.md "Failed-login limits" states these figures and the bounds they give.
    assert LoginLimits() == LoginLimits(per_address=5, per_charger=20, window=60.0,
                                        known_address_seconds=30 * 86_400, known_addresses=8)


async def test_the_local_limiter_keeps_a_bounded_number_of_pairs(clock: FakeClock) -> None:
    limiter = LocalLoginLimiter(LoginLimits(per_address=1, per_charger=100), clock=clock,
                                max_pairs=2)
    for address in ("10.0.0.1", "10.0.0.2"):
        assert await limiter.begin("CP-1", address) is not None
    assert await limiter.begin("CP-1", "10.0.0.1") is None  # still counted (and most recent)
    assert await limiter.begin("CP-1", "10.0.0.3") is not None  # 10.0.0.2 is dropped
    assert await limiter.begin("CP-1", "10.0.0.2") is not None
    assert await limiter.begin("CP-1", "10.0.0.3") is None


def test_scrypt_threads_leave_one_core_to_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocpi_gateway.ocpp_adapter import auth

    for cores, threads in (({0}, 1), ({0, 1}, 1), ({0, 1, 2, 3}, 3)):
        monkeypatch.setattr(auth.os, "sched_getaffinity", lambda _pid, c=cores: c)
        assert auth.default_check_threads() == threads


async def test_redis_fingerprints_fall_back_to_memory_without_redis() -> None:
    with refusing_port() as port:
        dead = aioredis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5)
        try:
            verified = RedisVerifiedPasswords(dead)
            assert not await verified.matches(b"a" * 32)
            await verified.remember(b"a" * 32)
            assert await verified.matches(b"a" * 32)
            assert not await verified.matches(b"b" * 32)
        finally:
            await dead.aclose()


async def test_a_closed_checker_checks_no_more() -> None:
    checker = PasswordChecker(threads=1)
    checker.close()
    with pytest.raises(RuntimeError):
        await checker.check("CP-1", "correct-horse-1", STORED)


async def test_a_fingerprint_in_use_is_written_again_after_refresh_after(
        redis_client: aioredis.Redis, clock: FakeClock) -> None:
    checker = PasswordChecker(key=b"k" * 32, shared=RedisVerifiedPasswords(redis_client),
                              refresh_after=100.0, clock=clock)
    key = verified_key(checker.fingerprint("correct-horse-1", STORED))
    try:
        assert await checker.check("CP-1", "correct-horse-1", STORED)
        await checker.flush()
        await redis_client.delete(key)  # e.g. Redis lost its data
        clock.now = T0 + 99
        assert await checker.check("CP-1", "correct-horse-1", STORED)
        assert not await redis_client.exists(key)
        clock.now = T0 + 100
        assert await checker.check("CP-1", "correct-horse-1", STORED)
        assert await redis_client.exists(key)
        await redis_client.delete(key)
        clock.now = T0 + 199
        assert await checker.check("CP-1", "correct-horse-1", STORED)
        assert not await redis_client.exists(key)  # the refresh counts from its own time
        assert checker.scrypt_runs == 1
    finally:
        checker.close()


async def test_a_renewed_known_address_outlives_older_ones(limiter: LoginLimiter,
                                                          clock: FakeClock) -> None:
    # known_addresses = 2: .0 and .1 known, .0 logs in again, then .2 is new: .1 is the
    # least recent and goes, .0 stays.
    for n, address in enumerate(("10.0.0.0", "10.0.0.1", "10.0.0.0", "10.0.0.2")):
        clock.now = T0 + n
        await succeed(limiter, "CP-1", address)
    known = {}
    for address in ("10.0.0.0", "10.0.0.1", "10.0.0.2"):
        attempt = await limiter.begin("CP-1", address)
        assert attempt is not None
        known[address] = attempt.known_address
    assert known == {"10.0.0.0": True, "10.0.0.1": False, "10.0.0.2": True}
