"""The attacks of issue 15 on the charger login, over real websockets: concurrent guesses,
locking a charger out from another address, chargers sharing one address, unknown ids."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest
from ocpp.v16 import call
from ocpp_test_support import (
    LIMITS,
    PASSWORD,
    ChargerFactory,
    FakeClock,
    Gateway,
    basic_auth,
    start_gateway,
)

CP16 = "CP-AMS-01"
CP201 = "CP-AMS-02"
PROXY = ("127.0.0.1",)  # the test client plays the proxy: it sets X-Forwarded-For


async def login(http: aiohttp.ClientSession, gateway: Gateway, charge_point_id: str,
                password: str = PASSWORD, address: str | None = None,
                protocol: str = "ocpp1.6") -> int:
    """The HTTP status of one websocket login (101 when admitted; the socket is closed)."""
    headers = {"Authorization": basic_auth(charge_point_id, password)}
    if address is not None:
        headers["X-Forwarded-For"] = f"203.0.113.250, {address}"  # the first one is forged
    try:
        ws = await http.ws_connect(f"{gateway.url}/{charge_point_id}", protocols=(protocol,),
                                   headers=headers)
    except aiohttp.WSServerHandshakeError as refused:
        return refused.status
    await ws.close()
    return 101


@pytest.fixture
async def proxied() -> AsyncIterator[Gateway]:
    gw = await start_gateway(trusted_proxies=PROXY, clock=FakeClock())
    yield gw
    await gw.close()


async def test_200_concurrent_wrong_guesses_get_at_most_the_limit_checked(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    statuses = Counter(await asyncio.gather(
        *(login(chargers.http, gateway, CP16, password=f"guess-{n}") for n in range(200))))
    assert statuses == {401: LIMITS.per_address, 429: 200 - LIMITS.per_address}
    assert gateway.server.passwords.scrypt_runs == LIMITS.per_address


async def test_200_concurrent_guesses_from_200_addresses_are_bounded_per_charger(
        proxied: Gateway, chargers: ChargerFactory) -> None:
    statuses = Counter(await asyncio.gather(
        *(login(chargers.http, proxied, CP16, password=f"guess-{n}", address=f"10.9.0.{n}")
          for n in range(200))))
    assert statuses == {401: LIMITS.per_charger, 429: 200 - LIMITS.per_charger}
    assert proxied.server.passwords.scrypt_runs == LIMITS.per_charger


async def test_guessing_elsewhere_never_locks_the_charger_out_at_its_own_address(
        proxied: Gateway, chargers: ChargerFactory) -> None:
    assert await login(chargers.http, proxied, CP16, address="10.0.0.1") == 101
    # The attacker at one address, then at many, until nobody new is checked.
    for _ in range(LIMITS.per_address * 3):
        assert await login(chargers.http, proxied, CP16, "guess", address="10.6.6.6") in (
            401, 429)
    for n in range(LIMITS.per_charger * 2):
        assert await login(chargers.http, proxied, CP16, "guess", address=f"10.7.0.{n}") in (
            401, 429)
    assert await login(chargers.http, proxied, CP16, address="10.8.8.8") == 429  # bounded
    for _ in range(3):  # ...yet the charger at its own address is admitted, again and again
        assert await login(chargers.http, proxied, CP16, address="10.0.0.1") == 101


async def test_chargers_sharing_one_address_do_not_lock_each_other_out(
        proxied: Gateway, chargers: ChargerFactory) -> None:
    for _ in range(LIMITS.per_address * 3):  # one misconfigured charger behind the NAT
        assert await login(chargers.http, proxied, "CP-UTR-01", "wrong",
                           address="198.51.100.7") in (401, 429)
    assert await login(chargers.http, proxied, "CP-UTR-01", address="198.51.100.7") == 429
    assert await login(chargers.http, proxied, CP16, address="198.51.100.7") == 101
    assert await login(chargers.http, proxied, CP201, address="198.51.100.7",
                       protocol="ocpp2.0.1") == 101


async def test_unknown_ids_do_not_lock_out_an_addresses_real_chargers(
        proxied: Gateway, chargers: ChargerFactory) -> None:
    for n in range(LIMITS.per_address * 5):
        assert await login(chargers.http, proxied, f"CP-NOBODY-{n}",
                           address="198.51.100.9") == 404
    assert await login(chargers.http, proxied, CP16, address="198.51.100.9") == 101
    assert proxied.server.passwords.scrypt_runs == 1


async def test_a_lockout_ends_after_the_window(chargers: ChargerFactory) -> None:
    clock = FakeClock()
    gw = await start_gateway(clock=clock)
    try:
        for _ in range(LIMITS.per_address):
            assert await login(chargers.http, gw, CP16, "guess") == 401
        assert await login(chargers.http, gw, CP16) == 429
        clock.now += LIMITS.window
        assert await login(chargers.http, gw, CP16) == 101
    finally:
        await gw.close()


async def test_checks_that_cannot_guess_a_password_are_not_counted(
        gateway: Gateway, chargers: ChargerFactory) -> None:
    assert await login(chargers.http, gateway, CP16) == 101
    for _ in range(LIMITS.per_address * 2):
        # another user than the identity; no credentials; profile 2 charger over plain ws
        with pytest.raises(aiohttp.WSServerHandshakeError) as other_user:
            await chargers.http.ws_connect(f"{gateway.url}/{CP16}", protocols=("ocpp1.6",),
                                           headers={"Authorization": basic_auth(CP201, "x")})
        assert other_user.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
            await chargers.http.ws_connect(f"{gateway.url}/{CP16}", protocols=("ocpp1.6",))
        assert anonymous.value.status == 401
        assert await login(chargers.http, gateway, "CP-TLS-01") == 403
    assert gateway.server.passwords.scrypt_runs == 1
    for _ in range(LIMITS.per_address):
        assert await login(chargers.http, gateway, CP16, "guess") == 401


async def test_refusal_says_when_to_retry(gateway: Gateway, chargers: ChargerFactory) -> None:
    for _ in range(LIMITS.per_address):
        assert await login(chargers.http, gateway, CP16, "guess") == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await chargers.ws(gateway.url, CP16, protocols=("ocpp1.6",))
    assert refused.value.status == 429
    assert refused.value.headers is not None
    assert refused.value.headers["Retry-After"] == str(int(LIMITS.window))


async def test_two_instances_on_one_redis_share_the_counts(
        redis_url: str, chargers: ChargerFactory) -> None:
    clock = FakeClock()
    one = await start_gateway(redis_url=redis_url, instance_id="gw-1", clock=clock,
                              trusted_proxies=PROXY)
    other = await start_gateway(redis_url=redis_url, instance_id="gw-2", clock=clock,
                                trusted_proxies=PROXY)
    try:
        assert await login(chargers.http, one, CP16, address="10.0.0.1") == 101
        for n in range(LIMITS.per_charger):
            gw = one if n % 2 else other
            assert await login(chargers.http, gw, CP16, "guess", address=f"10.7.0.{n}") == 401
        assert await login(chargers.http, one, CP16, address="10.8.8.8") == 429
        assert await login(chargers.http, other, CP16, address="10.8.8.8") == 429
        # The address the charger logged in from through `one` is known to `other` too.
        assert await login(chargers.http, other, CP16, address="10.0.0.1") == 101
    finally:
        await one.close()
        await other.close()


async def test_forwarded_for_counts_only_from_a_trusted_proxy(chargers: ChargerFactory) -> None:
    gw = await start_gateway(trusted_proxies=("192.0.2.0/24",))  # the test client is not it
    try:
        for n in range(LIMITS.per_address):
            assert await login(chargers.http, gw, CP16, "guess", address=f"10.5.0.{n}") == 401
        # Every attempt came from 127.0.0.1 whatever the header said.
        assert await login(chargers.http, gw, CP16, address="10.5.0.99") == 429
        with pytest.raises(aiohttp.WSServerHandshakeError) as tls:
            await chargers.ws(gw.url, "CP-TLS-01", protocols=("ocpp1.6",),
                              headers={"X-Forwarded-Proto": "https"})
        assert tls.value.status == 403
    finally:
        await gw.close()


async def test_a_trusted_proxy_terminating_tls_admits_a_profile_2_charger(
        proxied: Gateway, chargers: ChargerFactory) -> None:
    cp = await chargers.connect(proxied.url, "CP-TLS-01",
                                headers={"X-Forwarded-Proto": "https",
                                         "X-Forwarded-For": "10.0.0.3"})
    assert (await cp.charger.call(call.Heartbeat())).current_time
