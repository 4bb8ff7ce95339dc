"""Real parts for the OCPP adapter's tests: a gateway on loopback and chargers built with the
``ocpp`` package's client side over aiohttp websockets."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

from ocpi_gateway.demo.chargers import ClientConnection
from ocpi_gateway.domain.authorization import AuthorizationDecision, AuthorizationStatus
from ocpi_gateway.domain.events import DomainEvent
from ocpi_gateway.ocpp_adapter.auth import Clock, LoginLimits, hash_password
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig
from ocpi_gateway.ocpp_adapter.server import OcppServer, OcppTimings
from ocpi_gateway.redis_clients import RedisTarget

PASSWORD = "s3cret-passw0rd"
# Cheap scrypt parameters keep the tests fast; production hashes use the default cost.
PASSWORD_HASH = hash_password(PASSWORD, log2_n=8)

FAST = OcppTimings(heartbeat_interval=42, call_timeout=5.0, ws_ping_interval=None,
                   presence_ttl=1.5, instance_ttl=0.6, stream_block_ms=200)
STEADY = OcppTimings(heartbeat_interval=42, call_timeout=5.0, ws_ping_interval=None,
                     presence_ttl=6.0, instance_ttl=6.0, stream_block_ms=200)
"""Several instances where none dies: TTLs a loaded machine's stalls (seconds at a load of
25) do not outlast, so a live instance is never taken for dead. FAST's 0.6 s liveness key is
for the tests where an instance does die."""
LIMITS = LoginLimits(per_address=3, per_charger=6, window=30.0)


T0 = 1_800_000_000.0


class FakeClock:
    """The login limiter's clock in tests: time passes only when a test moves ``now``."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def eventually(condition: Callable[[], Awaitable[bool]], within: float = 60.0) -> bool:
    """Poll ``condition`` until true or ``within`` seconds passed; its last value. ``within``
    only guards against a hang (a loaded machine is slow, not wrong): never prove an absence
    with it."""
    for _ in range(int(within / 0.02)):
        if await condition():
            return True
        await asyncio.sleep(0.02)
    return await condition()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs: bound, so that no
    other process (a parallel test's redis-server) can listen on it, but not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def chargers_config(**overrides: Any) -> ChargersConfig:
    base: dict[str, Any] = {
        "chargers": [
            {"id": "CP-AMS-01", "ocpp_version": "1.6", "password_hash": PASSWORD_HASH,
             "capabilities": {"reserve_whole_charger": True}},
            {"id": "CP-AMS-02", "ocpp_version": "2.0.1", "password_hash": PASSWORD_HASH},
            {"id": "CP-UTR-01", "password_hash": PASSWORD_HASH},
            {"id": "CP-TLS-01", "security_profile": 2, "password_hash": PASSWORD_HASH},
        ]
    }
    base.update(overrides)
    return ChargersConfig.model_validate(base)


class RecordingPublisher:
    """An EventPublisher that remembers events and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self._changed = asyncio.Condition()

    async def publish(self, event: DomainEvent) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[DomainEvent], bool],
                       within: float = 60.0) -> DomainEvent:
        async def _wait() -> DomainEvent:
            async with self._changed:
                while True:
                    for event in self.events:
                        if predicate(event):
                            return event
                    await self._changed.wait()
        return await asyncio.wait_for(_wait(), within)

    def of_type(self, kind: type[DomainEvent]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


class TableAuthorizer:
    """Tokens listed as blocked are Blocked, everything else Accepted with group GROUP-1."""

    def __init__(self, blocked: set[str] | None = None) -> None:
        self.blocked = blocked or set()
        self.asked: list[tuple[str, str]] = []

    async def authorize(self, charge_point_id: str, id_token: str) -> AuthorizationDecision:
        self.asked.append((charge_point_id, id_token))
        if id_token == "EXPLODE":
            raise RuntimeError("the token source is down")
        if id_token in self.blocked:
            return AuthorizationDecision(status=AuthorizationStatus.BLOCKED)
        return AuthorizationDecision(status=AuthorizationStatus.ACCEPTED, group_id="GROUP-1")


@dataclass
class Gateway:
    server: OcppServer
    runner: web.AppRunner
    port: int
    events: RecordingPublisher
    authorizer: TableAuthorizer
    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ocpp"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_gateway(*, chargers: ChargersConfig | None = None,
                        redis_url: RedisTarget | str | None = None,
                        instance_id: str = "gw-test", timings: OcppTimings = FAST,
                        observe_call: Callable[[Any, str, str], None] | None = None,
                        ssl_context: ssl.SSLContext | None = None,
                        login_limits: LoginLimits = LIMITS, clock: Clock | None = None,
                        password_key: bytes | None = None,
                        trusted_proxies: tuple[str, ...] = (),
                        log_frames: bool = False) -> Gateway:
    events = RecordingPublisher()
    authorizer = TableAuthorizer({"BLOCKED-TAG"})
    # A stopped clock unless the test brings one: failed logins are counted within a window,
    # and a slow machine must not see the window pass between a test's failures and its check.
    server = OcppServer(chargers or chargers_config(), events, authorizer,
                        instance_id=instance_id, redis_url=redis_url, timings=timings,
                        observe_call=observe_call, login_limits=login_limits,
                        clock=clock or FakeClock(),
                        password_key=password_key, trusted_proxies=trusted_proxies,
                        log_frames=log_frames)
    app = web.Application()
    server.attach(app)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    # Port 0: the kernel picks a free port at bind time (a port probed free first can be taken
    # by a parallel test before the bind).
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
    port = int(runner.addresses[0][1])
    return Gateway(server, runner, port, events, authorizer, tls=ssl_context is not None)


@dataclass
class Behaviour:
    """How a test charger answers the CSMS's commands."""

    reserve: str = "Accepted"
    cancel: str = "Accepted"
    start_stop: str = "Accepted"
    unlock: str = "Unlocked"
    hang: asyncio.Event | None = None
    delay: float = 0.0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    seen: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    max_in_flight: int = 0
    statuses: dict[int, str] = field(default_factory=dict)
    """What the charger reports when asked (TriggerMessage): by 1.6 connector / 2.0.1 EVSE;
    the tests' World.status keeps it up to date."""
    trigger: str = "Accepted"
    display: str = "Accepted"
    """The answer to SetDisplayMessage (2.0.1)."""
    clear_display: str = "Accepted"

    async def answer(self, action: str, payload: dict[str, Any]) -> None:
        self.received.append((action, payload))
        self.seen.set()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hang is not None:
                await self.hang.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1


class Charger16(Cp16):
    behaviour: Behaviour

    @on(Action16.trigger_message)
    async def on_trigger_message(self, **payload: Any) -> Any:
        self.behaviour.received.append(("TriggerMessage", payload))
        return result16.TriggerMessage(status=self.behaviour.trigger)

    @after(Action16.trigger_message)
    async def after_trigger_message(self, **payload: Any) -> None:
        if self.behaviour.trigger != "Accepted":
            return
        wanted = payload.get("connector_id")
        for connector, status in sorted(self.behaviour.statuses.items()):
            if wanted in (None, connector):
                await self.call(call16.StatusNotification(
                    connector_id=connector, error_code="NoError", status=status))

    @on(Action16.reserve_now)
    async def on_reserve_now(self, **payload: Any) -> Any:
        await self.behaviour.answer("ReserveNow", payload)
        return result16.ReserveNow(status=self.behaviour.reserve)

    @on(Action16.cancel_reservation)
    async def on_cancel_reservation(self, **payload: Any) -> Any:
        await self.behaviour.answer("CancelReservation", payload)
        return result16.CancelReservation(status=self.behaviour.cancel)

    @on(Action16.remote_start_transaction)
    async def on_remote_start_transaction(self, **payload: Any) -> Any:
        await self.behaviour.answer("RemoteStartTransaction", payload)
        return result16.RemoteStartTransaction(status=self.behaviour.start_stop)

    @on(Action16.remote_stop_transaction)
    async def on_remote_stop_transaction(self, **payload: Any) -> Any:
        await self.behaviour.answer("RemoteStopTransaction", payload)
        return result16.RemoteStopTransaction(status=self.behaviour.start_stop)


class Charger201(Cp201):
    behaviour: Behaviour

    @on(Action201.trigger_message)
    async def on_trigger_message(self, **payload: Any) -> Any:
        self.behaviour.received.append(("TriggerMessage", payload))
        return result201.TriggerMessage(status=self.behaviour.trigger)

    @after(Action201.trigger_message)
    async def after_trigger_message(self, **payload: Any) -> None:
        if self.behaviour.trigger != "Accepted":
            return
        wanted = (payload.get("evse") or {}).get("id")
        for evse, status in sorted(self.behaviour.statuses.items()):
            if wanted in (None, evse):
                await self.call(call201.StatusNotification(
                    timestamp=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    connector_status=status, evse_id=evse, connector_id=1))

    @on(Action201.reserve_now)
    async def on_reserve_now(self, **payload: Any) -> Any:
        await self.behaviour.answer("ReserveNow", payload)
        return result201.ReserveNow(status=self.behaviour.reserve)

    @on(Action201.cancel_reservation)
    async def on_cancel_reservation(self, **payload: Any) -> Any:
        await self.behaviour.answer("CancelReservation", payload)
        return result201.CancelReservation(status=self.behaviour.cancel)

    @on(Action201.request_start_transaction)
    async def on_request_start_transaction(self, **payload: Any) -> Any:
        await self.behaviour.answer("RequestStartTransaction", payload)
        return result201.RequestStartTransaction(status=self.behaviour.start_stop)

    @on(Action201.request_stop_transaction)
    async def on_request_stop_transaction(self, **payload: Any) -> Any:
        await self.behaviour.answer("RequestStopTransaction", payload)
        return result201.RequestStopTransaction(status=self.behaviour.start_stop)

    @on(Action201.unlock_connector)
    async def on_unlock_connector(self, **payload: Any) -> Any:
        await self.behaviour.answer("UnlockConnector", payload)
        return result201.UnlockConnector(status=self.behaviour.unlock)

    @on(Action201.set_display_message)
    async def on_set_display_message(self, **payload: Any) -> Any:
        # Recorded, never held up: a display update must not wait behind a hung ReserveNow.
        self.behaviour.received.append(("SetDisplayMessage", payload))
        return result201.SetDisplayMessage(status=self.behaviour.display)

    @on(Action201.clear_display_message)
    async def on_clear_display_message(self, **payload: Any) -> Any:
        self.behaviour.received.append(("ClearDisplayMessage", payload))
        return result201.ClearDisplayMessage(status=self.behaviour.clear_display)


@dataclass
class Connected:
    charger: Any
    ws: aiohttp.ClientWebSocketResponse
    task: asyncio.Task[None]
    behaviour: Behaviour

    async def disconnect(self) -> None:
        await self.ws.close()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, Exception):
            await self.task


class ChargerFactory:
    """Connects test chargers; closes them all at the end of the test."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.connected: list[Connected] = []

    async def ws(self, url: str, charge_point_id: str, *, protocols: tuple[str, ...],
                 password: str = PASSWORD,
                 headers: dict[str, str] | None = None) -> aiohttp.ClientWebSocketResponse:
        all_headers = {"Authorization": basic_auth(charge_point_id, password), **(headers or {})}
        return await self.http.ws_connect(f"{url}/{charge_point_id}", protocols=protocols,
                                          headers=all_headers, autoping=True)

    async def connect(self, url: str, charge_point_id: str, version: str = "1.6",
                      behaviour: Behaviour | None = None, charger_class: type | None = None,
                      **kwargs: Any) -> Connected:
        protocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
        ws = await self.ws(url, charge_point_id, protocols=(protocol,), **kwargs)
        assert ws.protocol == protocol
        cls = charger_class or (Charger16 if version == "1.6" else Charger201)
        charger = cls(charge_point_id, ClientConnection(ws), response_timeout=5)
        charger.behaviour = behaviour or Behaviour()
        task = asyncio.create_task(charger.start())
        connected = Connected(charger, ws, task, charger.behaviour)
        self.connected.append(connected)
        return connected

    async def close(self) -> None:
        for connected in self.connected:
            await connected.disconnect()
