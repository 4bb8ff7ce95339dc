"""``ocpi-gateway chargers command CHARGER reset|availability|trigger|get-config|set-config|
unlock``: the operator's commands to a charger, sent through the running gateway's admin API
(the instance holding the charger's websocket asks it; admin/remote.py). The flags fill the
service layer's own body models (admin/service/charger_ops.py), so a body is refused here in
the words the API would use; what the charger's version cannot say, the API refuses (400).

Exit 0 when the charger accepted (or scheduled) it, 1 when it said no or could not be asked
(offline, no answer), 2 for a body refused."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from ocpi_gateway.admin import remote
from ocpi_gateway.admin.cli_ops import subparsers_of
from ocpi_gateway.admin.service import charger_ops as ops

DONE = frozenset({"accepted", "scheduled"})
VARIABLE = re.compile(r"^(?P<component>[^:/=]+)(?::(?P<component_instance>[^/=]+))?"
                      r"/(?P<variable>[^:=]+)(?::(?P<variable_instance>[^=]+))?"
                      r"(?:=(?P<value>.*))?$")


def variable(spec: str, args: argparse.Namespace) -> ops.VariableBody:
    """``Component[:instance]/Variable[:instance][=value]`` with the command's --evse-id,
    --connector-id and --attribute."""
    found = VARIABLE.match(spec)
    if found is None:
        raise ValueError(f"--variable {spec}: say COMPONENT[:INSTANCE]/VARIABLE[:INSTANCE]"
                         "[=VALUE], e.g. OCPPCommCtrlr/HeartbeatInterval=300")
    parts = {k: v for k, v in found.groupdict().items() if v is not None}
    return ops.VariableBody(**parts, evse_id=args.evse_id, connector_id=args.connector_id,
                            attribute_type=args.attribute)


def reset_body(args: argparse.Namespace) -> tuple[str, BaseModel]:
    return "reset", ops.ResetBody(type=args.type, evse_id=args.evse_id)


def availability_body(args: argparse.Namespace) -> tuple[str, BaseModel]:
    return "change-availability", ops.ChangeAvailabilityBody(
        operational_status=args.status.capitalize(), evse_uid=args.evse_uid,
        evse_id=args.evse_id, connector_id=args.connector_id)


def trigger_body(args: argparse.Namespace) -> tuple[str, BaseModel]:
    return "trigger-message", ops.TriggerMessageBody(
        requested_message=args.message, evse_id=args.evse_id, connector_id=args.connector_id)


def get_config_body(args: argparse.Namespace) -> tuple[str, BaseModel]:
    if args.variable:
        if args.keys:
            raise ValueError("name 1.6 keys or 2.0.1 --variable, not both")
        return "configuration", ops.ConfigurationBody(
            action="get", variables=[variable(v, args) for v in args.variable])
    return "configuration", ops.ConfigurationBody(action="get", keys=args.keys or None)


def set_config_body(args: argparse.Namespace) -> tuple[str, BaseModel]:
    if args.variable:
        if args.key is not None:
            raise ValueError("set a 1.6 KEY VALUE or 2.0.1 --variable C/V=VALUE, not both")
        return "configuration", ops.ConfigurationBody(
            action="set", variables=[variable(v, args) for v in args.variable])
    if args.key is None or args.value is None:
        raise ValueError("set-config KEY VALUE (1.6), or --variable COMPONENT/VARIABLE=VALUE "
                         "(2.0.1)")
    return "configuration", ops.ConfigurationBody(action="set", key=args.key, value=args.value)


def unlock_body(args: argparse.Namespace) -> tuple[str, BaseModel]:
    return "unlock", ops.UnlockBody(connector_id=args.connector_id, evse_id=args.evse_id)


def describe(answer: dict[str, Any]) -> list[str]:
    said = answer.get("status") or (
        f"CallError {answer['call_error']}" if answer.get("call_error")
        # Get/SetVariables and GetConfiguration answer per setting, not as a whole.
        else "answered" if answer.get("settings") else answer["outcome"])
    lines = [f"{answer['charge_point_id']} (OCPP {answer['ocpp_version']}) "
             f"{answer['command']}: {said}"]
    for s in answer.get("settings") or []:
        where = "/".join(p for p in (s.get("component"), s.get("key")) if p)
        value = f" = {s['value']}" if s.get("value") is not None else ""
        flags = ", read-only" if s.get("readonly") else ""
        lines.append(f"  {where}{value}  ({s['status']}{flags})")
    for e in answer.get("evses") or []:
        lines.append(f"  EVSE {e['location_id']}/{e['evse_uid']}")
    return lines


def _command(build: Callable[[argparse.Namespace], tuple[str, BaseModel]]
             ) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            path, body = build(args)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"]) or "body"
                print(f"{where}: {error['msg']}", file=sys.stderr)
            return 2
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2

        def send() -> int:
            answer = remote.call(args, "POST", "/admin/api/chargers/" + remote.path_of(
                args.charger) + "/" + path, json=body.model_dump(exclude_none=True))
            if args.json:
                print(json.dumps(answer, indent=2))
            else:
                print("\n".join(describe(answer)))
            return 0 if answer["outcome"] in DONE else 1
        return remote.guarded(send)
    return run


def _targets(parser: argparse.ArgumentParser, *, evse_uid: bool = False,
             connector: bool = True) -> None:
    parser.add_argument("--evse-id", type=int, help="2.0.1 EVSE id")
    if connector:
        parser.add_argument("--connector-id", type=int,
                            help="1.6 connector; 2.0.1: a connector of --evse-id")
    if evse_uid:
        parser.add_argument("--evse-uid", help="an EVSE of this charger, by its OCPI uid")


def _variables(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--variable", action="append", default=[], metavar="C[:I]/V[:I]",
                        help=text)
    _targets(parser)
    parser.add_argument("--attribute", choices=("Actual", "Target", "MinSet", "MaxSet"),
                        help="2.0.1 attribute type (default Actual)")


def add_subcommands(commands: Any) -> None:
    chargers = subparsers_of(commands, "chargers", "OCPP chargers")
    command = chargers.add_parser(
        "command", help="send an operator's command to a charger through the running "
        "gateway (operator role, audit-logged)")
    command.add_argument("charger", help="the charge point id (chargers.yaml)")
    verbs = command.add_subparsers(dest="verb", required=True)

    def verb(name: str, text: str, build: Callable[[argparse.Namespace],
                                                   tuple[str, BaseModel]]
             ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = verbs.add_parser(name, help=text)
        remote.add_connection_flags(parser)
        parser.set_defaults(func=_command(build))
        return parser

    reset = verb("reset", "Reset (1.6 Soft/Hard, 2.0.1 OnIdle/Immediate)", reset_body)
    reset.add_argument("--type", required=True, choices=("Soft", "Hard", "OnIdle", "Immediate"))
    reset.add_argument("--evse-id", type=int, help="2.0.1: this EVSE alone")
    availability = verb("availability", "ChangeAvailability: take an EVSE, a connector or the "
                        "whole charger out of service or back", availability_body)
    availability.add_argument("status", type=str.lower, choices=("operative", "inoperative"))
    _targets(availability, evse_uid=True)
    trigger = verb("trigger", "TriggerMessage: ask for a message now (e.g. "
                   "StatusNotification)", trigger_body)
    trigger.add_argument("message", help="the version's MessageTrigger value")
    _targets(trigger)
    get = verb("get-config", "1.6 GetConfiguration (KEY...; none: all), 2.0.1 GetVariables "
               "(--variable)", get_config_body)
    get.add_argument("keys", nargs="*", metavar="KEY")
    _variables(get, "a 2.0.1 variable to read (repeatable), e.g. OCPPCommCtrlr/"
               "HeartbeatInterval")
    put = verb("set-config", "1.6 ChangeConfiguration (KEY VALUE), 2.0.1 SetVariables "
               "(--variable C/V=VALUE)", set_config_body)
    put.add_argument("key", nargs="?")
    put.add_argument("value", nargs="?")
    _variables(put, "a 2.0.1 variable to set (repeatable), e.g. OCPPCommCtrlr/"
               "HeartbeatInterval=300")
    unlock = verb("unlock", "UnlockConnector", unlock_body)
    unlock.add_argument("connector_id", type=int, help="1.6 connector; 2.0.1: of --evse-id")
    _targets(unlock, connector=False)
