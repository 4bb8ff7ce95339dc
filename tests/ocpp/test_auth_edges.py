"""Edges of charger-login checking that the contract tests leave open (each found by a
surviving mutant of ocpp_adapter/auth.py): strict base64, a bool answer for a malformed hash,
the least recently used fingerprint dropped, this process's cores."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ocpi_gateway.ocpp_adapter import auth
from ocpi_gateway.ocpp_adapter.auth import (
    LocalVerifiedPasswords,
    PasswordChecker,
    hash_password,
    parse_basic_auth,
    verify_password,
)


def test_a_stored_hash_with_characters_outside_base64_is_refused() -> None:
    stored = hash_password("correct horse", log2_n=4)
    assert verify_password("correct horse", stored)
    head, digest = stored.rsplit("$", 1)
    # Lenient decoding would skip the "!" and accept the password: a corrupted hash must not.
    assert verify_password("correct horse", f"{head}${digest[:4]}!{digest[4:]}") is False
    scheme, log2_n, r, p, salt, digest = stored.split("$")
    corrupted_salt = "$".join((scheme, log2_n, r, p, f"{salt[:4]}!{salt[4:]}", digest))
    assert verify_password("correct horse", corrupted_salt) is False


def test_a_malformed_hash_answers_false_not_none() -> None:
    for stored in ("plaintext", "scrypt$x$8$1$AAAA$AAAA", "scrypt$4$8$1$***$***"):
        assert verify_password("x", stored) is False
    # Another scheme with a digest that would match: refused by its name.
    *_, salt, digest = hash_password("x", log2_n=4).split("$")
    assert verify_password("x", f"bcrypt$4$8$1${salt}${digest}") is False


def test_basic_credentials_with_characters_outside_base64_are_refused() -> None:
    # "CP-1:secret" with a "!" inside: a lenient decoder would skip it and log the charger in.
    assert parse_basic_auth("Basic Q1AtMTpzZWNyZXQ=") == ("CP-1", "secret")
    assert parse_basic_auth("Basic Q1At!MTpzZWNyZXQ=") is None


async def test_remembering_a_fingerprint_again_makes_it_the_most_recent() -> None:
    verified = LocalVerifiedPasswords(max_entries=2)
    for fingerprint in (b"1" * 32, b"2" * 32, b"1" * 32):  # 1 remembered again, not matched
        await verified.remember(fingerprint)
    await verified.remember(b"3" * 32)
    assert [await verified.matches(f * 32) for f in (b"1", b"2", b"3")] == [True, False, True]


def test_scrypt_threads_count_this_process_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    # pid 0 is the calling process: started under taskset its cores differ from another's.
    affinity = {0: {0, 1, 2}}
    monkeypatch.setattr(auth.os, "sched_getaffinity", lambda pid: affinity.get(pid, {0}))
    assert auth.default_check_threads() == 2


class CountedVerified(LocalVerifiedPasswords):
    """Remembering takes a few loop turns, as a write to Redis does."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    async def remember(self, fingerprint: bytes) -> None:
        await asyncio.sleep(0.01)
        await super().remember(fingerprint)

    async def matches(self, fingerprint: bytes) -> bool:
        self.asked += 1
        return await super().matches(fingerprint)


async def test_a_fingerprint_found_in_shared_is_remembered_here() -> None:
    stored = hash_password("correct-horse-1", log2_n=4)
    shared = CountedVerified()
    first = PasswordChecker(key=b"k" * 32, shared=shared, threads=1)
    second = PasswordChecker(key=b"k" * 32, shared=shared, threads=1)
    try:
        assert await first.check("CP-1", "correct-horse-1", stored)
        await first.flush()
        asked = shared.asked
        for _ in range(3):
            assert await second.check("CP-1", "correct-horse-1", stored)
        # Asked once, then answered from its own memory: no store round trip per login.
        assert shared.asked == asked + 1
        assert second.scrypt_runs == 0
    finally:
        first.close()
        second.close()


async def test_finished_writes_to_shared_are_not_kept() -> None:
    # One write task per verified credential: kept until done, never for the process's life.
    shared = CountedVerified()
    checker = PasswordChecker(key=b"k" * 32, shared=shared, threads=1)
    stored = [hash_password(f"password-{n}", log2_n=4) for n in range(3)]
    try:
        for n, hashed in enumerate(stored):
            assert await checker.check("CP-1", f"password-{n}", hashed)
        await checker.flush()  # waits for every write
        assert checker._writes == set()
        for n, hashed in enumerate(stored):
            assert await shared.matches(checker.fingerprint(f"password-{n}", hashed))
    finally:
        checker.close()


async def test_closing_the_checker_cancels_the_checks_still_queued(
        monkeypatch: pytest.MonkeyPatch) -> None:
    started = threading.Event()
    release = threading.Event()
    real = auth.verify_password

    def held(password: str, stored: str) -> bool:
        started.set()
        # Released right after close(): a close() that waited for this thread would block
        # the loop until the wait gives up, and the check would answer False.
        return release.wait(10) and real(password, stored)

    monkeypatch.setattr(auth, "verify_password", held)
    stored = hash_password("correct-horse-1", log2_n=4)
    checker = PasswordChecker(threads=1)
    running = asyncio.ensure_future(checker.check("CP-1", "correct-horse-1", stored))
    queued = asyncio.ensure_future(checker.check("CP-2", "correct-horse-2",
                                                 hash_password("correct-horse-2", log2_n=4)))
    await asyncio.sleep(0)  # both submitted to the one thread: the second waits in its queue
    assert await asyncio.to_thread(started.wait, 30)
    checker.close()  # a shutdown does not run the queued scrypt
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert await running
