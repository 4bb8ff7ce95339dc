"""Operator commands to chargers: Reset, ChangeAvailability, TriggerMessage, configuration
(1.6 Get/ChangeConfiguration, 2.0.1 Get/SetVariables) and UnlockConnector, said in the terms
of the charger's own OCPP version and answered with the charger's own status.

Bodies name OCPP targets (1.6 ``connector_id``, 2.0.1 ``evse_id`` with an optional
``connector_id``) or, for ChangeAvailability, an EVSE of the charger by its OCPI uid. A body
the charger's version cannot say is refused (:class:`BadRequest`) before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ocpi_gateway.admin.service.chargers import ChargerEvse, Describe
from ocpi_gateway.domain.charger_commands import (
    ChangeAvailability,
    ChangeConfiguration,
    ChargerCommand,
    ChargerQueries,
    CommandOutcome,
    CommandReply,
    GetConfiguration,
    GetVariables,
    Reset,
    ResetKind,
    SetVariables,
    TriggerMessage,
    UnlockConnector,
    VariableRef,
)
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.ocpp_adapter import operator_v16, operator_v201

V16, V201 = "1.6", "2.0.1"
RESET_TYPES = {V16: {"Soft": ResetKind.SOFT, "Hard": ResetKind.HARD},
               V201: {"OnIdle": ResetKind.SOFT, "Immediate": ResetKind.HARD}}
TRIGGERS = {V16: sorted(str(t) for t in operator_v16.TRIGGERS),
            V201: sorted(operator_v201.TRIGGERS)}


class BadRequest(ValueError):
    """A body the charger's OCPP version cannot say (answered 400)."""


class Offline(Exception):
    """The charger is connected to no gateway instance (answered 409)."""


class NoAnswer(Exception):
    """The charger did not answer in time (answered 503); it may still act on the command."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResetBody(_Body):
    type: Literal["Soft", "Hard", "OnIdle", "Immediate"] = Field(
        description="1.6: Soft or Hard; 2.0.1: OnIdle (after the transactions end) or "
        "Immediate")
    evse_id: int | None = Field(default=None, ge=1, description="2.0.1 only: this EVSE alone")


class ChangeAvailabilityBody(_Body):
    operational_status: Literal["Operative", "Inoperative"]
    evse_uid: str | None = Field(default=None, min_length=1, max_length=36,
                                 description="an EVSE of this charger, by its OCPI uid")
    evse_id: int | None = Field(default=None, ge=1, description="2.0.1 EVSE id")
    connector_id: int | None = Field(
        default=None, ge=0, description="1.6 connector (0: the whole charger); 2.0.1: a "
        "connector of evse_id")


class TriggerMessageBody(_Body):
    requested_message: str = Field(min_length=1, max_length=40,
                                   description="the version's MessageTrigger value")
    evse_id: int | None = Field(default=None, ge=1, description="2.0.1 EVSE id")
    connector_id: int | None = Field(default=None, ge=1,
                                     description="1.6 connector; 2.0.1: of evse_id")


class VariableBody(_Body):
    component: str = Field(min_length=1, max_length=50)
    variable: str = Field(min_length=1, max_length=50)
    component_instance: str | None = Field(default=None, min_length=1, max_length=50)
    variable_instance: str | None = Field(default=None, min_length=1, max_length=50)
    evse_id: int | None = Field(default=None, ge=1)
    connector_id: int | None = Field(default=None, ge=1)
    attribute_type: Literal["Actual", "Target", "MinSet", "MaxSet"] | None = None
    value: str | None = Field(default=None, max_length=1000, description="to set it")


class ConfigurationBody(_Body):
    """1.6: ``get`` with ``keys`` (none: every key), ``set`` with ``key`` and ``value``
    (GetConfiguration/ChangeConfiguration). 2.0.1: ``variables``, each with a ``value`` to
    ``set`` (GetVariables/SetVariables)."""

    action: Literal["get", "set"]
    keys: list[str] | None = Field(default=None, max_length=100)
    key: str | None = Field(default=None, min_length=1, max_length=50)
    value: str | None = Field(default=None, max_length=500)
    variables: list[VariableBody] | None = Field(default=None, min_length=1, max_length=100)


class UnlockBody(_Body):
    connector_id: int = Field(ge=1, description="1.6 connector; 2.0.1: of evse_id")
    evse_id: int | None = Field(default=None, ge=1, description="2.0.1: required")


class SettingView(BaseModel):
    key: str
    """The 1.6 key, or the 2.0.1 variable's name."""
    status: str
    """As the charger said it: 1.6 Accepted (known) / UnknownKey, ChangeConfiguration's
    status; 2.0.1 attributeStatus."""
    value: str | None = None
    readonly: bool | None = None
    component: str | None = None
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    attribute_type: str | None = None


class ChargerCommandAnswer(BaseModel):
    charge_point_id: str
    ocpp_version: str
    command: str
    """The OCPP action sent (Reset, ChangeAvailability, GetVariables...)."""
    status: str | None
    """The charger's own status (Accepted, Rejected, Scheduled, RebootRequired,
    NotImplemented...); null when it answered with a CallError or per setting."""
    outcome: CommandOutcome
    """The gateway's version-neutral reading of the answer."""
    call_error: str | None = None
    """The CallError code the charger answered with (NotImplemented, NotSupported...)."""
    settings: list[SettingView] = []
    evses: list[ChargerEvse] = []
    """ChangeAvailability: the OCPI EVSEs it takes out of service or back."""


class Target:
    """The charger being commanded: its id, the version it speaks now, its EVSEs."""

    def __init__(self, charge_point_id: str, version: str,
                 catalog: LocationsCatalog | None) -> None:
        self.id = charge_point_id
        self.version = version
        self.catalog = catalog

    def evse_uid_address(self, evse_uid: str) -> tuple[int | None, int | None, ChargerEvse]:
        for location_id, uid in self.evses():
            if uid == evse_uid and self.catalog is not None:
                address = self.catalog.address_of(location_id, uid)
                if address is not None:
                    return (address.evse_id, address.connector_id,
                            ChargerEvse(location_id=location_id, evse_uid=uid))
        raise BadRequest(f"EVSE {evse_uid} is not one of charger {self.id}'s")

    def evses(self) -> list[tuple[str, str]]:
        return self.catalog.evses_of_charger(self.id) if self.catalog is not None else []


async def target(charge_point_id: str, describe: Describe,
                 catalog: LocationsCatalog | None) -> Target:
    presence = (await describe([charge_point_id])).get(charge_point_id)
    if presence is None or not presence.online or presence.ocpp_version is None:
        raise Offline(f"charger {charge_point_id} is offline: connected to no gateway "
                      "instance")
    return Target(charge_point_id, presence.ocpp_version, catalog)


def reset_command(t: Target, body: ResetBody) -> ChargerCommand:
    kinds = RESET_TYPES.get(t.version, RESET_TYPES[V16])
    if body.type not in kinds:
        raise BadRequest(f"a {t.version} charger's Reset type is {' or '.join(kinds)}, "
                         f"not {body.type}")
    if body.evse_id is not None and t.version == V16:
        raise BadRequest("a 1.6 charger resets as a whole: no evse_id")
    return Reset(charge_point_id=t.id, kind=kinds[body.type], evse_id=body.evse_id)


def availability_command(t: Target, body: ChangeAvailabilityBody
                         ) -> tuple[ChargerCommand, list[ChargerEvse]]:
    evse_id, connector_id = body.evse_id, body.connector_id
    picked: ChargerEvse | None = None
    if body.evse_uid is not None:
        if evse_id is not None or connector_id is not None:
            raise BadRequest("name the EVSE by evse_uid or by evse_id/connector_id, not both")
        evse_id, connector_id, picked = t.evse_uid_address(body.evse_uid)
        if evse_id is None and connector_id is None:
            raise BadRequest(f"EVSE {body.evse_uid} has several 1.6 connectors: name one "
                             "with connector_id")
    _check_target(t, evse_id, connector_id, allow_connector_zero=True)
    if picked is not None:
        affected = [picked]
    elif t.catalog is None:
        affected = []
    elif evse_id is None and connector_id in (None, 0):
        affected = [ChargerEvse(location_id=lid, evse_uid=uid) for lid, uid in t.evses()]
    else:
        found = t.catalog.evse_at(t.id, evse_id, connector_id)
        affected = [ChargerEvse(location_id=found[0], evse_uid=found[1])] if found else []
    return ChangeAvailability(charge_point_id=t.id,
                              operative=body.operational_status == "Operative",
                              evse_id=evse_id, connector_id=connector_id), affected


def trigger_command(t: Target, body: TriggerMessageBody) -> ChargerCommand:
    allowed = TRIGGERS.get(t.version, TRIGGERS[V16])
    if body.requested_message not in allowed:
        raise BadRequest(f"a {t.version} charger's TriggerMessage requestedMessage is one of "
                         f"{', '.join(allowed)}; not {body.requested_message}")
    _check_target(t, body.evse_id, body.connector_id)
    return TriggerMessage(charge_point_id=t.id, message=body.requested_message,
                          evse_id=body.evse_id, connector_id=body.connector_id)


def configuration_command(t: Target, body: ConfigurationBody) -> ChargerCommand:
    if t.version == V16:
        if body.variables is not None:
            raise BadRequest("a 1.6 charger has configuration keys (keys, or key and value), "
                             "not 2.0.1 variables")
        if body.action == "get":
            if body.key is not None or body.value is not None:
                raise BadRequest("get reads keys: use keys, not key/value")
            keys = body.keys or []
            if any(not 1 <= len(k) <= 50 for k in keys):
                raise BadRequest("a 1.6 configuration key has 1 to 50 characters")
            return GetConfiguration(charge_point_id=t.id, keys=tuple(keys))
        if body.key is None or body.value is None or body.keys is not None:
            raise BadRequest("set changes one key: key and value")
        return ChangeConfiguration(charge_point_id=t.id, key=body.key, value=body.value)
    if body.variables is None or body.keys is not None or body.key is not None \
            or body.value is not None:
        raise BadRequest("a 2.0.1 charger has device-model variables: variables "
                         "[{component, variable, ...}], not 1.6 keys")
    refs = tuple(VariableRef(**item.model_dump()) for item in body.variables)
    for item in body.variables:
        if item.connector_id is not None and item.evse_id is None:
            raise BadRequest("a variable's connector_id needs its evse_id")
    if body.action == "get":
        if any(item.value is not None for item in body.variables):
            raise BadRequest("get reads variables: no value")
        return GetVariables(charge_point_id=t.id, variables=refs)
    if any(item.value is None for item in body.variables):
        raise BadRequest("set writes variables: each needs its value")
    return SetVariables(charge_point_id=t.id, variables=refs)


def unlock_command(t: Target, body: UnlockBody) -> ChargerCommand:
    _check_target(t, body.evse_id, body.connector_id)
    if t.version == V201 and body.evse_id is None:
        raise BadRequest("a 2.0.1 charger unlocks a connector of an EVSE: evse_id and "
                         "connector_id")
    return UnlockConnector(charge_point_id=t.id, evse_id=body.evse_id,
                           connector_id=body.connector_id)


def _check_target(t: Target, evse_id: int | None, connector_id: int | None, *,
                  allow_connector_zero: bool = False) -> None:
    if t.version == V16 and evse_id is not None:
        raise BadRequest("a 1.6 charger names connectors: connector_id, not evse_id")
    if t.version == V201:
        if connector_id is not None and evse_id is None:
            raise BadRequest("a 2.0.1 connector is named within its EVSE: evse_id too")
        if connector_id == 0:
            raise BadRequest("2.0.1 connector ids start at 1 (no evse_id: the whole station)")
    if connector_id == 0 and not allow_connector_zero:
        raise BadRequest("connector ids start at 1")


async def send(queries: ChargerQueries, t: Target, command: ChargerCommand, seconds: float,
               evses: Sequence[ChargerEvse] = ()) -> ChargerCommandAnswer:
    reply = await queries.ask(command, seconds)
    if reply.outcome is CommandOutcome.OFFLINE:
        raise Offline(f"charger {t.id} went offline before it answered")
    if reply.outcome is CommandOutcome.TIMEOUT:
        raise NoAnswer(f"charger {t.id} did not answer within {seconds:g} s; it may still "
                       "act on the command")
    return answer(t, command, reply, evses)


def answer(t: Target, command: ChargerCommand, reply: CommandReply,
           evses: Sequence[ChargerEvse] = ()) -> ChargerCommandAnswer:
    return ChargerCommandAnswer(
        charge_point_id=t.id, ocpp_version=t.version, command=type(command).__name__,
        status=reply.status, outcome=reply.outcome, call_error=reply.error,
        settings=[SettingView(key=s.key, status=s.status, value=s.value, readonly=s.readonly,
                              component=s.component, component_instance=s.component_instance,
                              variable_instance=s.variable_instance, evse_id=s.evse_id,
                              connector_id=s.connector_id, attribute_type=s.attribute_type)
                  for s in reply.settings],
        evses=list(evses))
