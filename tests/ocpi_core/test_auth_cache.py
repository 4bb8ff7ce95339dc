"""The partner registry's short authentication cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ocpi_gateway.partners.authentication import TOKENS
from ocpi_gateway.partners.grants import Grants
from ocpi_gateway.partners.models import PartnerEndpoint, PartnerRole
from ocpi_gateway.partners.registry import PartnerRegistry
from ocpi_gateway.store import open_store
from ocpi_gateway.transport.auth import token_hash


async def registered(registry: PartnerRegistry) -> str:
    partner, _ = await registry.invite("emsp", Grants(any_role=True))
    return await registry.register(
        partner, roles=[PartnerRole(role="EMSP", country_code="DE", party_id="EMS")],
        versions_url="http://127.0.0.1:1/versions", version="2.2.1",
        endpoints=[PartnerEndpoint(identifier="credentials", role="RECEIVER",
                                   url="http://127.0.0.1:1/credentials")],
        token_to_send="B", send_base64=True)


async def test_revocation_elsewhere_is_seen_within_the_ttl(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        now = [1000.0]
        registry = PartnerRegistry(store, auth_cache_ttl=2.0, clock=lambda: now[0])
        token = await registered(registry)
        assert await registry.authenticate([(token, True)]) is not None
        # Another instance revokes the token: this one's cache still answers for a moment...
        await store.delete(TOKENS, token_hash(token))
        now[0] += 1.9
        assert await registry.authenticate([(token, True)]) is not None
        now[0] += 0.2
        # ...and no longer once the TTL passed.
        assert await registry.authenticate([(token, True)]) is None
    finally:
        await store.close()


async def test_revocation_here_takes_effect_at_once(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        registry = PartnerRegistry(store, auth_cache_ttl=60)
        token = await registered(registry)
        caller = await registry.authenticate([(token, True)])
        assert caller is not None
        await registry.unregister(caller.partner)
        assert await registry.authenticate([(token, True)]) is None
    finally:
        await store.close()


def test_issued_tokens_never_start_with_a_dash() -> None:
    from ocpi_gateway.transport.auth import new_token

    tokens = [new_token() for _ in range(2000)]
    # A leading "-" turns up in 1 of 64 raw tokens; none may pass.
    assert not [t for t in tokens if t.startswith("-")]
    assert len(set(tokens)) == 2000 and all(len(t) >= 22 for t in tokens)


async def test_header_cache_revocation_here_takes_effect_at_once(tmp_path: Path) -> None:
    from ocpi_gateway.transport.auth import authorization_header

    store = await open_store(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        registry = PartnerRegistry(store, auth_cache_ttl=60)
        header = authorization_header(await registered(registry))
        assert await registry.authenticate_header(header, to_change=False) is not None
        first = await registry.authenticate_header(header, to_change=False)
        again = await registry.authenticate_header(header, to_change=False)
        assert first is not None and again is first  # the cached caller, shared by readers
        await registry.unregister(first.partner.model_copy())
        assert await registry.authenticate_header(header) is None
    finally:
        await store.close()


async def test_header_cache_gives_changers_a_copy_and_keeps_no_refused_header(
    tmp_path: Path
) -> None:
    from ocpi_gateway.transport.auth import authorization_header

    store = await open_store(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        registry = PartnerRegistry(store, auth_cache_ttl=60)
        token = await registered(registry)
        header = authorization_header(token)
        changer = await registry.authenticate_header(header)
        assert changer is not None and changer.token == token and changer.base64_token
        changer.partner.name = "reassigned by a handler"
        reader = await registry.authenticate_header(header, to_change=False)
        assert reader is not None and reader.partner.name == "emsp"
        # The literal (2.1.1-style) reading authenticates the same partner, not base64-marked.
        literal = await registry.authenticate_header("Token " + token)
        assert literal is not None and not literal.base64_token
        for i in range(50):
            assert await registry.authenticate_header(authorization_header(f"guess-{i}")) is None
        assert set(registry._authentication._header_cache) == {header, "Token " + token}
    finally:
        await store.close()


async def test_a_shared_read_serves_a_batch_and_never_one_begun_before_the_ask() -> None:
    from ocpi_gateway.partners.shared_read import SharedRead

    started: list[int] = []
    release = asyncio.Event()

    async def read() -> int:
        started.append(len(started) + 1)
        number = len(started)
        await release.wait()
        return number

    shared = SharedRead(read)
    first = asyncio.create_task(shared.get())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert started == [1]  # read 1 in flight
    # Asked while read 1 runs: they must get a read that begins after them (read 2), and
    # all of them share it.
    later = [asyncio.create_task(shared.get()) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert await first == 1
    assert await asyncio.gather(*later) == [2] * 50
    assert started == [1, 2]


async def test_a_failed_shared_read_fails_its_batch_only() -> None:
    from ocpi_gateway.partners.shared_read import SharedRead

    calls = 0

    async def read() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("store down")
        return calls

    shared = SharedRead(read)
    results = await asyncio.gather(shared.get(), shared.get(), return_exceptions=True)
    assert [type(r) for r in results] == [OSError, OSError]
    assert await shared.get() == 2


async def test_a_shared_read_serves_callers_queued_before_it_began_and_no_later_one() -> None:
    from ocpi_gateway.partners.shared_read import SharedRead

    started: list[int] = []

    async def read() -> int:
        started.append(len(started) + 1)
        return len(started)

    shared = SharedRead(read)
    spawned: list[asyncio.Task[int]] = []

    async def first() -> int:
        value = await shared.get()  # read 1 begins (and ends: no await inside) here
        # Scheduled after read 1 began, as a request received from now on would be: it
        # must not get read 1.
        spawned.append(asyncio.create_task(shared.get()))
        return value

    one = asyncio.create_task(first())
    queued = [asyncio.create_task(shared.get()) for _ in range(5)]  # queued before read 1
    assert await one == 1
    assert await asyncio.gather(*queued) == [1] * 5
    assert await spawned[0] == 2
    assert started == [1, 2]


async def test_a_shared_read_whose_reader_is_cancelled_is_read_again_by_the_others() -> None:
    from ocpi_gateway.partners.shared_read import SharedRead

    calls = 0
    release = asyncio.Event()

    async def read() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()
        return calls

    shared = SharedRead(read)
    reader = asyncio.create_task(shared.get())  # begins read 1, which waits
    joiner = asyncio.create_task(shared.get())  # queued before read 1 began: joins it
    await asyncio.sleep(0)
    reader.cancel()
    assert await joiner == 2  # not cancelled itself: it read again
    assert reader.cancelled()
    # A cancelled joiner stays cancelled.
    release.clear()
    calls = 0
    reader = asyncio.create_task(shared.get())
    joiner = asyncio.create_task(shared.get())
    await asyncio.sleep(0)
    joiner.cancel()
    await asyncio.sleep(0)
    assert joiner.cancelled()
    release.set()
    assert await reader == 1


async def test_a_change_made_here_is_read_at_once_within_the_window(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        registry = PartnerRegistry(store, auth_cache_ttl=60)
        token = await registered(registry)
        caller = await registry.authenticate([(token, True)])
        assert caller is not None
        epochs: list[str | None] = []

        async def read_then_revoke() -> None:
            epochs.append(await registry._epoch())
            await registry.revoke(caller.partner.id)  # SQLite: all in this one callback

        async def read() -> None:  # queued before the read above began: may share it...
            epochs.append(await registry._epoch())

        await asyncio.gather(read_then_revoke(), read())
        # ...but not once this process changed the partners.
        assert len(epochs) == 2 and epochs[0] != epochs[1]
        assert await registry.authenticate([(token, True)]) is None
    finally:
        await store.close()


async def test_a_settled_read_is_one_others_may_share_now_never_the_readers_own() -> None:
    from ocpi_gateway.partners.shared_read import SharedRead

    reads = 0
    failing = False

    async def read() -> int:
        nonlocal reads
        reads += 1
        if failing:
            raise OSError("store down")
        return reads

    shared = SharedRead(read)
    assert shared.settled() is None  # nothing read yet
    seen: dict[str, object] = {}

    async def reader() -> None:
        seen["read"] = await shared.get()  # read 1 begins and ends in this callback
        seen["own"] = shared.settled()  # the task that read it asks afresh (get() would)

    async def queued() -> None:  # scheduled before read 1 began: may share it, as get() does
        future = shared.settled()
        seen["queued"] = None if future is None else future.result()

    await asyncio.gather(asyncio.create_task(reader()), asyncio.create_task(queued()))
    assert seen == {"read": 1, "own": None, "queued": 1}
    await asyncio.sleep(0)
    assert shared.settled() is None  # its window is over
    assert await shared.get() == 2
    failing = True
    failed: list[object] = []

    async def after_a_failure() -> None:
        failed.append(shared.settled())

    async def fails() -> None:
        with pytest.raises(OSError):
            await shared.get()  # read 3 fails

    await asyncio.gather(asyncio.create_task(fails()), asyncio.create_task(after_a_failure()))
    assert failed == [None]  # get() would raise: a failed read is not settled


async def test_cached_reader_answers_what_authenticate_header_would_and_only_then(
    tmp_path: Path,
) -> None:
    from ocpi_gateway.transport.auth import authorization_header

    store = await open_store(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        now = [1000.0]
        registry = PartnerRegistry(store, auth_cache_ttl=60, clock=lambda: now[0])
        elsewhere = PartnerRegistry(store)  # another instance on the same store
        token = await registered(registry)
        header = authorization_header(token)
        known = await registry.authenticate_header(header, to_change=False)
        assert known is not None

        async def batch() -> tuple[object, object]:
            answers: list[object] = []

            async def reader() -> None:  # a request whose epoch read the others share
                answers.append(await registry.authenticate_header(header, to_change=False))

            async def sharer() -> None:
                answers.append(registry.cached_reader(header))

            await asyncio.gather(asyncio.create_task(reader()), asyncio.create_task(sharer()))
            return answers[0], answers[1]

        assert await batch() == (known, known)
        assert registry.cached_reader(header) is None  # no read to share now: await it
        assert registry.cached_reader("Token unknown") is None
        # A change on another instance: the shared read sees a new epoch, the cache no longer
        # answers without the store.
        other = await elsewhere.get(known.partner.id)
        assert other is not None
        await elsewhere.unregister(other)
        assert await batch() == (None, None)
        # And once the TTL passed, even with the epoch unchanged.
        fresh = PartnerRegistry(store, auth_cache_ttl=2, clock=lambda: now[0])
        second = await registered(fresh)
        second_header = authorization_header(second)
        assert await fresh.authenticate_header(second_header, to_change=False) is not None
        now[0] += 2

        async def late() -> list[object]:
            answers: list[object] = []

            async def reader() -> None:
                await fresh._epoch()

            async def sharer() -> None:
                answers.append(fresh.cached_reader(second_header))

            await asyncio.gather(asyncio.create_task(reader()), asyncio.create_task(sharer()))
            return answers

        assert await late() == [None]
    finally:
        await store.close()
