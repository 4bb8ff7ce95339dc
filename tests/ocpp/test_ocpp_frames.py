"""The parts of a session that need no charger: an inbound frame read or refused, the
CALLERROR of an unhandled action, the frames answering a CALL, and the session's events
published in order from their own task (tests/ocpp/test_ocpp_connections.py has the same
rules over a real websocket)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from ocpp.exceptions import FormationViolationError, NotSupportedError, OCPPError
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.messages import Call, CallError, CallResult
from structlog.testing import capture_logs

from ocpi_gateway.domain.events import ChargerDisconnected, DomainEvent
from ocpi_gateway.ocpp_adapter.frames import (
    NOT_IMPLEMENTED_DESCRIPTION,
    NOT_SUPPORTED_DESCRIPTION,
    MessageTypeNotSupportedError,
    RpcFrameworkError,
    error_frame,
    parse_frame,
    result_frame,
    unhandled_action,
)
from ocpi_gateway.ocpp_adapter.session_events import SessionEvents


def unknown_type(kind: object) -> OCPPError:
    return MessageTypeNotSupportedError(details={"messageTypeId": repr(kind)})


def parse(raw: str) -> object:
    return parse_frame(raw, RpcFrameworkError, unknown_type)


def test_the_three_message_types_are_read() -> None:
    call = parse('[2,"m-1","Heartbeat",{}]')
    assert isinstance(call, Call) and (call.unique_id, call.action) == ("m-1", "Heartbeat")
    assert isinstance(parse('[3,"m-2",{"a":1}]'), CallResult)
    assert isinstance(parse('[4,"m-3","GenericError","",{}]'), CallError)


@pytest.mark.parametrize(("raw", "reply_id", "code"), [
    ("not json", "-1", "RpcFrameworkError"),
    ('{"a":1}', "-1", "RpcFrameworkError"),
    ("[2]", "-1", "RpcFrameworkError"),
    ('[2,"' + "x" * 37 + '","Heartbeat"]', "-1", "RpcFrameworkError"),
    ('[2,"m-4","Heartbeat"]', "m-4", "RpcFrameworkError"),
    ('[7,"m-7",{}]', "m-7", "MessageTypeNotSupported"),
])
def test_a_frame_that_is_no_message_is_refused_with_the_id_to_answer(
        raw: str, reply_id: str, code: str) -> None:
    refused = parse(raw)
    assert isinstance(refused, tuple)
    assert (refused[0], refused[1].code) == (reply_id, code)


def test_each_version_spells_the_refusal_its_own_way() -> None:
    refused = parse_frame("[9]", FormationViolationError, unknown_type)
    assert isinstance(refused, tuple) and refused[1].code == "FormationViolation"


def test_unhandled_actions_get_the_codes_of_the_specifications_not_the_packages() -> None:
    known = unhandled_action("Reset", frozenset({"Reset"}))
    assert isinstance(known, NotSupportedError)
    assert known.description == NOT_SUPPORTED_DESCRIPTION
    unknown = unhandled_action("Teleport", frozenset({"Reset"}))
    assert isinstance(unknown, OcppNotImplementedError)
    assert unknown.description == NOT_IMPLEMENTED_DESCRIPTION


def test_the_answer_frames() -> None:
    error = NotSupportedError(description="no", details={"cause": "c", "ocpp_message": "x"})
    assert orjson.loads(error_frame("m-1", error)) == [4, "m-1", "NotSupported", "no",
                                                       {"cause": "c"}]
    assert orjson.loads(result_frame("m-2", {"current_time": "t", "interval": None})) == [
        3, "m-2", {"currentTime": "t"}]


class Publisher:
    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self.tasks: set[asyncio.Task[object] | None] = set()

    async def publish(self, event: DomainEvent) -> None:
        self.tasks.add(asyncio.current_task())
        await asyncio.sleep(0)  # a subscriber that waits: the next events queue meanwhile
        self.published.append(event)


async def test_events_are_published_in_order_from_a_task_of_their_own() -> None:
    publisher = Publisher()
    events = SessionEvents(publisher, "CP-1")
    sent = [ChargerDisconnected(charge_point_id=f"CP-{n}") for n in range(3)]
    for event in sent[:2]:
        events.emit(event)  # never publishes from the emitter: it may be the reader
    assert publisher.published == []
    await asyncio.sleep(0)
    events.emit(sent[2])
    await events.flush()
    assert publisher.published == sent
    assert asyncio.current_task() not in publisher.tasks and len(publisher.tasks) == 1
    events.emit(sent[0])
    await events.flush()
    assert publisher.published == [*sent, sent[0]]


async def test_a_failing_publish_is_logged_and_the_next_events_still_go_out() -> None:
    published: list[DomainEvent] = []

    class FailingFirst:
        failed = False

        async def publish(self, event: DomainEvent) -> None:
            if not self.failed:
                self.failed = True
                raise RuntimeError("subscriber failed")
            published.append(event)

    events = SessionEvents(FailingFirst(), "CP-1")
    sent = [ChargerDisconnected(charge_point_id=f"CP-{n}") for n in range(3)]
    with capture_logs() as logs:
        for event in sent:
            events.emit(event)
        await events.flush()
    assert published == sent[1:]
    failed = [e for e in logs if e["event"] == "event_publish_failed"]
    assert [(e["event_type"], e["charge_point_id"]) for e in failed] == [
        ("ChargerDisconnected", "CP-1")]
