"""What ocpp_adapter/ocpp_internals.py assumes of the installed ``ocpp`` release, checked.

Numbered as in that module's docstring. Before widening the ``ocpp`` pin in pyproject.toml, run
this file against the new release: a failure names the assumption that no longer holds, and
ocpp_internals.py is the one place to adapt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from importlib.metadata import version
from typing import Any

import ocpp.messages
import pytest
from ocpp.charge_point import ChargePoint, camel_to_snake_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult
from ocpp.routing import create_route_map, on
from ocpp.v16 import ChargePoint as V16ChargePoint
from ocpp.v16 import call as v16_call
from ocpp.v16 import call_result as v16_call_result
from ocpp.v201 import ChargePoint as V201ChargePoint
from packaging.requirements import Requirement
from packaging.version import Version

from ocpi_gateway.ocpp_adapter import ocpp_internals
from ocpi_gateway.ocpp_adapter.ocpp_internals import PackageChargePoint, request_schema_path
from ocpi_gateway.ocpp_adapter.session import snake_keys
from ocpi_gateway.ocpp_adapter.v16 import V16Session
from ocpi_gateway.ocpp_adapter.v201 import V201Session
from tests.distribution.test_locks import PYPROJECT


class _Connection:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.sent_one = asyncio.Event()

    async def send(self, message: str) -> None:
        self.sent.append(message)
        self.sent_one.set()

    async def recv(self) -> str:  # pragma: no cover - the probes never read
        raise AssertionError("not read in these tests")


class _Probe16(PackageChargePoint, V16ChargePoint):  # type: ignore[misc]
    @on("Heartbeat", skip_schema_validation=True)
    def on_heartbeat(self, **payload: Any) -> Any:
        return payload


class _Probe201(PackageChargePoint, V201ChargePoint):  # type: ignore[misc]
    pass


class _NoExecutor(concurrent.futures.ThreadPoolExecutor):
    def submit(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("validated in the thread pool")


def test_installed_release_is_the_pinned_minor_version() -> None:
    pinned = next(Requirement(r) for r in PYPROJECT["project"]["dependencies"]
                  if Requirement(r).name == "ocpp")
    installed = Version(version("ocpp"))
    assert pinned.specifier.contains(installed)
    # The pin is one minor version wide: a new minor release needs this file run against it.
    assert not pinned.specifier.contains(Version(f"{installed.major}.{installed.minor + 1}.0"))


# -- 1. the validation toggle ------------------------------------------------------------------

async def test_1_async_validation_flag_decides_where_validate_payload_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert isinstance(ocpp.messages.ASYNC_VALIDATION, bool)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(_NoExecutor())
    heartbeat = Call("1", "Heartbeat", {})
    monkeypatch.setattr(ocpp.messages, "ASYNC_VALIDATION", True)
    with pytest.raises(RuntimeError, match="thread pool"):
        await ocpp.messages.validate_payload(heartbeat, "1.6")
    ocpp_internals.validate_inline()
    assert ocpp.messages.ASYNC_VALIDATION is False
    await ocpp.messages.validate_payload(heartbeat, "1.6")  # inline: no executor touched
    with pytest.raises(OCPPError):  # and still validating
        await ocpp.messages.validate_payload(
            Call("2", "Authorize", {"idTag": 7}), "1.6")


# -- 2. ChargePoint's private attributes, as call() uses them ----------------------------------

def test_2_chargepoint_init_signature_and_version_names() -> None:
    assert list(inspect.signature(ChargePoint.__init__).parameters) == [
        "self", "id", "connection", "response_timeout", "logger"]
    assert V16ChargePoint._ocpp_version == "1.6"
    assert V201ChargePoint._ocpp_version == "2.0.1"
    assert inspect.iscoroutinefunction(ChargePoint._send)
    assert inspect.iscoroutinefunction(ChargePoint.call)
    assert "suppress" in inspect.signature(ChargePoint.call).parameters


async def test_2_plain_chargepoint_sets_the_attributes_we_replace() -> None:
    connection = _Connection()
    plain = V16ChargePoint("cp", connection)
    assert isinstance(plain.route_map, dict)
    assert isinstance(plain._response_queue, asyncio.Queue)
    assert isinstance(plain._call_lock, asyncio.Lock)
    assert plain._connection is connection


async def test_2_call_goes_through_send_lock_and_queue_as_wrapped() -> None:
    connection = _Connection()
    probe = _Probe16("cp", connection, response_timeout=5)
    assert probe.package_connection is connection
    assert probe.schema_version == "1.6"
    assert _Probe201("cp2", _Connection()).schema_version == "2.0.1"
    assert "_responses" not in probe.__dict__  # the queue is lazy despite __init__ assigning it
    pending = asyncio.ensure_future(probe.call(v16_call.ClearCache(), suppress=False))
    await asyncio.wait_for(connection.sent_one.wait(), 5)
    assert probe.awaiting_response()
    unique_id = ocpp.messages.unpack(connection.sent[0]).unique_id
    probe.deliver_response(CallResult(unique_id, {"status": "Accepted"}))
    result = await asyncio.wait_for(pending, 5)
    assert result == v16_call_result.ClearCache(status="Accepted")
    assert not probe.awaiting_response()
    await probe.send_frame("[3,\"x\",{}]")
    assert connection.sent[-1] == "[3,\"x\",{}]"


# -- 3. route map shape ------------------------------------------------------------------------

async def test_3_create_route_map_shape_and_our_table() -> None:
    probe = _Probe16("cp", _Connection())
    routes = create_route_map(probe)
    assert routes["Heartbeat"]["_skip_schema_validation"] is True
    handler = routes["Heartbeat"]["_on_action"]
    assert inspect.ismethod(handler) and handler.__self__ is probe
    assert probe.route_map == {"Heartbeat": handler.__func__}
    assert probe.route_map["Heartbeat"](probe, x=1) == {"x": 1}
    assert "skip_schema_validation" in inspect.signature(on).parameters


@pytest.mark.parametrize("session_class", [V16Session, V201Session])
def test_3_sessions_use_no_hook_our_dispatch_would_skip(session_class: type) -> None:
    # Our dispatch calls the @on handler only; an @after hook would silently never run.
    handlers = [member for _, member in inspect.getmembers(session_class)
                if hasattr(member, "_on_action") or hasattr(member, "_after_action")]
    assert handlers
    assert not [h for h in handlers if hasattr(h, "_after_action")]
    assert all(getattr(h, "_skip_schema_validation", False) for h in handlers)


# -- 4. key conversion -------------------------------------------------------------------------

def test_4_key_by_key_conversion_equals_the_package_whole_payload() -> None:
    payload = {"connectorId": 1, "idTag": "ABC", "meterValue": [
        {"timestamp": "t", "sampledValue": [{"value": "1", "measurand": "SoC"}]}],
        "transactionData": [], "evseId": 2, "chargingLimitSource": "EMS"}
    assert snake_keys(payload) == camel_to_snake_case(payload)
    assert ocpp_internals.camel_key("id_tag") == "idTag"
    assert ocpp_internals.snake_key("chargePointVendor") == "charge_point_vendor"


# -- 5. schema files ---------------------------------------------------------------------------

@pytest.mark.parametrize(("session_class", "schema_version"),
                         [(V16Session, "1.6"), (V201Session, "2.0.1")])
def test_5_every_handled_action_has_its_request_schema(session_class: type,
                                                       schema_version: str) -> None:
    actions = {member._on_action for _, member in inspect.getmembers(session_class)
               if hasattr(member, "_on_action")}
    assert actions
    for action in actions:
        assert request_schema_path(schema_version, action).is_file(), action

