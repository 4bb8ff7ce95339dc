"""OCPP-J frames for :class:`ocpp_adapter.session.OcppSession`: an inbound frame read into a
message or the CALLERROR it deserves, the error codes the ``ocpp`` package lacks or words
the wrong way round, and payload keys between the wire (camelCase) and the ``@on`` handlers
(snake_case)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeAlias

import orjson
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.messages import Call, CallError, CallResult

from ocpi_gateway.ocpp_adapter.ocpp_internals import camel_key, snake_key


class MessageTypeNotSupportedError(OCPPError):  # type: ignore[misc]
    """OCPP 2.0.1 code for a MessageTypeId other than 2, 3, 4 (absent from the package)."""

    code = "MessageTypeNotSupported"
    default_description = "A message with a Message Type Number that is not supported"


class RpcFrameworkError(OCPPError):  # type: ignore[misc]
    """OCPP 2.0.1 code for a frame that is no valid RPC message (absent from the package)."""

    code = "RpcFrameworkError"
    default_description = "Content of the call is not a valid RPC Request"


# The package gives each of these two codes the other's description; the specifications'
# tables (OCPP-J 1.6 §4.2.3, 2.0.1 part 4 §4.3) word them so:
NOT_IMPLEMENTED_DESCRIPTION = "Requested Action is not known by receiver"
NOT_SUPPORTED_DESCRIPTION = "Requested Action is recognized but not supported by the receiver"

Message: TypeAlias = "Call | CallResult | CallError"
Refused: TypeAlias = "tuple[str, OCPPError]"
"""The MessageId to answer ("-1" when unreadable) and the CALLERROR to answer with."""


def parse_frame(raw_msg: str | bytes, rpc_violation: type[OCPPError],
                unknown_type: Callable[[object], OCPPError]) -> Message | Refused:
    """The message a frame holds, or why it is refused: ``rpc_violation`` when it is no RPC
    message, ``unknown_type(kind)`` for a MessageTypeId other than 2, 3, 4 (each version
    spells them its own way)."""
    try:
        frame = orjson.loads(raw_msg)
    except orjson.JSONDecodeError:
        return "-1", rpc_violation(description="Message is not valid JSON")
    unique_id = frame[1] if isinstance(frame, list) and len(frame) > 1 else None
    reply_id = unique_id if isinstance(unique_id, str) and 0 < len(unique_id) <= 36 else "-1"
    if not isinstance(frame, list) or not frame or not isinstance(unique_id, str):
        return reply_id, rpc_violation(
            description="Not an OCPP-J message array with a MessageId")
    kind = frame[0]
    if kind == 2 and len(frame) == 4 and isinstance(frame[2], str) \
            and isinstance(frame[3], dict):
        return Call(unique_id, frame[2], frame[3])
    if kind == 3 and len(frame) == 3 and isinstance(frame[2], dict):
        return CallResult(unique_id, frame[2])
    if kind == 4 and len(frame) == 5 and isinstance(frame[2], str):
        return CallError(unique_id, frame[2], frame[3], frame[4])
    if kind in (2, 3, 4):
        return reply_id, rpc_violation(
            description=f"Message type {kind} has the wrong structure")
    return reply_id, unknown_type(kind)


def unhandled_action(action: str, known_actions: frozenset[str]) -> OCPPError:
    """The specifications: NotImplemented = action not known, NotSupported = known but not
    supported here (the package answers the reverse)."""
    if action in known_actions:
        return NotSupportedError(description=NOT_SUPPORTED_DESCRIPTION,
                                 details={"cause": f"{action} is not supported"})
    return OcppNotImplementedError(description=NOT_IMPLEMENTED_DESCRIPTION,
                                   details={"cause": f"{action} is unknown"})


def error_frame(unique_id: str, error: OCPPError) -> str:
    """The CALLERROR frame answering ``unique_id`` with ``error``."""
    return str(CallError(unique_id, error.code, error.description or "", {
        k: v for k, v in error.details.items() if k != "ocpp_message"
    } if isinstance(error.details, dict) else {}).to_json())


def result_frame(unique_id: str, response: Any) -> str:
    """The CALLRESULT frame answering ``unique_id`` with a handler's response."""
    return orjson.dumps([3, unique_id, wire_payload(response)]).decode()


def snake_keys(value: Any) -> Any:
    """An inbound payload with snake_case keys, as the package hands it to handlers."""
    if isinstance(value, dict):
        return {snake_key(k): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def wire_payload(value: Any) -> Any:
    """A response dataclass as the camelCase JSON object OCPP wants, None fields left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            camel_key(field.name): wire_payload(item)
            for field in dataclasses.fields(value)
            if (item := getattr(value, field.name)) is not None
        }
    if isinstance(value, dict):
        return {camel_key(k): wire_payload(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [wire_payload(v) for v in value if v is not None]
    return value
