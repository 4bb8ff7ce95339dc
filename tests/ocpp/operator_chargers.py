"""Test chargers that also answer the operator's commands (Reset, ChangeAvailability,
TriggerMessage, UnlockConnector, 1.6 Get/ChangeConfiguration, 2.0.1 Get/SetVariables) the
way a real one does: a connector taken out of service reports Unavailable, back Available."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

from tests.ocpp.ocpp_test_support import (
    Behaviour,
    Charger16,
    Charger201,
    ChargerFactory,
    Connected,
)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Ops:
    """How the charger answers the operator's commands; what it received."""

    reset: str = "Accepted"
    availability: str = "Accepted"
    """ChangeAvailability's answer; Accepted also sends the new status."""
    configuration: dict[str, tuple[str, bool]] = field(default_factory=dict)
    """1.6 key → (value, readonly)."""
    change_configuration: str | None = None
    """ChangeConfiguration's answer; None: Accepted (Rejected for a readonly or unknown key)."""
    variables: dict[tuple[str, str], str] = field(default_factory=dict)
    """2.0.1 (component, variable) → value; others are UnknownVariable."""
    set_variable: str | None = None
    fail_reads: bool = False
    """Answer GetConfiguration/GetVariables with a CallError."""
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class OpsCharger16(Charger16):
    ops: Ops

    @on(Action16.reset)
    async def on_reset(self, **payload: Any) -> Any:
        self.ops.received.append(("Reset", payload))
        return result16.Reset(status=self.ops.reset)

    @on(Action16.change_availability)
    async def on_change_availability(self, **payload: Any) -> Any:
        self.ops.received.append(("ChangeAvailability", payload))
        return result16.ChangeAvailability(status=self.ops.availability)

    @after(Action16.change_availability)
    async def after_change_availability(self, connector_id: int, type: str,
                                        **_: Any) -> None:
        if self.ops.availability != "Accepted":
            return
        status = "Available" if type == "Operative" else "Unavailable"
        await self.call(call16.StatusNotification(connector_id=connector_id,
                                                  error_code="NoError", status=status))

    @on(Action16.unlock_connector)
    async def on_unlock_connector(self, **payload: Any) -> Any:
        await self.behaviour.answer("UnlockConnector", payload)
        return result16.UnlockConnector(status=self.behaviour.unlock)

    @on(Action16.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        self.ops.received.append(("GetConfiguration", {"key": key}))
        if self.ops.fail_reads:
            raise RuntimeError("the charger's configuration store is broken")
        wanted = key if key is not None else list(self.ops.configuration)
        known = [{"key": k, "value": self.ops.configuration[k][0],
                  "readonly": self.ops.configuration[k][1]}
                 for k in wanted if k in self.ops.configuration]
        unknown = [k for k in wanted if k not in self.ops.configuration]
        return result16.GetConfiguration(configuration_key=known or None,
                                         unknown_key=unknown or None)

    @on(Action16.change_configuration)
    async def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        self.ops.received.append(("ChangeConfiguration", {"key": key, "value": value}))
        status = self.ops.change_configuration
        if status is None:
            current = self.ops.configuration.get(key)
            status = "Rejected" if current is None or current[1] else "Accepted"
        if status in ("Accepted", "RebootRequired"):
            self.ops.configuration[key] = (value, False)
        return result16.ChangeConfiguration(status=status)


class OpsCharger201(Charger201):
    ops: Ops

    @on(Action201.reset)
    async def on_reset(self, **payload: Any) -> Any:
        self.ops.received.append(("Reset", payload))
        return result201.Reset(status=self.ops.reset)

    @on(Action201.change_availability)
    async def on_change_availability(self, **payload: Any) -> Any:
        self.ops.received.append(("ChangeAvailability", payload))
        return result201.ChangeAvailability(status=self.ops.availability)

    @after(Action201.change_availability)
    async def after_change_availability(self, operational_status: str,
                                        evse: dict[str, Any] | None = None, **_: Any) -> None:
        if self.ops.availability != "Accepted" or evse is None:
            return
        status = "Available" if operational_status == "Operative" else "Unavailable"
        await self.call(call201.StatusNotification(
            timestamp=_now(), connector_status=status, evse_id=evse["id"],
            connector_id=evse.get("connector_id", 1)))

    @on(Action201.get_variables)
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]],
                               **_: Any) -> Any:
        self.ops.received.append(("GetVariables", {"get_variable_data": get_variable_data}))
        if self.ops.fail_reads:
            raise RuntimeError("the station's device model is broken")
        results = []
        for item in get_variable_data:
            where = (item["component"]["name"], item["variable"]["name"])
            known = where in self.ops.variables
            results.append({
                "attribute_status": "Accepted" if known else "UnknownVariable",
                "component": item["component"], "variable": item["variable"],
                **({"attribute_value": self.ops.variables[where]} if known else {})})
        return result201.GetVariables(get_variable_result=results)

    @on(Action201.set_variables)
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]],
                               **_: Any) -> Any:
        self.ops.received.append(("SetVariables", {"set_variable_data": set_variable_data}))
        results = []
        for item in set_variable_data:
            where = (item["component"]["name"], item["variable"]["name"])
            status = self.ops.set_variable or (
                "Accepted" if where in self.ops.variables else "UnknownVariable")
            if status in ("Accepted", "RebootRequired"):
                self.ops.variables[where] = item["attribute_value"]
            results.append({"attribute_status": status, "component": item["component"],
                            "variable": item["variable"]})
        return result201.SetVariables(set_variable_result=results)


async def connect_ops(factory: ChargerFactory, url: str, charge_point_id: str,
                      version: str = "1.6", ops: Ops | None = None,
                      behaviour: Behaviour | None = None) -> tuple[Connected, Ops]:
    """A charger that answers the operator's commands as ``ops`` says."""
    connected = await factory.connect(
        url, charge_point_id, version, behaviour=behaviour,
        charger_class=OpsCharger16 if version == "1.6" else OpsCharger201)
    connected.charger.ops = ops = ops or Ops()
    return connected, ops
