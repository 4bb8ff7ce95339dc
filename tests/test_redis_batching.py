"""Commands of concurrent callers sent as one pipeline: each caller gets its own answer or its
own error, against a real redis-server."""

from __future__ import annotations

import asyncio
import socket

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from ocpi_gateway.redis_clients import RedisTarget, open_redis
from ocpi_gateway.redis_clients.batching import CommandBatcher

HANG_GUARD = 30.0


async def test_commands_of_one_pass_go_out_as_one_pipeline_each_with_its_answer(
        redis_url: str) -> None:
    redis = open_redis(redis_url)
    try:
        batcher = CommandBatcher(redis)
        await redis.set("present", "here")
        answers = await asyncio.wait_for(asyncio.gather(
            batcher.execute("SET", "a", "1"),
            batcher.execute("EXISTS", "present"),
            batcher.execute("EXISTS", "absent"),
            batcher.execute("EVAL", "return redis.call('INCRBY', KEYS[1], ARGV[1])", 1,
                            "counter", 5),
            batcher.execute("HSET", "h", "f1", "v1", "f2", "v2"),
        ), HANG_GUARD)
        assert answers == [True, 1, 0, 5, 2]
        assert batcher.batches == 1
        await asyncio.sleep(0)  # the pipeline's task ends after it answered
        assert batcher.sending == 0
        assert await redis.get("a") == b"1"
        assert await redis.hgetall("h") == {b"f1": b"v1", b"f2": b"v2"}
        # A later pass is a batch of its own.
        assert await batcher.execute("GET", "a") == b"1"
        assert batcher.batches == 2
    finally:
        await redis.aclose()


async def test_a_failing_command_fails_its_caller_only(redis_url: str) -> None:
    redis = open_redis(redis_url)
    try:
        batcher = CommandBatcher(redis)
        await redis.set("text", "not a number")
        good, bad = await asyncio.wait_for(asyncio.gather(
            batcher.execute("INCR", "number"), batcher.execute("INCR", "text"),
            return_exceptions=True), HANG_GUARD)
        assert good == 1
        assert isinstance(bad, ResponseError)
        assert batcher.batches == 1
    finally:
        await redis.aclose()


async def test_a_malformed_command_does_not_abort_the_others(redis_url: str) -> None:
    # Not a transaction: in MULTI, a command Redis refuses to queue aborts all of them.
    redis = open_redis(redis_url)
    try:
        batcher = CommandBatcher(redis)
        good, bad = await asyncio.wait_for(asyncio.gather(
            batcher.execute("SET", "k", "v"), batcher.execute("GET"),
            return_exceptions=True), HANG_GUARD)
        assert good is True
        assert isinstance(bad, ResponseError)
        assert await redis.get("k") == b"v"
    finally:
        await redis.aclose()


async def test_a_long_batch_is_cut_at_max_batch(redis_url: str) -> None:
    redis = open_redis(redis_url)
    try:
        batcher = CommandBatcher(redis, max_batch=4)
        answers = await asyncio.wait_for(asyncio.gather(
            *(batcher.execute("INCR", "n") for _ in range(10))), HANG_GUARD)
        assert sorted(answers) == list(range(1, 11))
        assert batcher.batches == 3
    finally:
        await redis.aclose()


async def test_a_caller_who_gave_up_does_not_disturb_the_others(redis_url: str) -> None:
    redis = open_redis(redis_url)
    try:
        batcher = CommandBatcher(redis)
        leaving = asyncio.create_task(batcher.execute("SET", "left", "1"))
        staying = asyncio.create_task(batcher.execute("INCR", "stayed"))
        await asyncio.sleep(0)  # both issued in this pass
        leaving.cancel()
        assert await asyncio.wait_for(staying, HANG_GUARD) == 1
        with pytest.raises(asyncio.CancelledError):
            await leaving
        await batcher.drain()
    finally:
        await redis.aclose()


async def test_an_unreachable_redis_fails_every_caller_with_the_redis_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        redis = open_redis(RedisTarget(url=f"redis://127.0.0.1:{port}/0", retries=0,
                                       connect_timeout=1.0))
        try:
            batcher = CommandBatcher(redis)
            answers = await asyncio.wait_for(asyncio.gather(
                batcher.execute("GET", "a"), batcher.execute("GET", "b"),
                return_exceptions=True), HANG_GUARD)
            assert all(isinstance(answer, RedisConnectionError) for answer in answers)
        finally:
            await redis.aclose()


async def test_drain_sends_what_is_pending_and_waits_for_it(redis_url: str) -> None:
    redis = open_redis(redis_url)
    try:
        batcher = CommandBatcher(redis)
        issued = asyncio.create_task(batcher.execute("SET", "drained", "yes"))
        await asyncio.sleep(0)
        await asyncio.wait_for(batcher.drain(), HANG_GUARD)
        assert issued.done() and issued.result() is True
        assert await redis.get("drained") == b"yes"
    finally:
        await redis.aclose()
