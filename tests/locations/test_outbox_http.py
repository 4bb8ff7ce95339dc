"""The outbox's own HTTP/1.1 client (``deliveries/http.py``) against real servers on loopback:
aiohttp's for well-formed answers, raw sockets for the answers aiohttp would not write
(close-delimited bodies, a kept-alive connection closed as the next request arrives)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from ocpi_gateway.deliveries.http import HttpClient, HttpError, encode_headers, target
from tests.locations.outbox_peer import OutboxPeer

AUTH = encode_headers({"Authorization": "Token dGVzdA=="})

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def raw_server(handle: Handler) -> tuple[asyncio.Server, str]:
    """A server speaking bytes; ``handle`` gets each connection and its number (from 0)."""
    count = 0

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        number, count = count, count + 1
        try:
            await handle(reader, writer, number)
        finally:
            writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http = HttpClient()
    yield http
    await http.close()


async def test_requests_to_one_receiver_share_one_kept_alive_connection(
        client: HttpClient, outbox_peer: OutboxPeer) -> None:
    for n in range(5):
        status, body = await client.request("PATCH", f"{outbox_peer.url}/L{n}", AUTH,
                                            b'{"n": %d}' % n, 5)
        assert status == 200 and b'"status_code": 1000' in body
    assert [r.body for r in outbox_peer.requests] == [{"n": n} for n in range(5)]
    assert [r.path.rsplit("/", 1)[1] for r in outbox_peer.requests] == [f"L{n}" for n in
                                                                        range(5)]
    assert outbox_peer.requests[0].headers["Authorization"] == "Token dGVzdA=="
    assert outbox_peer.requests[0].headers["Content-Length"] == "8"
    assert outbox_peer.requests[0].headers["User-Agent"].startswith("ocpi-gateway/")
    assert outbox_peer.connections() == 1 and client.connections() == 1
    await client.close()
    await outbox_peer.wait_for(lambda: outbox_peer.connections() == 0, "closed by close()")


async def test_a_get_carries_no_body_and_the_host_names_the_port(
        client: HttpClient, outbox_peer: OutboxPeer) -> None:
    await client.request("GET", f"{outbox_peer.url}/L1?x=1", AUTH, None, 5)
    [seen] = outbox_peer.requests
    assert seen.method == "GET" and seen.body is None and "Content-Length" not in seen.headers
    assert seen.headers["Host"] == outbox_peer.url.split("/")[2]


async def test_a_chunked_answer_is_read_whole_and_the_connection_kept() -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b'{"status_code": ', b"1000", b', "data": "' + b"x" * 5000 + b'"}'):
            await response.write(part)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/c", chunked)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = HttpClient()
    try:
        for _ in range(2):
            status, body = await client.request("GET", f"http://127.0.0.1:{port}/c", AUTH,
                                                None, 5)
            assert status == 200 and body == b'{"status_code": 1000, "data": "' + \
                b"x" * 5000 + b'"}'
        assert len(runner.server.connections) == 1  # type: ignore[union-attr]
    finally:
        await client.close()
        await runner.cleanup()


async def test_an_answer_ended_by_the_close_is_read_and_its_connection_not_reused(
        client: HttpClient) -> None:
    async def close_delimited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                              number: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n" + b'{"status_code": %d}' % (1000 + number))
        await writer.drain()

    server, url = await raw_server(close_delimited)
    async with server:
        assert await client.request("PUT", f"{url}/a", AUTH, b"{}", 5) == (
            200, b'{"status_code": 1000}')
        assert await client.request("PUT", f"{url}/a", AUTH, b"{}", 5) == (
            200, b'{"status_code": 1001}')


async def test_a_kept_alive_connection_the_receiver_closed_as_we_sent_is_replaced_once(
        client: HttpClient) -> None:
    # The first connection answers once, then closes on the next request without a word,
    # as a receiver whose keep-alive timeout ran out at that moment does.
    requests: list[int] = []

    async def closes_after_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               number: int) -> None:
        while True:
            await read_request(reader)
            requests.append(number)
            if number == 0 and requests.count(0) == 2:
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    server, url = await raw_server(closes_after_one)
    async with server:
        assert await client.request("PATCH", f"{url}/a", AUTH, b"{}", 5) == (200, b"ok")
        assert await client.request("PATCH", f"{url}/a", AUTH, b"{}", 5) == (200, b"ok")
    assert requests == [0, 0, 1]


async def test_a_new_connection_closed_without_an_answer_fails_the_attempt(
        client: HttpClient) -> None:
    requests: list[int] = []

    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            number: int) -> None:
        await read_request(reader)
        requests.append(number)

    server, url = await raw_server(never_answers)
    async with server:
        with pytest.raises(HttpError, match="closed before the whole answer"):
            await client.request("PATCH", f"{url}/a", AUTH, b"{}", 5)
    assert requests == [0]  # not sent again: only a reused connection is


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nshort",
    b"SMTP ready\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdefg\r\n0\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
])
async def test_a_cut_or_malformed_answer_fails_the_attempt(client: HttpClient,
                                                           answer: bytes) -> None:
    async def bad(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  number: int) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()

    server, url = await raw_server(bad)
    async with server:
        with pytest.raises(HttpError):
            await client.request("PUT", f"{url}/a", AUTH, b"{}", 5)


async def test_an_answer_over_the_size_limit_fails_the_attempt(
        client: HttpClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from ocpi_gateway.deliveries import http

    monkeypatch.setattr(http, "MAX_BODY", 100)

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  number: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n" + b"x" * 101)
        await writer.drain()

    server, url = await raw_server(big)
    async with server:
        with pytest.raises(HttpError, match="too large"):
            await client.request("GET", f"{url}/a", AUTH, None, 5)


async def test_an_informational_answer_before_the_real_one_is_skipped(
        client: HttpClient) -> None:
    async def continues(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        number: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
                     b"Content-Length: 2\r\n\r\nok")
        await writer.drain()
        await reader.read()

    server, url = await raw_server(continues)
    async with server:
        assert await client.request("PUT", f"{url}/a", AUTH, b"{}", 5) == (201, b"ok")


async def test_a_hanging_receiver_times_out_and_its_connection_is_dropped(
        client: HttpClient, outbox_peer: OutboxPeer) -> None:
    outbox_peer.hold = asyncio.Event()
    outbox_peer.held = {"slow"}
    with pytest.raises(TimeoutError):
        await client.request("PUT", f"{outbox_peer.url}/slow", AUTH, b"{}", 0.3)
    outbox_peer.hold.set()
    assert (await client.request("PUT", f"{outbox_peer.url}/fast", AUTH, b"{}", 5))[0] == 200
    # The timed-out connection was closed (its answer may still come), not reused.
    await outbox_peer.wait_for(lambda: outbox_peer.connections() == 1, "one connection left")
    assert client.connections() == 1


async def test_one_origin_gets_at_most_its_limit_of_connections(
        outbox_peer: OutboxPeer) -> None:
    outbox_peer.hold = asyncio.Event()
    client = HttpClient(limit_per_host=3)
    try:
        sent = [asyncio.create_task(client.request("PUT", f"{outbox_peer.url}/{n}", AUTH,
                                                   b"{}", 10)) for n in range(7)]
        await outbox_peer.wait_for(lambda: outbox_peer.in_flight == 3, "three requests")
        await asyncio.sleep(0.2)  # a fourth connection would have carried a request by now
        assert outbox_peer.in_flight == 3 and outbox_peer.connections() == 3
        outbox_peer.hold.set()
        assert [status for status, _ in await asyncio.gather(*sent)] == [200] * 7
        assert outbox_peer.most_in_flight == 3
    finally:
        await client.close()


async def test_an_idle_connection_past_its_keepalive_is_not_reused(
        outbox_peer: OutboxPeer) -> None:
    now = [100.0]
    client = HttpClient(keepalive=15.0, monotonic=lambda: now[0])
    try:
        await client.request("PUT", f"{outbox_peer.url}/a", AUTH, b"{}", 5)
        now[0] += 14.0
        await client.request("PUT", f"{outbox_peer.url}/a", AUTH, b"{}", 5)
        assert client.connections() == 1
        now[0] += 15.0
        await client.request("PUT", f"{outbox_peer.url}/a", AUTH, b"{}", 5)
        await outbox_peer.wait_for(lambda: outbox_peer.connections() == 1, "old one closed")
        assert len(outbox_peer.requests) == 3
    finally:
        await client.close()


async def test_https_is_verified_against_the_trust_given(
        tls_certificate: tuple[Path, Path]) -> None:
    cert, key = tls_certificate
    served = OutboxPeer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", served.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(str(cert), str(key))
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    trusting = HttpClient(ssl_context=ssl.create_default_context(cafile=str(cert)))
    default = HttpClient()
    try:
        assert (await trusting.request("PATCH", f"https://127.0.0.1:{port}/a", AUTH,
                                       b'{"n": 1}', 5))[0] == 200
        assert served.bodies() == [{"n": 1}]
        # A self-signed certificate nobody trusts: no request goes out.
        with pytest.raises(ssl.SSLError):
            await default.request("PATCH", f"https://127.0.0.1:{port}/a", AUTH, b"{}", 5)
        assert len(served.requests) == 1
    finally:
        await trusting.close()
        await default.close()
        await runner.cleanup()


def test_a_header_that_could_add_lines_is_refused() -> None:
    assert encode_headers({"OCPI-to-party-id": "ABC"}) == b"OCPI-to-party-id: ABC\r\n"
    for name, value in [("Authorization", "Token x\r\nX-Evil: 1"), ("Bad Name", "x"),
                        ("Authorization", "Token x\nX-Evil: 1")]:
        with pytest.raises(ValueError):
            encode_headers({name: value})


def test_a_url_becomes_its_origin_path_and_host() -> None:
    parsed = target("http://emsp.example:8080/ocpi/2.2.1/locations/NL/EXA/Zoë?a=1 2")
    assert parsed.origin == ("http", "emsp.example", 8080)
    assert parsed.host == b"emsp.example:8080"
    assert parsed.path == b"/ocpi/2.2.1/locations/NL/EXA/Zo%C3%AB?a=1%202"
    assert target("https://emsp.example/x").origin == ("https", "emsp.example", 443)
    assert target("https://emsp.example/x").host == b"emsp.example"
    assert target("http://[::1]:81/").host == b"[::1]:81"
    for bad in ("ftp://emsp.example/x", "http:///x", "http://emsp.example:99999/x"):
        with pytest.raises(HttpError):
            target(bad)


async def test_chunk_extensions_and_trailers_are_read_past(client: HttpClient) -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      number: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5;name=value\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: 1\r\n\r\n")
        await writer.drain()
        await reader.read()

    server, url = await raw_server(chunked)
    async with server:
        assert await client.request("GET", f"{url}/a", AUTH, None, 5) == (200, b"hello!")


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
])
async def test_a_connection_the_receiver_will_close_is_not_reused(
        client: HttpClient, answer: bytes) -> None:
    # The receiver says it closes (or speaks HTTP/1.0 without keep-alive) but leaves the
    # socket open: a second request must still go on a new connection.
    requests: list[int] = []

    async def says_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         number: int) -> None:
        while True:
            await read_request(reader)
            requests.append(number)
            writer.write(answer)
            await writer.drain()

    server, url = await raw_server(says_close)
    async with server:
        for _ in range(2):
            assert await client.request("PUT", f"{url}/a", AUTH, b"{}", 5) == (200, b"ok")
    assert requests == [0, 1]


async def test_http_1_0_keep_alive_is_reused() -> None:
    requests: list[int] = []

    async def keeps(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    number: int) -> None:
        while True:
            await read_request(reader)
            requests.append(number)
            writer.write(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                         b"Content-Length: 2\r\n\r\nok")
            await writer.drain()

    client = HttpClient()
    server, url = await raw_server(keeps)
    try:
        async with server:
            for _ in range(2):
                assert await client.request("PUT", f"{url}/a", AUTH, b"{}", 5) == (200, b"ok")
    finally:
        await client.close()
    assert requests == [0, 0]


async def test_bytes_a_receiver_sends_unasked_never_become_the_next_answer(
        client: HttpClient) -> None:
    sent_extra = asyncio.Event()

    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     number: int) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (
                len(str(number)), number))
            await writer.drain()
            if number == 0:
                # Unasked, while the connection is idle: an answer nobody sent a request for.
                await asyncio.sleep(0.05)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
                await writer.drain()
                sent_extra.set()

    server, url = await raw_server(chatty)
    async with server:
        assert await client.request("GET", f"{url}/a", AUTH, None, 5) == (200, b"0")
        await sent_extra.wait()
        await asyncio.sleep(0.05)
        assert await client.request("GET", f"{url}/a", AUTH, None, 5) == (200, b"1")


async def test_an_answer_arriving_in_pieces_is_put_together(client: HttpClient) -> None:
    pieces = [b"HTTP/1.1 200 OK\r\nTransfer-", b"Encoding: chunked\r\n\r\n5", b"\r\nhel",
              b"lo\r\n", b"0\r\n", b"\r\n"]

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   number: int) -> None:
        while True:
            await read_request(reader)
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.02)

    server, url = await raw_server(slow)
    async with server:
        for _ in range(2):
            assert await client.request("GET", f"{url}/a", AUTH, None, 5) == (200, b"hello")


async def test_a_chunked_answer_over_the_size_limit_fails_the_attempt(
        client: HttpClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from ocpi_gateway.deliveries import http

    monkeypatch.setattr(http, "MAX_BODY", 100)

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  number: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     b"32\r\n" + b"x" * 50 + b"\r\n" + b"33\r\n" + b"x" * 51 + b"\r\n")
        await writer.drain()
        await reader.read()

    server, url = await raw_server(big)
    async with server:
        with pytest.raises(HttpError, match="too large"):
            await client.request("GET", f"{url}/a", AUTH, None, 5)


async def test_a_negative_chunk_size_fails_the_attempt_at_once(client: HttpClient) -> None:
    async def negative(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       number: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabcde\r\n")
        await writer.drain()
        await reader.read()  # the connection stays open: only the parser can end this

    server, url = await raw_server(negative)
    async with server:
        with pytest.raises(HttpError, match="bad chunk size"):
            await client.request("GET", f"{url}/a", AUTH, None, 5)
