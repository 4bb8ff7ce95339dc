"""How charger answers and reservation outcomes become OCPI CommandResults.

See docs/protocol-notes.md for the table and its reasons.
"""

from __future__ import annotations

from ocpi_gateway.commands.models import CommandResultType, CommandType
from ocpi_gateway.domain.charger_commands import CommandOutcome
from ocpi_gateway.reservation_policy.lifecycle import ReserveOutcome

RESERVE_RESULTS: dict[ReserveOutcome, CommandResultType] = {
    ReserveOutcome.ACCEPTED: CommandResultType.ACCEPTED,
    ReserveOutcome.OCCUPIED: CommandResultType.EVSE_OCCUPIED,
    ReserveOutcome.INOPERATIVE: CommandResultType.EVSE_INOPERATIVE,
    ReserveOutcome.REJECTED: CommandResultType.REJECTED,
    # OCPI has no "offline": an unreachable charger's EVSEs are not operative for the driver.
    ReserveOutcome.OFFLINE: CommandResultType.EVSE_INOPERATIVE,
    ReserveOutcome.TIMEOUT: CommandResultType.TIMEOUT,
    ReserveOutcome.NOT_SUPPORTED: CommandResultType.NOT_SUPPORTED,
}

_CHARGER_RESULTS: dict[CommandOutcome, CommandResultType] = {
    CommandOutcome.ACCEPTED: CommandResultType.ACCEPTED,
    CommandOutcome.OCCUPIED: CommandResultType.EVSE_OCCUPIED,
    CommandOutcome.FAULTED: CommandResultType.EVSE_INOPERATIVE,
    CommandOutcome.UNAVAILABLE: CommandResultType.EVSE_INOPERATIVE,
    CommandOutcome.REJECTED: CommandResultType.REJECTED,
    CommandOutcome.TIMEOUT: CommandResultType.TIMEOUT,
    CommandOutcome.OFFLINE: CommandResultType.EVSE_INOPERATIVE,
    CommandOutcome.NOT_SUPPORTED: CommandResultType.NOT_SUPPORTED,
    CommandOutcome.SCHEDULED: CommandResultType.ACCEPTED,
}


def charger_result(command: CommandType, outcome: CommandOutcome) -> CommandResultType:
    if command is CommandType.UNLOCK_CONNECTOR and outcome is CommandOutcome.FAULTED:
        # UnlockFailed (the adapter's FAULTED): the charger tried and the lock did not open.
        # 2.0.1 UnknownConnector arrives as REJECTED and stays REJECTED.
        return CommandResultType.FAILED
    return _CHARGER_RESULTS[outcome]


OCPP_TOKEN_TYPES = {"RFID": "ISO14443", "APP_USER": "Central", "AD_HOC_USER": "Central",
                    "OTHER": "Central", "EMAID": "eMAID"}
"""OCPI TokenType → OCPP 2.0.1 IdTokenEnumType (1.6 has no token type)."""


def ocpp_token_type(token_type: str) -> str:
    """The 2.0.1 IdTokenEnumType of an OCPI TokenType; a type only 2.3.0's OpenEnum allows
    (unknown to us) is one the CSMS vouches for: Central."""
    return OCPP_TOKEN_TYPES.get(str(token_type), "Central")
