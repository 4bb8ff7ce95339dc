"""OCPP security profiles 1 and 2: HTTP Basic auth with hashed per-charger passwords.

Passwords are stored as ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``. scrypt is slow on
purpose (tens of ms), so a successful check is remembered in a small in-process cache keyed by
an HMAC of (stored hash, password) under a per-process random key: a charger reconnecting after
a network blip does not cost another scrypt, and the cache holds nothing that reveals a password.
Failed attempts are counted per identity and per remote address; past the limit the endpoint
answers 429 without checking anything, so guessing a password stays slow.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import time
from collections import OrderedDict, deque

SCRYPT_LOG2_N = 14
SCRYPT_R = 8
SCRYPT_P = 1
_SCHEME = "scrypt"


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


class PasswordChecker:
    """Verifies passwords off the event loop, remembering recent successes."""

    def __init__(self, cache_size: int = 100_000) -> None:
        self._key = os.urandom(32)
        self._ok: OrderedDict[bytes, None] = OrderedDict()
        self._cache_size = cache_size

    def _fingerprint(self, password: str, stored: str) -> bytes:
        return hmac.digest(self._key, f"{stored}\x00{password}".encode(), "sha256")

    async def check(self, password: str, stored: str) -> bool:
        fingerprint = self._fingerprint(password, stored)
        if fingerprint in self._ok:
            self._ok.move_to_end(fingerprint)
            return True
        # hashlib.scrypt releases the GIL; a thread keeps the loop serving other chargers.
        ok = await asyncio.to_thread(verify_password, password, stored)
        if ok:
            self._ok[fingerprint] = None
            if len(self._ok) > self._cache_size:
                self._ok.popitem(last=False)
        return ok


class FailureLimiter:
    """At most ``max_failures`` failed attempts per key within ``window`` seconds."""

    def __init__(self, max_failures: int = 5, window: float = 60.0,
                 max_keys: int = 100_000) -> None:
        self._max = max_failures
        self._window = window
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        return any(
            (times := self._recent(key, now)) is not None and len(times) >= self._max
            for key in keys
        )

    def record_failure(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            times = self._recent(key, now)
            if times is None:
                times = self._failures[key] = deque()
            times.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)
