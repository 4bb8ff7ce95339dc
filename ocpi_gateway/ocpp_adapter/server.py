"""The websocket endpoint ``/ocpp/{charge_point_id}`` on the gateway's aiohttp app.

The one entry point the app uses::

    server = OcppServer(chargers, bus, authorizer, instance_id="gw-1", redis_url=None)
    server.attach(app)          # route, startup/shutdown/cleanup hooks
    server.commands             # ocpi_gateway.domain.charger_commands.ChargerCommands
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from ocpi_gateway.domain.authorization import TokenAuthorizer
from ocpi_gateway.domain.charger_commands import ChargerCommands, ChargerQueries
from ocpi_gateway.domain.events import ChargerConnected, ChargerDisconnected, EventPublisher
from ocpi_gateway.domain.loops import LoopRegistry
from ocpi_gateway.domain.tasks import cancel_all, finish_within
from ocpi_gateway.ocpp_adapter.admission import AdmissionGate
from ocpi_gateway.ocpp_adapter.auth import (
    Clock,
    LocalLoginLimiter,
    LoginLimiter,
    LoginLimits,
    PasswordChecker,
    client_address,
    parse_basic_auth,
)
from ocpi_gateway.ocpp_adapter.auth_redis import RedisLoginLimiter, RedisVerifiedPasswords
from ocpi_gateway.ocpp_adapter.chargers_config import ChargerConfig, ChargersConfig
from ocpi_gateway.ocpp_adapter.connection import AiohttpConnection
from ocpi_gateway.ocpp_adapter.directory import ChargerPresence, of_session
from ocpi_gateway.ocpp_adapter.handshake import (
    SESSION_CLASSES,
    choose_subprotocol,
    forwarded_trusted,
    is_tls,
    refuse,
    remote_of,
)
from ocpi_gateway.ocpp_adapter.registry import ConnectionRegistry
from ocpi_gateway.ocpp_adapter.routing import RoutedCommands
from ocpi_gateway.ocpp_adapter.routing.local import LocalChargerCommands
from ocpi_gateway.ocpp_adapter.routing.redis import RedisChargerCommands
from ocpi_gateway.ocpp_adapter.session import CallObserver, OcppSession, SessionContext
from ocpi_gateway.ocpp_adapter.transaction_ids import (
    InMemoryTransactionIds,
    RedisTransactionIds,
    TransactionIdSource,
)
from ocpi_gateway.redis_clients import RedisClient, RedisTarget, as_target, open_redis

log = structlog.get_logger(__name__)


WIRE_LOGGER = "ocpi_gateway.ocpp_adapter.wire"
"""The logger the ``ocpp`` package writes every frame to (at INFO; frames carry idTags)."""

CLOSE_REPLACED = 4000  # private-use close codes (RFC 6455 7.4.2)
CLOSE_TAKEN_OVER = 4001


@dataclass(frozen=True, slots=True)
class OcppTimings:
    """Every delay of the adapter in one place, so tests can make them small."""

    heartbeat_interval: int = 300
    """Sent in BootNotification responses (seconds)."""
    call_timeout: float = 30.0
    """Upper bound of any call to a charger; ChargerCommands.execute's timeout is the real one."""
    ws_ping_interval: float | None = 60.0
    """Websocket ping period; a peer missing the pong is closed (None disables)."""
    presence_ttl: float = 30.0
    """TTL of a charger's Redis presence entry, refreshed every third of it."""
    instance_ttl: float = 3.0
    """TTL of this process's Redis liveness key: how soon others see it died."""
    stream_block_ms: int = 5_000


class OcppServer:
    def __init__(
        self,
        chargers: ChargersConfig,
        publisher: EventPublisher,
        authorizer: TokenAuthorizer,
        *,
        instance_id: str,
        redis_url: RedisTarget | str | None,
        heartbeat_interval: int = 300,
        timings: OcppTimings | None = None,
        observe_call: CallObserver | None = None,
        login_limits: LoginLimits | None = None,
        password_key: bytes | None = None,
        trusted_proxies: Sequence[str] = (),
        clock: Clock = time.time,
        log_frames: bool = False,
        loops: LoopRegistry | None = None,
    ) -> None:
        """``password_key``: the key of verified-credential fingerprints, shared through Redis
        when both are set (else each process keeps its own, under a random key).
        ``trusted_proxies``: addresses or networks whose X-Forwarded-For/-Proto are believed
        (``chargers.trust_forwarded_proto`` believes them from anyone). ``log_frames``: let
        the ``ocpp`` package log every frame (off: they carry idTags)."""
        logging.getLogger(WIRE_LOGGER).setLevel(logging.INFO if log_frames else logging.WARNING)
        self.chargers = chargers
        self.publisher = publisher
        self.instance_id = instance_id
        self.timings = timings or OcppTimings(heartbeat_interval=heartbeat_interval)
        self.registry = ConnectionRegistry()
        self._trusted_proxies = [ipaddress.ip_network(net, strict=False)
                                 for net in trusted_proxies]
        self._redis: RedisClient | None = None
        self._limiter: LoginLimiter
        transaction_ids: TransactionIdSource
        self._router: RoutedCommands
        target = as_target(redis_url)
        if target is not None:
            self._redis = open_redis(target)
            redis_router = RedisChargerCommands(
                self.registry, self._redis, instance_id,
                presence_ttl=self.timings.presence_ttl, instance_ttl=self.timings.instance_ttl,
                block_ms=self.timings.stream_block_ms, loops=loops,
            )
            redis_router.on_lost = self._taken_over
            self._router = redis_router
            transaction_ids = RedisTransactionIds(self._redis)
            self._limiter = RedisLoginLimiter(self._redis, login_limits, clock=clock)
        else:
            self._router = LocalChargerCommands(self.registry)
            transaction_ids = InMemoryTransactionIds()
            self._limiter = LocalLoginLimiter(login_limits, clock=clock)
        self._shared = RedisVerifiedPasswords(self._redis) \
            if self._redis is not None and password_key is not None else None
        self.passwords = PasswordChecker(key=password_key, shared=self._shared)
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_seen: dict[str, ChargerPresence] = {}
        """One process without Redis: the last known connection of chargers that left."""
        self.admissions = AdmissionGate()
        """Upgrade, login and presence claim of new connections, a few at a time while the
        event loop lags (admission.py): connected chargers are answered during a storm."""
        self._context = SessionContext(
            publisher=publisher, authorizer=authorizer, transaction_ids=transaction_ids,
            heartbeat_interval=self.timings.heartbeat_interval,
            call_timeout=self.timings.call_timeout, observe_call=observe_call,
        )

    @property
    def commands(self) -> ChargerCommands:
        return self._router

    @property
    def queries(self) -> ChargerQueries:
        """The same routing, answering with the charger's whole reply (operator commands)."""
        return self._router

    @property
    def redis(self) -> RedisClient | None:
        """The adapter's Redis client (for a /ready check), None in one-process mode."""
        return self._redis

    def attach(self, app: web.Application) -> None:
        app.router.add_get("/ocpp/{charge_point_id}", self.handle)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)

    async def start(self) -> None:
        await self._router.start()

    async def describe(self, charge_point_ids: Sequence[str]) -> dict[str, ChargerPresence]:
        """Each charger's connection as far as any instance knows (ocpp_adapter/directory.py);
        a charger never seen: offline, nothing else known."""
        ids = list(charge_point_ids)
        if isinstance(self._router, RedisChargerCommands):
            return await self._router.describe(ids)
        found: dict[str, ChargerPresence] = {}
        for cp in ids:
            session = self.registry.get(cp)
            if session is not None and not session.is_closed:
                found[cp] = of_session(session, self.instance_id)
            else:
                found[cp] = self._last_seen.get(cp) or ChargerPresence(cp, online=False)
        return found

    @property
    def routing_healthy(self) -> bool:
        """False while this instance cannot read its command stream (Redis unreachable)."""
        return not isinstance(self._router, RedisChargerCommands) or self._router.reading

    async def reclaim_presence(self) -> None:
        """Announce again, now, every charger connected here (Redis came back empty): other
        instances route commands to them again without waiting for the next refresh."""
        if isinstance(self._router, RedisChargerCommands):
            await self._router.refresh_presence()

    async def stop(self) -> None:
        """Close every charger's socket, stop routing, release presence, send the commands
        queued for Redis (for at most ``STOP_BOUND`` seconds), close Redis."""
        await self._close_all()
        await cancel_all(self._tasks, name="ocpp-server")
        await self._router.stop()
        self.admissions.close()
        # Fingerprints still being written to Redis: bounded, as everything a stop waits for.
        await finish_within([self.passwords.flush()], name="ocpp-password-fingerprints")
        self.passwords.close()
        if self._redis is not None:
            # A login cancelled above leaves its commands in the batchers, awaited by no one:
            # the end of the event loop would cancel them unsent.
            limiter = self._limiter if isinstance(self._limiter, RedisLoginLimiter) else None
            await finish_within([b.drain() for b in (limiter, self._shared) if b is not None],
                                name="ocpp-redis-drain")
            await self._redis.aclose()

    async def _close_all(self) -> None:
        sessions = list(self.registry)
        for session in sessions:
            session.mark_closed()
        await asyncio.gather(
            *(session.close(code=1001, message="gateway shutting down") for session in sessions),
            return_exceptions=True,
        )

    async def _on_startup(self, app: web.Application) -> None:
        await self.start()

    async def _on_shutdown(self, app: web.Application) -> None:
        await self._close_all()

    async def _on_cleanup(self, app: web.Application) -> None:
        await self.stop()

    # -- handshake -----------------------------------------------------------------------

    async def _admit(
        self, request: web.Request, charge_point_id: str
    ) -> ChargerConfig | web.Response:
        """Only a password check can be guessed against, so only checks are limited: unknown
        ids, wrong profiles and malformed credentials are refused without counting."""
        trusted = forwarded_trusted(request, self.chargers.trust_forwarded_proto,
                                    self._trusted_proxies)
        remote = remote_of(request, trusted)
        charger = self.chargers.get(charge_point_id)
        if charger is None:
            return refuse(charge_point_id, remote, 404, "unknown charge point")
        profile = 2 if is_tls(request, trusted) else 1
        if profile != charger.security_profile:
            return refuse(charge_point_id, remote, 403,
                                f"security profile {charger.security_profile} required")
        credentials = parse_basic_auth(request.headers.get("Authorization"))
        if credentials is None or credentials[0] != charge_point_id:
            return refuse(charge_point_id, remote, 401, "bad credentials")
        # The slot is taken before the check: concurrent guesses cannot outrun the count.
        attempt = await self._limiter.begin(charge_point_id, client_address(remote))
        if attempt is None:
            log.warning("ocpp_connection_rate_limited", charge_point_id=charge_point_id,
                        remote=remote)
            return web.Response(status=429, text="too many failed attempts", headers={
                "Retry-After": str(int(self._limiter.limits.window))})
        if not await self.passwords.check(charge_point_id, credentials[1],
                                          charger.password_hash):
            return refuse(charge_point_id, remote, 401, "bad credentials")
        await self._limiter.succeeded(attempt)
        return charger

    async def handle(self, request: web.Request) -> web.StreamResponse:
        charge_point_id = request.match_info["charge_point_id"]
        async with self.admissions:
            admitted = await self._admit(request, charge_point_id)
            if isinstance(admitted, web.Response):
                return admitted
            subprotocol = choose_subprotocol(request, admitted)
            ws = web.WebSocketResponse(
                protocols=(subprotocol,) if subprotocol else (),
                heartbeat=self.timings.ws_ping_interval,
                timeout=5.0,  # for the close handshake
                max_msg_size=1024 * 1024,
            )
            await ws.prepare(request)
            if subprotocol is None:
                # OCPP-J 4.1.2: finish the handshake without a subprotocol, then close.
                log.warning("ocpp_no_common_subprotocol", charge_point_id=charge_point_id,
                            offered=request.headers.get("Sec-WebSocket-Protocol"))
                await ws.close(code=1002, message=b"no supported OCPP subprotocol")
                return ws
            session = SESSION_CLASSES[subprotocol](charge_point_id, AiohttpConnection(ws),
                                                   self._context)
            await self._connected(session, request.remote)
        await self._serve(session, ws)
        return ws

    # -- connection lifetime ---------------------------------------------------------------

    async def _connected(self, session: OcppSession, remote: str | None) -> None:
        """The session is this instance's: registered, claimed in Redis, announced."""
        charge_point_id = session.id
        previous = self.registry.register(session)
        if previous is not None:
            previous.replaced = True
            previous.mark_closed()  # its pending commands end OFFLINE now
            log.info("ocpp_connection_replaced", charge_point_id=charge_point_id)
            # The close handshake may wait for a dead peer: not on the new connection's time.
            self._background(previous.close(code=CLOSE_REPLACED,
                                            message="replaced by a new connection"))
        await self._router.charger_connected(charge_point_id)
        log.info("ocpp_connected", charge_point_id=charge_point_id, version=session.version,
                 remote=remote)
        session.emit(ChargerConnected(charge_point_id=charge_point_id,
                                      ocpp_version=session.version))

    async def _serve(self, session: OcppSession, ws: web.WebSocketResponse) -> None:
        charge_point_id = session.id
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await session.route_message(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    log.info("ocpp_socket_error", charge_point_id=charge_point_id,
                             error=str(ws.exception()))
                    break
        except ConnectionError:
            pass
        finally:
            session.mark_closed()
            if self.registry.unregister(session):
                self._last_seen[charge_point_id] = of_session(session, self.instance_id,
                                                              online=False)
                await self._router.charger_disconnected(charge_point_id)
                log.info("ocpp_disconnected", charge_point_id=charge_point_id,
                         close_code=ws.close_code)
                session.emit(ChargerDisconnected(charge_point_id=charge_point_id))
            with contextlib.suppress(ConnectionError):
                await ws.close()

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _taken_over(self, charge_point_id: str) -> None:
        """Another process holds a newer connection of this charger: ours is a zombie."""
        session = self.registry.get(charge_point_id)
        if session is not None:
            session.replaced = True
            self.registry.unregister(session)
            session.mark_closed()
            self._background(session.close(code=CLOSE_TAKEN_OVER,
                                           message="connected elsewhere"))

