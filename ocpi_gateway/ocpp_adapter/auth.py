"""OCPP security profiles 1 and 2: HTTP Basic auth with hashed per-charger passwords.

Passwords are stored as ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``; scrypt is slow on
purpose (tens of ms of CPU). Two things keep that cost and a guesser in check (docs/security.md
"Charger logins" gives the design and its bounds):

- :class:`PasswordChecker` remembers verified credentials as a keyed HMAC (never the password),
  in-process and, with an operator key, shared through Redis (ocpp_adapter.auth_redis); it runs
  scrypt in a small thread pool of its own: a reconnect storm neither repeats scrypt nor
  stalls the loop.
- a :class:`LoginLimiter` hands out a slot *before* a password is checked: failures are counted
  per (charger, address), and per charger for the addresses it never logged in from; an address
  the charger logged in from recently is never refused because of another address's failures.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import itertools
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

SCRYPT_LOG2_N = 14
SCRYPT_R = 8
SCRYPT_P = 1
_SCHEME = "scrypt"

Clock = Callable[[], float]
"""Seconds since the epoch (shared between instances, so wall-clock time, not monotonic)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, log2_n: int = SCRYPT_LOG2_N) -> str:
    """The string to put in ``password_hash`` of config/chargers.yaml."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=1 << log2_n, r=SCRYPT_R, p=SCRYPT_P,
        maxmem=256 * 1024 * 1024, dklen=32,
    )
    return f"{_SCHEME}${log2_n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a :func:`hash_password` string."""
    try:
        scheme, log2_n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != _SCHEME:
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=1 << int(log2_n), r=int(r), p=int(p),
            maxmem=256 * 1024 * 1024, dklen=len(expected),
        )
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic ...`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


def client_address(remote: str) -> str:
    """The unit a login limit counts: an IPv4 address, or the /64 of an IPv6 one (a host picks
    any address of its /64 at will). Anything that is no IP address is kept as it is."""
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


# -- verified credentials ------------------------------------------------------------------


class VerifiedPasswords(Protocol):
    """Fingerprints of credentials scrypt accepted (see :class:`PasswordChecker`)."""

    async def matches(self, fingerprint: bytes) -> bool: ...

    async def remember(self, fingerprint: bytes) -> None: ...


class LocalVerifiedPasswords:
    """In this process only (a restart forgets them): what an instance keeps while Redis is
    unreachable. The least recently used are dropped past ``max_entries``."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._fingerprints: OrderedDict[bytes, None] = OrderedDict()
        self._max_entries = max_entries

    async def matches(self, fingerprint: bytes) -> bool:
        if fingerprint not in self._fingerprints:
            return False
        self._fingerprints.move_to_end(fingerprint)
        return True

    async def remember(self, fingerprint: bytes) -> None:
        self._fingerprints[fingerprint] = None
        self._fingerprints.move_to_end(fingerprint)
        while len(self._fingerprints) > self._max_entries:
            self._fingerprints.popitem(last=False)


def default_check_threads() -> int:
    """One core left to the event loop: heartbeats stay answered while scrypt runs."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


class PasswordChecker:
    """Verifies a charger's password: a remembered fingerprint, else scrypt in a thread pool.

    The fingerprint is HMAC-SHA256(key, stored hash, password): whether a password matches a
    stored hash depends on nothing else, so chargers configured with the same hash share it.
    Without ``key`` it is a random per-process one, and only this process's memory can use
    it. With a key the operator keeps apart from Redis and from chargers.yaml, fingerprints
    are also kept in ``shared``, so that a restarted or another instance does not pay scrypt
    again; a fingerprint in use is written there again every ``refresh_after`` seconds (its
    TTL there is longer). Changing a charger's ``password_hash`` makes its fingerprint useless.
    """

    def __init__(self, *, key: bytes | None = None, shared: VerifiedPasswords | None = None,
                 threads: int | None = None, remembered: int = 100_000,
                 refresh_after: float = 86_400.0, clock: Clock = time.time) -> None:
        self._key = key if key is not None else os.urandom(32)
        self._recent: OrderedDict[bytes, float] = OrderedDict()  # -> when written to shared
        self._remembered = remembered
        self._running: dict[bytes, asyncio.Future[bool]] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._shared = shared
        self._refresh_after = refresh_after
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=threads or default_check_threads(),
                                        thread_name_prefix="ocpp-scrypt")
        self.scrypt_runs = 0
        """How many times scrypt ran (the rest were remembered): for tests and benchmarks."""

    def fingerprint(self, password: str, stored: str) -> bytes:
        return hmac.digest(self._key, f"{stored}\x00{password}".encode(), "sha256")

    def _remember(self, fingerprint: bytes, shared_at: float) -> None:
        self._recent[fingerprint] = shared_at
        self._recent.move_to_end(fingerprint)
        while len(self._recent) > self._remembered:
            self._recent.popitem(last=False)

    async def check(self, charge_point_id: str, password: str, stored: str) -> bool:
        """``charge_point_id`` is not needed: the answer depends on password and hash alone."""
        fingerprint = self.fingerprint(password, stored)
        shared_at = self._recent.get(fingerprint)
        if shared_at is not None:
            self._recent.move_to_end(fingerprint)
            now = self._clock()
            if self._shared is not None and now - shared_at >= self._refresh_after:
                self._recent[fingerprint] = now
                await self._shared.remember(fingerprint)
            return True
        if self._shared is not None:
            if await self._shared.matches(fingerprint):
                self._remember(fingerprint, self._clock())
                return True
            if fingerprint in self._recent:  # verified here while we asked Redis
                return True
        running = self._running.get(fingerprint)
        if running is None:
            self.scrypt_runs += 1
            # hashlib.scrypt releases the GIL: the pool's threads run beside the loop.
            running = asyncio.get_running_loop().run_in_executor(
                self._pool, verify_password, password, stored)
            self._running[fingerprint] = running
            running.add_done_callback(lambda done: self._settled(fingerprint, done))
        # Whoever checks the same credentials meanwhile waits for this check, and one who
        # gives up (the charger left) does not cancel it for the others.
        return await asyncio.shield(running)

    def _settled(self, fingerprint: bytes, check: asyncio.Future[bool]) -> None:
        del self._running[fingerprint]
        if not check.cancelled() and check.exception() is None and check.result():
            self._remember(fingerprint, self._clock())
            if self._shared is not None:
                task = asyncio.get_running_loop().create_task(self._shared.remember(fingerprint))
                self._writes.add(task)
                task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Wait for the fingerprints being written to ``shared``."""
        await asyncio.gather(*self._writes, return_exceptions=True)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# -- failed-login limits -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Bounds of password checking per charger; see docs/security.md "Charger logins"."""

    per_address: int = 5
    """Failed checks per (charger, address) within ``window``."""
    per_charger: int = 20
    """Failed checks per charger within ``window`` from all addresses it is not known at."""
    window: float = 60.0
    known_address_seconds: float = 30 * 86_400
    """How long a successful login makes its address known for the charger."""
    known_addresses: int = 8
    """At most this many known addresses per charger (the most recent ones)."""


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A slot to check one password: counted as a failure unless :meth:`LoginLimiter.
    succeeded` is told otherwise."""

    charge_point_id: str
    address: str
    ticket: str
    known_address: bool


class LoginLimiter(Protocol):
    limits: LoginLimits

    async def begin(self, charge_point_id: str, address: str) -> LoginAttempt | None:
        """A slot to check a password of ``charge_point_id`` from ``address`` (already
        :func:`client_address`), or None: refuse without checking anything."""
        ...

    async def succeeded(self, attempt: LoginAttempt) -> None:
        """The password was right: the slot is no failure, and the address becomes known."""
        ...


class _Window:
    """Ticket → time of the attempts still inside the window (times never decrease)."""

    __slots__ = ("attempts",)

    def __init__(self) -> None:
        self.attempts: dict[str, float] = {}

    def count(self, now: float, window: float) -> int:
        attempts = self.attempts
        while attempts:
            ticket, at = next(iter(attempts.items()))
            if at > now - window:
                break
            del attempts[ticket]
        return len(attempts)


class LocalLoginLimiter:
    """:class:`LoginLimiter` of one process (no Redis)."""

    def __init__(self, limits: LoginLimits | None = None, *, clock: Clock = time.time,
                 max_pairs: int = 100_000) -> None:
        self.limits = limits or LoginLimits()
        self._clock = clock
        self._max_pairs = max_pairs
        self._pairs: OrderedDict[tuple[str, str], _Window] = OrderedDict()
        self._unknown_addresses: dict[str, _Window] = {}
        self._known: dict[str, dict[str, float]] = {}
        self._tickets = itertools.count(1)

    def _is_known(self, charge_point_id: str, address: str, now: float) -> bool:
        since = self._known.get(charge_point_id, {}).get(address)
        return since is not None and since > now - self.limits.known_address_seconds

    async def begin(self, charge_point_id: str, address: str) -> LoginAttempt | None:
        now = self._clock()
        limits = self.limits
        pair = self._pairs.get((charge_point_id, address))
        if pair is not None:
            self._pairs.move_to_end((charge_point_id, address))  # a refused pair stays too
            if pair.count(now, limits.window) >= limits.per_address:
                return None
        known = self._is_known(charge_point_id, address, now)
        shared = self._unknown_addresses.get(charge_point_id)
        if not known and shared is not None \
                and shared.count(now, limits.window) >= limits.per_charger:
            return None
        ticket = str(next(self._tickets))
        if pair is None:
            pair = self._pairs[(charge_point_id, address)] = _Window()
        pair.attempts[ticket] = now
        if not known:
            if shared is None:
                shared = self._unknown_addresses[charge_point_id] = _Window()
            shared.attempts[ticket] = now
        while len(self._pairs) > self._max_pairs:
            self._pairs.popitem(last=False)
        return LoginAttempt(charge_point_id, address, ticket, known)

    async def succeeded(self, attempt: LoginAttempt) -> None:
        now = self._clock()
        pair = self._pairs.get((attempt.charge_point_id, attempt.address))
        if pair is not None:
            pair.attempts.pop(attempt.ticket, None)
        shared = self._unknown_addresses.get(attempt.charge_point_id)
        if shared is not None:
            shared.attempts.pop(attempt.ticket, None)
        known = self._known.setdefault(attempt.charge_point_id, {})
        known.pop(attempt.address, None)
        known[attempt.address] = now  # the most recent last
        for address, since in list(known.items()):
            if since <= now - self.limits.known_address_seconds \
                    or len(known) > self.limits.known_addresses:
                del known[address]
