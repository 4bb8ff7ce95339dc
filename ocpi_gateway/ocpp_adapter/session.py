"""One charger's OCPP session: what both versions share on top of ``ocpp.ChargePoint``.

Pitfalls of the ``ocpp`` package handled here (each has a test in tests/ocpp):

- ``route_message`` only logs a frame it cannot parse; OCPP-J wants a CALLERROR
  (FormationViolation in 1.6, RpcFrameworkError in 2.0.1, MessageId "-1" when unreadable:
  ``frames.parse_frame``).
- For an unknown action it answers NotSupported and for a known but unhandled one
  NotImplemented, the reverse of both specifications' tables, and the two exceptions' default
  descriptions are swapped too; we decide code and description ourselves
  (``frames.unhandled_action``).
- Schema violations come out as FormatViolation even on 1.6, where the code is spelled
  FormationViolation.
- ``call()`` returns None on a CALLERROR unless ``suppress=False``; ``UnknownCallErrorCodeError``
  is not an ``OCPPError``; a call pending when the charger leaves waits the whole timeout:
  :meth:`OcppSession.execute` races the call against the session's end, and
  ``call_outcomes.reply_of`` maps every way a call ends.
- Calling ``call()`` from an ``@on`` handler deadlocks (the reader is busy in the handler). Events
  are therefore published from a per-session task, not from the handler: a subscriber may send
  a command to the same charger without waiting for its own answer (``session_events``).
- The route map is built per instance from every ``@on`` in the process; we share one per class.
- Its ``_handle_call`` validates with jsonschema in a thread pool, converts keys with regexes
  and calls ``inspect.signature`` for every message; we dispatch the ``@on`` handlers ourselves
  (compiled validation, memoized conversion): an inbound message costs half the CPU.

The last two lean on the package's internals: all of that is in ocpp_adapter/ocpp_internals.py,
and this module uses only the names it defines.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog
from ocpp.exceptions import FormatViolationError, InternalError, OCPPError
from ocpp.messages import Call

from ocpi_gateway.domain.authorization import TokenAuthorizer
from ocpi_gateway.domain.charger_commands import (
    ChangeAvailability,
    ChargerCommand,
    CommandOutcome,
    CommandReply,
)
from ocpi_gateway.domain.events import AvailabilityChanged, DomainEvent, EventPublisher
from ocpi_gateway.domain.ids import OcppVersion
from ocpi_gateway.ocpp_adapter.call_outcomes import consume, reply_of
from ocpi_gateway.ocpp_adapter.connection import AiohttpConnection, ConnectionClosed
from ocpi_gateway.ocpp_adapter.frames import (
    Message,
    MessageTypeNotSupportedError,
    Refused,
    RpcFrameworkError,
    error_frame,
    parse_frame,
    result_frame,
    snake_keys,
    unhandled_action,
    wire_payload,
)
from ocpi_gateway.ocpp_adapter.ocpp_internals import PackageChargePoint, handles, validate_inline
from ocpi_gateway.ocpp_adapter.session_events import SessionEvents
from ocpi_gateway.ocpp_adapter.transaction_ids import TransactionIdSource
from ocpi_gateway.ocpp_adapter.validation import validate_request

__all__ = ["BootInfo", "CallObserver", "MessageTypeNotSupportedError", "OcppSession",
           "RpcFrameworkError", "SessionContext", "handles", "snake_keys", "wire_payload"]

log = structlog.get_logger(__name__)
# The package logs every frame at INFO on this logger; keep it apart from ours.
wire_log = logging.getLogger("ocpi_gateway.ocpp_adapter.wire")


_TAKEN = frozenset({CommandOutcome.ACCEPTED, CommandOutcome.SCHEDULED})

CallObserver = Callable[[OcppVersion, str, str], None]
"""Told of every CALL: (version, action, "in" from the charger / "out" to it). For metrics."""


@dataclass(frozen=True, slots=True)
class BootInfo:
    vendor: str
    model: str
    firmware_version: str | None = None


@dataclass(frozen=True, slots=True)
class SessionContext:
    publisher: EventPublisher
    authorizer: TokenAuthorizer
    transaction_ids: TransactionIdSource
    heartbeat_interval: int
    call_timeout: float
    observe_call: CallObserver | None = None


class OcppSession(PackageChargePoint):
    """Base of :class:`ocpp_adapter.v16.V16Session` and :class:`ocpp_adapter.v201.V201Session`."""

    version: ClassVar[OcppVersion]
    format_violation: ClassVar[type[OCPPError]] = FormatViolationError
    # 2.0.1 part 4 §4.3: RpcFrameworkError when the frame is no valid RPC message (e.g. the
    # MessageId cannot be read); FormatViolation is about the payload of an action.
    rpc_violation: ClassVar[type[OCPPError]] = RpcFrameworkError
    known_actions: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, charge_point_id: str, connection: AiohttpConnection,
                 context: SessionContext) -> None:
        validate_inline()  # for the package's validation of our outbound calls
        super().__init__(charge_point_id, connection, response_timeout=context.call_timeout,
                         logger=wire_log)
        self.context = context
        self.replaced = False
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._events = SessionEvents(context.publisher, charge_point_id)
        self.connected_at = time.time()
        self.last_message_at = self.connected_at
        """Wall-clock time of the last frame from the charger (the admin API shows it)."""
        self.boot: BootInfo | None = None
        """What its last BootNotification said."""

    # -- inbound -------------------------------------------------------------------------

    @property
    def connection(self) -> AiohttpConnection:
        conn: AiohttpConnection = self.package_connection
        return conn

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Handle one frame; never raises for the charger's sake."""
        self.last_message_at = time.time()
        msg = self._parse(raw_msg)
        if isinstance(msg, tuple):
            reply_id, error = msg
            log.warning("ocpp_bad_frame", charge_point_id=self.id, error=error.code,
                        cause=error.description)
            await self._send_error(reply_id, error)
        elif isinstance(msg, Call):
            await self._route_call(msg)
        elif self.awaiting_response():
            self.deliver_response(msg)
        else:
            # Nobody waits: a late answer to a call we gave up on, or noise. Queueing it would
            # let a misbehaving charger grow the queue without bound.
            log.info("ocpp_unexpected_response", charge_point_id=self.id,
                     unique_id=msg.unique_id)

    def _parse(self, raw_msg: str | bytes) -> Message | Refused:
        return parse_frame(raw_msg, self.rpc_violation, self.unknown_message_type_error)

    def unknown_message_type_error(self, kind: object) -> OCPPError:
        return MessageTypeNotSupportedError(details={"messageTypeId": repr(kind)[:20]})

    async def _route_call(self, msg: Call) -> None:
        if self.context.observe_call is not None:
            self.context.observe_call(self.version, msg.action, "in")
        handler = self.route_map.get(msg.action)
        if handler is None:
            log.info("ocpp_unhandled_action", charge_point_id=self.id, action=msg.action)
            await self._send_error(msg.unique_id, unhandled_action(msg.action,
                                                                   self.known_actions))
            return
        # Our own dispatch instead of the package's _handle_call: compiled validation, memoized
        # key conversion, orjson; the handlers are the package's @on routes all the same.
        try:
            validate_request(self.schema_version, msg.action, msg.payload)
            response = handler(self, **snake_keys(msg.payload))
            if inspect.isawaitable(response):
                response = await response
        except OCPPError as exc:
            log.warning("ocpp_call_rejected", charge_point_id=self.id, action=msg.action,
                        error=exc.code, cause=str(exc.details.get("cause", ""))[:200])
            await self._send_error(msg.unique_id, self.translate_error(exc))
            return
        except ConnectionClosed:
            return
        except Exception:
            log.exception("ocpp_handler_failed", charge_point_id=self.id, action=msg.action)
            await self._send_error(msg.unique_id, InternalError())
            return
        try:
            await self.send_frame(result_frame(msg.unique_id, response))
        except ConnectionClosed:
            pass

    def translate_error(self, error: OCPPError) -> OCPPError:
        """The version's own spelling of an error raised by the package."""
        return error

    async def _send_error(self, unique_id: str, error: OCPPError) -> None:
        try:
            await self.send_frame(error_frame(unique_id, error))
        except ConnectionClosed:
            pass

    # -- outbound ------------------------------------------------------------------------

    def build_request(self, command: ChargerCommand) -> Any:
        """The version's request payload, or a CommandOutcome when it cannot be sent."""
        raise NotImplementedError

    def outcome(self, command: ChargerCommand, response: Any) -> CommandOutcome:
        raise NotImplementedError

    def reply(self, command: ChargerCommand, response: Any) -> CommandReply:
        """The whole answer; the versions add the settings of configuration commands."""
        status = getattr(response, "status", None)
        return CommandReply(outcome=self.outcome(command, response),
                            status=str(status) if status is not None else None)

    async def execute(
        self, command: ChargerCommand, timeout: float  # noqa: ASYNC109 (protocol)
    ) -> CommandOutcome:
        """Send the command (after any earlier one), wait for the answer, map it."""
        return (await self.ask(command, timeout)).outcome

    async def ask(
        self, command: ChargerCommand, timeout: float  # noqa: ASYNC109 (protocol)
    ) -> CommandReply:
        if self._closed.done():
            return CommandReply(outcome=CommandOutcome.OFFLINE)
        request = self.build_request(command)
        if isinstance(request, CommandOutcome):
            return CommandReply(outcome=request)
        if self.context.observe_call is not None:
            self.context.observe_call(self.version, type(request).__name__, "out")
        call = asyncio.ensure_future(self.call(request, suppress=False))
        call.add_done_callback(consume)
        try:
            done, _ = await asyncio.wait({call, self._closed}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not call.done():
                call.cancel()
        if call not in done:
            return CommandReply(outcome=CommandOutcome.OFFLINE if self._closed.done()
                                else CommandOutcome.TIMEOUT)
        reply = reply_of(self.id, command, call, self.reply)
        if isinstance(command, ChangeAvailability) and reply.outcome in _TAKEN:
            # On the instance holding the charger, whoever asked: the gateway's own record of
            # the operator's decision follows the charger's acceptance, in event order.
            self.emit(AvailabilityChanged(
                charge_point_id=self.id, evse_id=command.evse_id,
                connector_id=command.connector_id, operative=command.operative,
                scheduled=reply.outcome is CommandOutcome.SCHEDULED))
        return reply

    # -- events --------------------------------------------------------------------------

    def emit(self, event: DomainEvent) -> None:
        """Publish in order, from a task of this session (never from the reader)."""
        self._events.emit(event)

    # -- lifetime ------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self._closed.done()

    def mark_closed(self) -> None:
        """The socket is gone: every pending and queued command ends OFFLINE at once."""
        if not self._closed.done():
            self._closed.set_result(None)

    async def close(self, code: int = 1000, message: str = "") -> None:
        self.mark_closed()
        try:
            await self.connection.ws.close(code=code, message=message.encode())
        except ConnectionError:
            pass

