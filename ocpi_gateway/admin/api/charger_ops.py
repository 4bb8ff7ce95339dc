"""``POST /admin/api/chargers/{charge_point_id}/...``: the operator's commands to a charger
(operator role, audit-logged). 200 carries the charger's own answer; 400 a body its OCPP
version cannot say; 404 a charger not in chargers.yaml; 409 an offline charger; 503 no answer
in time."""

from __future__ import annotations

from collections.abc import Callable

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import ApiError, Call, Operation, not_found
from ocpi_gateway.admin.api.reads import part
from ocpi_gateway.admin.operators import Role
from ocpi_gateway.admin.service import charger_ops as ops
from ocpi_gateway.admin.service.chargers import ChargerEvse
from ocpi_gateway.domain.charger_commands import ChargerCommand
from ocpi_gateway.locations.extension import LOCATIONS
from ocpi_gateway.ocpp_wiring import CHARGERS, OCPP_SERVER

TAG = "charger commands"
BASE = "/admin/api/chargers/{charge_point_id}"
ERRORS = (400, 404, 409, 503)

Build = Callable[[ops.Target, object], ChargerCommand | tuple[ChargerCommand, list[ChargerEvse]]]


async def _run(call: Call, build: Build) -> ops.ChargerCommandAnswer:
    cp = call.path["charge_point_id"]
    if part(call, CHARGERS, "chargers").get(cp) is None:
        raise not_found(f"charger {cp} in chargers.yaml")
    server = part(call, OCPP_SERVER, "the OCPP adapter")
    locations = call.app.get(LOCATIONS)
    try:
        target = await ops.target(cp, server.describe,
                                  locations.catalog if locations is not None else None)
        built = build(target, call.body)
        command, evses = built if isinstance(built, tuple) else (built, [])
        timeout = call.app[keys.SETTINGS].command_timeouts.charger_seconds
        return await ops.send(server.queries, target, command, timeout, evses)
    except ops.BadRequest as exc:
        raise ApiError(400, "invalid", str(exc)) from exc
    except ops.Offline as exc:
        raise ApiError(409, "offline", str(exc)) from exc
    except ops.NoAnswer as exc:
        raise ApiError(503, "timeout", str(exc)) from exc


async def reset_charger(call: Call) -> ops.ChargerCommandAnswer:
    return await _run(call, ops.reset_command)  # type: ignore[arg-type]


async def change_availability(call: Call) -> ops.ChargerCommandAnswer:
    return await _run(call, ops.availability_command)  # type: ignore[arg-type]


async def trigger_message(call: Call) -> ops.ChargerCommandAnswer:
    return await _run(call, ops.trigger_command)  # type: ignore[arg-type]


async def charger_configuration(call: Call) -> ops.ChargerCommandAnswer:
    return await _run(call, ops.configuration_command)  # type: ignore[arg-type]


async def unlock_connector(call: Call) -> ops.ChargerCommandAnswer:
    return await _run(call, ops.unlock_command)  # type: ignore[arg-type]


def _op(path: str, handler: Callable[[Call], object], summary: str, body: type,
        action: str, description: str = "") -> Operation:
    return Operation("POST", BASE + path, handler, summary, TAG,  # type: ignore[arg-type]
                     role=Role.OPERATOR, body=body, response=ops.ChargerCommandAnswer,
                     action=action, errors=ERRORS, description=description)


OPERATIONS = [
    _op("/reset", reset_charger, "Reset: 1.6 Soft/Hard, 2.0.1 OnIdle/Immediate (of one "
        "EVSE too)", ops.ResetBody, "charger.reset"),
    _op("/change-availability", change_availability, "ChangeAvailability: take an EVSE, a "
        "connector or the whole charger out of service (Inoperative) or back (Operative)",
        ops.ChangeAvailabilityBody, "charger.change_availability",
        "Once the charger accepts (or schedules) it, the gateway marks the EVSEs out of "
        "service (stored, on every instance, whatever the charger reports): "
        "published INOPERATIVE to the eMSPs, never picked, out of the bookings' supply, its "
        "live reservations re-routed to another EVSE of the site, or canceled when none fits."),
    _op("/trigger-message", trigger_message, "TriggerMessage: ask the charger to send a "
        "message now (the version's MessageTrigger values)", ops.TriggerMessageBody,
        "charger.trigger_message"),
    _op("/configuration", charger_configuration, "configuration: 1.6 GetConfiguration/"
        "ChangeConfiguration (keys), 2.0.1 GetVariables/SetVariables (component/variable)",
        ops.ConfigurationBody, "charger.configuration"),
    _op("/unlock", unlock_connector, "UnlockConnector: 1.6 connector, 2.0.1 EVSE and "
        "connector", ops.UnlockBody, "charger.unlock"),
]
