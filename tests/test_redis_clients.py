"""The one Redis client factory and the settings that choose the mode."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry

from ocpi_gateway.config import ConfigError, load_settings
from ocpi_gateway.redis_clients import RedisMode, RedisTarget, open_redis, parse_host_port

BASE = """
cpo_roles:
  - country_code: NL
    party_id: EXA
    business_details: {name: Example}
"""


def _settings(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(BASE + extra, encoding="utf-8")
    return path


def test_single_is_the_default_and_no_url_means_no_redis(tmp_path: Path) -> None:
    settings = load_settings(_settings(tmp_path, ""))
    assert settings.redis_mode is RedisMode.SINGLE and settings.redis is None
    settings = load_settings(_settings(tmp_path, "redis_url: redis://127.0.0.1:6379/0\n"))
    assert settings.redis == RedisTarget(url="redis://127.0.0.1:6379/0")


def test_sentinel_mode_reads_sentinels_and_master(tmp_path: Path) -> None:
    settings = load_settings(_settings(tmp_path, (
        "redis_mode: sentinel\nredis_sentinels: ['127.0.0.1:26379', '[::1]:26380']\n"
        "redis_master: gwmaster\n")))
    target = settings.redis
    assert target is not None and target.mode is RedisMode.SENTINEL
    assert target.sentinels == (("127.0.0.1", 26379), ("::1", 26380))
    assert target.master == "gwmaster"


@pytest.mark.parametrize(("extra", "complaint"), [
    ("redis_mode: cluster\n", "redis_mode cluster needs redis_url"),
    ("redis_mode: sentinel\nredis_master: m\n", "needs redis_sentinels and redis_master"),
    ("redis_mode: sentinel\nredis_sentinels: [nope]\nredis_master: m\n", "not host:port"),
    ("redis_mode: sharded\n", "redis_mode"),
])
def test_an_incomplete_mode_is_refused_naming_the_key(tmp_path: Path, extra: str,
                                                      complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load_settings(_settings(tmp_path, extra))


def test_parse_host_port_refuses_what_is_not_an_address() -> None:
    assert parse_host_port("redis-1:6379") == ("redis-1", 6379)
    for bad in ("redis-1", ":6379", "host:port"):
        with pytest.raises(ValueError, match="host:port"):
            parse_host_port(bad)


async def test_clients_retry_on_broken_connections_and_check_idle_ones() -> None:
    client = open_redis("redis://127.0.0.1:1/0")
    try:
        kwargs = client.connection_pool.connection_kwargs
        retry = kwargs["retry"]
        assert isinstance(retry, Retry) and retry.get_retries() == RedisTarget().retries
        assert kwargs["health_check_interval"] == RedisTarget().health_check_interval
        assert ConnectionError.__name__ in {e.__name__ for e in kwargs["retry_on_error"]}
    finally:
        await client.aclose()
    cluster = open_redis(RedisTarget(url="redis://127.0.0.1:1/0", mode=RedisMode.CLUSTER))
    assert isinstance(cluster, RedisCluster)
    await cluster.aclose()


def _backoff_seconds(retry: Retry) -> float:
    backoff = retry._backoff  # the Retry keeps its policy private; the sum is what matters
    return sum(backoff.compute(n) for n in range(1, retry.get_retries() + 1))


async def test_sentinel_clients_wait_out_a_failover_single_clients_do_not() -> None:
    # Regression: under load a failover took longer than the ~4.5 s the retries bridged, and
    # RESERVE_NOWs in that window ended FAILED ("internal error", MasterNotFoundError).
    sentinel = open_redis(RedisTarget(mode=RedisMode.SENTINEL, sentinels=(("127.0.0.1", 1),),
                                      master="gw"))
    single = open_redis("redis://127.0.0.1:1/0")
    try:
        on_failover = sentinel.connection_pool.connection_kwargs["retry"]
        on_restart = single.connection_pool.connection_kwargs["retry"]
        assert on_failover.get_retries() == RedisTarget().failover_retries
        assert _backoff_seconds(on_failover) >= 12.0
        assert _backoff_seconds(on_restart) < 6.0
    finally:
        await sentinel.aclose()
        await single.aclose()


async def test_a_fresh_cluster_client_routes_its_first_burst_right(
        redis_cluster: RedisTarget) -> None:
    # 200 commands at once on a client that has not met the cluster yet: each goes to the
    # master of its slot (none answered MOVED, which once made redis-py rebuild its node
    # list under commands in flight and fail some with AttributeError), and all succeed.
    from redis.cluster import RedisCluster as SyncCluster

    admin = SyncCluster.from_url(redis_cluster.url)
    client = open_redis(redis_cluster)
    try:
        admin.config_resetstat(target_nodes=SyncCluster.PRIMARIES)
        done = await asyncio.gather(*(client.incr("{CP-1}:burst") for _ in range(200)))
        assert sorted(done) == list(range(1, 201))
        errors = admin.info("errorstats", target_nodes=SyncCluster.PRIMARIES)
    finally:
        await client.aclose()
        admin.close()
    moved = sum(stats.get("errorstat_MOVED", {}).get("count", 0)
                for stats in errors.values())
    assert moved == 0
